/* goring/sync.h: Mutex, RWMutex, WaitGroup, Cond, Once, Pool, weighted
 * semaphore, context, errgroup. (draft: sync layer fills in docs and layouts) */
#ifndef GORING_SYNC_H
#define GORING_SYNC_H
#include <goring/core.h>
#include <goring/chan.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct { int32_t state; uint32_t sema; } gr_mutex;
#define GR_MUTEX_INIT {0, 0}
typedef struct { gr_mutex w; uint32_t writer_sem, reader_sem; int32_t reader_count, reader_wait; } gr_rwmutex;
#define GR_RWMUTEX_INIT {GR_MUTEX_INIT, 0, 0, 0, 0}
typedef struct { uint64_t state; uint32_t sema; } gr_waitgroup;
#define GR_WAITGROUP_INIT {0, 0}
typedef struct { uint32_t wait, notify; uint32_t lock; uint32_t pad; void *head, *tail; } gr_cond;
#define GR_COND_INIT {0, 0, 0, 0, 0, 0}
typedef struct { uint32_t done; gr_mutex m; } gr_once;
#define GR_ONCE_INIT {0, GR_MUTEX_INIT}
typedef struct gr_pool gr_pool;
typedef struct gr_sem gr_sem;
typedef struct gr_ctx gr_ctx;
typedef struct gr_group gr_group;
GR_API void gr_mutex_lock(gr_mutex *m);
GR_API void gr_mutex_unlock(gr_mutex *m);
GR_API int gr_mutex_trylock(gr_mutex *m);
GR_API void gr_rwmutex_rlock(gr_rwmutex *rw);
GR_API void gr_rwmutex_runlock(gr_rwmutex *rw);
GR_API void gr_rwmutex_lock(gr_rwmutex *rw);
GR_API void gr_rwmutex_unlock(gr_rwmutex *rw);
GR_API int gr_rwmutex_tryrlock(gr_rwmutex *rw);
GR_API int gr_rwmutex_trylock(gr_rwmutex *rw);
GR_API void gr_waitgroup_add(gr_waitgroup *wg, int delta);
GR_API void gr_waitgroup_done(gr_waitgroup *wg);
GR_API void gr_waitgroup_wait(gr_waitgroup *wg);
GR_API void gr_cond_wait(gr_cond *c, gr_mutex *m);
GR_API void gr_cond_signal(gr_cond *c);
GR_API void gr_cond_broadcast(gr_cond *c);
GR_API void gr_once_do(gr_once *o, gr_fn fn, void *arg);
GR_API gr_pool *gr_pool_new(void *(*new_fn)(void *), void (*free_fn)(void *, void *), void *arg);
GR_API void *gr_pool_get(gr_pool *p);
GR_API void gr_pool_put(gr_pool *p, void *x);
GR_API void gr_pool_free(gr_pool *p);
GR_API gr_sem *gr_sem_new(int64_t n);
GR_API int gr_sem_acquire(gr_sem *s, int64_t n, gr_ctx *ctx);
GR_API int gr_sem_try_acquire(gr_sem *s, int64_t n);
GR_API void gr_sem_release(gr_sem *s, int64_t n);
GR_API gr_ctx *gr_ctx_background(void);
GR_API gr_ctx *gr_ctx_with_cancel(gr_ctx *parent);
GR_API gr_ctx *gr_ctx_with_deadline(gr_ctx *parent, int64_t deadline_ns);
GR_API gr_ctx *gr_ctx_with_timeout(gr_ctx *parent, int64_t timeout_ns);
GR_API void gr_ctx_cancel(gr_ctx *ctx);
GR_API gr_chan *gr_ctx_done(gr_ctx *ctx);
GR_API int gr_ctx_err(gr_ctx *ctx);
GR_API void gr_ctx_free(gr_ctx *ctx);
GR_API gr_group *gr_group_new(gr_ctx *parent);
GR_API gr_ctx *gr_group_ctx(gr_group *g);
GR_API int gr_group_go(gr_group *g, int (*fn)(void *arg, gr_ctx *ctx), void *arg);
GR_API void gr_group_set_limit(gr_group *g, int n);
GR_API int gr_group_wait(gr_group *g);
GR_API void gr_group_free(gr_group *g);
#ifdef __cplusplus
}
#endif
#endif
