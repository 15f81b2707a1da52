/*
 * sync/mutex.c: gr_mutex, Go's sync.Mutex algorithm (Go 1.23 sync/mutex.go).
 *
 * The state word holds four things:
 *
 *   bit 0   MLOCKED    the mutex is held
 *   bit 1   MWOKEN     a goroutine is awake and competing (spinning, or just
 *                      readied by an unlock): unlock need not wake another
 *   bit 2   MSTARVING  starvation mode: ownership passes directly from the
 *                      unlocker to the waiter at the head of the queue
 *   bits 3+ waiters    goroutines parked (or about to park) on m->sema
 *
 * Normal mode: waiters queue FIFO on the semaphore, but a woken waiter
 * competes with goroutines arriving just now (which are already running, so
 * they usually win). A woken waiter that loses goes back to the *front* of
 * the queue (LIFO flag). A waiter that has waited over 1 ms switches the
 * mutex to starvation mode: unlock then hands the mutex (and the rest of the
 * unlocker's time slice) straight to the head waiter, new arrivals do not
 * spin or grab it and queue at the tail. The last waiter, or one that waited
 * under 1 ms, switches back to normal mode. Normal mode is much faster (a
 * goroutine can take the mutex many times in a row); starvation mode bounds
 * the tail latency.
 *
 * Spinning: a goroutine that finds the mutex locked (and not starving) spins
 * up to GR__ACTIVE_SPIN rounds of GR__SPIN_CNT PAUSEs before it parks, when
 * there is more than one P (on one P the owner cannot run while we spin).
 * Go also asks that other Ps be busy and this P's run queue empty; core does
 * not export those, and the four short rounds cost under a microsecond.
 *
 * Invariants:
 * - m->state is accessed only atomically. The CAS that takes MLOCKED is
 *   acquire (it enters the critical section); the add that drops it is
 *   release (it publishes the section). Other CASes on the slow path are
 *   acq_rel: they are lock-prefixed read-modify-writes on x86 anyway, and
 *   they hand state between a waiter and the unlocker that woke it.
 * - m->sema is the semaphore word of sync/sema.c, touched only there.
 * - The waiter count counts goroutines that committed to park (CAS adding
 *   1<<MWAITER_SHIFT succeeded); unlock subtracts one when it wakes one.
 * - No runtime lock is held by this file.
 * - Preemption: goring's is cooperative (sysmon asks, the goroutine yields
 *   at its next runtime call). Every 64th unlock (fast or slow path, a
 *   per-thread tick: gr__sync_maybe_preempt) checks the request, so a
 *   goroutine re-locking in a tight loop yields once its slice is over and
 *   the waiter it readied gets its turn (Go gets this from async
 *   preemption). It yields having released m. Checking on every slow-path
 *   call cost ~5% of contended throughput (two calls to find the G).
 * - Outside a goroutine, lock spins like anyone else and is fatal only when
 *   it would park (gr__semacquire checks).
 */
#include <goring/sync.h>

#include "sync/sema.h"

#include <errno.h>
#include <stddef.h>

enum {
    MLOCKED = 1,
    MWOKEN = 2,
    MSTARVING = 4,
    MWAITER_SHIFT = 3,
};
#define GR__STARVATION_NS 1000000   /* 1 ms, Go's starvationThresholdNs */
#ifndef GR__ACTIVE_SPIN
#define GR__ACTIVE_SPIN 4           /* Go's active_spin */
#endif
#ifndef GR__SPIN_CNT
#define GR__SPIN_CNT 30             /* Go's active_spin_cnt */
#endif

_Static_assert(sizeof(gr_mutex) == 8, "gr_mutex is two 32-bit words");
_Static_assert(offsetof(gr_mutex, sema) == 4, "gr_mutex layout");

#define MSTATE(m) ((_Atomic int32_t *)&(m)->state)

static bool can_spin(int iter)
{
    return iter < GR__ACTIVE_SPIN && gr__nprocs() > 1;
}

void gr__mutex_lock_slow(gr_mutex *m)
{
    _Atomic int32_t *st = MSTATE(m);
    int64_t wait_start = 0;
    bool starving = false;
    bool awoke = false;
    int iter = 0;
    int32_t old = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        /* Spin while locked in normal mode and the owner may be running. */
        if ((old & (MLOCKED | MSTARVING)) == MLOCKED && can_spin(iter)) {
            /* Set MWOKEN so unlock does not wake a parked waiter we would
             * only compete with. */
            if (!awoke && !(old & MWOKEN) && (old >> MWAITER_SHIFT) != 0 &&
                atomic_compare_exchange_strong_explicit(st, &old, old | MWOKEN,
                    memory_order_relaxed, memory_order_relaxed))
                awoke = true;
            gr__procyield(GR__SPIN_CNT);
            iter++;
            old = atomic_load_explicit(st, memory_order_relaxed);
            continue;
        }
        int32_t new = old;
        /* Do not grab a starving mutex: it belongs to the queue's head. */
        if (!(old & MSTARVING))
            new |= MLOCKED;
        if (old & (MLOCKED | MSTARVING))
            new += 1 << MWAITER_SHIFT;
        /* Switch to starvation mode, but only if still locked: an unlock
         * expects waiters in starvation mode. */
        if (starving && (old & MLOCKED))
            new |= MSTARVING;
        if (awoke) {
            if (!(new & MWOKEN))
                gr__throw("sync: inconsistent mutex state");
            new &= ~MWOKEN;
        }
        if (!atomic_compare_exchange_weak_explicit(st, &old, new,
                memory_order_acq_rel, memory_order_relaxed))
            continue;   /* old reloaded */
        if (!(old & (MLOCKED | MSTARVING)))
            break;      /* took it with the CAS */

        /* Park. A goroutine that waited before goes to the queue's front. */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = gr__nanotime();
        gr__semacquire(&m->sema, lifo ? GR__SEMA_LIFO : 0, GR_WAIT_MUTEX,
                       "gr_mutex_lock");
        starving = starving || gr__nanotime() - wait_start > GR__STARVATION_NS;
        old = atomic_load_explicit(st, memory_order_relaxed);
        if (old & MSTARVING) {
            /* Handed to us directly: the state is locked-for-us, except
             * MLOCKED is not set and we are still counted as a waiter. */
            if ((old & (MLOCKED | MWOKEN)) || (old >> MWAITER_SHIFT) == 0)
                gr__throw("sync: inconsistent mutex state");
            int32_t delta = MLOCKED - (1 << MWAITER_SHIFT);
            /* Leave starvation mode if we did not wait long or we are the
             * last waiter: staying would make the next arrivals convoy. */
            if (!starving || (old >> MWAITER_SHIFT) == 1)
                delta -= MSTARVING;
            atomic_fetch_add_explicit(st, delta, memory_order_acq_rel);
            break;
        }
        awoke = true;
        iter = 0;
    }
}

/* The exported function; callers of the header get the same fast path
 * inline (gr__mutex_lock_fast: its CAS must stay this one). */
void (gr_mutex_lock)(gr_mutex *m)
{
    int32_t z = 0;
    if (gr__likely(atomic_compare_exchange_strong_explicit(MSTATE(m), &z, MLOCKED,
            memory_order_acquire, memory_order_relaxed)))
        return;
    gr__mutex_lock_slow(m);
}

int gr_mutex_trylock(gr_mutex *m)
{
    _Atomic int32_t *st = MSTATE(m);
    int32_t old = atomic_load_explicit(st, memory_order_relaxed);
    if (old & (MLOCKED | MSTARVING))
        return -EBUSY;
    /* one try: with contention a trylock is allowed to fail (Go does) */
    if (!atomic_compare_exchange_strong_explicit(st, &old, old | MLOCKED,
            memory_order_acquire, memory_order_relaxed))
        return -EBUSY;
    return 0;
}

void gr__mutex_unlock_slow(gr_mutex *m, int32_t new)
{
    if (!((new + MLOCKED) & MLOCKED))
        gr__throw("sync: unlock of unlocked mutex");
    _Atomic int32_t *st = MSTATE(m);
    if (new & MSTARVING) {
        /* Hand off to the head waiter and yield to it. MLOCKED stays clear:
         * the waiter sets it; until then MSTARVING keeps arrivals out. */
        gr__semrelease(&m->sema, true);
        return;
    }
    int32_t old = new;
    for (;;) {
        /* Nobody to wake, or somebody already awake, locked or starving:
         * they will take care of it. */
        if ((old >> MWAITER_SHIFT) == 0 || (old & (MLOCKED | MWOKEN | MSTARVING)))
            break;
        new = (old - (1 << MWAITER_SHIFT)) | MWOKEN;
        if (atomic_compare_exchange_weak_explicit(st, &old, new,
                memory_order_acq_rel, memory_order_relaxed)) {
            gr__semrelease(&m->sema, false);
            break;
        }
    }
    /* Others wait for this mutex: a goroutine re-locking it in a loop must
     * still yield when sysmon asks (preemption is cooperative), or on one P
     * the waiter it just readied would never run. */
    gr__sync_maybe_preempt();
}

/* The exported function; the header's gr__mutex_unlock_fast is the same. */
void (gr_mutex_unlock)(gr_mutex *m)
{
    int32_t new = atomic_fetch_sub_explicit(MSTATE(m), MLOCKED,
                                            memory_order_release) - MLOCKED;
    if (gr__unlikely(new != 0))
        gr__mutex_unlock_slow(m, new);
    else
        gr__sync_maybe_preempt();
}
