/* tests/io_util.h: helpers for the io tests (sockets on loopback, checks
 * made inside goroutines and asserted after gr_main returns). */
#ifndef GR_TESTS_IO_UTIL_H
#define GR_TESTS_IO_UTIL_H
#include <stdio.h>   /* before helpers.h, which uses snprintf */
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Criterion's assertions must not run on a goroutine's stack (a failing
 * cr_assert longjmps): goroutines record the first failure here and the
 * test body asserts after gr_main returned. */
static _Atomic int io_nfail;
static char io_failmsg[512];

#define IO_CHECK(cond, ...)                                                          \
    do {                                                                             \
        if (!(cond)) {                                                               \
            if (atomic_fetch_add(&io_nfail, 1) == 0) {                               \
                int o_ = snprintf(io_failmsg, sizeof io_failmsg, "%s:%d: %s: ",      \
                                  __FILE__, __LINE__, #cond);                        \
                if (o_ > 0 && (size_t)o_ < sizeof io_failmsg)                        \
                    snprintf(io_failmsg + o_, sizeof io_failmsg - (size_t)o_,        \
                             __VA_ARGS__);                                           \
            }                                                                        \
        }                                                                            \
    } while (0)

#define IO_CHECK_EQ(a, b)                                                            \
    do {                                                                             \
        long long a_ = (long long)(a), b_ = (long long)(b);                          \
        IO_CHECK(a_ == b_, "%s = %lld, expected %lld (%s)", #a, a_, b_,              \
                 a_ < 0 ? strerror((int)-a_) : "");                                  \
    } while (0)

/* Run fn as goroutine 1 and assert no recorded failure. */
static inline void io_run(int procs, gr_fn fn, void *arg)
{
    int rc = gr_test_run(procs, fn, arg);
    cr_assert_eq(rc, 0, "gr_main: %d", rc);
    cr_assert_eq(atomic_load(&io_nfail), 0, "%d failures; first: %s", atomic_load(&io_nfail),
                 io_failmsg);
}

static inline int io_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A listener on 127.0.0.1, port picked by the kernel; its "host:port" in addr. */
static inline int io_listen(int backlog, char *addr, size_t addrlen)
{
    int l = gr_listen_tcp("127.0.0.1:0", backlog);
    if (l >= 0 && addr)
        snprintf(addr, addrlen, "127.0.0.1:%d", io_port(l));
    return l;
}

/* A connected TCP pair on loopback (client *c, server side *s). In a goroutine. */
static inline int io_pair(int *c, int *s)
{
    char addr[64];
    int l = io_listen(16, addr, sizeof addr);
    if (l < 0)
        return l;
    *c = gr_dial_tcp(addr, 5LL * 1000000000);
    if (*c < 0) {
        gr_close(l);
        return *c;
    }
    *s = gr_accept(l, NULL, NULL, 0);
    gr_close(l);
    return *s < 0 ? *s : 0;
}

/* Open fds of this process. */
static inline int io_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;    /* the DIR's own fd */
}

static inline int64_t io_ms(int64_t ms) { return ms * 1000000; }

/* Read exactly n bytes (or fail). */
static inline ssize_t io_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = gr_recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return r < 0 ? r : (ssize_t)got;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* A small xorshift for test data. */
static inline uint64_t io_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#endif
