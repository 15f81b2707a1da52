/*
 * tests/chan_util.h: shared by the chan_*.c tests.
 *
 * Code under test runs in goroutines on other threads, where a failing
 * cr_assert would longjmp across stacks. So goroutines CHECK: the first
 * failure is recorded (line, expression, the two values) and the test
 * asserts after gr_main has returned (RUN_PROCS).
 */
#ifndef GR_TESTS_CHAN_UTIL_H
#define GR_TESTS_CHAN_UTIL_H
#include <stdio.h>
#include "helpers.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static _Atomic int chk_failed;
static int chk_line;
static const char *chk_what;
static long long chk_a, chk_b;

static inline void chk_fail(int line, const char *what, long long a, long long b)
{
    if (atomic_fetch_add(&chk_failed, 1) == 0) {
        chk_line = line;
        chk_what = what;
        chk_a = a;
        chk_b = b;
    }
}

#define CHECK(c) do { if (!(c)) chk_fail(__LINE__, #c, 0, 0); } while (0)
#define CHECK_EQ(x, y) do { long long x_ = (long long)(x), y_ = (long long)(y); \
        if (x_ != y_) chk_fail(__LINE__, #x " == " #y, x_, y_); } while (0)

static int chk_procs;

/* Run fn(arg) as goroutine 1 with GR_MAXPROCS=procs; assert it started and
 * that no CHECK failed. */
#define RUN(procs, fn, arg) do { \
        atomic_store(&chk_failed, 0); \
        chk_procs = (procs); \
        int rc_ = gr_test_run(chk_procs, (fn), (arg)); \
        cr_assert_eq(rc_, 0, "gr_main: %d", rc_); \
        cr_assert_eq(atomic_load(&chk_failed), 0, "procs=%d line %d: %s (%lld vs %lld), %d failures", \
                     chk_procs, chk_line, chk_what, chk_a, chk_b, atomic_load(&chk_failed)); \
    } while (0)

/* Run under GR_MAXPROCS 1, 2 and 4. */
#define RUN_PROCS(fn, arg) do { \
        static const int procs_[] = { 1, 2, 4 }; \
        for (size_t pi_ = 0; pi_ < 3; pi_++) \
            RUN(procs_[pi_], (fn), (arg)); \
    } while (0)

/* A completion counter built on a channel: each finished goroutine sends
 * one empty value; wait_done receives n of them. */
static inline gr_chan *done_make(size_t n)
{
    gr_chan *c = gr_chan_make(0, n);
    CHECK(c != NULL);
    return c;
}
static inline void done_signal(gr_chan *done)
{
    int r = gr_chan_send(done, NULL);
    CHECK_EQ(r, 0);
}
static inline void done_wait(gr_chan *done, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = gr_chan_recv(done, NULL);
        CHECK_EQ(r, 0);
    }
}

/* Spawn or record the failure. */
#define GO(fn, arg) do { int g_ = gr_go((fn), (arg)); CHECK_EQ(g_, 0); } while (0)

#define MS 1000000LL
#endif
