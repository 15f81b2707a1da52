/*
 * bench/sync_rwmutex.c: gr_rwmutex with 90% readers (Go twin:
 * bench/go/sync_rwmutex.go). Protocol: bench/README.md.
 *   sync_rwmutex_90r  8 goroutines, 250k ops each: every 10th op takes the
 *                     write lock and bumps a counter, the others take the
 *                     read lock and read it; wall time / 2M.
 */
#include <goring.h>

#include "bench_util.h"

#define NG 8
#define PER 250000

static gr_rwmutex rw = GR_RWMUTEX_INIT;
static gr_waitgroup wg = GR_WAITGROUP_INIT;
static long counter;
static volatile long sink;
static int per;

static void worker(void *arg)
{
    (void)arg;
    long s = 0;
    for (int i = 0; i < per; i++) {
        if (i % 10 == 0) {
            gr_rwmutex_lock(&rw);
            counter++;
            gr_rwmutex_unlock(&rw);
        } else {
            gr_rwmutex_rlock(&rw);
            s += counter;
            gr_rwmutex_runlock(&rw);
        }
    }
    sink = s;
    gr_waitgroup_done(&wg);
}

static double run(int n)
{
    per = n;
    counter = 0;
    int64_t t0 = bench_now_ns();
    gr_waitgroup_add(&wg, NG);
    for (int i = 0; i < NG; i++)
        gr_go(worker, NULL);
    gr_waitgroup_wait(&wg);
    int64_t t = bench_now_ns() - t0;
    if (counter != (long)NG * (n / 10)) {
        fprintf(stderr, "counter %ld, want %ld\n", counter, (long)NG * (n / 10));
        exit(1);
    }
    return (double)t / ((double)NG * n);
}

static void bench(void *arg)
{
    (void)arg;
    run(PER / 10);
    printf("name=sync_rwmutex_90r ns_per_op=%.2f\n", run(PER));
    fflush(stdout);
}

int main(void)
{
    int r = gr_main(bench, NULL);
    if (r != 0) {
        fprintf(stderr, "gr_main: %d\n", r);
        return 1;
    }
    return 0;
}
