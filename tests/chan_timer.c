/*
 * tests/chan_timer.c: gr_timer semantics (Go 1.23 time.Timer/Ticker):
 * stop/reset return values, no stale value after stop or reset, a ticker
 * keeping at most one tick, the receive-only channel, stop/reset loops
 * racing with firings, free. No assertion here depends on how late a timer
 * fires; those are in chan_timing.c.
 */
#include "harness.h"

static void one_shot(void *arg)
{
    gr_timer *t = gr_timer_new(1 * MS, 0);
    CHECK(t != NULL);
    gr_chan *c = gr_timer_chan(t);
    CHECK_EQ(gr_chan_len(c), 0);
    CHECK_EQ(gr_chan_cap(c), 0); /* Go 1.23: timer channels look unbuffered */
    int64_t t0 = gr_nanotime();
    int64_t v = 0;
    CHECK_EQ(gr_chan_recv(c, &v), 0);
    CHECK(v >= t0); /* the firing time */
    CHECK(v <= gr_nanotime());
    CHECK_EQ(gr_timer_stop(t), 0); /* fired and received: not pending */
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN); /* fires once */
    /* reset re-arms a fired timer */
    CHECK_EQ(gr_timer_reset(t, 1 * MS), 0);
    CHECK_EQ(gr_chan_recv(c, &v), 0);
    /* ns <= 0 fires at once */
    CHECK_EQ(gr_timer_reset(t, 0), 0);
    CHECK_EQ(gr_chan_recv(c, &v), 0);
    CHECK_EQ(gr_timer_reset(t, -5), 0);
    CHECK_EQ(gr_chan_recv(c, &v), 0);
    gr_timer_free(t);

    t = gr_timer_new(-1, 0);
    CHECK_EQ(gr_chan_recv(gr_timer_chan(t), &v), 0);
    gr_timer_free(t);
}

Test(chan_timer, one_shot_fires_once, .timeout = 30)
{
    RUN_PROCS(one_shot, NULL);
}

static void stop_pending(void *arg)
{
    gr_timer *t = gr_timer_new(20 * MS, 0);
    gr_chan *c = gr_timer_chan(t);
    CHECK_EQ(gr_timer_stop(t), 1);  /* stopped a pending fire */
    CHECK_EQ(gr_timer_stop(t), 0);  /* already stopped */
    int64_t v = 0;
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 40 * MS), -ETIMEDOUT); /* never fires */
    CHECK_EQ(v, 0);
    gr_timer_free(t);
}

Test(chan_timer, stop_before_fire, .timeout = 30)
{
    RUN_PROCS(stop_pending, NULL);
}

/* Go 1.23: a timer that fired but whose value nobody received is still
 * "pending"; stop and reset drop that value. */
static void no_stale_value(void *arg)
{
    gr_timer *t = gr_timer_new(0, 0);
    gr_chan *c = gr_timer_chan(t);
    gr_sleep(3 * MS); /* fired; value waits in the channel */
    CHECK_EQ(gr_timer_stop(t), 1);
    int64_t v = 0;
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);

    CHECK_EQ(gr_timer_reset(t, 0), 0);
    gr_sleep(3 * MS);
    int64_t before = gr_nanotime();
    CHECK_EQ(gr_timer_reset(t, 5 * MS), 1); /* drops the old value */
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
    CHECK_EQ(gr_chan_recv(c, &v), 0);
    CHECK(v >= before); /* the new firing, not the stale one */
    gr_timer_free(t);
}

Test(chan_timer, stop_and_reset_drop_stale_value, .timeout = 30)
{
    RUN_PROCS(no_stale_value, NULL);
}

static void ticker(void *arg)
{
    gr_timer *t = gr_timer_new(1 * MS, 1 * MS);
    gr_chan *c = gr_timer_chan(t);
    int64_t v, last = 0;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(gr_chan_recv(c, &v), 0);
        CHECK(v > last);
        last = v;
    }
    /* a slow reader: many periods pass, at most one tick is kept */
    gr_sleep(20 * MS);
    CHECK_EQ(gr_chan_try_recv(c, &v), 0);
    CHECK(v > last);
    int r = gr_chan_try_recv(c, &v);
    CHECK(r == -EAGAIN || r == 0); /* a fresh tick may just have come */
    if (r == 0)
        CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
    /* keeps ticking */
    CHECK_EQ(gr_chan_recv(c, &v), 0);
    CHECK_EQ(gr_timer_stop(t), 1); /* a running ticker is pending */
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 10 * MS), -ETIMEDOUT);
    CHECK_EQ(gr_timer_stop(t), 0);
    /* reset restarts it with a new period */
    CHECK_EQ(gr_timer_reset(t, 2 * MS), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gr_chan_recv(c, &v), 0);
    CHECK_EQ(gr_timer_reset(t, 0), -EINVAL);  /* Go: non-positive interval */
    CHECK_EQ(gr_timer_reset(t, -1), -EINVAL);
    CHECK_EQ(gr_timer_stop(t), 1);
    gr_timer_free(t);
}

Test(chan_timer, ticker_drops_ticks_for_slow_reader, .timeout = 30)
{
    RUN_PROCS(ticker, NULL);
}

static void receive_only(void *arg)
{
    gr_timer *t = gr_timer_new(1000 * MS, 0);
    gr_chan *c = gr_timer_chan(t);
    int64_t v = 1;
    CHECK_EQ(gr_chan_send(c, &v), -EINVAL);
    CHECK_EQ(gr_chan_try_send(c, &v), -EINVAL);
    CHECK_EQ(gr_chan_send_timeout(c, &v, 5), -EINVAL);
    CHECK_EQ(gr_chan_close(c), -EINVAL);
    CHECK_EQ(gr_chan_free(c), -EINVAL);
    struct gr_case cs[1] = { { GR_SEND, c, &v, 0 } };
    CHECK_EQ(gr_select(cs, 1, 0), -EINVAL);
    CHECK(gr_timer_chan(NULL) == NULL);
    CHECK_EQ(gr_timer_stop(NULL), -EINVAL);
    CHECK_EQ(gr_timer_reset(NULL, 1), -EINVAL);
    gr_timer_free(NULL);
    errno = 0;
    CHECK(gr_timer_new(1, -1) == NULL);
    CHECK_EQ(errno, EINVAL);
    gr_timer_free(t);
}

Test(chan_timer, channel_is_receive_only, .timeout = 30)
{
    RUN(1, receive_only, NULL);
}

Test(chan_timer, needs_a_runtime, .timeout = 30)
{
    errno = 0;
    cr_assert_null(gr_timer_new(1, 0));
    cr_assert_eq(errno, EPERM);
}

/* A timer channel in a select beside a busy channel. */
static void timer_in_select(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 0);
    gr_timer *t = gr_timer_new(2 * MS, 0);
    int64_t when = 0;
    int v;
    struct gr_case cs[2] = { { GR_RECV, c, &v, 0 }, { GR_RECV, gr_timer_chan(t), &when, 0 } };
    CHECK_EQ(gr_select(cs, 2, -1), 1);
    CHECK(when > 0);
    gr_timer_free(t);
    CHECK_EQ(gr_chan_free(c), 0);
}

Test(chan_timer, timer_in_select, .timeout = 30)
{
    RUN_PROCS(timer_in_select, NULL);
}

/* ---------- stop/reset loops racing with firings ---------- */

struct resetter { gr_timer *t; gr_chan *done; _Atomic int stop; long got; };

static void timer_reader(void *arg)
{
    struct resetter *r = arg;
    gr_chan *c = gr_timer_chan(r->t);
    int64_t v;
    while (!atomic_load(&r->stop)) {
        if (gr_chan_recv_timeout(c, &v, 200000) == 0)
            r->got++;
    }
    done_signal(r->done);
}

static void stop_reset_loop(void *arg)
{
    enum { ITERS = 3000 };
    gr_timer *t = gr_timer_new(10 * MS, 0);
    gr_chan *c = gr_timer_chan(t);
    int64_t v;
    for (int i = 0; i < ITERS; i++) {
        int64_t ns = (i % 7) * 2000; /* 0 .. 12 us: often fires during the loop */
        int r = gr_timer_reset(t, ns);
        CHECK(r == 0 || r == 1);
        if (i % 3 == 0)
            gr_yield();
        r = gr_timer_stop(t);
        CHECK(r == 0 || r == 1);
        /* after a stop nothing can be received, ever */
        CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
        if (i % 97 == 0) {
            CHECK_EQ(gr_chan_recv_timeout(c, &v, 50000), -ETIMEDOUT);
        }
    }
    /* the same with a concurrent reader: every value it gets is fresh */
    struct resetter rs = { t, done_make(1), 0, 0 };
    GO(timer_reader, &rs);
    for (int i = 0; i < ITERS; i++) {
        gr_timer_reset(t, (i % 5) * 3000);
        if (i % 2)
            gr_sleep(10000);
        gr_timer_stop(t);
    }
    atomic_store(&rs.stop, 1);
    done_wait(rs.done, 1);
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
    gr_timer_free(t);
    gr_chan_free(rs.done);

    /* a ticker under the same loop */
    t = gr_timer_new(5000, 5000);
    c = gr_timer_chan(t);
    for (int i = 0; i < ITERS / 3; i++) {
        CHECK_EQ(gr_timer_reset(t, 3000 + (i % 4) * 1000), 1);
        if (i % 4 == 0)
            gr_sleep(8000);
        CHECK_EQ(gr_timer_stop(t), 1);
        CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
        CHECK_EQ(gr_timer_reset(t, 5000), 0);
    }
    gr_timer_free(t);
}

Test(chan_timer, stop_reset_loops, .timeout = 120)
{
    RUN_PROCS(stop_reset_loop, NULL);
}

/* Many timers at once, all delivered. */
struct many { gr_chan *done; int64_t ns; };

static void one_timer(void *arg)
{
    struct many *m = arg;
    gr_timer *t = gr_timer_new(m->ns, 0);
    int64_t v;
    CHECK_EQ(gr_chan_recv(gr_timer_chan(t), &v), 0);
    gr_timer_free(t);
    done_signal(m->done);
}

static void many_timers(void *arg)
{
    enum { N = 500 };
    static struct many m[N];
    gr_chan *done = done_make(N);
    for (int i = 0; i < N; i++) {
        m[i] = (struct many){ done, (i % 10) * 100000 };
        GO(one_timer, &m[i]);
    }
    done_wait(done, N);
    gr_chan_free(done);
}

Test(chan_timer, many_timers, .timeout = 60)
{
    RUN_PROCS(many_timers, NULL);
}

/* gr_timer_free with a goroutine waiting on the channel is fatal. */
static gr_chan *waiter_started;

static void waits_forever(void *arg)
{
    int64_t v;
    gr_chan_send(waiter_started, NULL);
    gr_chan_recv(gr_timer_chan(arg), &v);
}

static void free_with_waiter(void *arg)
{
    gr_timer *t = gr_timer_new(3600LL * 1000 * MS, 0);
    waiter_started = gr_chan_make(0, 0);
    gr_go(waits_forever, t);
    /* one P: after its signal it runs on into the receive and blocks */
    gr_chan_recv(waiter_started, NULL);
    gr_timer_free(t); /* fatal: exit status 2 */
}

Test(chan_timer, free_with_waiter_is_fatal, .timeout = 30, .exit_code = 2)
{
    setenv("GRDEBUG", "crash=0", 1);
    gr_test_run(1, free_with_waiter, NULL);
}
