/*
 * tests/chan_timing.c: how long timers and timeouts take. Each bound is a
 * lower bound (never early) and a loose upper bound for a noisy 2-core
 * machine shared with other work; run with one job (see Makefile.am).
 */
#include "harness.h"

#define SLACK (500 * MS) /* upper-bound slack */

static void timer_fires_on_time(void *arg)
{
    int64_t t0 = gr_nanotime();
    gr_timer *t = gr_timer_new(20 * MS, 0);
    int64_t v = 0;
    CHECK_EQ(gr_chan_recv(gr_timer_chan(t), &v), 0);
    int64_t t1 = gr_nanotime();
    CHECK(v - t0 >= 20 * MS);
    CHECK(t1 - t0 >= 20 * MS);
    CHECK(t1 - t0 < 20 * MS + SLACK);
    CHECK(v <= t1);
    gr_timer_free(t);
}

Test(chan_timing, timer_fires_after_its_delay, .timeout = 30)
{
    RUN_PROCS(timer_fires_on_time, NULL);
}

static void timeouts_on_time(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 0);
    int v;
    int64_t t0 = gr_nanotime();
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 15 * MS), -ETIMEDOUT);
    int64_t d = gr_nanotime() - t0;
    CHECK(d >= 15 * MS);
    CHECK(d < 15 * MS + SLACK);

    t0 = gr_nanotime();
    v = 1;
    CHECK_EQ(gr_chan_send_timeout(c, &v, 15 * MS), -ETIMEDOUT);
    d = gr_nanotime() - t0;
    CHECK(d >= 15 * MS);
    CHECK(d < 15 * MS + SLACK);

    struct gr_case cs[1] = { { GR_RECV, c, &v, 0 } };
    t0 = gr_nanotime();
    CHECK_EQ(gr_select(cs, 1, 15 * MS), -ETIMEDOUT);
    d = gr_nanotime() - t0;
    CHECK(d >= 15 * MS);
    CHECK(d < 15 * MS + SLACK);

    t0 = gr_nanotime();
    CHECK_EQ(gr_select(NULL, 0, 15 * MS), -ETIMEDOUT);
    d = gr_nanotime() - t0;
    CHECK(d >= 15 * MS);
    CHECK(d < 15 * MS + SLACK);
    CHECK_EQ(gr_chan_free(c), 0);
}

Test(chan_timing, timeouts_take_their_time, .timeout = 30)
{
    RUN_PROCS(timeouts_on_time, NULL);
}

static void ticker_period(void *arg)
{
    gr_timer *t = gr_timer_new(5 * MS, 5 * MS);
    int64_t t0 = gr_nanotime(), v, prev = t0;
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(gr_chan_recv(gr_timer_chan(t), &v), 0);
        CHECK(v >= prev);
        prev = v;
    }
    int64_t d = gr_nanotime() - t0;
    CHECK(d >= 50 * MS - 1); /* ten periods */
    CHECK(d < 50 * MS + SLACK);
    gr_timer_free(t);
}

Test(chan_timing, ticker_keeps_its_period, .timeout = 30)
{
    RUN_PROCS(ticker_period, NULL);
}

static void reset_postpones(void *arg)
{
    gr_timer *t = gr_timer_new(10 * MS, 0);
    gr_sleep(5 * MS);
    int64_t t0 = gr_nanotime();
    CHECK_EQ(gr_timer_reset(t, 30 * MS), 1);
    int64_t v;
    CHECK_EQ(gr_chan_recv(gr_timer_chan(t), &v), 0);
    int64_t d = gr_nanotime() - t0;
    CHECK(d >= 30 * MS);
    CHECK(d < 30 * MS + SLACK);
    gr_timer_free(t);
}

Test(chan_timing, reset_postpones_the_fire, .timeout = 30)
{
    RUN_PROCS(reset_postpones, NULL);
}
