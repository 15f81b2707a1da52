/*
 * core_sleep: overshoot of gr_sleep(1 ms) (twin: bench/go/core_sleep.go).
 *
 * One goroutine sleeps 1 ms, n times; the overshoot of each sleep is the
 * time it took minus 1 ms. Prints the median and p99 overshoot in us.
 */
#include <goring.h>
#include <stdio.h>

#include "bench_util.h"

#define N 500

static void bench_main(void *arg)
{
    static double over[N];
    (void)arg;
    for (int i = 0; i < 20; i++) /* warm-up */
        gr_sleep(1000000);
    for (int i = 0; i < N; i++) {
        int64_t t0 = bench_now_ns();
        gr_sleep(1000000);
        over[i] = (double)(bench_now_ns() - t0 - 1000000) / 1000.0;
    }
    double p50 = bench_quantile(over, N, 0.5);
    double p99 = bench_quantile(over, N, 0.99);
    printf("name=sleep_1ms overshoot_us=%.2f p99_us=%.2f\n", p50, p99);
    fflush(stdout);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "core_sleep: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
