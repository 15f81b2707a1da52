/* tests/io_cq.c: a small completion queue (GRDEBUG=cq_entries=64) under
 * 2000 concurrent clients: far more requests in flight than CQ entries, so
 * the CQ overflows and the poller must lose no completion (NODROP /
 * overflow flush) and starve no client: every one of them finishes all
 * its messages. */
#include "io_util.h"

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
            IO_CHECK(fd == -ECANCELED, "accept: %d", fd);
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
    IO_CHECK(fd >= 0, "client %ld dial: %d", id, fd);
    int ok = fd >= 0;
    for (int m = 0; ok && m < CQ_MSGS; m++) {
        size_t n = 1 + (size_t)(io_rand(&seed) % sizeof out);
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)io_rand(&seed);
        ok = gr_write_all(fd, out, n) == (ssize_t)n && io_read_full(fd, in, n) == (ssize_t)n &&
             memcmp(in, out, n) == 0;
        IO_CHECK(ok, "client %ld message %d", id, m);
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
    IO_CHECK(listener >= 0, "listen: %d", listener);
    if (listener < 0)
        return;
    gr_waitgroup_add(&server_wg, 1);
    gr_go(acceptor, NULL);
    gr_waitgroup_add(&clients_wg, CQ_CLIENTS);
    for (long i = 0; i < CQ_CLIENTS; i++)
        IO_CHECK_EQ(gr_go(client, (void *)(intptr_t)i), 0);
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
    io_run(2, cq_main, NULL);
    check_all();
}

Test(io_cq, cq_64_sq_16_one_p_2000_clients, .timeout = 300)
{
    setenv("GRDEBUG", "cq_entries=64,sq_entries=16", 1);
    io_run(1, cq_main, NULL);
    check_all();
}
