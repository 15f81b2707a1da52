/* tests/api_limits.c: arguments at the ends of their ranges, across the
 * API (issue 12): durations near INT64_MAX (no signed overflow in any
 * deadline: a wrapped one fires at once), tickers of huge periods, ports
 * out of range, semaphore weights, channel element sizes. */
#include "harness.h"

#include <poll.h>
#include <sys/socket.h>

/* ---------- durations near INT64_MAX never fire ---------- */

static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1, INT64_MAX - 1000000000LL };
#define NHUGE (sizeof huge / sizeof huge[0])

static _Atomic int returned;   /* waits that came back early (must stay 0) */
static gr_chan *ch;
static int pfd[2];
static uint32_t fword;

static void sleeper(void *arg)
{
    gr_sleep(*(const int64_t *)arg);
    atomic_fetch_add(&returned, 1);
}

static void chan_waiter(void *arg)
{
    int v;
    gr_chan_recv_timeout(ch, &v, *(const int64_t *)arg);
    atomic_fetch_add(&returned, 1);
}

static void select_waiter(void *arg)
{
    int v;
    struct gr_case c = { .op = GR_RECV, .ch = ch, .elem = &v };
    gr_select(&c, 1, *(const int64_t *)arg);
    atomic_fetch_add(&returned, 1);
}

static void poll_waiter(void *arg)
{
    gr_poll(pfd[0], POLLIN, *(const int64_t *)arg);
    atomic_fetch_add(&returned, 1);
}

static void futex_waiter(void *arg)
{
    int r = gr_futex_wait(&fword, 0, *(const int64_t *)arg);
    if (r != -ENOSYS)   /* before Linux 6.7: nothing to wait on */
        atomic_fetch_add(&returned, 1);
}

static void huge_waits(void *arg)
{
    (void)arg;
    ch = gr_chan_make(sizeof(int), 0);
    CHECK_EQ(pipe(pfd), 0);
    gr_fn fns[] = { sleeper, chan_waiter, select_waiter, poll_waiter, futex_waiter };
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++)
        for (size_t i = 0; i < NHUGE; i++)
            GO(fns[f], (void *)&huge[i]);
    gr_timer *tm[NHUGE];
    gr_ctx *cx[NHUGE];
    for (size_t i = 0; i < NHUGE; i++) {
        tm[i] = gr_timer_new(huge[i], 0);
        CHECK(tm[i] != NULL);
        cx[i] = gr_ctx_with_timeout(gr_ctx_background(), huge[i]);
        CHECK(cx[i] != NULL);
    }
    gr_sleep(100 * MS);
    CHECK_EQ(atomic_load(&returned), 0);
    for (size_t i = 0; i < NHUGE; i++) {
        int64_t v;
        CHECK_EQ(gr_chan_try_recv(gr_timer_chan(tm[i]), &v), -EAGAIN);
        CHECK_EQ(gr_ctx_err(cx[i]), 0);
        gr_timer_free(tm[i]);
        gr_ctx_cancel(cx[i]);
        gr_ctx_free(cx[i]);
    }
    /* the waiters are abandoned where they wait */
}

Test(api_limits, durations_near_int64_max_do_not_fire, .timeout = 20)
{
    plain_threads_wake();
    RUN(2, huge_waits, NULL);
}

/* ---------- a ticker whose period reaches past the clock ---------- */

static void huge_ticker(void *arg)
{
    (void)arg;
    int64_t periods[] = { INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1 };
    for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++) {
        gr_timer *t = gr_timer_new(1 * MS, periods[i]);
        CHECK(t != NULL);
        int fired = 0;
        int64_t end = gr_nanotime() + 50 * MS;
        while (gr_nanotime() < end) {   /* drain: a wrapped next fire refills it at once */
            int64_t v;
            if (gr_chan_try_recv(gr_timer_chan(t), &v) == 0)
                fired++;
            gr_sleep(100 * 1000);
        }
        CHECK_EQ(fired, 1);   /* the first fire, then the next one is past the clock's range */
        gr_timer_free(t);
    }
}

Test(api_limits, ticker_period_int64_max_fires_once, .timeout = 20)
{
    RUN(1, huge_ticker, NULL);
}

/* ---------- ports outside 0..65535 ---------- */

static const char *bad_ports[] = { "127.0.0.1:70000", "127.0.0.1:65536", ":70000", "[::1]:65536",
                                   "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:99999999999999999999",
                                   "127.0.0.1:80x" };

static void dial_bad_ports(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++)
        CHECKF(gr_dial_tcp(bad_ports[i], 1000 * MS) == -EINVAL, "%s", bad_ports[i]);
}

Test(api_limits, ports_out_of_range_are_einval, .timeout = 10)
{
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        int fd = gr_listen_tcp(bad_ports[i], 0);
        if (fd >= 0)
            close(fd);
        cr_assert_eq(fd, -EINVAL, "gr_listen_tcp(%s) = %d", bad_ports[i], fd);
    }
    int fd = gr_listen_tcp("127.0.0.1:0", 0);   /* the edges still work */
    cr_assert_geq(fd, 0);
    close(fd);
    RUN(1, dial_bad_ports, NULL);
}

/* ---------- a semaphore acquire of more than its size ---------- */

static void sem_too_big(void *arg)
{
    gr_sem *s = arg;
    int64_t t0 = gr_nanotime();
    gr_ctx *c = gr_ctx_with_timeout(NULL, 20 * MS);
    CHECK_EQ(gr_sem_acquire(s, 11, c), -ETIMEDOUT);   /* x/sync: waits for ctx */
    CHECK(gr_nanotime() - t0 >= 20 * MS);
    gr_ctx_free(c);
    c = gr_ctx_with_cancel(NULL);
    gr_ctx_cancel(c);
    CHECK_EQ(gr_sem_acquire(s, 11, c), -ECANCELED);
    gr_ctx_free(c);
    CHECK_EQ(gr_sem_acquire(s, -1, NULL), -EINVAL);
    CHECK_EQ(gr_sem_acquire(s, 10, NULL), 0);   /* nothing was held back */
    gr_sem_release(s, 10);
}

Test(api_limits, sem_acquire_beyond_size_waits_for_ctx, .timeout = 10)
{
    gr_sem *s = gr_sem_new(10);
    cr_assert_not_null(s);
    cr_assert_eq(gr_sem_acquire(s, 11, NULL), -EPERM);   /* a plain thread, as every blocking call */
    RUN(2, sem_too_big, s);
    gr_sem_free(s);
}

/* ---------- channel element sizes ---------- */

Test(api_limits, chan_element_size_limit, .timeout = 5)
{
    size_t bad[] = { SIZE_MAX, SIZE_MAX / 2, (size_t)GR_CHAN_ELEM_MAX + 1 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        cr_assert_null(gr_chan_make(bad[i], 0), "elem size %zu", bad[i]);
        cr_assert_eq(errno, EINVAL);
    }
    gr_chan *c = gr_chan_make(GR_CHAN_ELEM_MAX, 1);
    cr_assert_not_null(c);
    gr_chan_free(c);
}
