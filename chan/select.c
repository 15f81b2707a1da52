/*
 * chan/select.c: select over many channel operations (Go's
 * runtime/select.go), and the engine behind the timed send/recv forms.
 *
 * Protocol (gr__select):
 *   1. Shuffle the live cases (ch != NULL) into a random poll order, and
 *      sort their channels by address into a lock order, duplicates once.
 *   2. Lock every channel in lock order. Poll the cases in poll order; the
 *      first that can proceed does, everything is unlocked, done. With
 *      several ready, each wins with equal probability.
 *   3. Nothing ready and timeout 0: unlock, -EAGAIN (Go's default case).
 *   4. Otherwise enqueue a sudog (isselect) on every case's queue, clear
 *      g->selectdone, and park. The park's unlock step, running on the
 *      scheduler stack after the switch, arms the timeout timer and then
 *      unlocks the channels, last first.
 *   5. Woken: stop the timer (waits out a concurrent firing), lock every
 *      channel again, take this goroutine's sudogs out of every queue but
 *      the winner's (g->param; NULL means the timer won), unlock.
 *
 * Invariants:
 *   - The rules of chan/chan.c hold (queues under their channel's lock; the
 *     winner of the CAS on g->selectdone owns the wake-up).
 *   - Between steps 4 and 5 the cases, the sudog array, the lock order and
 *     the timer live on the parked goroutine's stack (or in memory it
 *     owns) and stay valid: the goroutine cannot leave gr__select before it
 *     has re-taken every channel lock, so a waker holding one of them may
 *     still look at its sudog, and the unlock step may read the lock order
 *     until it releases the first channel, which it releases last.
 *   - A select timer's f touches only g->selectdone, g->param and
 *     gr__ready; gr__timer_stop in step 5 waits for it to return before the
 *     stack frame that holds the timer is left.
 *   - Each live case counts in its channel's nselect from the enqueue to
 *     the clean-up in step 5, so gr_chan_free refuses (-EBUSY) a channel
 *     that a woken select will still lock: its waker, or a close, may have
 *     taken the sudog out of the queue long before the select runs again.
 *   - Lock order (core/lockrank.h): hchan locks ascending by address, then the core timer
 *     heap lock (armed under the channel locks, as Go 1.23 takes a timer's
 *     lock under its channel's lock).
 */
#include "chan/chan_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Cases up to this many need no allocation. */
#define SEL_STACK_CASES 8

struct selpark {
    gr_chan **lockorder;    /* distinct channels, ascending */
    size_t nlock;
    struct gr__timer *timer;/* NULL: no timeout */
    int64_t when;
};

static void sellock(gr_chan **lo, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gr__lock(&lo[i]->lock);
}

/* Unlock in reverse. lo may go away once lo[0] is unlocked, so lo[0] is
 * unlocked last and nothing is read after. */
static void selunlock(gr_chan **lo, size_t n)
{
    for (size_t i = n; i-- > 0;)
        gr__unlock(&lo[i]->lock);
}

/* Runs on the scheduler stack once the goroutine is parked (gr__park). */
static bool selpark_commit(G *gp, void *arg)
{
    struct selpark *sp = arg;
    gr_chan **lo = sp->lockorder;
    size_t n = sp->nlock;
    if (sp->timer)
        gr__timer_start(sp->timer, sp->when, 0);
    selunlock(lo, n);
    return true;
}

/* The timeout: claim the select as the channels' wakers do. */
static void sel_timeout(void *arg, int64_t now)
{
    G *gp = arg;
    uint32_t zero = 0;
    if (atomic_compare_exchange_strong_explicit(&gp->selectdone, &zero, 1,
                                                memory_order_acq_rel, memory_order_relaxed)) {
        gp->param = NULL;
        gr__ready(gp);
    }
}

/* Sort channel pointers ascending (insertion sort: n is small, or the
 * array is sorted already) and drop duplicates; returns how many remain. */
static size_t sort_unique(gr_chan **a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        gr_chan *v = a[i];
        size_t j = i;
        while (j > 0 && (uintptr_t)a[j - 1] > (uintptr_t)v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || a[m - 1] != a[i])
            a[m++] = a[i];
    return m;
}

static int cmp_chanp(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)*(gr_chan *const *)x, b = (uintptr_t)*(gr_chan *const *)y;
    return a < b ? -1 : a > b;
}

/* No live case: Go's select {} (forever), or a sleep, or default. */
static int select_nothing(G *gp, int64_t timeout_ns)
{
    if (timeout_ns == 0)
        return -EAGAIN;
    if (!gp)
        return -EPERM;
    if (timeout_ns > 0) {
        gr_sleep(timeout_ns);
        return -ETIMEDOUT;
    }
    for (;;)
        gr__park(NULL, NULL, GR_WAIT_SELECT_NO_CASES);
}

/* Pass 1: with every channel locked, run the first ready case in poll
 * order. Returns its index with everything unlocked, or -1 still locked. */
static int select_poll(struct gr_case *cases, const uint32_t *pollorder, size_t npoll,
                       gr_chan **lo, size_t nlock)
{
    for (size_t i = 0; i < npoll; i++) {
        uint32_t k = pollorder[i];
        struct gr_case *cs = &cases[k];
        gr_chan *c = cs->ch;
        struct gr__sudog *sg;
        if (cs->op == GR_SEND) {
            if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
                selunlock(lo, nlock);
                cs->result = -EPIPE; /* Go panics: "send on closed channel" */
                return (int)k;
            }
            if ((sg = gr__waitq_dequeue(&c->recvq))) {
                gr__chan_send_copy(c, sg, cs->elem);
                selunlock(lo, nlock);
                gr__chan_wake(sg, true);
                cs->result = 0;
                return (int)k;
            }
            if (atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->dataqsiz) {
                gr__chan_buf_put(c, cs->elem);
                selunlock(lo, nlock);
                cs->result = 0;
                return (int)k;
            }
        } else {
            if ((sg = gr__waitq_dequeue(&c->sendq))) {
                gr__chan_recv_copy(c, sg, cs->elem);
                selunlock(lo, nlock);
                gr__chan_wake(sg, true);
                cs->result = 0;
                return (int)k;
            }
            if (atomic_load_explicit(&c->qcount, memory_order_relaxed) > 0) {
                gr__chan_buf_take(c, cs->elem);
                selunlock(lo, nlock);
                cs->result = 0;
                return (int)k;
            }
            if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
                selunlock(lo, nlock);
                if (cs->elem && c->elemsize)
                    memset(cs->elem, 0, c->elemsize);
                cs->result = -EPIPE;
                return (int)k;
            }
        }
    }
    return -1;
}

/* Passes 2 and 3: enqueue on every channel, park, and clean up after the
 * wake-up. Called with every channel locked; returns unlocked. */
static int select_block(G *gp, struct gr_case *cases, size_t n, struct gr__sudog *sgs,
                        gr_chan **lo, size_t nlock, int64_t timeout_ns)
{
    struct gr__timer timer;
    struct selpark sp = { .lockorder = lo, .nlock = nlock, .timer = NULL };
    if (timeout_ns > 0) {
        gr__timer_init(&timer, sel_timeout, gp);
        sp.timer = &timer;
        /* saturate: a huge timeout is "practically forever" */
        int64_t now = gr__nanotime();
        sp.when = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
    }

    /* Published to wakers by the channel unlocks in selpark_commit. */
    atomic_store_explicit(&gp->selectdone, 0, memory_order_relaxed);
    gp->param = NULL;
    gp->waiting = sgs;
    for (size_t k = 0; k < n; k++) {
        gr_chan *c = cases[k].ch;
        struct gr__sudog *sg = &sgs[k];
        bool send = cases[k].op == GR_SEND;
        *sg = (struct gr__sudog){
            .g = gp, .elem = cases[k].elem, .c = c, .caseidx = (uint32_t)k,
            .isselect = true, .issend = send,
        };
        if (c) {
            gr__waitq_enqueue(send ? &c->sendq : &c->recvq, sg);
            c->nselect++;
        }
    }
    sgs[0].nset = (uint32_t)n;

    gr__park(selpark_commit, &sp, GR_WAIT_SELECT);

    if (sp.timer)
        gr__timer_stop(sp.timer);
    struct gr__sudog *win = gp->param;
    sellock(lo, nlock);
    for (size_t k = 0; k < n; k++) {
        gr_chan *c = cases[k].ch;
        if (!c)
            continue;
        c->nselect--;
        if (&sgs[k] != win)
            gr__waitq_remove(sgs[k].issend ? &c->sendq : &c->recvq, &sgs[k]);
    }
    gp->waiting = NULL;
    gp->param = NULL;
    selunlock(lo, nlock);

    if (!win)
        return -ETIMEDOUT;
    if (gr__unlikely(win < sgs || win >= sgs + n))
        gr__throw("select: G waiting list is corrupted");
    uint32_t k = win->caseidx;
    /* On a close the waker zeroed a receive's element already. */
    cases[k].result = win->success ? 0 : -EPIPE;
    return (int)k;
}

int gr__select(struct gr_case *cases, size_t n, int64_t timeout_ns)
{
    G *gp = gr__getg();
    if (timeout_ns != 0 && !gp)
        return -EPERM;

    uint32_t pollbuf[SEL_STACK_CASES];
    gr_chan *lockbuf[SEL_STACK_CASES];
    struct gr__sudog sgbuf[SEL_STACK_CASES];
    uint32_t *pollorder = pollbuf;
    gr_chan **lo = lockbuf;
    struct gr__sudog *sgs = sgbuf;
    void *heap = NULL;
    if (n > SEL_STACK_CASES) {
        /* one block: poll order, lock order, sudogs (the largest alignment last is fine) */
        size_t bytes = n * (sizeof(struct gr__sudog) + sizeof(gr_chan *) + sizeof(uint32_t));
        heap = malloc(bytes);
        if (!heap)
            return -ENOMEM;
        sgs = heap;
        lo = (gr_chan **)(sgs + n);
        pollorder = (uint32_t *)(lo + n);
    }

    /* Random poll order over live cases (Go: cheaprandn shuffle). */
    size_t npoll = 0;
    for (size_t k = 0; k < n; k++) {
        if (!cases[k].ch)
            continue;
        uint32_t j = gr__fastrandn((uint32_t)npoll + 1);
        pollorder[npoll] = pollorder[j];
        pollorder[j] = (uint32_t)k;
        lo[npoll] = cases[k].ch;
        npoll++;
    }
    int r;
    if (npoll == 0) {
        free(heap);
        return select_nothing(gp, timeout_ns);
    }
    size_t nlock;
    if (npoll > 32) {
        qsort(lo, npoll, sizeof *lo, cmp_chanp);
        nlock = sort_unique(lo, npoll); /* sorted already: only drops duplicates */
    } else {
        nlock = sort_unique(lo, npoll);
    }

    sellock(lo, nlock);
    r = select_poll(cases, pollorder, npoll, lo, nlock);
    if (r >= 0) {
        if (gp)
            gr__maybe_preempt(gp);
    } else if (timeout_ns == 0) {
        selunlock(lo, nlock);
        r = -EAGAIN;
    } else {
        r = select_block(gp, cases, n, sgs, lo, nlock, timeout_ns);
    }
    free(heap);
    return r;
}

int gr_select(struct gr_case *cases, size_t n, int64_t timeout_ns)
{
    if (n > 0 && !cases)
        return -EINVAL;
    if (n > UINT32_MAX / 2)
        return -EINVAL;
    for (size_t k = 0; k < n; k++) {
        gr_chan *c = cases[k].ch;
        if (!c)
            continue;
        if (cases[k].op != GR_SEND && cases[k].op != GR_RECV)
            return -EINVAL;
        if (cases[k].op == GR_SEND && ((!cases[k].elem && c->elemsize) || (c->flags & GR__CHAN_TIMER)))
            return -EINVAL;
    }
    if (n == 1 && timeout_ns == 0 && cases[0].ch) {
        /* One case and a default: the try forms, with their lock-free
         * "would block" check (Go's selectnbsend/selectnbrecv). */
        int r = cases[0].op == GR_SEND ? gr_chan_try_send(cases[0].ch, cases[0].elem)
                                       : gr_chan_try_recv(cases[0].ch, cases[0].elem);
        if (r == -EAGAIN)
            return r;
        cases[0].result = r;
        return 0;
    }
    return gr__select(cases, n, timeout_ns);
}
