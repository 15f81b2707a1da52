/*
 * sync/pool.c: gr_pool, a bounded take on Go's sync.Pool (sync/pool.go).
 *
 * One shard per P (gr__nprocs() when the pool is made, or gr_maxprocs()
 * before a runtime runs), each on its own cache lines: a private slot that
 * only goroutines running on that P use in the common case, and a shared
 * stack of up to POOL_SHARED_MAX objects under a runtime lock that other
 * Ps steal from when their own shard is empty. Threads with no P use a
 * shard picked at random. A put that finds the private slot taken and the
 * shared stack full drops the object to free_fn: with no GC to empty the
 * pool (Go clears pools at each GC, keeping one victim generation), the
 * bound is what keeps a burst of puts from being cached forever.
 *
 * Rejected: Go's lock-free poolChain (a dequeue the owner pushes/pops at the
 * head and thieves pop at the tail). The shared stack is touched only after
 * the private slot missed, and a runtime lock uncontended costs one CAS;
 * worth revisiting if a benchmark shows the shared path hot.
 *
 * Invariants:
 * - private: exchanged atomically (acquire on take, release on give, so the
 *   object's contents travel with it). Go relies on pinning the goroutine to
 *   its P; goring's preemption is cooperative so a goroutine keeps its P
 *   between gr__pid() and the slot access, but a thread with no P may pick
 *   any shard, so the slot must be atomic anyway.
 * - shared[] and n: under lock; n is also read without the lock (relaxed)
 *   as a hint before stealing.
 * - lock is a leaf ("pool" in core/lockrank.h): new_fn and free_fn are
 *   never called under it.
 * - A shard index is always reduced modulo nshards: the runtime may run with
 *   more Ps than the pool has shards (pool made before gr_main, or in an
 *   earlier runtime).
 */
#include <goring/sync.h>

#include "sync/sema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define POOL_SHARED_MAX 64

struct pool_shard {
    _Atomic(void *) private;
    gr__mutex lock;
    _Atomic uint32_t n;                 /* (lock) objects in shared[] */
    void *shared[POOL_SHARED_MAX];      /* (lock) a stack: LIFO keeps caches warm */
} __attribute__((aligned(64)));

struct gr_pool {
    void *(*new_fn)(void *);
    void (*free_fn)(void *, void *);
    void *arg;
    uint32_t nshards;
    struct pool_shard shards[];
};

gr_pool *gr_pool_new(void *(*new_fn)(void *), void (*free_fn)(void *, void *), void *arg)
{
    int n = gr__nprocs();
    if (n <= 0)
        n = gr_maxprocs();
    if (n <= 0)
        n = 1;
    size_t sz = sizeof(struct gr_pool) + (size_t)n * sizeof(struct pool_shard);
    sz = (sz + 63) & ~(size_t)63;
    gr_pool *p = aligned_alloc(64, sz);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, sz);
    p->new_fn = new_fn;
    p->free_fn = free_fn;
    p->arg = arg;
    p->nshards = (uint32_t)n;
    for (uint32_t i = 0; i < p->nshards; i++)
        gr__lock_init(&p->shards[i].lock, GR__RANK_POOL);
    return p;
}

/* A thread with no P sticks to one shard (picked at random once), so what
 * it puts it finds again. 0: not picked yet. */
static __thread uint32_t tls_shard_plus1;

static uint32_t shard_index(gr_pool *p)
{
    int pid = gr__pid();
    if (pid >= 0)
        return (uint32_t)pid % p->nshards;
    if (tls_shard_plus1 == 0)
        tls_shard_plus1 = gr__fastrand() | 1;
    return (tls_shard_plus1 >> 1) % p->nshards;
}

static void *shared_pop(struct pool_shard *s)
{
    if (atomic_load_explicit(&s->n, memory_order_relaxed) == 0)
        return NULL;
    void *x = NULL;
    gr__lock(&s->lock);
    uint32_t n = atomic_load_explicit(&s->n, memory_order_relaxed);
    if (n > 0) {
        x = s->shared[n - 1];
        atomic_store_explicit(&s->n, n - 1, memory_order_relaxed);
    }
    gr__unlock(&s->lock);
    return x;
}

void *gr_pool_get(gr_pool *p)
{
    uint32_t i = shard_index(p);
    struct pool_shard *s = &p->shards[i];
    void *x = atomic_exchange_explicit(&s->private, NULL, memory_order_acquire);
    if (x)
        return x;
    if ((x = shared_pop(s)))
        return x;
    for (uint32_t k = 1; k < p->nshards; k++) {
        if ((x = shared_pop(&p->shards[(i + k) % p->nshards])))
            return x;
    }
    /* Last, other shards' private slots: Go leaves them to their P, but a
     * cached object is cheaper than a new one and the slot is atomic. */
    for (uint32_t k = 1; k < p->nshards; k++) {
        struct pool_shard *o = &p->shards[(i + k) % p->nshards];
        if (atomic_load_explicit(&o->private, memory_order_relaxed) &&
            (x = atomic_exchange_explicit(&o->private, NULL, memory_order_acquire)))
            return x;
    }
    return p->new_fn ? p->new_fn(p->arg) : NULL;
}

void gr_pool_put(gr_pool *p, void *x)
{
    if (!x)
        return;
    struct pool_shard *s = &p->shards[shard_index(p)];
    void *expect = NULL;
    if (atomic_compare_exchange_strong_explicit(&s->private, &expect, x,
            memory_order_release, memory_order_relaxed))
        return;
    bool kept = false;
    gr__lock(&s->lock);
    uint32_t n = atomic_load_explicit(&s->n, memory_order_relaxed);
    if (n < POOL_SHARED_MAX) {
        s->shared[n] = x;
        atomic_store_explicit(&s->n, n + 1, memory_order_relaxed);
        kept = true;
    }
    gr__unlock(&s->lock);
    if (!kept && p->free_fn)
        p->free_fn(p->arg, x);
}

void gr_pool_free(gr_pool *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->nshards; i++) {
        struct pool_shard *s = &p->shards[i];
        void *x = atomic_load_explicit(&s->private, memory_order_acquire);
        if (x && p->free_fn)
            p->free_fn(p->arg, x);
        uint32_t n = atomic_load_explicit(&s->n, memory_order_relaxed);
        for (uint32_t k = 0; k < n; k++) {
            if (p->free_fn)
                p->free_fn(p->arg, s->shared[k]);
        }
    }
    free(p);
}
