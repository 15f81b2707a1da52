/* tests/io_churn.c: connect/close churn of 10k connections; afterwards the
 * process's open fd count (/proc/self/fd) is back to its baseline. Half the
 * clients close gracefully, half with a reset (SO_LINGER 0), half close
 * before reading the echo: every path through gr_close must free its fd. */
#include "harness.h"

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
    CHECK_EQ(gr_close(fd), 0);
    atomic_fetch_add(&served, 1);
    gr_waitgroup_done(&server_wg);
}

static void acceptor(void *arg)
{
    for (;;) {
        int fd = gr_accept(listener, NULL, NULL, 0);
        if (fd < 0) {
            CHECKF(fd == -ECANCELED, "accept: %d", fd);
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
        CHECKF(fd >= 0, "dial %ld: %d", i, fd);
        if (fd < 0)
            break;
        atomic_fetch_add(&dialed, 1);
        char b = (char)i;
        CHECK_EQ(gr_send(fd, &b, 1, 0), 1);
        if (i % 4 != 3) {
            char r;
            CHECK_EQ(io_read_full(fd, &r, 1), 1);
        }
        if (i % 2) {
            struct linger lg = { .l_onoff = 1, .l_linger = 0 };
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        CHECK_EQ(gr_close(fd), 0);
    }
    gr_waitgroup_done(&workers_wg);
}

static void churn(void *arg)
{
    int baseline = io_count_fds();
    listener = io_listen(1024, addr, sizeof addr);
    CHECKF(listener >= 0, "listen: %d", listener);
    if (listener < 0)
        return;
    gr_waitgroup_add(&server_wg, 1);
    gr_go(acceptor, NULL);
    gr_waitgroup_add(&workers_wg, CHURN_WORKERS);
    for (int i = 0; i < CHURN_WORKERS; i++)
        gr_go(worker, NULL);
    gr_waitgroup_wait(&workers_wg);
    CHECK_EQ(atomic_load(&dialed), CHURN_TOTAL);
    /* every server connection finishes on the client's close */
    for (int i = 0; i < 30000 && atomic_load(&served) < CHURN_TOTAL; i++)
        gr_sleep(((1) * MS));
    CHECK_EQ(atomic_load(&served), CHURN_TOTAL);
    CHECK_EQ(gr_close(listener), 0);
    gr_waitgroup_wait(&server_wg);
    int after = io_count_fds();
    CHECK_EQ(after, baseline);
}

Test(io_churn, connect_close_10k_fds_back_to_baseline, .timeout = 300)
{
    RUN(2, churn, NULL);
}

/* Chaos: readers, writers, deadlines moved at random and closes racing
 * them on 200 connections at once. Every goroutine must end (no lost
 * wake-up, no deadlock between set_deadline, close and the ops) and every
 * fd must be closed exactly once. */
#define CHAOS_PAIRS 200

struct chaos {
    int c, s;
    uint64_t seed;
};

static struct chaos pairs[CHAOS_PAIRS];
static gr_waitgroup chaos_wg = GR_WAITGROUP_INIT;
static _Atomic long chaos_reads, chaos_writes, chaos_timeouts;

static bool chaos_end(ssize_t r)
{
    return r == 0 || r == -ECANCELED || r == -EBADF || r == -ECONNRESET || r == -EPIPE;
}

static void chaos_reader(void *arg)
{
    struct chaos *p = arg;
    char buf[2048];
    for (int i = 0; i < 1000000; i++) {
        ssize_t r = gr_recv(p->s, buf, sizeof buf, 0);
        if (r > 0) {
            atomic_fetch_add_explicit(&chaos_reads, 1, memory_order_relaxed);
            continue;
        }
        if (r == -ETIMEDOUT) {
            atomic_fetch_add_explicit(&chaos_timeouts, 1, memory_order_relaxed);
            gr_sleep(((1) * MS));
            continue;
        }
        CHECKF(chaos_end(r), "reader: %zd", r);
        break;
    }
    gr_waitgroup_done(&chaos_wg);
}

static void chaos_writer(void *arg)
{
    struct chaos *p = arg;
    char buf[1024];
    memset(buf, 'w', sizeof buf);
    for (int i = 0; i < 1000000; i++) {
        ssize_t r = gr_write_all(p->c, buf, sizeof buf);
        if (r > 0) {
            atomic_fetch_add_explicit(&chaos_writes, 1, memory_order_relaxed);
            if (i % 8 == 0)
                gr_sleep(200000);
            continue;
        }
        if (r == -ETIMEDOUT) {
            atomic_fetch_add_explicit(&chaos_timeouts, 1, memory_order_relaxed);
            gr_sleep(((1) * MS));
            continue;
        }
        CHECKF(chaos_end(r), "writer: %zd", r);
        break;
    }
    gr_waitgroup_done(&chaos_wg);
}

static void chaos_monkey(void *arg)
{
    struct chaos *p = arg;
    for (int k = 0; k < 30; k++) {
        gr_sleep((int64_t)(io_rand(&p->seed) % 3000000));
        int fd = io_rand(&p->seed) & 1 ? p->c : p->s;
        int which = 1 + (int)(io_rand(&p->seed) % 3);
        int64_t now = gr_nanotime(), dl;
        switch (io_rand(&p->seed) % 4) {
        case 0: dl = now - 1; break;
        case 1: dl = now + ((1) * MS); break;
        case 2: dl = now + 1000 * ((1) * MS); break;
        default: dl = -1; break;
        }
        CHECK_EQ(gr_set_deadline(fd, which, dl), 0);
    }
    /* close the reader's side first or the writer's, at random */
    int first = io_rand(&p->seed) & 1 ? p->c : p->s;
    int second = first == p->c ? p->s : p->c;
    CHECK_EQ(gr_close(first), 0);
    gr_sleep((int64_t)(io_rand(&p->seed) % 2000000));
    CHECK_EQ(gr_close(second), 0);
    gr_waitgroup_done(&chaos_wg);
}

static void chaos_main(void *arg)
{
    int baseline = io_count_fds();
    for (int i = 0; i < CHAOS_PAIRS; i++) {
        CHECK_EQ(io_pair(&pairs[i].c, &pairs[i].s), 0);
        pairs[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    }
    gr_waitgroup_add(&chaos_wg, 3 * CHAOS_PAIRS);
    for (int i = 0; i < CHAOS_PAIRS; i++) {
        gr_go(chaos_reader, &pairs[i]);
        gr_go(chaos_writer, &pairs[i]);
        gr_go(chaos_monkey, &pairs[i]);
    }
    gr_waitgroup_wait(&chaos_wg);
    cr_log_info("chaos: %ld reads, %ld writes, %ld timeouts", atomic_load(&chaos_reads),
                atomic_load(&chaos_writes), atomic_load(&chaos_timeouts));
    CHECK_EQ(io_count_fds(), baseline);
}

Test(io_churn, close_and_deadlines_racing_ops, .timeout = 120)
{
    RUN(2, chaos_main, NULL);
}

Test(io_churn, close_and_deadlines_racing_ops_one_p, .timeout = 120)
{
    RUN(1, chaos_main, NULL);
}
