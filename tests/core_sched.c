/*
 * tests/core_sched.c: goroutines, run queues, stealing, yield, teardown.
 * Each Test runs in its own process (Criterion), so each gets a fresh
 * runtime with the GR_MAXPROCS it sets.
 */
#include "harness.h"
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* ---- spawn and join 100k goroutines ---- */

#define NSPAWN 100000
static _Atomic long spawned_done;
static _Atomic long spawned_sum;
static char ran[NSPAWN];

static void leaf(void *arg)
{
    long i = (long)(intptr_t)arg;
    ran[i]++;
    atomic_fetch_add(&spawned_sum, i);
    atomic_fetch_add(&spawned_done, 1);
}

static struct { long done; long sum; struct gr_stats st; int id_main; } spawn_out;

static void spawn_main(void *arg)
{
    (void)arg;
    spawn_out.id_main = (int)gr_id();
    for (long i = 0; i < NSPAWN; i++) {
        int r;
        while ((r = gr_go(leaf, (void *)(intptr_t)i)) == -ENOMEM)
            gr_yield();
        CHECK_EQ(r, 0);
    }
    while (atomic_load(&spawned_done) < NSPAWN)
        gr_sleep(100000);
    spawn_out.done = atomic_load(&spawned_done);
    spawn_out.sum = atomic_load(&spawned_sum);
    gr_stats(&spawn_out.st);
}

static void check_spawn(int procs)
{
    RUN(procs, spawn_main, NULL);
    cr_assert_eq(spawn_out.id_main, 1);
    cr_assert_eq(spawn_out.done, NSPAWN);
    cr_assert_eq(spawn_out.sum, (long)NSPAWN * (NSPAWN - 1) / 2);
    for (long i = 0; i < NSPAWN; i++)
        cr_assert_eq(ran[i], 1, "goroutine %ld ran %d times", i, ran[i]);
    cr_assert_eq(spawn_out.st.ps, (uint32_t)procs);
    cr_assert_geq(spawn_out.st.goroutines_created, (uint64_t)NSPAWN + 1);
    cr_assert_eq(gr_num_goroutine(), 0, "no runtime after gr_main returned");
}

Test(core_sched, spawn_100k_procs1, .timeout = 60) { check_spawn(1); }
Test(core_sched, spawn_100k_procs2, .timeout = 60) { check_spawn(2); }
Test(core_sched, spawn_100k_procs4, .timeout = 60) { check_spawn(4); }

/* ---- one goroutine spawns many busy ones: idle Ps steal them ---- */

static _Atomic long steal_done;
static _Atomic int on_p[8];

static void busy(void *arg)
{
    (void)arg;
    volatile unsigned long x = 0;
    for (int i = 0; i < 200000; i++)
        x += (unsigned long)i;
    atomic_fetch_add(&steal_done, 1);
}

static struct gr_stats steal_st;

static void steal_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++)
        CHECK_EQ(gr_go(busy, NULL), 0);
    while (atomic_load(&steal_done) < 2000)
        gr_sleep(1000000);
    gr_stats(&steal_st);
}

Test(core_sched, steals_happen, .timeout = 60)
{
    RUN(4, steal_main, NULL);
    cr_assert_eq(atomic_load(&steal_done), 2000);
    cr_assert_gt(steal_st.steals, 0, "steals=%llu", (unsigned long long)steal_st.steals);
    cr_assert_geq(steal_st.ms_created, 2);
    (void)on_p;
}

/* ---- -EPERM outside a goroutine; errors for bad input ---- */

Test(core_sched, eperm_outside_goroutine, .timeout = 10)
{
    cr_assert_eq(gr_sleep(1000), -EPERM);
    cr_assert_eq(gr_go(leaf, NULL), -EPERM, "no runtime running");
    cr_assert_eq(gr_id(), 0);
    cr_assert_eq(gr_num_goroutine(), 0);
    cr_assert_eq(gr_main(NULL, NULL), -EINVAL);
    gr_yield();   /* a plain sched_yield outside goroutines */
    gr_syscall_enter();
    gr_syscall_exit();
    cr_assert_str_eq(gr_version(), GR_VERSION);
    cr_assert_str_eq(GR_VERSION, "0.1.0");
    cr_assert_gt(gr_maxprocs(), 0);
}

static int opts_r[4];
static void opts_main(void *arg)
{
    (void)arg;
    struct gr_go_opts small = {.stack_size = 1024, .name = "tiny"};
    struct gr_go_opts huge = {.stack_size = (size_t)128 << 20, .name = NULL};
    struct gr_go_opts ok = {.stack_size = 20000, .name = "worker"};
    opts_r[0] = gr_go_opts(leaf, (void *)0, &small);
    opts_r[1] = gr_go_opts(leaf, (void *)0, &huge);
    opts_r[2] = gr_go_opts(leaf, (void *)1, &ok);
    opts_r[3] = gr_go(NULL, NULL);
    gr_sleep(10000000);
    /* gr_main inside gr_main is refused */
    CHECK_EQ(gr_main(opts_main, NULL), -EBUSY);
}

Test(core_sched, go_opts_bounds, .timeout = 10)
{
    RUN(2, opts_main, NULL);
    cr_assert_eq(opts_r[0], -EINVAL);
    cr_assert_eq(opts_r[1], -EINVAL);
    cr_assert_eq(opts_r[2], 0);
    cr_assert_eq(opts_r[3], -EINVAL);
    cr_assert_eq(ran[1], 1);
}

/* ---- deep recursion within a big stack works ---- */

static int depth_reached[2];
static gr_chan *deep_done;
static int recurse(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    if (n == 0)
        return pad[0];
    return recurse(n - 1) + pad[0] - (char)n + 1;
}

static void deep(void *arg)
{
    int n = (int)(intptr_t)arg;
    depth_reached[n == 60] = recurse(n);
    done_signal(deep_done);
}

/* Waits for each goroutine's end (no sleeps that a loaded machine could
 * outlast). */
static void deep_main(void *arg)
{
    (void)arg;
    deep_done = done_make(2);
    struct gr_go_opts o = {.stack_size = 8u << 20, .name = "deep"};
    CHECK_EQ(gr_go_opts(deep, (void *)(intptr_t)4000, &o), 0);
    /* The default stack holds at least 64 KiB of locals. */
    CHECK_EQ(gr_go(deep, (void *)(intptr_t)60), 0);
    done_wait(deep_done, 2);
    gr_chan_free(deep_done);
}

Test(core_sched, big_and_default_stacks, .timeout = 10)
{
    RUN(2, deep_main, NULL);
    cr_assert_eq(depth_reached[0], 4000);
    cr_assert_eq(depth_reached[1], 60);
}

/* ---- yield ping-pong keeps both alive and counts exactly ---- */

static _Atomic long pp_count;
static void yielder(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        atomic_fetch_add(&pp_count, 1);
        gr_yield();
    }
}

static void yield_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        gr_go(yielder, (void *)(intptr_t)10000);
    while (atomic_load(&pp_count) < 100000)
        gr_yield();
}

Test(core_sched, yield_many, .timeout = 30)
{
    RUN(1, yield_main, NULL);
    cr_assert_eq(atomic_load(&pp_count), 100000);
}

/* ---- two yielders on one P alternate, as Go's Gosched (issue 12 item 9) ---- */

#define NALT 2000
static char alt_log[2 * NALT];
static _Atomic int alt_pos, alt_done;
static gr_waitgroup alt_wg = GR_WAITGROUP_INIT;

static void alt_yielder(void *arg)
{
    for (int i = 0; i < NALT && !atomic_load(&alt_done); i++) {
        alt_log[atomic_fetch_add(&alt_pos, 1)] = (char)(intptr_t)arg;
        gr_yield();
    }
    atomic_store(&alt_done, 1);   /* the other stops too: only both-running counts */
    gr_waitgroup_done(&alt_wg);
}

static int alt_maxrun;
static void alt_main(void *arg)
{
    (void)arg;
    gr_waitgroup_add(&alt_wg, 2);
    GO(alt_yielder, (void *)(intptr_t)'A');
    GO(alt_yielder, (void *)(intptr_t)'B');
    gr_waitgroup_wait(&alt_wg);
    int run = 0;
    for (int i = 0; i < atomic_load(&alt_pos); i++) {
        run = i && alt_log[i] == alt_log[i - 1] ? run + 1 : 1;
        if (run > alt_maxrun)
            alt_maxrun = run;
    }
}

Test(core_sched, yield_alternates_procs1, .timeout = 30)
{
    RUN(1, alt_main, NULL);
    /* A yielder may run twice in a row when the fairness pass (every 61st)
     * takes it back from the global queue; never more. */
    cr_assert_leq(alt_maxrun, 2, "one yielder ran %d times in a row", alt_maxrun);
    cr_assert_geq(atomic_load(&alt_pos), NALT);
}

/* ---- gr_main returns while others sleep or wait; runtime torn down ---- */

static void sleeper_forever(void *arg)
{
    (void)arg;
    gr_sleep(3600LL * 1000000000LL);
}

static void spinner_yield(void *arg)
{
    (void)arg;
    for (;;)
        gr_yield();
}

static int teardown_round;
static void teardown_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        gr_go(sleeper_forever, NULL);
    gr_go(spinner_yield, NULL);
    gr_sleep(5000000);
    CHECK(gr_num_goroutine() >= 102);
    teardown_round++;
}

Test(core_sched, main_return_tears_down, .timeout = 30)
{
    for (int round = 0; round < 3; round++) {
        RUN(2, teardown_main, NULL);
        cr_assert_eq(gr_num_goroutine(), 0);
        struct gr_stats st;
        gr_stats(&st);
        cr_assert_eq(st.ps, 2);
    }
    cr_assert_eq(teardown_round, 3);
}

/* gr_exit from goroutine 1 ends gr_main as a return would. */
static int after_exit;
static void exit_main(void *arg)
{
    (void)arg;
    gr_exit();
    after_exit = 1;
}

Test(core_sched, exit_main_goroutine, .timeout = 10)
{
    RUN(1, exit_main, NULL);
    cr_assert_eq(after_exit, 0);
}

/* ---- errno is per goroutine across switches ----
 * errno is read and written through functions the compiler cannot see
 * into: glibc declares __errno_location const, so within one function a
 * compiler may keep the address it got before a goring call, and after
 * the goroutine moved to another thread that address is the old thread's
 * errno (README: "Rules worth knowing"). */
static int errno_seen[2];
__attribute__((noinline, noipa)) static int errno_read(void) { return errno; }
__attribute__((noinline, noipa)) static void errno_write(int e) { errno = e; }
static void errno_g(void *arg)
{
    int k = (int)(intptr_t)arg;
    errno_write(100 + k);
    for (int i = 0; i < 50; i++)
        gr_yield();
    errno_seen[k] = errno_read();
}

static void errno_main(void *arg)
{
    (void)arg;
    gr_go(errno_g, (void *)0);
    gr_go(errno_g, (void *)1);
    gr_sleep(20000000);
}

Test(core_sched, errno_saved_per_goroutine, .timeout = 10)
{
    RUN(2, errno_main, NULL);
    cr_assert_eq(errno_seen[0], 100);
    cr_assert_eq(errno_seen[1], 101);
}

/* ---- schedtrace prints lines ---- */
static void trace_main(void *arg)
{
    (void)arg;
    gr_sleep(120000000);
}

Test(core_sched, schedtrace_and_stats, .timeout = 10)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(2);
    dup2(fds[1], 2);
    setenv("GRDEBUG", "schedtrace=20", 1);
    int r = gr_test_run(2, trace_main, NULL);
    dup2(saved, 2);
    close(fds[1]);
    cr_assert_eq(r, 0);
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    cr_assert(strstr(buf, "SCHED ") && strstr(buf, "gomaxprocs=2"), "got: %s", buf);
    struct gr_stats st;
    gr_stats(&st);
    cr_assert_eq(st.goroutines_created, 1);
    cr_assert_geq(st.timers_fired, 1);
    cr_assert_geq(st.ms_created, 1);
}
