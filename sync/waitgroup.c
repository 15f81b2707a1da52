/*
 * sync/waitgroup.c: gr_waitgroup, Go's sync.WaitGroup (Go 1.23
 * sync/waitgroup.go).
 *
 * One 64-bit state word: the counter in the high 32 bits, the number of
 * parked waiters in the low 32. add moves the counter; when it reaches 0
 * with waiters, add zeroes the whole word (so the group is ready for the
 * next round at once) and releases the semaphore once per waiter, in one
 * go. wait returns at once on a zero counter, otherwise counts itself as a
 * waiter with a CAS and parks on the semaphore.
 *
 * Invariants:
 * - state is accessed only atomically. add is acq_rel (done publishes the
 *   member's work; the add that reaches zero must see it all); wait's load
 *   is acquire (a zero counter means every done happened before), its CAS
 *   acq_rel. The zeroing store is release: it happens before the semaphore
 *   releases that let the waiters return, and they check it.
 * - Waiters are counted only while the counter is non-zero; only the add
 *   that brings the counter to zero releases them, exactly w of them.
 * - A wait that returned needs nothing more from the struct, so the group may
 *   be reused for a new round (or freed) as soon as every wait returned.
 * - add and done may run on any thread: they only wake (gr__ready).
 */
#include <goring/sync.h>

#include "sync/sema.h"

#include <stddef.h>

_Static_assert(sizeof(gr_waitgroup) == 16, "gr_waitgroup is 16 bytes");
_Static_assert(offsetof(gr_waitgroup, sema) == 8, "gr_waitgroup layout");

#define WSTATE(wg) ((_Atomic uint64_t *)&(wg)->state)

/* The exported functions; callers of the header get the same add inline
 * (gr__waitgroup_add_fast), which returns by itself when the counter is
 * not negative and nobody waits, and otherwise calls the slow path with
 * the state after its add. */
void gr__waitgroup_add_slow(gr_waitgroup *wg, int delta, uint64_t state)
{
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;
    if (gr__unlikely(v < 0))
        gr__throw("sync: negative WaitGroup counter");
    if (gr__unlikely(w != 0 && delta > 0 && v == delta))
        gr__throw("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* Counter is 0 and there are waiters: nobody may change the state now
     * (a waiter cannot join a zero counter; an add now would be misuse). */
    if (gr__unlikely(atomic_load_explicit(WSTATE(wg), memory_order_relaxed) != state))
        gr__throw("sync: WaitGroup misuse: Add called concurrently with Wait");
    atomic_store_explicit(WSTATE(wg), 0, memory_order_release);
    gr__semrelease_n(&wg->sema, w);
}

void (gr_waitgroup_add)(gr_waitgroup *wg, int delta)
{
    uint64_t state = atomic_fetch_add_explicit(WSTATE(wg),
        (uint64_t)(int64_t)delta << 32, memory_order_acq_rel) +
        ((uint64_t)(int64_t)delta << 32);
    gr__waitgroup_add_slow(wg, delta, state);
}

void (gr_waitgroup_done)(gr_waitgroup *wg)
{
    (gr_waitgroup_add)(wg, -1);
}

void gr_waitgroup_wait(gr_waitgroup *wg)
{
    uint64_t state = atomic_load_explicit(WSTATE(wg), memory_order_acquire);
    for (;;) {
        if ((int32_t)(state >> 32) == 0)
            return;
        /* count ourselves as a waiter (state reloaded on failure) */
        if (atomic_compare_exchange_weak_explicit(WSTATE(wg), &state, state + 1,
                memory_order_acq_rel, memory_order_acquire)) {
            gr__semacquire(&wg->sema, 0, GR_WAIT_WAITGROUP, "gr_waitgroup_wait");
            /* The releasing add zeroed the state before waking us; an add
             * for the next round must wait until every Wait returned. */
            if (gr__unlikely(atomic_load_explicit(WSTATE(wg), memory_order_acquire) != 0))
                gr__throw("sync: WaitGroup is reused before previous Wait has returned");
            return;
        }
    }
}
