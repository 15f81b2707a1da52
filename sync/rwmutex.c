/*
 * sync/rwmutex.c: gr_rwmutex, Go's sync.RWMutex (Go 1.23 sync/rwmutex.go).
 *
 * Writers serialise on rw->w (a gr_mutex). A writer then subtracts
 * RW_MAX_READERS from reader_count: readers arriving after that see a
 * negative count and park on reader_sem, so a waiting writer holds back new
 * readers and cannot be starved by a stream of them. The readers that were
 * already in (r of them) are recorded in reader_wait; the last of them to
 * leave wakes the writer through writer_sem. Writer unlock adds
 * RW_MAX_READERS back and releases every parked reader in one go
 * (gr__semrelease_n: one root-lock acquisition), so they get in together.
 *
 * Invariants:
 * - reader_count: number of readers in or parked, minus RW_MAX_READERS while
 *   a writer holds or awaits the lock. Readers' add on rlock is acquire
 *   (entering a read section after a writer's release), on runlock release;
 *   the writer's adds are acq_rel (it both takes and publishes).
 * - reader_wait: readers the pending writer still waits for; only the writer
 *   adds (once per lock), departing readers subtract; the one that brings it
 *   to 0 releases writer_sem. acq_rel: it carries the readers' sections to
 *   the writer.
 * - writer_sem, reader_sem: semaphore words of sync/sema.c.
 * - At most RW_MAX_READERS - 1 concurrent readers (2^30).
 * - Lock order: rw->w before anything in sema.c (which are leaves).
 */
#include <goring/sync.h>

#include "sync/sema.h"

#include <errno.h>
#include <stddef.h>

#define RW_MAX_READERS (1 << 30)

_Static_assert(sizeof(gr_rwmutex) == 24, "gr_rwmutex is a mutex and four words");

#define RCOUNT(rw) ((_Atomic int32_t *)&(rw)->reader_count)
#define RWAIT(rw) ((_Atomic int32_t *)&(rw)->reader_wait)

void gr_rwmutex_rlock(gr_rwmutex *rw)
{
    if (gr__unlikely(atomic_fetch_add_explicit(RCOUNT(rw), 1,
            memory_order_acquire) + 1 < 0)) {
        /* a writer is pending: wait for its unlock */
        gr__semacquire(&rw->reader_sem, 0, GR_WAIT_RWMUTEX_R, "gr_rwmutex_rlock");
    }
}

int gr_rwmutex_tryrlock(gr_rwmutex *rw)
{
    int32_t c = atomic_load_explicit(RCOUNT(rw), memory_order_relaxed);
    for (;;) {
        if (c < 0)
            return -EBUSY;
        if (atomic_compare_exchange_weak_explicit(RCOUNT(rw), &c, c + 1,
                memory_order_acquire, memory_order_relaxed))
            return 0;
    }
}

static void runlock_slow(gr_rwmutex *rw, int32_t r)
{
    if (r + 1 == 0 || r + 1 == -RW_MAX_READERS)
        gr__throw("sync: RUnlock of unlocked RWMutex");
    /* A writer is pending; the last reader it waits for wakes it. */
    if (atomic_fetch_sub_explicit(RWAIT(rw), 1, memory_order_acq_rel) - 1 == 0)
        gr__semrelease(&rw->writer_sem, false);
}

void gr_rwmutex_runlock(gr_rwmutex *rw)
{
    int32_t r = atomic_fetch_sub_explicit(RCOUNT(rw), 1, memory_order_release) - 1;
    if (gr__unlikely(r < 0))
        runlock_slow(rw, r);
    else
        gr__sync_maybe_preempt();   /* see sema.h; unlock goes via gr_mutex_unlock */
}

void gr_rwmutex_lock(gr_rwmutex *rw)
{
    /* First resolve competition with other writers. */
    gr_mutex_lock(&rw->w);
    /* Announce to readers there is a pending writer. */
    int32_t r = atomic_fetch_sub_explicit(RCOUNT(rw), RW_MAX_READERS,
                                          memory_order_acq_rel);
    /* Wait for active readers. */
    if (r != 0 && atomic_fetch_add_explicit(RWAIT(rw), r,
                      memory_order_acq_rel) + r != 0)
        gr__semacquire(&rw->writer_sem, 0, GR_WAIT_RWMUTEX_W, "gr_rwmutex_lock");
}

int gr_rwmutex_trylock(gr_rwmutex *rw)
{
    if (gr_mutex_trylock(&rw->w) != 0)
        return -EBUSY;
    int32_t z = 0;
    if (!atomic_compare_exchange_strong_explicit(RCOUNT(rw), &z, -RW_MAX_READERS,
            memory_order_acquire, memory_order_relaxed)) {
        gr_mutex_unlock(&rw->w);
        return -EBUSY;
    }
    return 0;
}

void gr_rwmutex_unlock(gr_rwmutex *rw)
{
    /* Announce to readers there is no active writer. */
    int32_t r = atomic_fetch_add_explicit(RCOUNT(rw), RW_MAX_READERS,
                                          memory_order_acq_rel) + RW_MAX_READERS;
    if (gr__unlikely(r >= RW_MAX_READERS))
        gr__throw("sync: Unlock of unlocked RWMutex");
    /* Unblock the readers that queued behind us, all at once. */
    gr__semrelease_n(&rw->reader_sem, (uint32_t)r);
    /* Allow other writers to proceed. */
    gr_mutex_unlock(&rw->w);
}
