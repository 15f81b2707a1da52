/* tests/io_cq.c: a small completion queue (GRDEBUG=cq_entries=64) under
 * 2000 concurrent clients: far more requests in flight than CQ entries, so
 * the CQ overflows and the poller must lose no completion (NODROP /
 * overflow flush) and starve no client: every one of them finishes all
 * its messages. */
#include "harness.h"

#include <stdlib.h>

#define CQ_CLIENTS 2000
#define CQ_MSGS 10

static int listener;
static char addr[64];
static gr_waitgroup clients_wg = GR_WAITGROUP_INIT;
static gr_waitgroup server_wg = GR_WAITGROUP_INIT;
static _Atomic long clients_ok;
static _Atomic int client_msgs[CQ_CLIENTS];

static void echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = gr_recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        if (gr_write_all(fd, buf, (size_t)n) != n)
            break;
    }
    gr_close(fd);
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
        gr_go(echo_conn, (void *)(intptr_t)fd);
    }
    gr_waitgroup_done(&server_wg);
}

static void client(void *arg)
{
    long id = (long)(intptr_t)arg;
    uint64_t seed = (uint64_t)id * 0x9e3779b97f4a7c15ull + 1;
    unsigned char out[2048], in[2048];
    int fd = gr_dial_tcp(addr, 60LL * 1000000000);
    CHECKF(fd >= 0, "client %ld dial: %d", id, fd);
    int ok = fd >= 0;
    for (int m = 0; ok && m < CQ_MSGS; m++) {
        size_t n = 1 + (size_t)(io_rand(&seed) % sizeof out);
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)io_rand(&seed);
        ok = gr_write_all(fd, out, n) == (ssize_t)n && io_read_full(fd, in, n) == (ssize_t)n &&
             memcmp(in, out, n) == 0;
        CHECKF(ok, "client %ld message %d", id, m);
        if (ok)
            atomic_fetch_add(&client_msgs[id], 1);
    }
    if (fd >= 0)
        gr_close(fd);
    if (ok)
        atomic_fetch_add(&clients_ok, 1);
    gr_waitgroup_done(&clients_wg);
}

static void cq_main(void *arg)
{
    listener = io_listen(4096, addr, sizeof addr);
    CHECKF(listener >= 0, "listen: %d", listener);
    if (listener < 0)
        return;
    gr_waitgroup_add(&server_wg, 1);
    gr_go(acceptor, NULL);
    gr_waitgroup_add(&clients_wg, CQ_CLIENTS);
    for (long i = 0; i < CQ_CLIENTS; i++)
        CHECK_EQ(gr_go(client, (void *)(intptr_t)i), 0);
    gr_waitgroup_wait(&clients_wg);
    gr_close(listener);
    gr_waitgroup_wait(&server_wg);
}

static void check_all(void)
{
    long starved = 0;
    for (int i = 0; i < CQ_CLIENTS; i++)
        starved += atomic_load(&client_msgs[i]) != CQ_MSGS;
    cr_assert_eq(starved, 0, "%ld clients did not finish", starved);
    cr_assert_eq(atomic_load(&clients_ok), CQ_CLIENTS);
}

Test(io_cq, cq_64_entries_2000_clients, .timeout = 300)
{
    setenv("GRDEBUG", "cq_entries=64", 1);
    RUN(2, cq_main, NULL);
    check_all();
}

Test(io_cq, cq_64_sq_16_one_p_2000_clients, .timeout = 300)
{
    setenv("GRDEBUG", "cq_entries=64,sq_entries=16", 1);
    RUN(1, cq_main, NULL);
    check_all();
}

/* A tiny SQ splits an op's SQE from its LINK_TIMEOUT now and then (the SQ
 * fills between the two); the timeout must still end the op. Pollers with
 * a timeout (two SQEs) mixed with plain readers (one SQE) make the split
 * land between the pair. */
static int sp_a[2], sp_b[2];
static _Atomic int sp_polls, sp_deadlines;
static gr_waitgroup sp_wg = GR_WAITGROUP_INIT;

static void sp_poller(void *arg)
{
    if (gr_poll(sp_a[0], POLLIN, 20 * 1000000LL) == 0)
        atomic_fetch_add(&sp_polls, 1);
    gr_waitgroup_done(&sp_wg);
}

static void sp_reader(void *arg)
{
    char b;
    gr_recv(sp_b[0], &b, 1, 0);   /* ended by the close at the end */
}

static void sp_deadline_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char b;
    gr_set_deadline(fd, GR_READ, gr_nanotime() + 20 * 1000000LL);
    if (gr_recv(fd, &b, 1, 0) == -ETIMEDOUT)
        atomic_fetch_add(&sp_deadlines, 1);
    gr_waitgroup_done(&sp_wg);
}

static void split_main(void *arg)
{
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp_a), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp_b), 0);
    int dr[8][2];
    for (int i = 0; i < 8; i++)
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dr[i]), 0);
    for (int round = 0; round < 20; round++) {
        gr_waitgroup_add(&sp_wg, 7 + 8);
        for (int i = 0; i < 7; i++) {
            gr_go(sp_poller, NULL);
            if (i % 2 == 0)
                gr_go(sp_reader, NULL);
        }
        for (int i = 0; i < 8; i++)
            gr_go(sp_deadline_reader, (void *)(intptr_t)dr[i][0]);
        gr_waitgroup_wait(&sp_wg);
    }
    CHECK_EQ(atomic_load(&sp_polls), 20 * 7);
    CHECK_EQ(atomic_load(&sp_deadlines), 20 * 8);
    gr_close(sp_b[0]);   /* ends the plain readers */
    gr_close(sp_b[1]);
    gr_close(sp_a[0]);
    gr_close(sp_a[1]);
    for (int i = 0; i < 8; i++) {
        gr_close(dr[i][0]);
        gr_close(dr[i][1]);
    }
}

Test(io_cq, timeouts_survive_a_tiny_sq, .timeout = 60)
{
    setenv("GRDEBUG", "sq_entries=4", 1);
    RUN(1, split_main, NULL);
}
