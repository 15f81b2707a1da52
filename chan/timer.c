/*
 * chan/timer.c: time.Timer and time.Ticker as one type, with Go 1.23
 * semantics, on the core's runtime timers.
 *
 * A gr_timer is a runtime timer (struct gr__timer, on the core's per-P
 * heaps) whose f puts the firing time into an embedded channel of int64_t
 * with a one-slot buffer. f never blocks: when the slot is full it drops
 * the value, so a ticker keeps at most one undelivered tick for a slow
 * reader, and a receiver already waiting gets the value handed over
 * directly.
 *
 * Go 1.23 made timer channels synchronous: after Stop or Reset returns, no
 * value from before it can be received. Here stop and reset first stop the
 * runtime timer, which waits for an f in progress to return, and then
 * drain the slot; a value drained counts as "pending" (it had not been
 * received, so the stop prevented its delivery), as in Go 1.23 where Stop
 * reports true for a fired timer whose value nobody took. len and cap of
 * the channel read 0, as Go 1.23 reports for timer channels.
 *
 * Invariants:
 *   - t->mu serialises stop, reset and free; it is taken before the
 *     channel's lock and never by f (rank chanTimer, core/lockrank.h).
 *   - f runs with no goring lock held (core contract) and takes only the
 *     channel's lock; gr__timer_stop is never called with that lock held
 *     (it waits for f, which may be waiting for the lock).
 *   - The channel is receive-only: sends and close on it return -EINVAL.
 *   - t->period is written under t->mu and only while the runtime timer is
 *     stopped; f does not read it (the core re-arms periodic timers).
 */
#include "chan/chan_impl.h"

#include <errno.h>
#include <stdlib.h>

struct gr_timer {
    gr__mutex mu;           /* serialises stop/reset/free */
    int64_t period;         /* (mu) 0: one-shot */
    bool active;            /* (mu) armed by new/reset and not stopped since */
    struct gr__timer rt;    /* the runtime timer; f = timer_fire */
    gr_chan ch;             /* GR__CHAN_TIMER, cap 1, elem int64_t */
    int64_t slot;           /* ch's buffer */
};

/* f: deliver `now`, or drop it if the slot is full. Any M, maybe no P. */
static void timer_fire(void *arg, int64_t now)
{
    gr_timer *t = arg;
    gr_chan *c = &t->ch;
    gr__lock(&c->lock);
    struct gr__sudog *sg = gr__waitq_dequeue(&c->recvq);
    if (sg) {
        gr__chan_send_copy(c, sg, &now);
        gr__unlock(&c->lock);
        gr__chan_wake(sg, true);
        return;
    }
    if (atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->dataqsiz)
        gr__chan_buf_put(c, &now);
    gr__unlock(&c->lock);
}

static int64_t deadline(int64_t ns)
{
    int64_t now = gr__nanotime();
    if (ns < 0)
        ns = 0;
    return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

gr_timer *gr_timer_new(int64_t ns, int64_t period_ns)
{
    if (period_ns < 0) {
        errno = EINVAL; /* Go: "non-positive interval for NewTicker" */
        return NULL;
    }
    if (!gr__running()) {
        errno = EPERM;
        return NULL;
    }
    gr_timer *t = calloc(1, sizeof *t);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    gr__lock_init(&t->mu, GR__RANK_CHANTIMER);
    t->period = period_ns;
    t->active = true;
    gr__chan_init(&t->ch, sizeof(int64_t), 1, &t->slot, GR__CHAN_TIMER);
    gr__timer_init(&t->rt, timer_fire, t);
    gr__timer_start(&t->rt, deadline(ns), period_ns);
    return t;
}

gr_chan *gr_timer_chan(gr_timer *t)
{
    return t ? &t->ch : NULL;
}

/* Stop the runtime timer and drop an undelivered value; t->mu held.
 * True if a fire was pending or a fired value had not been received, and
 * for a ticker whenever it was running: its runtime timer may be between
 * a firing and its re-arm (not in any heap) at the moment it is stopped. */
static bool stop_locked(gr_timer *t)
{
    bool pending = gr__timer_stop(&t->rt);
    gr__lock(&t->ch.lock);
    size_t drained = gr__chan_drain_locked(&t->ch);
    gr__unlock(&t->ch.lock);
    pending = pending || drained > 0 || (t->period > 0 && t->active);
    t->active = false;
    return pending;
}

int gr_timer_stop(gr_timer *t)
{
    if (!t)
        return -EINVAL;
    if (!gr__running())
        return -EPERM;
    gr__lock(&t->mu);
    bool pending = stop_locked(t);
    gr__unlock(&t->mu);
    return pending;
}

int gr_timer_reset(gr_timer *t, int64_t ns)
{
    if (!t)
        return -EINVAL;
    if (!gr__running())
        return -EPERM;
    gr__lock(&t->mu);
    if (t->period > 0 && ns <= 0) {
        gr__unlock(&t->mu);
        return -EINVAL; /* Go: "non-positive interval for Ticker.Reset" */
    }
    bool pending = stop_locked(t);
    if (t->period > 0)
        t->period = ns; /* Go: Ticker.Reset also sets the period */
    gr__timer_start(&t->rt, deadline(ns), t->period);
    t->active = true;
    gr__unlock(&t->mu);
    return pending;
}

void gr_timer_free(gr_timer *t)
{
    if (!t)
        return;
    gr__lock(&t->mu);
    if (gr__running())
        gr__timer_stop(&t->rt);
    gr__lock(&t->ch.lock);
    bool waiters = gr__chan_inuse(&t->ch);
    gr__unlock(&t->ch.lock);
    if (waiters)
        gr__throw("timer: free of a timer whose channel goroutines are waiting on");
    gr__unlock(&t->mu);
    free(t);
}
