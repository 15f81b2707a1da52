/*
 * sync/context.c: gr_ctx, Go's context package (context/context.go):
 * background, cancel, deadline, timeout, done channel, err. Layer 3: it
 * uses channels (chan/) and runtime timers (core/); nothing below includes
 * it.
 *
 * Tree. Each cancellable context keeps a list of its children and a counted
 * reference to its parent. Cancelling walks down the tree: it sets the
 * error, closes the done channel, cancels each child with the same error,
 * and runs the watches (sync/ctx.h). Freeing a context cancels it, stops its
 * timer, frees its done channel and unlinks it from its parent; its memory
 * stays until its last child is freed too, because children still hold the
 * parent's lock to unlink themselves. That is how "children stay valid until
 * freed" is made safe in any free order.
 *
 * Deadline. A runtime timer (gr__timer, core/timer.c) fires cancel with
 * -ETIMEDOUT on some M, maybe with no P; its callback takes only short
 * runtime locks and closes a channel, which only readies goroutines.
 * gr_ctx_cancel stops the timer (outside every lock, since stop waits for a
 * running callback that may want the lock). A cancel propagated from a
 * parent leaves it armed: the firing is then a no-op, and free stops it.
 *
 * Invariants:
 * - Lock order (core/lockrank.h): parent->lock before child->lock (cancel descends while
 *   holding each level) before any lock a watch takes (gr_sem's lock) before
 *   the channel's lock (gr_chan_close). Nothing takes a parent's lock while
 *   holding a child's: unlinking a child takes only the parent's.
 * - err: 0 until cancelled, then fixed. Written once under lock with
 *   release; read anywhere with acquire (gr_ctx_err is lock-free), so a
 *   reader that sees the error also sees what the canceller did before.
 * - done, parent, deadline, kind: set at creation, immutable after (done is
 *   NULLed only by free, after which the handle is dead).
 * - children, sib links, watches: under the owning context's lock (a child's
 *   sibling links under its parent's lock).
 * - refs: 1 for the user's handle + 1 per child still linked. acq_rel on the
 *   decrement that may free (the freeing thread must see every other
 *   holder's writes), relaxed on increments (done under the parent's lock).
 */
#include "sync/ctx.h"
#include "core/list.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

enum { CTX_BACKGROUND, CTX_CANCEL };

struct gr_ctx {
    int kind;
    gr__mutex lock;
    _Atomic int err;
    _Atomic uint32_t refs;
    gr_chan *done;
    gr_ctx *parent;                 /* holds a ref; NULL for roots */
    gr_ctx *children;               /* (lock) */
    gr_ctx *sib_next, *sib_prev;    /* (parent->lock) */
    struct gr__ctx_watch *watches;  /* (lock) */
    int64_t deadline;               /* effective, absolute ns; INT64_MAX none */
    bool has_timer;
    struct gr__timer timer;
};

static gr_ctx background = { .kind = CTX_BACKGROUND, .deadline = INT64_MAX };

gr_ctx *gr_ctx_background(void)
{
    return &background;
}

bool gr__ctx_cancellable(gr_ctx *ctx)
{
    return ctx != NULL && ctx->kind != CTX_BACKGROUND;
}

static void ctx_unref(gr_ctx *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

/* Cancel c and its subtree with err. Takes c->lock (parent's held by the
 * caller when descending). */
static void cancel_locked_tree(gr_ctx *c, int err)
{
    gr__lock(&c->lock);
    if (atomic_load_explicit(&c->err, memory_order_relaxed) != 0) {
        gr__unlock(&c->lock);
        return;
    }
    atomic_store_explicit(&c->err, err, memory_order_release);
    if (c->done)
        gr_chan_close(c->done);
    for (gr_ctx *k = c->children; k; k = k->sib_next)
        cancel_locked_tree(k, err);
    struct gr__ctx_watch *w = c->watches;
    c->watches = NULL;
    while (w) {
        struct gr__ctx_watch *next = w->next;   /* before fn: w may go away */
        w->next = w->prev = NULL;
        w->fn(w);
        w = next;
    }
    gr__unlock(&c->lock);
}

static void ctx_timer_fired(void *arg, int64_t now)
{
    (void)now;
    cancel_locked_tree(arg, -ETIMEDOUT);
}

static gr_ctx *ctx_new(gr_ctx *parent, int64_t deadline)
{
    if (!parent)
        parent = &background;
    bool own_deadline = deadline >= 0 && deadline < parent->deadline;
    if (own_deadline && deadline > gr__nanotime() && !gr__running()) {
        errno = EPERM;   /* a timer needs a runtime's heaps */
        return NULL;
    }
    gr_ctx *c = calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    gr__lock_init(&c->lock, GR__RANK_CTX);
    c->done = gr_chan_make(0, 0);
    if (!c->done)
        goto nomem;
    c->kind = CTX_CANCEL;
    atomic_init(&c->refs, 1);
    c->deadline = parent->deadline;
    if (own_deadline)
        c->deadline = deadline;

    if (parent->kind != CTX_BACKGROUND) {
        c->parent = parent;
        gr__lock(&parent->lock);
        atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed);
        c->sib_next = parent->children;
        if (parent->children)
            parent->children->sib_prev = c;
        parent->children = c;
        int perr = atomic_load_explicit(&parent->err, memory_order_relaxed);
        if (perr != 0)
            cancel_locked_tree(c, perr);   /* born done */
        gr__unlock(&parent->lock);
    }

    if (own_deadline && atomic_load_explicit(&c->err, memory_order_relaxed) == 0) {
        if (c->deadline <= gr__nanotime()) {
            cancel_locked_tree(c, -ETIMEDOUT);
        } else {
            c->has_timer = true;
            gr__timer_init(&c->timer, ctx_timer_fired, c);
            gr__timer_start(&c->timer, c->deadline, 0);
        }
    }
    return c;

nomem:
    free(c);
    errno = ENOMEM;
    return NULL;
}

gr_ctx *gr_ctx_with_cancel(gr_ctx *parent)
{
    return ctx_new(parent, -1);
}

gr_ctx *gr_ctx_with_deadline(gr_ctx *parent, int64_t deadline_ns)
{
    return ctx_new(parent, deadline_ns < 0 ? -1 : deadline_ns);
}

gr_ctx *gr_ctx_with_timeout(gr_ctx *parent, int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return ctx_new(parent, -1);
    int64_t now = gr__nanotime();
    int64_t d = timeout_ns > INT64_MAX - now ? INT64_MAX - 1 : now + timeout_ns;
    return ctx_new(parent, d);
}

void gr_ctx_cancel(gr_ctx *ctx)
{
    if (!gr__ctx_cancellable(ctx))
        return;
    cancel_locked_tree(ctx, -ECANCELED);
    /* Release the timer's heap slot early. Not under any lock: stop waits
     * for a running callback, which takes ctx->lock. Never reached from the
     * callback itself (it calls cancel_locked_tree). */
    if (ctx->has_timer)
        gr__timer_stop(&ctx->timer);
}

gr_chan *gr_ctx_done(gr_ctx *ctx)
{
    return gr__ctx_cancellable(ctx) ? ctx->done : NULL;
}

int gr_ctx_err(gr_ctx *ctx)
{
    if (!gr__ctx_cancellable(ctx))
        return 0;
    return atomic_load_explicit(&ctx->err, memory_order_acquire);
}

int64_t gr_ctx_deadline(gr_ctx *ctx)
{
    if (!ctx || ctx->deadline == INT64_MAX)
        return -1;
    return ctx->deadline;
}

void gr_ctx_free(gr_ctx *ctx)
{
    if (!gr__ctx_cancellable(ctx))
        return;
    gr_ctx_cancel(ctx);   /* closes done, cancels children, stops the timer */

    /* The cancel closed done, which woke every waiter; a woken select
     * still holds the channel until it has run (gr_chan_free says -EBUSY
     * until then), so let those goroutines run rather than fail. */
    int r;
    while ((r = gr_chan_free(ctx->done)) == -EBUSY)
        gr_yield();
    ctx->done = NULL;

    gr_ctx *p = ctx->parent;
    if (p) {
        gr__lock(&p->lock);
        if (ctx->sib_prev)
            ctx->sib_prev->sib_next = ctx->sib_next;
        else
            p->children = ctx->sib_next;
        if (ctx->sib_next)
            ctx->sib_next->sib_prev = ctx->sib_prev;
        gr__unlock(&p->lock);
        ctx->parent = NULL;
        ctx_unref(p);
    }
    ctx_unref(ctx);   /* the user's handle; children may keep it */
}

bool gr__ctx_watch(gr_ctx *ctx, struct gr__ctx_watch *w)
{
    gr__lock(&ctx->lock);
    if (atomic_load_explicit(&ctx->err, memory_order_relaxed) != 0) {
        gr__unlock(&ctx->lock);
        return false;
    }
    GR__LIST_PUSH_FRONT(ctx->watches, w);
    gr__unlock(&ctx->lock);
    return true;
}

void gr__ctx_unwatch(gr_ctx *ctx, struct gr__ctx_watch *w)
{
    gr__lock(&ctx->lock);
    /* Fired watches were detached (cancel took the whole list). */
    bool listed = w->prev != NULL || ctx->watches == w;
    if (listed)
        GR__LIST_REMOVE(ctx->watches, w);
    gr__unlock(&ctx->lock);
}

int gr_ctx_sleep(gr_ctx *ctx, int64_t ns)
{
    if (!ctx)
        return -EINVAL;
    int e = gr_ctx_err(ctx);
    if (e)
        return e;
    if (!gr__getg())
        return -EPERM;
    if (ns <= 0)
        return 0;
    struct gr_case c = { GR_RECV, gr_ctx_done(ctx), NULL, 0 };
    int r = gr_select(&c, 1, ns);
    if (r == -ETIMEDOUT)
        return 0;
    return r < 0 ? r : gr_ctx_err(ctx);
}

int gr_ctx_recv(gr_ctx *ctx, gr_chan *c, void *elem)
{
    if (!ctx)
        return -EINVAL;
    struct gr_case cs[2] = { { GR_RECV, c, elem, 0 }, { GR_RECV, gr_ctx_done(ctx), NULL, 0 } };
    int r = gr_select(cs, 2, -1);
    if (r < 0)
        return r;
    return r == 0 ? cs[0].result : gr_ctx_err(ctx);
}
