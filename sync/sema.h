/*
 * sync/sema.h: the sync layer's internal interface (layer 2), shared by the
 * files of sync/ and (for the context watch list) by layer 3 in sync/.
 *
 *   gr__semacquire / gr__semrelease   goroutine semaphores keyed by the
 *                                     address of a uint32_t word: Go's
 *                                     runtime semacquire1 / semrelease1.
 *   gr__notifylist_*                  ticket-ordered wait list for gr_cond
 *                                     (Go's notifyList).
 *   gr__procyield                     a short CPU-level spin (PAUSE).
 *
 * Nothing in core/ or chan/ includes this file.
 */
#ifndef GR_SYNC_SEMA_H
#define GR_SYNC_SEMA_H

#include "core/runtime.h"

/*
 * A semaphore is any uint32_t word that holds a count. acquire decrements it,
 * parking while it is 0; release increments it and readies a waiter. The word
 * is accessed only with atomics (it may be a field of a public struct, so it
 * is declared plain uint32_t there and cast here).
 */
#define GR__SEMWORD(p) ((_Atomic uint32_t *)(p))

/* Acquire flags. */
enum {
    GR__SEMA_LIFO = 1,   /* queue at the head: a waiter that waited before */
};

/*
 * gr__semacquire: wait until *addr > 0, then decrement it. Parks the calling
 * goroutine with wait reason `reason` (enum gr__waitreason) while the count
 * is 0. Must be called from a goroutine: from anywhere else it is fatal with
 * `what` in the message ("sync: <what> called outside a goroutine").
 */
GR_HIDDEN void gr__semacquire(uint32_t *addr, int flags, int reason, const char *what);

/*
 * gr__semrelease: increment *addr and ready the first waiter on addr, if any.
 * handoff: give the count straight to that waiter (it cannot be stolen by a
 * barging acquirer) and, when called from a goroutine, yield so the waiter
 * runs next on this P (Go's starvation-mode direct hand-off).
 * Any thread.
 */
GR_HIDDEN void gr__semrelease(uint32_t *addr, bool handoff);

/*
 * gr__semrelease_n: add n to *addr and ready up to n waiters on addr under
 * one acquisition of the root lock (RWMutex readers, WaitGroup waiters:
 * released together). Any thread.
 */
GR_HIDDEN void gr__semrelease_n(uint32_t *addr, uint32_t n);

/*
 * gr__sema_reset: forget every waiter in the semaphore table. Registered as
 * the fini of core's teardown hooks (sema.c's constructor), run once no
 * goroutine runs: goroutines abandoned where they waited leave waiter
 * records on stacks that teardown unmaps, and a later gr_main must not
 * walk them.
 */
GR_HIDDEN void gr__sema_reset(void);

/* ---------- notify list (gr_cond) ---------- */

struct gr__notifywaiter;
/* The list lives inside the public gr_cond; these take the fields. */
struct gr__notifylist {
    _Atomic uint32_t wait;          /* next ticket to hand out; atomic, no lock */
    _Atomic uint32_t notify;        /* next ticket to notify; written under lock */
    gr__mutex lock;
    uint32_t pad;
    struct gr__notifywaiter *head;  /* (lock) parked waiters, ticket order mostly */
    struct gr__notifywaiter *tail;  /* (lock) */
};
GR_HIDDEN uint32_t gr__notifylist_add(struct gr__notifylist *l);
GR_HIDDEN void gr__notifylist_wait(struct gr__notifylist *l, uint32_t ticket);
GR_HIDDEN void gr__notifylist_notify_one(struct gr__notifylist *l);
GR_HIDDEN void gr__notifylist_notify_all(struct gr__notifylist *l);

/* ---------- spinning ---------- */

static inline void gr__procyield(int n)
{
    for (int i = 0; i < n; i++) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#endif
    }
}

/* ---------- preemption points in fast paths ---------- */

/*
 * Preemption is cooperative: a goroutine yields when sysmon asked it to and
 * it calls gr__checkpreempt. A goroutine looping on uncontended lock/unlock
 * never reaches a slow path, so the unlock fast paths count calls in a
 * per-thread tick (initial-exec TLS: one fs-relative add) and check every
 * GR__PREEMPT_EVERY-th. The tick is per thread, not per goroutine: it only
 * samples, so a goroutine moving between threads does not matter.
 */
#define GR__PREEMPT_EVERY 64
/* Exported (goring/sync.h): the header's inline unlock counts in it too. */
extern GR_API __thread uint32_t gr__sync_tick __attribute__((tls_model("initial-exec")));
GR_API void gr__sync_preempt_check(void);
static inline void gr__sync_maybe_preempt(void)
{
    if (gr__unlikely((++gr__sync_tick & (GR__PREEMPT_EVERY - 1)) == 0))
        gr__checkpreempt();
}

/* gr__pid() and gr__nprocs() (per-P data) come from core/runtime.h. */

#endif
