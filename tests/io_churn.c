/* tests/io_churn.c: connect/close churn of 10k connections; afterwards the
 * process's open fd count (/proc/self/fd) is back to its baseline. Half the
 * clients close gracefully, half with a reset (SO_LINGER 0), half close
 * before reading the echo: every path through gr_close must free its fd. */
#include "io_util.h"

#define CHURN_TOTAL 10000
#define CHURN_WORKERS 50

static int listener;
static char addr[64];
static gr_waitgroup workers_wg = GR_WAITGROUP_INIT;
static gr_waitgroup server_wg = GR_WAITGROUP_INIT;
static _Atomic long served, dialed, next_conn;

static void serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char b[16];
    ssize_t n = gr_recv(fd, b, sizeof b, 0);
    if (n > 0)
        gr_write_all(fd, b, (size_t)n);
    /* wait for the client's close (EOF or reset), bounded by a deadline */
    gr_set_deadline(fd, GR_READ, gr_nanotime() + 10LL * 1000000000);
    while (gr_recv(fd, b, sizeof b, 0) > 0)
        ;
    IO_CHECK_EQ(gr_close(fd), 0);
    atomic_fetch_add(&served, 1);
    gr_waitgroup_done(&server_wg);
}

static void acceptor(void *arg)
{
    for (;;) {
        int fd = gr_accept(listener, NULL, NULL, 0);
        if (fd < 0) {
            IO_CHECK(fd == -ECANCELED, "accept: %d", fd);
            break;
        }
        gr_waitgroup_add(&server_wg, 1);
        gr_go(serve, (void *)(intptr_t)fd);
    }
    gr_waitgroup_done(&server_wg);
}

static void worker(void *arg)
{
    for (;;) {
        long i = atomic_fetch_add(&next_conn, 1);
        if (i >= CHURN_TOTAL)
            break;
        int fd = gr_dial_tcp(addr, 30LL * 1000000000);
        IO_CHECK(fd >= 0, "dial %ld: %d", i, fd);
        if (fd < 0)
            break;
        atomic_fetch_add(&dialed, 1);
        char b = (char)i;
        IO_CHECK_EQ(gr_send(fd, &b, 1, 0), 1);
        if (i % 4 != 3) {
            char r;
            IO_CHECK_EQ(io_read_full(fd, &r, 1), 1);
        }
        if (i % 2) {
            struct linger lg = { .l_onoff = 1, .l_linger = 0 };
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        IO_CHECK_EQ(gr_close(fd), 0);
    }
    gr_waitgroup_done(&workers_wg);
}

static void churn(void *arg)
{
    int baseline = io_count_fds();
    listener = io_listen(1024, addr, sizeof addr);
    IO_CHECK(listener >= 0, "listen: %d", listener);
    if (listener < 0)
        return;
    gr_waitgroup_add(&server_wg, 1);
    gr_go(acceptor, NULL);
    gr_waitgroup_add(&workers_wg, CHURN_WORKERS);
    for (int i = 0; i < CHURN_WORKERS; i++)
        gr_go(worker, NULL);
    gr_waitgroup_wait(&workers_wg);
    IO_CHECK_EQ(atomic_load(&dialed), CHURN_TOTAL);
    /* every server connection finishes on the client's close */
    for (int i = 0; i < 30000 && atomic_load(&served) < CHURN_TOTAL; i++)
        gr_sleep(io_ms(1));
    IO_CHECK_EQ(atomic_load(&served), CHURN_TOTAL);
    IO_CHECK_EQ(gr_close(listener), 0);
    gr_waitgroup_wait(&server_wg);
    int after = io_count_fds();
    IO_CHECK_EQ(after, baseline);
}

Test(io_churn, connect_close_10k_fds_back_to_baseline, .timeout = 300)
{
    io_run(2, churn, NULL);
}
