/*
 * examples/handoff.c: the syscall hand-off experiment.
 *
 * K goroutines count as fast as they can (yielding every 1024 counts);
 * J goroutines make blocking system calls bracketed by gr_syscall_enter /
 * gr_syscall_exit: a pipe read that a plain timer thread satisfies every
 * 5 ms, then a 5 ms nanosleep. Three phases, each a fresh runtime:
 *
 *   baseline         counters only
 *   handoff=1        counters + blockers; sysmon retakes a P blocked in a
 *                    call and hands it to another thread (Go's behaviour)
 *   handoff=0        counters + blockers; the P stays with the blocked
 *                    thread, so the counters stall
 *
 * Then, with one P, one counter and one blocker, the hand-off latency: from
 * the blocker's gr_syscall_enter to the counter running on the P it left
 * (median and p99 over many calls).
 *
 *   examples/handoff [--procs N] [--counters K] [--blockers J]
 *                    [--seconds S] [--retake-us U]
 */
#include <goring.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXB 64

static int procs = 2, ncounters = 4, nblockers = 4, retake_us = 20;
static double seconds = 1.0;

static _Atomic int running;
static _Atomic unsigned long counts;
static int pipes[MAXB][2];
static _Atomic int timer_stop;

/* ---- the goroutines ---- */

static void counter(void *arg)
{
    (void)arg;
    unsigned long local = 0;
    while (atomic_load_explicit(&running, memory_order_relaxed)) {
        for (int i = 0; i < 1024; i++)
            __asm__ volatile("" ::: "memory");
        local += 1024;
        atomic_fetch_add_explicit(&counts, 1024, memory_order_relaxed);
        gr_yield();
    }
    (void)local;
}

static void blocker(void *arg)
{
    int k = (int)(intptr_t)arg;
    char c;
    while (atomic_load_explicit(&running, memory_order_relaxed)) {
        gr_syscall_enter();
        ssize_t r = read(pipes[k][0], &c, 1);      /* the timer thread writes */
        gr_syscall_exit();
        (void)r;
        gr_syscall_enter();
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        gr_syscall_exit();
    }
}

static void *timer_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&timer_stop)) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        for (int k = 0; k < nblockers; k++) {
            char c = 'x';
            ssize_t w = write(pipes[k][1], &c, 1);
            (void)w;
        }
    }
    return NULL;
}

struct phase {
    const char *name;
    int blockers;
    unsigned long counts;
    double secs;
    unsigned long long ms_created, retakes, handoffs;
};

static struct phase *cur;

static void phase_main(void *arg)
{
    (void)arg;
    atomic_store(&running, 1);
    atomic_store(&counts, 0);
    for (int i = 0; i < ncounters; i++)
        gr_go(counter, NULL);
    for (int k = 0; k < cur->blockers; k++)
        gr_go(blocker, (void *)(intptr_t)k);
    int64_t t0 = gr_nanotime();
    gr_sleep((int64_t)(seconds * 1e9));
    cur->counts = atomic_load(&counts);
    cur->secs = (double)(gr_nanotime() - t0) / 1e9;
    atomic_store(&running, 0);
    gr_sleep(20 * 1000 * 1000);   /* blockers see the flag within 10 ms */
    struct gr_stats st;
    gr_stats(&st);
    cur->ms_created = st.ms_created;
    cur->retakes = st.retakes;
    cur->handoffs = st.handoffs;
}

static int run_phase(struct phase *ph, int handoff)
{
    char env[64];
    snprintf(env, sizeof env, "handoff=%d,retake_us=%d", handoff, retake_us);
    setenv("GRDEBUG", env, 1);
    cur = ph;
    return gr_main(phase_main, NULL);
}

/* ---- hand-off latency, one P ---- */

#define NLAT 400
static int64_t lat[NLAT];
static _Atomic int64_t syscall_start;   /* 0: none pending */
static _Atomic int nlat;

static void lat_counter(void *arg)
{
    (void)arg;
    while (atomic_load_explicit(&running, memory_order_relaxed)) {
        int64_t s = atomic_load_explicit(&syscall_start, memory_order_acquire);
        if (s != 0) {
            int64_t now = gr_nanotime();
            int i = atomic_load(&nlat);
            if (i < NLAT && atomic_compare_exchange_strong(&syscall_start, &s, 0)) {
                lat[i] = now - s;
                atomic_store(&nlat, i + 1);
            }
        }
        gr_yield();
    }
}

static void lat_blocker(void *arg)
{
    (void)arg;
    while (atomic_load(&nlat) < NLAT) {
        atomic_store_explicit(&syscall_start, gr_nanotime(), memory_order_release);
        gr_syscall_enter();
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
        gr_syscall_exit();
        atomic_store(&syscall_start, 0);
        gr_yield();
    }
    atomic_store(&running, 0);
}

static void lat_main(void *arg)
{
    (void)arg;
    atomic_store(&running, 1);
    gr_go(lat_counter, NULL);
    gr_go(lat_blocker, NULL);
    while (atomic_load(&running))
        gr_sleep(10 * 1000 * 1000);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: handoff [--procs N] [--counters K] [--blockers J] [--seconds S] [--retake-us U]\n");
}

static int num_arg(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(argv[i], "--procs") && !num_arg(argv[i + 1], 1, 256, &v)) {
            procs = (int)v;
        } else if (i + 1 < argc && !strcmp(argv[i], "--counters") && !num_arg(argv[i + 1], 1, 1000, &v)) {
            ncounters = (int)v;
        } else if (i + 1 < argc && !strcmp(argv[i], "--blockers") && !num_arg(argv[i + 1], 1, MAXB, &v)) {
            nblockers = (int)v;
        } else if (i + 1 < argc && !strcmp(argv[i], "--retake-us") && !num_arg(argv[i + 1], 0, 1000000, &v)) {
            retake_us = (int)v;
        } else if (i + 1 < argc && !strcmp(argv[i], "--seconds")) {
            seconds = strtod(argv[i + 1], NULL);
            if (!(seconds > 0 && seconds <= 60)) {
                usage(stderr);
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    char pbuf[16];
    snprintf(pbuf, sizeof pbuf, "%d", procs);
    setenv("GR_MAXPROCS", pbuf, 1);
    for (int k = 0; k < nblockers; k++)
        if (pipe(pipes[k]) != 0) {
            perror("pipe");
            return 1;
        }
    pthread_t th;
    pthread_create(&th, NULL, timer_thread, NULL);

    struct phase ph[3] = {
        {"baseline (no blockers)", 0, 0, 0, 0, 0, 0},
        {"blockers, handoff=1", nblockers, 0, 0, 0, 0, 0},
        {"blockers, handoff=0", nblockers, 0, 0, 0, 0, 0},
    };
    int rc = run_phase(&ph[0], 1);
    if (rc == 0)
        rc = run_phase(&ph[1], 1);
    if (rc == 0)
        rc = run_phase(&ph[2], 0);
    if (rc != 0) {
        fprintf(stderr, "handoff: gr_main: %s\n", strerror(-rc));
        return 1;
    }
    printf("handoff experiment: GR_MAXPROCS=%d, %d counting goroutines, %d blockers "
           "(pipe read + 5 ms nanosleep), %.1f s per phase, retake_us=%d\n",
           procs, ncounters, nblockers, seconds, retake_us);
    printf("%-26s %14s %12s %10s %8s %9s\n", "phase", "counts/s (M)", "vs baseline", "Ms created", "retakes",
           "handoffs");
    double base = ph[0].counts / ph[0].secs;
    for (int i = 0; i < 3; i++) {
        double rate = ph[i].counts / ph[i].secs;
        printf("%-26s %14.2f %12.2f %10llu %8llu %9llu\n", ph[i].name, rate / 1e6, base > 0 ? rate / base : 0,
               ph[i].ms_created, ph[i].retakes, ph[i].handoffs);
    }

    /* Latency: one P, one counter, one blocker. */
    setenv("GR_MAXPROCS", "1", 1);
    char env[64];
    snprintf(env, sizeof env, "handoff=1,retake_us=%d", retake_us);
    setenv("GRDEBUG", env, 1);
    rc = gr_main(lat_main, NULL);
    atomic_store(&timer_stop, 1);
    pthread_join(th, NULL);
    int n = atomic_load(&nlat);
    if (rc != 0 || n == 0) {
        printf("handoff latency: no samples\n");
        return 1;
    }
    qsort(lat, (size_t)n, sizeof lat[0], cmp64);
    printf("handoff latency (GR_MAXPROCS=1, syscall start -> P runs another goroutine): "
           "median %.1f us, p99 %.1f us, max %.1f us over %d calls\n",
           lat[n / 2] / 1e3, lat[(n * 99) / 100] / 1e3, lat[n - 1] / 1e3, n);
    int stalled = ph[2].counts / ph[2].secs < 0.5 * base;
    int kept = ph[1].counts / ph[1].secs > 0.5 * base;
    printf("with handoff off the counters %s; with it on they %s\n", stalled ? "stall" : "did NOT stall",
           kept ? "keep counting" : "did NOT keep counting");
    return 0;
}
