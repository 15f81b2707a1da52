/*
 * sync/group.c: gr_group, golang.org/x/sync/errgroup.Group. Layer 3: it
 * owns a gr_ctx.
 *
 * A WaitGroup counts members; the first non-zero result is kept with a CAS
 * and cancels the group's context; wait waits on the WaitGroup, cancels
 * the context (as errgroup.Wait does) and returns the kept result. The
 * limit is a counter of active members under a mutex, with a cond for
 * gr_group_go to wait on (x/sync uses a buffered channel as a semaphore;
 * the counter also answers set_limit's "still active" check).
 *
 * Invariants:
 * - mu protects limit and active; active counts members from gr_group_go's
 *   admission to the end of their fn, whether or not a limit is set.
 * - err: 0 until the first failing member's CAS (acq_rel: wait's acquire
 *   load after the WaitGroup sees it anyway; the CAS just picks one).
 * - A member's record is heap-allocated by gr_group_go and freed by the
 *   member; it does not outlive fn.
 * - Lock order: g->mu, then nothing (the context is cancelled outside it).
 */
#include "sync/ctx.h"

#include <errno.h>
#include <stdlib.h>

struct gr_group {
    gr_ctx *ctx;
    gr_waitgroup wg;
    _Atomic int err;
    gr_mutex mu;
    gr_cond cv;              /* members leaving, for limited gr_group_go */
    int limit;               /* (mu) < 0: none */
    int active;              /* (mu) */
};

struct member {
    gr_group *g;
    int (*fn)(void *, gr_ctx *);
    void *arg;
};

gr_group *gr_group_new(gr_ctx *parent)
{
    gr_group *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->ctx = gr_ctx_with_cancel(parent);
    if (!g->ctx) {
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    g->limit = -1;
    return g;
}

gr_ctx *gr_group_ctx(gr_group *g)
{
    return g->ctx;
}

static void member_leave(gr_group *g)
{
    gr_mutex_lock(&g->mu);
    g->active--;
    gr_mutex_unlock(&g->mu);
    gr_cond_signal(&g->cv);
}

static void member_main(void *arg)
{
    struct member m = *(struct member *)arg;
    free(arg);
    gr_group *g = m.g;
    int r = m.fn(m.arg, g->ctx);
    if (r != 0) {
        int zero = 0;
        if (atomic_compare_exchange_strong_explicit(&g->err, &zero, r,
                memory_order_acq_rel, memory_order_relaxed))
            gr_ctx_cancel(g->ctx);
    }
    member_leave(g);
    gr_waitgroup_done(&g->wg);
}

static int group_go(gr_group *g, int (*fn)(void *, gr_ctx *), void *arg, bool wait)
{
    gr_mutex_lock(&g->mu);
    while (g->limit >= 0 && g->active >= g->limit) {
        if (!wait) {
            gr_mutex_unlock(&g->mu);
            return -EBUSY;
        }
        if (!gr__getg()) {
            gr_mutex_unlock(&g->mu);
            return -EPERM;
        }
        gr_cond_wait(&g->cv, &g->mu);
    }
    g->active++;
    gr_mutex_unlock(&g->mu);

    struct member *m = malloc(sizeof *m);
    if (!m) {
        member_leave(g);
        return -ENOMEM;
    }
    *m = (struct member){ g, fn, arg };
    gr_waitgroup_add(&g->wg, 1);
    int r = gr_go(member_main, m);
    if (r != 0) {
        free(m);
        member_leave(g);
        gr_waitgroup_done(&g->wg);
        return r;
    }
    return 0;
}

int gr_group_go(gr_group *g, int (*fn)(void *, gr_ctx *), void *arg)
{
    return group_go(g, fn, arg, true);
}

int gr_group_try_go(gr_group *g, int (*fn)(void *, gr_ctx *), void *arg)
{
    return group_go(g, fn, arg, false);
}

void gr_group_set_limit(gr_group *g, int n)
{
    gr_mutex_lock(&g->mu);
    if (g->active != 0) {
        int a = g->active;
        gr_mutex_unlock(&g->mu);
        gr__throwf("errgroup: modify limit while %d goroutines in the group are still active", a);
    }
    g->limit = n < 0 ? -1 : n;
    gr_mutex_unlock(&g->mu);
    /* gr_group_go calls blocked by a limit of 0 re-check the new one (Go
     * leaves them blocked on the old channel forever). */
    gr_cond_broadcast(&g->cv);
}

int gr_group_wait(gr_group *g)
{
    /* It has a result, so waiting outside a goroutine is -EPERM, not fatal
     * (API.md). The counter is the WaitGroup's high word. */
    uint64_t st = atomic_load_explicit((_Atomic uint64_t *)&g->wg.state, memory_order_acquire);
    if ((st >> 32) != 0 && !gr__getg())
        return -EPERM;
    gr_waitgroup_wait(&g->wg);
    gr_ctx_cancel(g->ctx);
    return atomic_load_explicit(&g->err, memory_order_acquire);
}

void gr_group_free(gr_group *g)
{
    if (!g)
        return;
    gr_mutex_lock(&g->mu);
    int a = g->active;
    gr_mutex_unlock(&g->mu);
    if (a != 0)
        gr__throw("errgroup: free of a group with active members");
    gr_ctx_free(g->ctx);
    free(g);
}
