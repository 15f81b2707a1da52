/*
 * core_yield: yield between two goroutines (twin: bench/go/core_yield.go).
 *
 * Goroutine 1 and one goroutine it starts each call gr_yield() n times.
 * ns_per_op is the wall time divided by the 2n yields: one yield and one
 * switch to the other goroutine.
 */
#include <goring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define N 1000000

static _Atomic int done;

static void yielder(void *arg)
{
    intptr_t n = (intptr_t)arg;
    for (intptr_t i = 0; i < n; i++)
        gr_yield();
    atomic_store(&done, 1);
}

static int64_t run(intptr_t n)
{
    atomic_store(&done, 0);
    int64_t t0 = bench_now_ns();
    int rc = gr_go(yielder, (void *)n);
    if (rc < 0) {
        fprintf(stderr, "core_yield: gr_go: %d\n", rc);
        exit(1);
    }
    for (intptr_t i = 0; i < n; i++)
        gr_yield();
    while (!atomic_load(&done))
        gr_yield();
    return bench_now_ns() - t0;
}

static void bench_main(void *arg)
{
    (void)arg;
    run(N / 10);
    printf("name=yield ns_per_op=%.2f\n", (double)run(N) / (2.0 * N));
    fflush(stdout);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "core_yield: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
