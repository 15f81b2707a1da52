/*
 * sync/cond.c: gr_cond, Go's sync.Cond (sync/cond.go) over the runtime's
 * ticket-based notify list (runtime/sema.go notifyList; here in sema.c).
 *
 * A waiter takes a ticket while it still holds the mutex, unlocks, and parks
 * until its ticket is notified. signal notifies the oldest unnotified
 * ticket, broadcast every ticket handed out so far. A goroutine that takes
 * its ticket after a broadcast is not woken by it, and cannot take the
 * wake-up meant for an earlier waiter: tickets, not queue positions, decide.
 *
 * Unlike Go's Cond, which stores its Locker, the mutex is passed to each
 * gr_cond_wait (as pthread_cond_wait does); it must be the same mutex for
 * every concurrent waiter and held by the caller.
 *
 * Invariants:
 * - The gr_cond fields are a struct gr__notifylist (layout checked below);
 *   see sema.c for its locking and memory orders.
 * - signal and broadcast only wake: any thread, mutex held or not.
 */
#include <goring/sync.h>

#include "sync/sema.h"

#include <stddef.h>

_Static_assert(sizeof(gr_cond) == sizeof(struct gr__notifylist), "gr_cond size");
_Static_assert(offsetof(gr_cond, wait) == offsetof(struct gr__notifylist, wait) &&
               offsetof(gr_cond, notify) == offsetof(struct gr__notifylist, notify) &&
               offsetof(gr_cond, lock) == offsetof(struct gr__notifylist, lock) &&
               offsetof(gr_cond, head) == offsetof(struct gr__notifylist, head) &&
               offsetof(gr_cond, tail) == offsetof(struct gr__notifylist, tail),
               "gr_cond layout is a gr__notifylist");

#define NLIST(c) ((struct gr__notifylist *)(void *)(c))

void gr_cond_wait(gr_cond *c, gr_mutex *m)
{
    uint32_t t = gr__notifylist_add(NLIST(c));
    gr_mutex_unlock(m);
    gr__notifylist_wait(NLIST(c), t);
    gr_mutex_lock(m);
}

void gr_cond_signal(gr_cond *c)
{
    gr__notifylist_notify_one(NLIST(c));
}

void gr_cond_broadcast(gr_cond *c)
{
    gr__notifylist_notify_all(NLIST(c));
}
