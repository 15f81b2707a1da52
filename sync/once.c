/*
 * sync/once.c: gr_once, Go's sync.Once (sync/once.go).
 *
 * The fast path is one acquire load of `done`. The slow path serialises on
 * the embedded mutex, calls fn if nobody did, and sets done only after fn
 * returned, so every caller, the first or a racing one, returns only after
 * fn has finished. A CAS on done before calling fn would be wrong: the
 * losers would return while fn still runs.
 *
 * Invariants:
 * - done: 0 until fn returned, then 1 forever. Stored with release after fn,
 *   loaded with acquire on the fast path (fn's writes are visible to every
 *   caller that sees 1); inside the mutex a relaxed load suffices (the mutex
 *   orders it).
 * - fn runs with o->m held: fn must not call gr_once_do on the same once
 *   (deadlock, as in Go), and must not end its goroutine (gr_exit) or the
 *   mutex stays held and every later caller blocks.
 */
#include <goring/sync.h>

#include "sync/sema.h"

#include <stddef.h>

_Static_assert(sizeof(gr_once) == 12, "gr_once is a word and a mutex");

#define ODONE(o) ((_Atomic uint32_t *)&(o)->done)

static void once_slow(gr_once *o, gr_fn fn, void *arg)
{
    gr_mutex_lock(&o->m);
    if (atomic_load_explicit(ODONE(o), memory_order_relaxed) == 0) {
        fn(arg);
        atomic_store_explicit(ODONE(o), 1, memory_order_release);
    }
    gr_mutex_unlock(&o->m);
}

void gr_once_do(gr_once *o, gr_fn fn, void *arg)
{
    if (gr__likely(atomic_load_explicit(ODONE(o), memory_order_acquire) != 0))
        return;
    once_slow(o, fn, arg);
}
