/*
 * core_spawn: goroutine spawn + exit (twin: bench/go/core_spawn.go).
 *
 * spawn_batch: goroutine 1 starts 1000 goroutines that each bump a counter
 * and exit, then yields until all have run; repeated. ns_per_op is the wall
 * time per goroutine (spawn + run + exit + reuse of its G and stack).
 * spawn_chain: each goroutine starts the next and exits (Go's
 * BenchmarkCreateGoroutines); ns_per_op is the wall time per link.
 * GR_MAXPROCS comes from the environment (bench/run.sh sets it).
 */
#include <goring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_util.h"

#define BATCH 1000
#define N 1000000

static _Atomic int64_t done;

static void child(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
}

static void must_go(gr_fn fn, void *arg)
{
    int rc = gr_go(fn, arg);
    if (rc < 0) {
        fprintf(stderr, "core_spawn: gr_go: %d\n", rc);
        exit(1);
    }
}

static int64_t spawn_batch(int64_t total)
{
    atomic_store(&done, 0);
    int64_t t0 = bench_now_ns();
    for (int64_t started = 0; started < total;) {
        for (int i = 0; i < BATCH; i++)
            must_go(child, NULL);
        started += BATCH;
        while (atomic_load_explicit(&done, memory_order_relaxed) < started)
            gr_yield();
    }
    return bench_now_ns() - t0;
}

static _Atomic int chain_done;

static void link_fn(void *arg)
{
    intptr_t n = (intptr_t)arg;
    if (n == 0) {
        atomic_store(&chain_done, 1);
        return;
    }
    must_go(link_fn, (void *)(n - 1));
}

static int64_t spawn_chain(int64_t total)
{
    atomic_store(&chain_done, 0);
    int64_t t0 = bench_now_ns();
    must_go(link_fn, (void *)(intptr_t)total);
    while (!atomic_load(&chain_done))
        gr_sleep(50000);
    return bench_now_ns() - t0;
}

static void bench_main(void *arg)
{
    (void)arg;
    spawn_batch(N / 10); /* warm-up: fill the G and stack caches */
    printf("name=spawn_batch ns_per_op=%.2f\n", (double)spawn_batch(N) / N);
    fflush(stdout);
    spawn_chain(N / 10);
    printf("name=spawn_chain ns_per_op=%.2f\n", (double)spawn_chain(N) / N);
    fflush(stdout);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "core_spawn: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
