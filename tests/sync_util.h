/* tests/sync_util.h: helpers for the sync tests.
 *
 * Goroutines run on runtime threads, not on the test's thread, so they never
 * call cr_assert (its failure longjmps on the test thread's stack). They
 * record the first failed CHECK instead; the Test body asserts CHECKS_OK()
 * after gr_main returned. Criterion runs each Test in its own process, so
 * the globals start clean. */
#ifndef GR_TESTS_SYNC_UTIL_H
#define GR_TESTS_SYNC_UTIL_H
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static _Atomic int chk_failed;
static char chk_msg[512];

static inline void chk_fail(const char *file, int line, const char *expr)
{
    if (atomic_exchange(&chk_failed, 1) == 0)
        snprintf(chk_msg, sizeof chk_msg, "%s:%d: CHECK(%s) failed", file, line, expr);
}
#define CHECK(c) do { if (!(c)) chk_fail(__FILE__, __LINE__, #c); } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { char e_[256]; snprintf(e_, sizeof e_, "%s == %s (%lld != %lld)", #a, #b, a_, b_); \
        chk_fail(__FILE__, __LINE__, e_); } } while (0)
#define CHECKS_OK() cr_assert(!atomic_load(&chk_failed), "%s", chk_msg)

/* Run fn on procs Ps; assert gr_main returned 0 and every CHECK held. */
#define RUN(procs, fn, arg) do { \
    int r_ = gr_test_run((procs), (fn), (arg)); \
    cr_assert_eq(r_, 0, "gr_main returned %d", r_); \
    CHECKS_OK(); } while (0)

#define MS (1000LL * 1000)

/* Deadlock detection assumes only goroutines wake goroutines (../shared/API.md); a
 * test whose plain threads wake them turns it off, as programs must. */
static inline void plain_threads_wake(void)
{
    setenv("GRDEBUG", "deadlock=0", 1);
}

/* Spawn or record a failure. */
static inline void go_or_fail(gr_fn fn, void *arg)
{
    int r = gr_go(fn, arg);
    CHECK_EQ(r, 0);
}

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

#endif
