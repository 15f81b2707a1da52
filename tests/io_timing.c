/* tests/io_timing.c: I/O assertions about time, with generous slack (the
 * lower bounds are the contract: never early; the upper bounds only catch
 * a wake-up that never comes promptly). Run alone (see tests/README). */
#include "harness.h"

#define SLACK (2000 * MS)      /* 2 s: a loaded 2-core VM, sanitizers */

static _Atomic int enosys;

static void check_window(const char *what, int64_t elapsed, int64_t lo, int64_t hi)
{
    CHECKF(elapsed >= lo && elapsed <= hi, "%s took %.1f ms, expected %.1f..%.1f ms", what,
             (double)elapsed / 1e6, (double)lo / 1e6, (double)hi / 1e6);
}

static void deadline_fires_on_time(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    char b[8];
    int64_t t0 = gr_nanotime();
    gr_set_deadline(s, GR_READ, t0 + 100 * MS);
    CHECK_EQ(gr_recv(s, b, sizeof b, 0), -ETIMEDOUT);
    check_window("read deadline of 100 ms", gr_nanotime() - t0, 100 * MS, 100 * MS + SLACK);

    /* a second deadline after the first fired */
    gr_set_deadline(s, GR_READ, -1);
    t0 = gr_nanotime();
    CHECK_EQ(gr_set_deadline(s, GR_READ, t0 + 150 * MS), 0);
    CHECK_EQ(gr_recv(s, b, sizeof b, 0), -ETIMEDOUT);
    check_window("read deadline of 150 ms", gr_nanotime() - t0, 150 * MS, 150 * MS + SLACK);
    gr_close(c);
    gr_close(s);
}

Test(io_timing, deadline_fires_not_early_not_late, .timeout = 30)
{
    RUN(2, deadline_fires_on_time, NULL);
}

struct later {
    int fd;
    int64_t at;
};

static void set_later(void *arg)
{
    struct later *l = arg;
    gr_sleep(50 * MS);
    gr_set_deadline(l->fd, GR_READ, l->at);
}

static void moved_earlier(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    int64_t t0 = gr_nanotime();
    struct later l = { s, t0 + 120 * MS };
    gr_go(set_later, &l);
    char b[8];
    CHECK_EQ(gr_recv(s, b, sizeof b, 0), -ETIMEDOUT);
    check_window("deadline moved to +120 ms while blocked", gr_nanotime() - t0, 120 * MS,
                 120 * MS + SLACK);
    gr_close(c);
    gr_close(s);
}

Test(io_timing, deadline_moved_earlier_fires_at_new_time, .timeout = 30)
{
    RUN(2, moved_earlier, NULL);
}

struct closer {
    int fd;
    _Atomic int64_t closed_at;
};

static void close_later(void *arg)
{
    struct closer *c = arg;
    gr_sleep(50 * MS);
    atomic_store(&c->closed_at, gr_nanotime());
    gr_close(c->fd);
}

static void close_wakes_promptly(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    struct closer cl = { .fd = s };
    gr_go(close_later, &cl);
    char b[8];
    CHECK_EQ(gr_recv(s, b, sizeof b, 0), -ECANCELED);
    check_window("wake-up after close", gr_nanotime() - atomic_load(&cl.closed_at), 0, SLACK);
    gr_close(c);
}

Test(io_timing, close_wakes_blocked_reader_promptly, .timeout = 30)
{
    RUN(2, close_wakes_promptly, NULL);
}

static void poll_and_dial_timeouts(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    int64_t t0 = gr_nanotime();
    CHECK_EQ(gr_poll(s, POLLIN, 100 * MS), 0);
    check_window("poll timeout of 100 ms", gr_nanotime() - t0, 100 * MS, 100 * MS + SLACK);
    t0 = gr_nanotime();
    CHECK_EQ(gr_poll(c, POLLOUT, 100 * MS), POLLOUT);
    check_window("poll of a writable socket", gr_nanotime() - t0, 0, SLACK);
    gr_close(c);
    gr_close(s);

    uint32_t w = 0;
    t0 = gr_nanotime();
    int r = gr_futex_wait(&w, 0, 100 * MS);
    if (r == -ENOSYS) {
        atomic_store(&enosys, 1);
    } else {
        CHECK_EQ(r, -ETIMEDOUT);
        check_window("futex wait timeout of 100 ms", gr_nanotime() - t0, 100 * MS, 100 * MS + SLACK);
    }
}

Test(io_timing, poll_and_futex_timeouts, .timeout = 30)
{
    RUN(2, poll_and_dial_timeouts, NULL);
}

/* A reader on one P is not held up by a goroutine that keeps the other P
 * busy with runtime calls: its completion is reaped and it runs. */
static _Atomic int spin_stop;

static void spinner(void *arg)
{
    while (!atomic_load(&spin_stop))
        gr_yield();
}

static void completion_latency(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_go(spinner, NULL);
    gr_go(spinner, NULL);
    int64_t worst = 0;
    for (int i = 0; i < 200; i++) {
        int64_t t0 = gr_nanotime();
        CHECK_EQ(gr_send(c, "p", 1, 0), 1);
        char b;
        CHECK_EQ(gr_recv(s, &b, 1, 0), 1);
        int64_t d = gr_nanotime() - t0;
        if (d > worst)
            worst = d;
    }
    atomic_store(&spin_stop, 1);
    check_window("worst send+recv round with busy Ps", worst, 0, SLACK);
    gr_close(c);
    gr_close(s);
}

Test(io_timing, completions_reaped_while_ps_busy, .timeout = 60)
{
    RUN(2, completion_latency, NULL);
}
