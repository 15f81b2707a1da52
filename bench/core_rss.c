/*
 * core_rss: resident memory per parked goroutine (twin: bench/go/core_rss.go).
 *
 * Starts 100k goroutines that park in gr_sleep of an hour (a timer, no
 * channel: the core layer alone), reads VmRSS, then 900k more (1M in all)
 * and reads VmRSS again. bytes_per_g is (RSS - RSS before the first spawn)
 * / goroutines parked. The process then leaves with _exit: tearing down a
 * million goroutines is not what this program measures.
 * It takes ~10 s a run and its numbers hardly move between rounds:
 * bench-rounds: 3
 */
#include <goring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_util.h"

static _Atomic int64_t parked;
static int64_t spawned;

static void parker(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&parked, 1, memory_order_relaxed);
    gr_sleep(3600LL * 1000000000LL);
}

static void spawn_to(int64_t n)
{
    for (; spawned < n; spawned++) {
        int rc = gr_go(parker, NULL);
        if (rc < 0) {
            fprintf(stderr, "core_rss: gr_go #%lld: %d\n", (long long)spawned, rc);
            fflush(stdout);
            _exit(1);
        }
    }
    while (atomic_load_explicit(&parked, memory_order_relaxed) < n)
        gr_sleep(1000000);
    gr_sleep(20000000); /* let the last ones reach their park */
}

static void bench_main(void *arg)
{
    static const struct { const char *name; int64_t n; } steps[] = {
        {"rss_parked_100k", 100000}, {"rss_parked_1m", 1000000},
    };
    (void)arg;
    int64_t base = bench_vmrss();
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        spawn_to(steps[i].n);
        printf("name=%s bytes_per_g=%.1f\n", steps[i].name,
               (double)(bench_vmrss() - base) / (double)steps[i].n);
        fflush(stdout);
    }
    _exit(0);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "core_rss: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
