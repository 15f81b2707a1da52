/*
 * sync/weighted.c: gr_sem, golang.org/x/sync/semaphore.Weighted. Layer 3:
 * its acquire takes a gr_ctx.
 *
 * size and cur under a runtime lock; waiters in a FIFO list, each on its
 * goroutine's stack with its weight. Release (and a cancelled head leaving)
 * admits waiters from the head while they fit, and stops at the first that
 * does not: a big request is not overtaken by small ones (x/sync's choice
 * against starving large requests).
 *
 * Cancellation: instead of x/sync's select on ctx.Done() and a per-waiter
 * ready channel, a waiter registers a watch on ctx (sync/ctx.h) before it
 * queues; the watch, run by whoever cancels, takes the waiter out of the
 * queue and readies it. No allocation per wait, no channel.
 *
 * Invariants:
 * - Lock order (core/lockrank.h): ctx lock (the watch runs under it)
 *   before s->lock. Acquire therefore registers the watch before taking
 *   s->lock, never while holding it.
 * - waiter.state: W_INIT (watch registered, not queued), W_QUEUED,
 *   W_ACQUIRED (a releaser took it off the queue and counted its weight),
 *   W_CANCELLED (the watch got there first). Changed only under s->lock.
 *   Whoever moves a waiter out of W_QUEUED readies it, after dropping the
 *   lock, reading everything it needs from the waiter first.
 * - A queued waiter is published under s->lock, released by gr__park_unlock
 *   once switched out: a waker can ready it as soon as it finds it.
 * - While parked, gp->param points at the waiter and the wait reason is
 *   GR_WAIT_SYNC_OTHER ("sync wait"), for the teardown hook (sem_abandon);
 *   nobody else reads it (chan uses param only for its own sudogs).
 * - 0 <= cur <= size.
 */
#include "sync/ctx.h"
#include "core/list.h"

#include <errno.h>
#include <stdlib.h>

enum { W_INIT, W_QUEUED, W_ACQUIRED, W_CANCELLED };

struct semwaiter {
    struct gr__ctx_watch watch;     /* first: the watch callback casts back */
    gr_sem *s;
    gr_ctx *ctx;                    /* watched context, or NULL */
    G *g;
    int64_t n;
    int state;                      /* (s->lock) */
    struct semwaiter *next, *prev;  /* (s->lock) */
    struct semwaiter *wake_next;    /* ready list built under the lock */
};

struct gr_sem {
    gr__mutex lock;
    int64_t size;
    int64_t cur;                    /* (lock) */
    struct semwaiter *head, *tail;  /* (lock) */
};

gr_sem *gr_sem_new(int64_t n)
{
    if (n < 0) {
        errno = EINVAL;
        return NULL;
    }
    gr_sem *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    gr__lock_init(&s->lock, GR__RANK_WEIGHTED);
    s->size = n;
    return s;
}

void gr_sem_free(gr_sem *s)
{
    if (!s)
        return;
    if (s->head)
        gr__throw("semaphore: gr_sem_free while goroutines wait on it");
    free(s);
}

static void unlink_waiter(gr_sem *s, struct semwaiter *w)
{
    GR__QUEUE_REMOVE(s->head, s->tail, w);
}

/* Admit waiters from the head while they fit. s->lock held. Returns the
 * list of goroutines to ready once the lock is dropped. */
static struct semwaiter *admit(gr_sem *s)
{
    struct semwaiter *wake = NULL, **tailp = &wake;
    while (s->head && s->size - s->cur >= s->head->n) {
        struct semwaiter *w = s->head;
        s->cur += w->n;
        unlink_waiter(s, w);
        w->state = W_ACQUIRED;
        w->wake_next = NULL;
        *tailp = w;
        tailp = &w->wake_next;
    }
    return wake;
}

static void ready_list(struct semwaiter *w)
{
    while (w) {
        struct semwaiter *next = w->wake_next;   /* before the ready */
        gr__ready(w->g);
        w = next;
    }
}

/* Watch callback: ctx cancelled (ctx lock held by the canceller). */
static void waiter_cancelled(struct gr__ctx_watch *cw)
{
    struct semwaiter *w = (struct semwaiter *)cw;
    gr_sem *s = w->s;
    struct semwaiter *wake = NULL;
    bool ready_self = false;
    gr__lock(&s->lock);
    if (w->state == W_QUEUED) {
        bool front = s->head == w;
        unlink_waiter(s, w);
        w->state = W_CANCELLED;
        ready_self = true;
        /* A head that leaves may have been what held the others back. */
        if (front)
            wake = admit(s);
    } else if (w->state == W_INIT) {
        w->state = W_CANCELLED;   /* acquire sees it before queueing */
    }
    G *g = w->g;
    gr__unlock(&s->lock);
    ready_list(wake);
    if (ready_self)
        gr__ready(g);             /* w may be gone after this */
}

int gr_sem_acquire(gr_sem *s, int64_t n, gr_ctx *ctx)
{
    if (n < 0)
        return -EINVAL;
    bool cancellable = gr__ctx_cancellable(ctx);
    int err;
    if (cancellable && (err = gr_ctx_err(ctx)) != 0)
        return err;   /* done before the call: fail even if we could take it */
    if (n > s->size) {
        /* x/sync: more than the size can never be had; wait for ctx to
         * end and return its error (forever without one, as Go would). */
        if (!gr__getg())
            return -EPERM;
        if (!cancellable)
            gr_select(NULL, 0, -1);
        gr_chan_recv(gr_ctx_done(ctx), NULL);
        return gr_ctx_err(ctx);
    }

    gr__lock(&s->lock);
    if (s->size - s->cur >= n && s->head == NULL) {
        s->cur += n;
        gr__unlock(&s->lock);
        return 0;
    }
    gr__unlock(&s->lock);

    G *gp = gr__getg();
    if (!gp)
        return -EPERM;
    struct semwaiter w = { .s = s, .ctx = cancellable ? ctx : NULL, .g = gp, .n = n,
                           .state = W_INIT };
    w.watch.fn = waiter_cancelled;
    if (cancellable && !gr__ctx_watch(ctx, &w.watch))
        return gr_ctx_err(ctx);

    gr__lock(&s->lock);
    if (w.state == W_CANCELLED) {
        gr__unlock(&s->lock);
        err = gr_ctx_err(ctx);
        goto out;
    }
    if (s->size - s->cur >= n && s->head == NULL) {
        /* freed up while we registered */
        s->cur += n;
        w.state = W_ACQUIRED;
        gr__unlock(&s->lock);
    } else {
        w.state = W_QUEUED;
        struct semwaiter *wp = &w;
        GR__QUEUE_PUSH_BACK(s->head, s->tail, wp);
        gp->param = &w;          /* the teardown hook finds it here */
        gr__park_unlock(&s->lock, GR_WAIT_SYNC_OTHER);
        gp->param = NULL;
    }

    /* W_ACQUIRED or W_CANCELLED now, and nobody will touch w but the
     * watch, which unwatch waits out. */
    if (w.state == W_CANCELLED) {
        err = gr_ctx_err(ctx);
    } else if (cancellable && (err = gr_ctx_err(ctx)) != 0) {
        /* acquired, but ctx is done too: prefer the error, give it back
         * (x/sync does the same) */
        gr_sem_release(s, n);
    } else {
        err = 0;
    }
out:
    if (cancellable)
        gr__ctx_unwatch(ctx, &w.watch);
    return err;
}

/*
 * Teardown hook (core calls it for every goroutine left waiting or runnable
 * once every M stopped, before stacks are freed): a goroutine abandoned in
 * gr_sem_acquire leaves the semaphore's queue and its context's watch list,
 * both user objects that may outlive the runtime. Its weight, if a release
 * already granted it, stays taken (like a mutex an abandoned goroutine
 * holds). Recognised by the wait reason and found through gp->param, set
 * only while parked here.
 */
static void sem_abandon(G *gp)
{
    if (atomic_load_explicit(&gp->waitreason, memory_order_relaxed) != GR_WAIT_SYNC_OTHER ||
        gp->param == NULL)
        return;
    struct semwaiter *w = gp->param;
    if (w->ctx)
        gr__ctx_unwatch(w->ctx, &w->watch);   /* ctx lock before s->lock */
    gr_sem *s = w->s;
    gr__lock(&s->lock);
    if (w->state == W_QUEUED) {
        unlink_waiter(s, w);
        w->state = W_CANCELLED;
    }
    gr__unlock(&s->lock);
    gp->param = NULL;
}

static const struct gr__hooks sem_hooks = { .abandon = sem_abandon, .fini = NULL };

__attribute__((constructor)) static void sem_register_hooks(void)
{
    gr__register_hooks(&sem_hooks);
}

int gr_sem_try_acquire(gr_sem *s, int64_t n)
{
    if (n < 0)
        return -EINVAL;
    int r = -EBUSY;
    gr__lock(&s->lock);
    if (s->size - s->cur >= n && s->head == NULL) {
        s->cur += n;
        r = 0;
    }
    gr__unlock(&s->lock);
    return r;
}

void gr_sem_release(gr_sem *s, int64_t n)
{
    gr__lock(&s->lock);
    s->cur -= n;
    if (s->cur < 0 || n < 0) {
        gr__unlock(&s->lock);
        gr__throw("semaphore: released more than held");
    }
    struct semwaiter *wake = admit(s);
    gr__unlock(&s->lock);
    ready_list(wake);
}
