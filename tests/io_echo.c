/* tests/io_echo.c: end-to-end echo over loopback: 1000 concurrent clients,
 * each echoing 100 messages of random sizes from 1 B to 64 KiB (sizes are
 * log-uniform, so small and large messages are both common and the run
 * fits a 2-core machine), byte-exact; the same over IPv6. Server and
 * clients are goroutines of one runtime. */
#include "harness.h"

#include <stdlib.h>

struct echo_cfg {
    const char *listen;
    int clients;
    int msgs;
    size_t maxsize;
};

static char server_addr[80];
static int listener;
static gr_waitgroup clients_wg = GR_WAITGROUP_INIT;
static gr_waitgroup server_wg = GR_WAITGROUP_INIT;
static _Atomic long clients_ok, msgs_ok;

static void echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(32768);
    for (;;) {
        ssize_t n = gr_recv(fd, buf, 32768, 0);
        if (n <= 0) {
            CHECKF(n == 0, "server recv: %zd", n);
            break;
        }
        ssize_t w = gr_write_all(fd, buf, (size_t)n);
        CHECK_EQ(w, n);
        if (w != n)
            break;
    }
    free(buf);
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

static const struct echo_cfg *cfg;

static size_t pick_size(uint64_t *seed)
{
    /* log-uniform in [1, maxsize] */
    int bits = 0;
    for (size_t m = cfg->maxsize; m > 1; m >>= 1)
        bits++;
    int b = (int)(io_rand(seed) % (uint64_t)(bits + 1));
    size_t lo = (size_t)1 << b >> 1, hi = (size_t)1 << b;
    if (lo == 0)
        lo = 1;
    if (hi > cfg->maxsize)
        hi = cfg->maxsize;
    return lo + (size_t)(io_rand(seed) % (uint64_t)(hi - lo + 1));
}

static void client(void *arg)
{
    long id = (long)(intptr_t)arg;
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(id + 1) * 0x100000001b3ull;
    unsigned char *out = malloc(cfg->maxsize), *in = malloc(cfg->maxsize);
    int fd = gr_dial_tcp(server_addr, 30LL * 1000000000);
    CHECKF(fd >= 0, "client %ld dial: %d", id, fd);
    int ok = fd >= 0;
    for (int m = 0; ok && m < cfg->msgs; m++) {
        size_t n = pick_size(&seed);
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)io_rand(&seed);
        ssize_t w = gr_write_all(fd, out, n);
        CHECK_EQ(w, n);
        ssize_t r = io_read_full(fd, in, n);
        CHECK_EQ(r, n);
        if (w != (ssize_t)n || r != (ssize_t)n) {
            ok = 0;
            break;
        }
        if (memcmp(in, out, n) != 0) {
            CHECKF(0, "client %ld message %d of %zu bytes differs", id, m, n);
            ok = 0;
            break;
        }
        atomic_fetch_add_explicit(&msgs_ok, 1, memory_order_relaxed);
    }
    if (fd >= 0)
        gr_close(fd);
    if (ok)
        atomic_fetch_add(&clients_ok, 1);
    free(out);
    free(in);
    gr_waitgroup_done(&clients_wg);
}

static void echo_main(void *arg)
{
    cfg = arg;
    listener = gr_listen_tcp(cfg->listen, 4096);
    if (listener == -EADDRNOTAVAIL || listener == -EAFNOSUPPORT) {
        atomic_store(&clients_ok, -1);   /* no IPv6 here */
        return;
    }
    CHECKF(listener >= 0, "listen %s: %d", cfg->listen, listener);
    if (listener < 0)
        return;
    if (cfg->listen[0] == '[')
        snprintf(server_addr, sizeof server_addr, "[::1]:%d", io_port(listener));
    else
        snprintf(server_addr, sizeof server_addr, "127.0.0.1:%d", io_port(listener));
    gr_waitgroup_add(&server_wg, 1);
    gr_go(acceptor, NULL);
    gr_waitgroup_add(&clients_wg, cfg->clients);
    for (long i = 0; i < cfg->clients; i++)
        CHECK_EQ(gr_go(client, (void *)(intptr_t)i), 0);
    gr_waitgroup_wait(&clients_wg);
    gr_close(listener);           /* ends the acceptor */
    gr_waitgroup_wait(&server_wg);   /* every server conn saw EOF and closed */
}

Test(io_echo, clients_1000_x_100_random_sizes, .timeout = 300)
{
    static const struct echo_cfg c = { "127.0.0.1:0", 1000, 100, 64 * 1024 };
    RUN(2, echo_main, (void *)&c);
    cr_assert_eq(atomic_load(&clients_ok), 1000);
    cr_assert_eq(atomic_load(&msgs_ok), 1000L * 100);
}

Test(io_echo, ipv6_clients_100_x_20, .timeout = 120)
{
    static const struct echo_cfg c = { "[::1]:0", 100, 20, 64 * 1024 };
    RUN(2, echo_main, (void *)&c);
    if (atomic_load(&clients_ok) == -1)
        cr_skip_test("no IPv6 loopback");
    cr_assert_eq(atomic_load(&clients_ok), 100);
}

Test(io_echo, one_p_clients_200_x_20, .timeout = 120)
{
    static const struct echo_cfg c = { "127.0.0.1:0", 200, 20, 16 * 1024 };
    RUN(1, echo_main, (void *)&c);
    cr_assert_eq(atomic_load(&clients_ok), 200);
}

/* gr_local_port: the port the kernel picked for a port-0 listener. */
static void port_main(void *arg)
{
    (void)arg;
    int l = gr_listen_tcp("127.0.0.1:0", 4);
    CHECK(l >= 0);
    int p = gr_local_port(l);
    CHECK(p > 0 && p <= 65535);
    CHECK_EQ(p, io_port(l));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", p);
    int c = gr_dial_tcp(addr, 5 * GR_S);
    CHECK(c >= 0);
    int s = gr_accept(l, NULL, NULL, 0);
    CHECK(s >= 0);
    CHECK(gr_local_port(c) > 0);
    CHECK_EQ(gr_local_port(s), p);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_EQ(gr_local_port(fds[0]), -ENOTSOCK);
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_EQ(gr_local_port(u), -EAFNOSUPPORT);
    CHECK_EQ(gr_local_port(-1), -EBADF);
    close(u);
    close(fds[0]);
    close(fds[1]);
    gr_close(s);
    gr_close(c);
    gr_close(l);
}

Test(io_echo, local_port_of_a_port_0_listener, .timeout = 30)
{
    RUN(2, port_main, NULL);
}
