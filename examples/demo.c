/*
 * examples/demo.c: a tour of the scheduler. Spawns a tree of goroutines
 * that sleep and yield, then prints what the runtime did (gr_stats).
 *
 *   examples/demo [--goroutines N] [--procs P]
 */
#include <goring.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long ngoroutines = 100000;
static _Atomic long done;
static _Atomic long sum;

static void leaf(void *arg)
{
    long i = (long)(intptr_t)arg;
    if (i % 1000 == 0)
        gr_sleep(1000000);        /* 1 ms */
    else if (i % 7 == 0)
        gr_yield();
    atomic_fetch_add(&sum, i);
    atomic_fetch_add(&done, 1);
}

static void spawner(void *arg)
{
    long lo = ((long *)arg)[0], hi = ((long *)arg)[1];
    for (long i = lo; i < hi; i++)
        while (gr_go(leaf, (void *)(intptr_t)i) != 0)
            gr_yield();
}

static void main_g(void *arg)
{
    (void)arg;
    int64_t t0 = gr_nanotime();
    enum { SPAWNERS = 8 };
    static long ranges[SPAWNERS][2];
    for (int s = 0; s < SPAWNERS; s++) {
        ranges[s][0] = ngoroutines * s / SPAWNERS;
        ranges[s][1] = ngoroutines * (s + 1) / SPAWNERS;
        gr_go(spawner, ranges[s]);
    }
    while (atomic_load(&done) < ngoroutines)
        gr_sleep(1000000);
    int64_t dt = gr_nanotime() - t0;
    struct gr_stats st;
    gr_stats(&st);
    printf("goring %s demo: %ld goroutines on %u Ps in %.1f ms (%.0f ns per goroutine)\n",
           gr_version(), ngoroutines, st.ps, dt / 1e6, (double)dt / (double)ngoroutines);
    printf("  sum check: %s\n", atomic_load(&sum) == ngoroutines * (ngoroutines - 1) / 2 ? "ok" : "WRONG");
    printf("  threads created %llu, steals %llu, timers fired %llu, handoffs %llu\n",
           (unsigned long long)st.ms_created, (unsigned long long)st.steals,
           (unsigned long long)st.timers_fired, (unsigned long long)st.handoffs);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: demo [--goroutines N] [--procs P]\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--goroutines") && i + 1 < argc) {
            ngoroutines = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--procs") && i + 1 < argc) {
            setenv("GR_MAXPROCS", argv[++i], 1);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (ngoroutines <= 0) {
        usage(stderr);
        return 2;
    }
    int r = gr_main(main_g, NULL);
    if (r < 0) {
        fprintf(stderr, "demo: gr_main: %s\n", strerror(-r));
        return 1;
    }
    return atomic_load(&sum) == ngoroutines * (ngoroutines - 1) / 2 ? 0 : 1;
}
