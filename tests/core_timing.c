/*
 * tests/core_timing.c: tests that assert timing (sleep accuracy, fairness,
 * syscall hand-off). They run one at a time (tests/run-test.sh gives every
 * *_timing binary CRITERION_JOBS=1) with slack for a noisy 2-core machine;
 * none asserts a speed.
 */
#include "harness.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* ---- 1000 sleepers wake on time ---- */

#define NSLEEP 1000
static int64_t overshoot[NSLEEP];
static _Atomic int slept;

static void sleeper(void *arg)
{
    long i = (long)(intptr_t)arg;
    int64_t d = (1 + i % 50) * MS;
    int64_t t0 = gr_nanotime();
    gr_sleep(d);
    overshoot[i] = gr_nanotime() - t0 - d;
    atomic_fetch_add(&slept, 1);
}

static void sleepers_main(void *arg)
{
    (void)arg;
    for (long i = 0; i < NSLEEP; i++)
        gr_go(sleeper, (void *)(intptr_t)i);
    while (atomic_load(&slept) < NSLEEP)
        gr_sleep(5 * MS);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

Test(core_timing, sleep_accuracy_1000, .timeout = 30)
{
    RUN(2, sleepers_main, NULL);
    for (int i = 0; i < NSLEEP; i++)
        cr_assert_geq(overshoot[i], 0, "sleeper %d woke %lld ns early", i, (long long)-overshoot[i]);
    qsort(overshoot, NSLEEP, sizeof overshoot[0], cmp64);
    cr_assert_lt(overshoot[NSLEEP / 2], 5 * MS, "median overshoot %lld ns", (long long)overshoot[NSLEEP / 2]);
    cr_assert_lt(overshoot[NSLEEP - 1], 200 * MS, "max overshoot %lld ns", (long long)overshoot[NSLEEP - 1]);
}

/* ---- timers are not starved by goroutines ping-ponging with yield ---- */

static _Atomic int stop_pingpong;
static _Atomic long pongs;

static void pingpong(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_pingpong)) {
        atomic_fetch_add(&pongs, 1);
        gr_yield();
    }
}

static int64_t starve_late;

static void starve_main(void *arg)
{
    (void)arg;
    gr_go(pingpong, NULL);
    gr_go(pingpong, NULL);
    gr_yield();
    int64_t worst = 0;
    for (int i = 0; i < 20; i++) {
        int64_t t0 = gr_nanotime();
        gr_sleep(5 * MS);
        int64_t late = gr_nanotime() - t0 - 5 * MS;
        if (late > worst)
            worst = late;
    }
    starve_late = worst;
    atomic_store(&stop_pingpong, 1);
}

Test(core_timing, timers_not_starved_by_yield, .timeout = 30)
{
    RUN(1, starve_main, NULL);
    cr_assert_gt(atomic_load(&pongs), 1000, "the ping-pong ran");
    cr_assert_lt(starve_late, 50 * MS, "sleep woke %lld ns late", (long long)starve_late);
}

/* ---- syscall hand-off: others progress with handoff, stall without ---- */

static _Atomic long counter;
static _Atomic int counting;

static void count_loop(void *arg)
{
    (void)arg;
    while (atomic_load(&counting)) {
        atomic_fetch_add(&counter, 1);
        gr_yield();
    }
}

static int pipefd[2];
static void *late_writer(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    char c = 'x';
    ssize_t w = write(pipefd[1], &c, 1);
    (void)w;
    return NULL;
}

static long progress_during_block;

static void handoff_main(void *arg)
{
    (void)arg;
    atomic_store(&counting, 1);
    gr_go(count_loop, NULL);
    gr_sleep(10 * MS);              /* let it start */
    CHECK_EQ(pipe(pipefd), 0);
    pthread_t th;
    pthread_create(&th, NULL, late_writer, NULL);
    long before = atomic_load(&counter);
    gr_syscall_enter();
    char c;
    ssize_t r = read(pipefd[0], &c, 1);   /* blocks ~200 ms */
    long after = atomic_load(&counter);
    gr_syscall_exit();
    CHECK_EQ(r, 1);
    progress_during_block = after - before;
    pthread_join(th, NULL);
    close(pipefd[0]);
    close(pipefd[1]);
    atomic_store(&counting, 0);
}

Test(core_timing, handoff_on_progress, .timeout = 20)
{
    setenv("GRDEBUG", "handoff=1", 1);
    RUN(1, handoff_main, NULL);
    cr_assert_gt(progress_during_block, 1000, "progress %ld", progress_during_block);
    struct gr_stats st;
    gr_stats(&st);
    cr_assert_geq(st.retakes, 1);
    cr_assert_geq(st.handoffs, 1);
}

Test(core_timing, handoff_off_stalls, .timeout = 20)
{
    setenv("GRDEBUG", "handoff=0", 1);
    RUN(1, handoff_main, NULL);
    cr_assert_eq(progress_during_block, 0, "progress %ld", progress_during_block);
    struct gr_stats st;
    gr_stats(&st);
    cr_assert_eq(st.retakes, 0);
}

/* gr_syscall_enter_blocking hands the P off at once. */
static void handoff_blocking_main(void *arg)
{
    (void)arg;
    atomic_store(&counting, 1);
    gr_go(count_loop, NULL);
    gr_sleep(5 * MS);
    long before = atomic_load(&counter);
    gr_syscall_enter_blocking();
    usleep(50 * 1000);
    long after = atomic_load(&counter);
    gr_syscall_exit();
    progress_during_block = after - before;
    atomic_store(&counting, 0);
}

Test(core_timing, enter_blocking_hands_off, .timeout = 20)
{
    setenv("GRDEBUG", "handoff=0", 1);   /* sysmon would not; the call itself must */
    RUN(1, handoff_blocking_main, NULL);
    cr_assert_gt(progress_during_block, 100, "progress %ld", progress_during_block);
}

/* ---- back-to-back short syscalls do not starve the P's others ---- */

static _Atomic int syscalling;
static long other_progress;

static void short_syscaller(void *arg)
{
    long kind = (long)(intptr_t)arg;
    while (atomic_load(&syscalling)) {
        gr_syscall_enter();
        if (kind == 0)
            (void)getppid();          /* too short for sysmon to see */
        else
            usleep(100);              /* longer than retake_us */
        gr_syscall_exit();
    }
}

static void other(void *arg)
{
    (void)arg;
    while (atomic_load(&syscalling)) {
        atomic_fetch_add(&counter, 1);
        gr_yield();
    }
}

static void b2b_main(void *arg)
{
    atomic_store(&syscalling, 1);
    atomic_store(&counter, 0);
    gr_go(short_syscaller, arg);
    gr_go(other, NULL);
    /* This goroutine sleeps; the two above share the single P. */
    gr_sleep(300 * MS);
    other_progress = atomic_load(&counter);
    atomic_store(&syscalling, 0);
    gr_sleep(5 * MS);
}

Test(core_timing, back_to_back_tiny_syscalls, .timeout = 20)
{
    RUN(1, b2b_main, (void *)0);
    cr_assert_gt(other_progress, 5, "other goroutine progressed %ld times", other_progress);
}

Test(core_timing, back_to_back_short_syscalls, .timeout = 20)
{
    RUN(1, b2b_main, (void *)1);
    cr_assert_gt(other_progress, 5, "other goroutine progressed %ld times", other_progress);
}

/* ---- a yielding goroutine does not starve Gs queued on a busy P ---- */

static _Atomic int victim_ran;
static _Atomic int yielder_stop;
static int64_t victim_wait;

static void victim(void *arg)
{
    (void)arg;
    atomic_store(&victim_ran, 1);
}

static void hog(void *arg)
{
    (void)arg;
    /* Queue the victim on this P, then run without runtime calls. */
    gr_go(victim, NULL);
    int64_t t0 = gr_nanotime();
    while (!atomic_load(&victim_ran) && gr_nanotime() - t0 < 3000 * MS)
        ;
    victim_wait = gr_nanotime() - t0;
    atomic_store(&yielder_stop, 1);
}

static void yield_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&yielder_stop))
        gr_yield();
}

static void yieldfair_main(void *arg)
{
    (void)arg;
    gr_go(yield_loop, NULL);
    gr_go(hog, NULL);
    while (!atomic_load(&yielder_stop))
        gr_sleep(MS);
}

Test(core_timing, yield_does_not_starve_busy_p_queue, .timeout = 20)
{
    setenv("GRDEBUG", "deadlock=1", 1);
    RUN(2, yieldfair_main, NULL);
    cr_assert_eq(atomic_load(&victim_ran), 1);
    cr_assert_lt(victim_wait, 500 * MS, "victim waited %lld ns", (long long)victim_wait);
}

/* ---- work conservation: a G readied while a P idles wakes that P ---- */

static _Atomic int helper_ran;
static int64_t helper_wait;

static void helper(void *arg)
{
    (void)arg;
    atomic_store(&helper_ran, 1);
}

static void conserve_main(void *arg)
{
    (void)arg;
    gr_sleep(20 * MS);   /* the other P is idle by now */
    gr_go(helper, NULL);
    int64_t t0 = gr_nanotime();
    while (!atomic_load(&helper_ran) && gr_nanotime() - t0 < 2000 * MS)
        ;                 /* no runtime calls: only the idle P can run it */
    helper_wait = gr_nanotime() - t0;
}

Test(core_timing, idle_p_woken_for_new_work, .timeout = 20)
{
    RUN(2, conserve_main, NULL);
    cr_assert_eq(atomic_load(&helper_ran), 1);
    cr_assert_lt(helper_wait, 100 * MS, "helper waited %lld ns", (long long)helper_wait);
}

/* ---- sysmon's preemption request is honoured at the next runtime call ---- */

static _Atomic int other_ran_at;
static int spin_phase;

static void marker(void *arg)
{
    (void)arg;
    atomic_store(&other_ran_at, spin_phase + 1);
}

static void preempt_main(void *arg)
{
    (void)arg;
    gr_go(marker, NULL);      /* queued behind us on the single P */
    spin_phase = 1;
    int64_t t0 = gr_nanotime();
    while (gr_nanotime() - t0 < 50 * MS)
        ;                     /* over the 10 ms slice, no runtime call */
    spin_phase = 2;
    gr_go(helper, NULL);      /* a runtime call: honours the request */
    spin_phase = 3;
    gr_sleep(MS);
}

Test(core_timing, preempt_request_honoured, .timeout = 20)
{
    RUN(1, preempt_main, NULL);
    cr_assert_eq(atomic_load(&other_ran_at), 3, "marker ran in phase %d", atomic_load(&other_ran_at) - 1);
    struct gr_stats st;
    gr_stats(&st);
    cr_assert_geq(st.preempt_requests, 1);
}
