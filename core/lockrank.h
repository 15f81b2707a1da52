/*
 * core/lockrank.h: the lock order of the whole runtime, in one table (Go's
 * lockrank.go), and the run-time check of it (configure --enable-lockrank).
 *
 * Every runtime lock (gr__mutex) has a rank below. A thread may take a lock
 * only while every ranked lock it holds has a lower rank: locks are taken
 * top to bottom in this table. Two ranks nest with themselves: hchan locks
 * (several channels, in ascending address order: select) and context locks
 * (parent before child: cancel descends). Goroutine-level locks (gr_mutex,
 * gr_rwmutex) are not runtime locks and are not ranked. No runtime lock is
 * held across a park except the one gr__park_unlock releases on g0, on the
 * same thread; so a per-thread held-lock stack is the per-M stack Go keeps.
 *
 * A lock gets its rank from gr__lock_init (or GR__MUTEX_RANKED for a
 * static one) before its first use. A lock never given one (GR__RANK_NONE:
 * zero-initialised, e.g. inside a user's gr_cond) is not checked.
 *
 * With --enable-lockrank (GR__LOCKRANK defined) the rank lives in the lock
 * word's upper 16 bits and gr__lock checks the held-lock stack: an
 * inversion is fatal with "lock ordering problem" after the held locks, as
 * Go prints them. Without it, ranks cost nothing: gr__lock_init does
 * nothing and the lock word is as before.
 */
#ifndef GR__CORE_LOCKRANK_H
#define GR__CORE_LOCKRANK_H

#include <stdint.h>

enum gr__lockrank {
    GR__RANK_NONE = 0,     /* not ranked, not checked */
    GR__RANK_CHANTIMER,    /* chan/timer.c gr_timer.mu (-> hchan) */
    GR__RANK_CTX,          /* sync/context.c ctx->lock; nests, parent first (-> weighted, hchan) */
    GR__RANK_WEIGHTED,     /* sync/weighted.c gr_sem lock (a ctx watch takes it) */
    GR__RANK_FDSET,        /* io/fd.h gr__fd.setlock (-> fd lock, timers) */
    GR__RANK_FD,           /* io/fd.h gr__fd.lock (-> ring sq lock) */
    GR__RANK_HCHAN,        /* chan/ hchan lock; nests, ascending address (-> timers, sched) */
    GR__RANK_SEMROOT,      /* sync/sema.c semaphore root lock: a leaf among sync's */
    GR__RANK_POOL,         /* sync/pool.c shard lock */
    GR__RANK_STATS,        /* core/runtime.c stats_lock (-> sched) */
    GR__RANK_TIMERS,       /* core/timer.c a P's timer heap lock; callbacks run with none held */
    GR__RANK_RINGSQ,       /* io/netpoll_uring.c a ring's sqlock (-> cq lock) */
    GR__RANK_RINGCQ,       /* io/netpoll_uring.c a ring's cqlock */
    GR__RANK_GLOCK,        /* sched.glock: dead-G lists, allg */
    GR__RANK_SCHED,        /* sched.lock: global run queue, idle P and M lists */
    GR__RANK_STACK,        /* core/stack.c stack_lock */
    GR__RANK_N
};

#ifdef GR__LOCKRANK
#define GR__LOCKRANK_BITS(rank) ((uint32_t)(rank) << 16)
#else
#define GR__LOCKRANK_BITS(rank) 0u
#endif

#ifdef GR__LOCKRANK
/* core/lockrank.c, called by core/lock.c only. l is a gr__mutex *. */
__attribute__((visibility("hidden"))) void gr__lockrank_acquire(void *l, uint32_t rank);
__attribute__((visibility("hidden"))) void gr__lockrank_acquire_try(void *l, uint32_t rank);
__attribute__((visibility("hidden"))) void gr__lockrank_release(void *l, uint32_t rank);
#endif

/* A static lock with a rank: static gr__mutex l = GR__MUTEX_RANKED(r); */
#define GR__MUTEX_RANKED(rank) { GR__LOCKRANK_BITS(rank) }

#endif
