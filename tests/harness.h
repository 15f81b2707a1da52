/*
 * tests/harness.h: the one header every Criterion test includes.
 *
 * Code under test runs in goroutines on runtime threads, where a failing
 * cr_assert would longjmp across stacks. So goroutines CHECK: the first
 * failure is recorded (file:line, the expression, the values) and the Test
 * body asserts after gr_main has returned (RUN, RUN_PROCS, CHECKS_OK).
 * Criterion runs each Test in its own process, so the globals start clean.
 *
 *   CHECK(c)              record a failure when c is false
 *   CHECK_EQ(a, b)        ... when a != b (as long long; a negative a is
 *                         also shown as an errno name)
 *   CHECKF(c, fmt, ...)   ... when c is false, with a printf-style note
 *   GO(fn, arg)           gr_go, recording a failure
 *   RUN(procs, fn, arg)   gr_main(fn, arg) with GR_MAXPROCS=procs; assert
 *                         it returned 0 and no CHECK failed
 *   RUN_PROCS(fn, arg)    RUN at 1, 2 and 4 Ps
 *   done_make/signal/wait a completion counter on a channel
 *   run_child, ASSERT_FATAL   run code in a child process, check its death
 *   io_*                  loopback sockets and small I/O helpers
 *
 * GR_TEST_POLLER (a GRDEBUG poller= value; unset: the runtime's default)
 * picks the poller backend for the whole suite: gr_test_run folds it into
 * GRDEBUG, so a test that adds other GRDEBUG keys keeps it.
 */
#ifndef GR_TESTS_HARNESS_H
#define GR_TESTS_HARNESS_H
#include <criterion/criterion.h>
#include <goring.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS (1000LL * 1000)

/* ---- checks inside goroutines ---- */

static _Atomic int chk_failed;
static char chk_msg[512];

static inline void chk_fail(const char *file, int line, const char *what)
{
    if (atomic_fetch_add(&chk_failed, 1) == 0)
        snprintf(chk_msg, sizeof chk_msg, "%s:%d: %s", file, line, what);
}

#define CHECK(c) do { if (!(c)) chk_fail(__FILE__, __LINE__, "CHECK(" #c ") failed"); } while (0)

#define CHECKF(c, ...) do { \
        if (!(c)) { \
            char n_[256]; \
            snprintf(n_, sizeof n_, __VA_ARGS__); \
            char e_[448]; \
            snprintf(e_, sizeof e_, "CHECK(%s) failed: %s", #c, n_); \
            chk_fail(__FILE__, __LINE__, e_); \
        } \
    } while (0)

#define CHECK_EQ(a, b) do { \
        long long a_ = (long long)(a), b_ = (long long)(b); \
        if (a_ != b_) { \
            char e_[384]; \
            snprintf(e_, sizeof e_, "%s == %s failed (%lld vs %lld%s%s)", #a, #b, a_, b_, \
                     a_ < 0 && a_ > -4096 ? ": " : "", \
                     a_ < 0 && a_ > -4096 ? strerror((int)-a_) : ""); \
            chk_fail(__FILE__, __LINE__, e_); \
        } \
    } while (0)

#define CHECKS_OK() \
    cr_assert_eq(atomic_load(&chk_failed), 0, "%d failures; first: %s", atomic_load(&chk_failed), chk_msg)

/* Spawn or record the failure. */
#define GO(fn, arg) do { int g_ = gr_go((fn), (arg)); CHECK_EQ(g_, 0); } while (0)

/* ---- running a runtime ---- */

/* Fold GR_TEST_POLLER into GRDEBUG (once per process is enough: GRDEBUG
 * is read by each gr_main). */
static inline void gr_test_poller(void)
{
    const char *p = getenv("GR_TEST_POLLER");
    if (!p || !*p)
        return;
    const char *d = getenv("GRDEBUG");
    if (d && strstr(d, "poller="))
        return;
    char buf[512];
    snprintf(buf, sizeof buf, "%s%spoller=%s", d ? d : "", d && *d ? "," : "", p);
    setenv("GRDEBUG", buf, 1);
}

/* Add key=value to GRDEBUG, keeping what is there (the poller included). */
static inline void gr_test_grdebug(const char *kv)
{
    const char *d = getenv("GRDEBUG");
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s%s", d ? d : "", d && *d ? "," : "", kv);
    setenv("GRDEBUG", buf, 1);
}

/* Run fn as goroutine 1 of a fresh runtime with GR_MAXPROCS=procs (procs
 * <= 0: the runtime's default). */
static inline int gr_test_run(int procs, gr_fn fn, void *arg)
{
    if (procs > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", procs);
        setenv("GR_MAXPROCS", buf, 1);
    }
    gr_test_poller();
    return gr_main(fn, arg);
}

static int chk_procs __attribute__((unused));

#define RUN(procs, fn, arg) do { \
        chk_procs = (procs); \
        int rc_ = gr_test_run(chk_procs, (fn), (arg)); \
        cr_assert_eq(rc_, 0, "gr_main returned %d (procs=%d)", rc_, chk_procs); \
        cr_assert_eq(atomic_load(&chk_failed), 0, "procs=%d: %d failures; first: %s", chk_procs, \
                     atomic_load(&chk_failed), chk_msg); \
    } while (0)

#define RUN_PROCS(fn, arg) do { \
        static const int procs_[] = { 1, 2, 4 }; \
        for (size_t pi_ = 0; pi_ < 3; pi_++) \
            RUN(procs_[pi_], (fn), (arg)); \
    } while (0)

/* Deadlock detection assumes only goroutines wake goroutines (API.md); a
 * test whose plain threads wake them turns it off, as programs must. */
static inline void plain_threads_wake(void)
{
    gr_test_grdebug("deadlock=0");
}

/* ---- a completion counter on a channel ---- */

static inline gr_chan *done_make(size_t n)
{
    gr_chan *c = gr_chan_make(0, n);
    CHECK(c != NULL);
    return c;
}
static inline void done_signal(gr_chan *done)
{
    CHECK_EQ(gr_chan_send(done, NULL), 0);
}
static inline void done_wait(gr_chan *done, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(gr_chan_recv(done, NULL), 0);
}

/* ---- child processes ---- */

/*
 * Run fn(arg) in a child process (with a runtime of procs Ps when procs > 0,
 * plainly on the child's thread when procs == 0). Capture its stderr; return
 * its wait status; put up to cap-1 bytes of stderr in out.
 */
static inline int run_child(int procs, gr_fn fn, void *arg, char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        unsetenv("GRDEBUG");
        if (procs > 0)
            gr_test_run(procs, fn, arg);
        else
            fn(arg);
        _exit(0);   /* the misuse was not fatal */
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t k;
    while ((k = read(fds[0], out + n, cap - 1 - n)) > 0) {
        n += (size_t)k;
        if (n == cap - 1) {
            char sink[4096];   /* drain the rest so the child can exit */
            while (read(fds[0], sink, sizeof sink) > 0)
                ;
            break;
        }
    }
    out[n] = 0;
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* Assert the child died of a fatal error starting with want, exit status 2. */
#define ASSERT_FATAL(procs, fn, arg, want) do { \
        char buf_[16384]; \
        int st_ = run_child((procs), (fn), (arg), buf_, sizeof buf_); \
        const char *w_ = "goring: fatal error: " want; \
        cr_assert(strncmp(buf_, w_, strlen(w_)) == 0, "stderr starts with \"%s\", got:\n%.400s", w_, buf_); \
        cr_assert(WIFEXITED(st_) && WEXITSTATUS(st_) == 2, "exit status 2, got status 0x%x", st_); \
    } while (0)

/* ---- I/O ---- */

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

/* A client connection to addr whose reads and writes end with -ETIMEDOUT
 * after ns (so a test's client can never hang); < 0: gr_dial_tcp's error. */
static inline int io_dial_bounded(const char *addr, int64_t ns)
{
    int fd = gr_dial_tcp(addr, ns);
    if (fd >= 0)
        gr_set_deadline(fd, GR_READ | GR_WRITE, gr_nanotime() + ns);
    return fd;
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
