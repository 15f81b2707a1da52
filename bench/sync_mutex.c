/*
 * bench/sync_mutex.c: gr_mutex, contended and uncontended (Go twin:
 * bench/go/sync_mutex.go). Protocol: bench/README.md.
 *   sync_mutex_contended   8 goroutines each lock, bump a shared counter,
 *                          unlock, 250k times; wall time / 2M.
 *   sync_mutex_uncontended one goroutine locks and unlocks 20M times.
 */
#include <goring.h>

#include "bench_util.h"

#define NG 8
#define PER 250000
#define UNCONTENDED 20000000

static gr_mutex mu = GR_MUTEX_INIT;
static gr_waitgroup wg = GR_WAITGROUP_INIT;
static long counter;
static int per;

static void worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < per; i++) {
        gr_mutex_lock(&mu);
        counter++;
        gr_mutex_unlock(&mu);
    }
    gr_waitgroup_done(&wg);
}

static double contended(int n)
{
    per = n;
    counter = 0;
    int64_t t0 = bench_now_ns();
    gr_waitgroup_add(&wg, NG);
    for (int i = 0; i < NG; i++)
        gr_go(worker, NULL);
    gr_waitgroup_wait(&wg);
    int64_t t = bench_now_ns() - t0;
    if (counter != (long)NG * n) {
        fprintf(stderr, "counter %ld, want %ld\n", counter, (long)NG * n);
        exit(1);
    }
    return (double)t / ((double)NG * n);
}

static double uncontended(int n)
{
    gr_mutex m = GR_MUTEX_INIT;
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++) {
        gr_mutex_lock(&m);
        counter++;
        gr_mutex_unlock(&m);
    }
    return (double)(bench_now_ns() - t0) / n;
}

static void bench(void *arg)
{
    (void)arg;
    contended(PER / 10);                  /* warm-up */
    printf("name=sync_mutex_contended ns_per_op=%.2f\n", contended(PER));
    uncontended(UNCONTENDED / 10);
    printf("name=sync_mutex_uncontended ns_per_op=%.2f\n", uncontended(UNCONTENDED));
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
