/*
 * goring/sync.h: Mutex, RWMutex, WaitGroup, Cond, Once, Pool, the weighted
 * semaphore, context and errgroup: Go's sync, context, and
 * golang.org/x/sync/{semaphore,errgroup}, for goroutines.
 *
 * Embeddable types (gr_mutex, gr_rwmutex, gr_waitgroup, gr_cond, gr_once)
 * are fixed-size values: initialise them with their GR_*_INIT (all zeros),
 * need no destroy, and must not be copied once used (as in Go). Their fields
 * are private; the layouts are part of the ABI (sizes are checked at compile
 * time) but not of the API.
 *
 * Inline fast paths. gr_mutex_lock, gr_mutex_unlock, gr_waitgroup_add and
 * gr_waitgroup_done are also macros that expand to the static inline
 * gr__*_fast functions below: the uncontended case (one CAS or one atomic
 * add on the state word) runs in the caller without a call into the shared
 * library, as Go inlines its Mutex.Lock fast path; anything else calls the
 * exported slow path (gr__mutex_lock_slow, gr__mutex_unlock_slow,
 * gr__waitgroup_add_slow). The exported functions of the same names stay
 * (take their address, or write (gr_mutex_lock)(m), to call them). So the
 * meaning of the state words is part of the ABI: gr_mutex.state bit 0 is
 * "locked" and 0 is "unlocked with nobody waiting or awake"; a waitgroup's
 * state holds the counter in its high 32 bits and the waiter count in its
 * low 32. A library that changed them would have to change the soname.
 * The gr__ names are exported for these inlines only; calling them
 * directly is not part of the API.
 *
 * Calling rules (README.md, "Rules worth knowing"): a function that may block the calling goroutine
 * may block only a goroutine. Those that return void are fatal when they
 * would have to wait outside a goroutine (a lock of a free mutex is cheap and
 * works anywhere); those that return int answer -EPERM. Functions that only
 * wake (unlock, runlock, add, done, signal, broadcast, gr_sem_release,
 * gr_ctx_cancel) may be called from any thread.
 *
 * Misuse that would corrupt state is fatal with Go's wording:
 * "goring: fatal error: sync: unlock of unlocked mutex", then a goroutine
 * dump, exit status 2.
 */
#ifndef GORING_SYNC_H
#define GORING_SYNC_H
#include <goring/core.h>
#include <goring/chan.h>
#ifdef __cplusplus
extern "C" {
#endif

/* ---------- Mutex ---------- */

/* A mutual exclusion lock (sync.Mutex). 8 bytes. */
typedef struct { int32_t state; uint32_t sema; } gr_mutex;
#define GR_MUTEX_INIT {0, 0}

/*
 * gr_mutex_lock: lock m, parking the calling goroutine while another holds
 * it. Go's algorithm: a short spin when there is more than one P, then a
 * FIFO queue; a waiter that waited over 1 ms switches m to starvation mode
 * where each unlock hands m directly to the longest waiter.
 * Not recursive: locking a mutex the caller holds deadlocks (as in Go).
 * Outside a goroutine: fine while m is free; fatal ("sync: gr_mutex_lock
 * called outside a goroutine") when it would have to park.
 * Source: Go sync.Mutex.Lock.
 */
GR_API void gr_mutex_lock(gr_mutex *m);

/*
 * gr_mutex_unlock: unlock m. m need not have been locked by the caller's
 * goroutine, and any thread may unlock (Go allows unlocking from another
 * goroutine). Fatal "sync: unlock of unlocked mutex" if m is not locked.
 * Called from a goroutine it may let others run before it returns: it
 * yields to the waiter it hands m to in starvation mode, and it is a
 * preemption point (every 64th call looks at sysmon's request), as are
 * gr_rwmutex_runlock and gr_rwmutex_unlock.
 * Source: Go sync.Mutex.Unlock.
 */
GR_API void gr_mutex_unlock(gr_mutex *m);

/*
 * gr_mutex_trylock: lock m if that needs no wait. Returns 0 when locked,
 * -EBUSY when m is held or in starvation mode (waiters have priority).
 * Never blocks; any thread.
 * Source: Go sync.Mutex.TryLock.
 */
GR_API int gr_mutex_trylock(gr_mutex *m);

/* The inline fast paths (see the top of this file). Not API. */
GR_API void gr__mutex_lock_slow(gr_mutex *m);
GR_API void gr__mutex_unlock_slow(gr_mutex *m, int32_t new_state);
/* Every 64th unlock on a thread looks at the scheduler's preemption
 * request (goring's preemption is cooperative): the tick and the check. */
GR_API extern __thread uint32_t gr__sync_tick;
GR_API void gr__sync_preempt_check(void);

static inline void gr__mutex_lock_fast(gr_mutex *m)
{
    int32_t unlocked = 0;
    if (__builtin_expect(__atomic_compare_exchange_n(&m->state, &unlocked, 1, 0, __ATOMIC_ACQUIRE,
                                                     __ATOMIC_RELAXED), 1))
        return;
    gr__mutex_lock_slow(m);
}

static inline void gr__mutex_unlock_fast(gr_mutex *m)
{
    int32_t new_state = __atomic_sub_fetch(&m->state, 1, __ATOMIC_RELEASE);
    if (__builtin_expect(new_state != 0, 0))
        gr__mutex_unlock_slow(m, new_state);
    else if (__builtin_expect((++gr__sync_tick & 63) == 0, 0))
        gr__sync_preempt_check();
}

#define gr_mutex_lock(m) gr__mutex_lock_fast(m)
#define gr_mutex_unlock(m) gr__mutex_unlock_fast(m)

/* ---------- RWMutex ---------- */

/* A reader/writer lock (sync.RWMutex). 24 bytes. */
typedef struct {
    gr_mutex w;                 /* held by the pending or active writer */
    uint32_t writer_sem, reader_sem;
    int32_t reader_count, reader_wait;
} gr_rwmutex;
#define GR_RWMUTEX_INIT {GR_MUTEX_INIT, 0, 0, 0, 0}

/*
 * gr_rwmutex_rlock: lock rw for reading. Many readers may hold it at once.
 * A writer waiting in gr_rwmutex_lock holds back new readers (so readers
 * cannot starve it); a goroutine must therefore not rlock recursively.
 * Up to 2^30 - 1 concurrent readers. Fatal when it would wait outside a
 * goroutine.
 * Source: Go sync.RWMutex.RLock.
 */
GR_API void gr_rwmutex_rlock(gr_rwmutex *rw);

/*
 * gr_rwmutex_runlock: undo one gr_rwmutex_rlock; the last reader out wakes
 * a waiting writer. Any thread. Fatal "sync: RUnlock of unlocked RWMutex"
 * if rw is not read-locked.
 * Source: Go sync.RWMutex.RUnlock.
 */
GR_API void gr_rwmutex_runlock(gr_rwmutex *rw);

/*
 * gr_rwmutex_lock: lock rw for writing: waits for other writers, then for
 * the readers already in; new readers wait from the moment it is called.
 * Fatal when it would wait outside a goroutine.
 * Source: Go sync.RWMutex.Lock.
 */
GR_API void gr_rwmutex_lock(gr_rwmutex *rw);

/*
 * gr_rwmutex_unlock: unlock a write lock. Every reader that queued behind
 * the writer is released at once. Any thread. Fatal "sync: Unlock of
 * unlocked RWMutex" if rw is not write-locked.
 * Source: Go sync.RWMutex.Unlock.
 */
GR_API void gr_rwmutex_unlock(gr_rwmutex *rw);

/*
 * gr_rwmutex_tryrlock / gr_rwmutex_trylock: take a read / write lock if that
 * needs no wait. 0 when locked, -EBUSY otherwise. Never block; any thread.
 * Source: Go sync.RWMutex.TryRLock / TryLock.
 */
GR_API int gr_rwmutex_tryrlock(gr_rwmutex *rw);
GR_API int gr_rwmutex_trylock(gr_rwmutex *rw);

/* ---------- WaitGroup ---------- */

/* Waits for a collection of goroutines to finish (sync.WaitGroup). 16 bytes. */
typedef struct { uint64_t state; uint32_t sema; } gr_waitgroup;
#define GR_WAITGROUP_INIT {0, 0}

/*
 * gr_waitgroup_add: add delta (may be negative) to the counter. When it
 * reaches zero every goroutine in gr_waitgroup_wait is released. Any thread.
 * Fatal "sync: negative WaitGroup counter" below zero; fatal "sync:
 * WaitGroup misuse: Add called concurrently with Wait" when a positive add
 * from zero races a Wait. Adds for a new round must come after every Wait of
 * the previous round returned (as in Go).
 * Source: Go sync.WaitGroup.Add.
 */
GR_API void gr_waitgroup_add(gr_waitgroup *wg, int delta);

/* gr_waitgroup_done: gr_waitgroup_add(wg, -1). Any thread.
 * Source: Go sync.WaitGroup.Done. */
GR_API void gr_waitgroup_done(gr_waitgroup *wg);

/*
 * gr_waitgroup_wait: return when the counter is zero (at once if it is).
 * Any number of goroutines may wait. Fatal when it would wait outside a
 * goroutine; fatal "sync: WaitGroup is reused before previous Wait has
 * returned" when a new round's add overtakes a waiter.
 * Source: Go sync.WaitGroup.Wait.
 */
GR_API void gr_waitgroup_wait(gr_waitgroup *wg);

/* The inline fast path (see the top of this file). Not API. state: the
 * state word after the add of delta. */
GR_API void gr__waitgroup_add_slow(gr_waitgroup *wg, int delta, uint64_t state);

static inline void gr__waitgroup_add_fast(gr_waitgroup *wg, int delta)
{
    uint64_t state = __atomic_add_fetch(&wg->state, (uint64_t)(int64_t)delta << 32, __ATOMIC_ACQ_REL);
    /* Counter not negative and nobody waiting: nothing to check or wake. */
    if (__builtin_expect((int32_t)(state >> 32) >= 0 && (uint32_t)state == 0, 1))
        return;
    gr__waitgroup_add_slow(wg, delta, state);
}

#define gr_waitgroup_add(wg, delta) gr__waitgroup_add_fast((wg), (delta))
#define gr_waitgroup_done(wg) gr__waitgroup_add_fast((wg), -1)

/* ---------- Cond ---------- */

/* A condition variable (sync.Cond) whose waiters hold a gr_mutex. 32 bytes. */
typedef struct { uint32_t wait, notify; uint32_t lock; uint32_t pad; void *head, *tail; } gr_cond;
#define GR_COND_INIT {0, 0, 0, 0, 0, 0}

/*
 * gr_cond_wait: atomically unlock m and park until signalled, then lock m
 * again before returning. m must be held by the caller, and all concurrent
 * waiters must use the same m. As in Go, wake-ups are not a promise the
 * condition holds: wait in a loop. A waiter is woken only by a signal or
 * broadcast issued after it started waiting. Fatal outside a goroutine.
 * Source: Go sync.Cond.Wait (with the Locker passed per call).
 */
GR_API void gr_cond_wait(gr_cond *c, gr_mutex *m);

/* gr_cond_signal: wake the longest-waiting goroutine, if any. Any thread,
 * with or without the mutex held. Source: Go sync.Cond.Signal. */
GR_API void gr_cond_signal(gr_cond *c);

/* gr_cond_broadcast: wake every goroutine waiting now; later waiters are not
 * affected. Any thread. Source: Go sync.Cond.Broadcast. */
GR_API void gr_cond_broadcast(gr_cond *c);

/* ---------- Once ---------- */

/* Runs a function exactly once (sync.Once). 12 bytes. */
typedef struct { uint32_t done; gr_mutex m; } gr_once;
#define GR_ONCE_INIT {0, GR_MUTEX_INIT}

/*
 * gr_once_do: call fn(arg) if no gr_once_do on o has called it yet. Exactly
 * one call ever runs fn, under any number of racing callers, and every
 * caller returns only after fn has returned. fn must not call gr_once_do on
 * the same o (deadlock) nor gr_exit (later callers would block forever).
 * Racing callers wait as goroutines (fatal outside one while fn runs).
 * Source: Go sync.Once.Do.
 */
GR_API void gr_once_do(gr_once *o, gr_fn fn, void *arg);

/* ---------- Pool ---------- */

/* A cache of reusable objects (sync.Pool), bounded. Opaque. */
typedef struct gr_pool gr_pool;

/*
 * gr_pool_new: a pool whose gr_pool_get makes new objects with new_fn(arg)
 * when it has none (new_fn NULL: get returns NULL), and whose dropped
 * objects go to free_fn(arg, obj) (free_fn NULL: they are just forgotten).
 * Each P has a private slot and a shared list of up to 64 objects; put on a
 * full list drops the object. Unlike Go there is no GC to empty the pool:
 * the bound is what keeps it from growing.
 * Returns the pool, or NULL with errno ENOMEM.
 * Source: Go sync.Pool (per-P private + shared, stealing).
 */
GR_API gr_pool *gr_pool_new(void *(*new_fn)(void *arg), void (*free_fn)(void *arg, void *obj), void *arg);

/*
 * gr_pool_get: an object from the pool (this P's first, then stolen from
 * other Ps'), else new_fn(arg), else NULL. The caller owns it. Any thread;
 * never blocks (beyond new_fn).
 * Source: Go sync.Pool.Get.
 */
GR_API void *gr_pool_get(gr_pool *p);

/* gr_pool_put: give x back for reuse (NULL is ignored). When this P's share
 * is full, x goes to free_fn. Any thread. Source: Go sync.Pool.Put. */
GR_API void gr_pool_put(gr_pool *p, void *x);

/* gr_pool_free: hand every cached object to free_fn(arg, obj) and free the
 * pool. No other call on p may run concurrently or follow. NULL: no-op. */
GR_API void gr_pool_free(gr_pool *p);

/* ---------- weighted semaphore ---------- */

typedef struct gr_ctx gr_ctx;

/* A weighted semaphore (golang.org/x/sync/semaphore.Weighted). Opaque. */
typedef struct gr_sem gr_sem;

/*
 * gr_sem_new: a semaphore of total weight n (n >= 0).
 * Returns it, or NULL with errno EINVAL (n < 0) or ENOMEM.
 * Source: semaphore.NewWeighted.
 */
GR_API gr_sem *gr_sem_new(int64_t n);

/*
 * gr_sem_acquire: acquire weight n, parking until it is available or ctx is
 * done. Waiters are served strictly FIFO: a large request at the head holds
 * back smaller ones behind it (no starvation of large requests).
 * ctx NULL or background: wait without cancellation.
 * Returns 0; the ctx's error (-ECANCELED, -ETIMEDOUT) when ctx is done
 * before the weight was acquired, or already done at the call (ctx wins
 * over a free semaphore, as in x/sync); -EINVAL for n < 0; -EPERM when it
 * would have to wait outside a goroutine. n larger than the semaphore's
 * size can never be acquired: as in x/sync, the call waits until ctx is
 * done and returns its error (with no ctx, forever: the goroutine counts
 * as blocked for deadlock detection). On error nothing is acquired.
 * Source: semaphore.Weighted.Acquire.
 */
GR_API int gr_sem_acquire(gr_sem *s, int64_t n, gr_ctx *ctx);

/*
 * gr_sem_try_acquire: acquire n only if that needs no wait (and nobody
 * waits). Returns 0, -EBUSY, or -EINVAL for n < 0. Any thread.
 * Source: semaphore.Weighted.TryAcquire.
 */
GR_API int gr_sem_try_acquire(gr_sem *s, int64_t n);

/*
 * gr_sem_release: release weight n and wake the waiters at the head that
 * now fit. Any thread. Fatal "semaphore: released more than held".
 * Source: semaphore.Weighted.Release.
 */
GR_API void gr_sem_release(gr_sem *s, int64_t n);

/* gr_sem_free: free s (goring addition: C needs it). Fatal if goroutines
 * still wait on it. NULL: no-op. */
GR_API void gr_sem_free(gr_sem *s);

/* ---------- context ---------- */

/*
 * gr_ctx_background: the root context: never cancelled, no deadline,
 * gr_ctx_done NULL. Static; gr_ctx_free and gr_ctx_cancel on it do nothing.
 * Source: context.Background.
 */
GR_API gr_ctx *gr_ctx_background(void);

/*
 * gr_ctx_with_cancel: a child of parent (NULL means background) that is
 * cancelled by gr_ctx_cancel, or when parent is. Born cancelled (with the
 * parent's error) if parent already is. Free it with gr_ctx_free.
 * Returns the context, or NULL with errno ENOMEM.
 * Source: context.WithCancel.
 */
GR_API gr_ctx *gr_ctx_with_cancel(gr_ctx *parent);

/*
 * gr_ctx_with_deadline: as with_cancel, and also cancelled with -ETIMEDOUT
 * once gr_nanotime() passes deadline_ns (absolute, CLOCK_MONOTONIC ns).
 * deadline_ns < 0: no deadline of its own (as gr_set_deadline's -1). A
 * deadline already passed gives a context done at birth. The effective
 * deadline is the earlier of its own and the parent's.
 * Returns the context, or NULL with errno ENOMEM, or EPERM when a deadline
 * must be armed and no runtime is running.
 * Source: context.WithDeadline (a runtime timer instead of time.AfterFunc).
 */
GR_API gr_ctx *gr_ctx_with_deadline(gr_ctx *parent, int64_t deadline_ns);

/*
 * gr_ctx_with_timeout: gr_ctx_with_deadline(parent, gr_nanotime() +
 * timeout_ns). timeout_ns < 0: no timeout (goring's convention; Go's
 * negative timeout is an expired context); 0: done at birth.
 * Errors as gr_ctx_with_deadline. Source: context.WithTimeout.
 */
GR_API gr_ctx *gr_ctx_with_timeout(gr_ctx *parent, int64_t timeout_ns);

/*
 * gr_ctx_cancel: cancel ctx and, recursively, every context derived from it:
 * their errors become -ECANCELED (unless already set) and their done
 * channels close. Idempotent. Any thread. NULL or background: no-op.
 * It descends the tree recursively, as Go does, using ~60 bytes of the
 * caller's stack per level of nesting below ctx: chains thousands deep
 * need a goroutine with a larger stack (gr_go_opts).
 * Source: the CancelFunc of context.WithCancel.
 */
GR_API void gr_ctx_cancel(gr_ctx *ctx);

/*
 * gr_ctx_done: a channel (elem size 0) that is closed when ctx is cancelled
 * or its deadline passes: gr_chan_recv on it returns -EPIPE then, and it can
 * be a GR_RECV case of gr_select. Owned by ctx, valid until gr_ctx_free.
 * NULL for background (never done; a NULL select case is never chosen).
 * Source: context.Context.Done.
 */
GR_API gr_chan *gr_ctx_done(gr_ctx *ctx);

/*
 * gr_ctx_err: 0 while ctx is not done; -ECANCELED after a cancel;
 * -ETIMEDOUT after its (or an ancestor's) deadline. A child takes the error
 * of the ancestor that cancelled it. Any thread; one atomic load.
 * Source: context.Context.Err (Canceled, DeadlineExceeded).
 */
GR_API int gr_ctx_err(gr_ctx *ctx);

/*
 * gr_ctx_deadline: the effective deadline (absolute ns), or -1 when there is
 * none. goring addition. Source: context.Context.Deadline.
 */
GR_API int64_t gr_ctx_deadline(gr_ctx *ctx);

/*
 * gr_ctx_free: cancel ctx (and so its descendants) and release it. Its
 * children stay valid until they are freed themselves. The cancel closes
 * the done channel, which wakes every goroutine waiting on it; gr_ctx_free
 * yields until those have run (a woken select still holds the channel), so
 * no goroutine can be left waiting on freed memory. Using ctx after this
 * call is the caller's bug, as with free(3). NULL or background: no-op.
 */
GR_API void gr_ctx_free(gr_ctx *ctx);

/*
 * gr_ctx_sleep: sleep ns nanoseconds or until ctx is done, whichever comes
 * first (Go's idiom: select { case <-time.After(d): case <-ctx.Done(): }).
 * ns <= 0 does not sleep. Returns 0 after the full sleep; ctx's error
 * (-ECANCELED, -ETIMEDOUT) when it was done first or already; -EINVAL for
 * a NULL ctx; -EPERM outside a goroutine. goring addition.
 * Source: gr_select over gr_ctx_done(ctx) with a timeout.
 */
GR_API int gr_ctx_sleep(gr_ctx *ctx, int64_t ns);

/*
 * gr_ctx_recv: receive from c into elem (NULL discards) unless ctx is done
 * first (Go's select { case v := <-c: case <-ctx.Done(): }). When both are
 * ready one is chosen at random, as select does. Returns 0 (a value was
 * received); -EPIPE (c is closed and drained; elem zero-filled); ctx's
 * error (-ECANCELED, -ETIMEDOUT) when ctx was chosen; -EINVAL for a NULL
 * ctx; -EPERM outside a goroutine. A NULL c waits for ctx alone (a nil
 * channel). goring addition.
 * Source: gr_select with two GR_RECV cases.
 */
GR_API int gr_ctx_recv(gr_ctx *ctx, gr_chan *c, void *elem);

/* ---------- errgroup ---------- */

/* A group of goroutines working on one task (x/sync/errgroup.Group). Opaque. */
typedef struct gr_group gr_group;

/*
 * gr_group_new: a group whose context (gr_group_ctx) derives from parent
 * (NULL: background) and is cancelled by the first member that returns
 * non-zero, or when gr_group_wait returns, whichever comes first.
 * Returns the group, or NULL with errno ENOMEM.
 * Source: errgroup.WithContext.
 */
GR_API gr_group *gr_group_new(gr_ctx *parent);

/* gr_group_ctx: the group's context; valid until gr_group_free. */
GR_API gr_ctx *gr_group_ctx(gr_group *g);

/*
 * gr_group_go: run fn(arg, gr_group_ctx(g)) in a new goroutine as a member
 * of g. fn returns 0 or an error (any non-zero int, by convention -errno);
 * the first non-zero one is kept for gr_group_wait and cancels the group's
 * context. With a limit set, waits until fewer than limit members run.
 * Returns 0; -ENOMEM or -EAGAIN when no goroutine could be started (fn will
 * not run); -EPERM when it would have to wait outside a goroutine.
 * Source: errgroup.Group.Go.
 */
GR_API int gr_group_go(gr_group *g, int (*fn)(void *arg, gr_ctx *ctx), void *arg);

/*
 * gr_group_try_go: gr_group_go that does not wait for the limit: -EBUSY when
 * limit members run already. goring addition. Source: errgroup.Group.TryGo.
 */
GR_API int gr_group_try_go(gr_group *g, int (*fn)(void *arg, gr_ctx *ctx), void *arg);

/*
 * gr_group_set_limit: at most n members run at once from now on (n < 0: no
 * limit; n == 0 blocks every gr_group_go, as in Go). Fatal "errgroup: modify
 * limit while N goroutines in the group are still active".
 * Source: errgroup.Group.SetLimit.
 */
GR_API void gr_group_set_limit(gr_group *g, int n);

/*
 * gr_group_wait: wait until every member returned, cancel the group's
 * context, and return the first non-zero result of a member, or 0. Members
 * may be added again afterwards (the context stays cancelled). Returns
 * -EPERM, without waiting, when members still run and the caller is not a
 * goroutine.
 * Source: errgroup.Group.Wait.
 */
GR_API int gr_group_wait(gr_group *g);

/* gr_group_free: release g and its context; call after gr_group_wait.
 * Fatal "errgroup: free of a group with active members" while members run.
 * NULL: no-op. */
GR_API void gr_group_free(gr_group *g);

#ifdef __cplusplus
}
#endif
#endif
