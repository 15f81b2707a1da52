/*
 * chan_select: a 2-way select receiving from two producers (twin:
 * bench/go/chan_select.go).
 *
 * Two goroutines each send N/2 ints on their own unbuffered channel;
 * goroutine 1 runs N selects over both receives. ns_per_op is the wall time
 * per select: each one takes a value handed over by a parked producer, or
 * parks on both channels until one arrives.
 */
#include <goring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define N 1000000

struct prod { gr_chan *c; int n; };

static void producer(void *arg)
{
    /* A copy: *arg is in run()'s frame, which the next run() reuses while
     * this goroutine may still be returning from its last send. */
    struct prod p = *(struct prod *)arg;
    for (int i = 0; i < p.n; i++)
        gr_chan_send(p.c, &i);
}

static int64_t run(int n)
{
    struct prod a = { gr_chan_make(sizeof(int), 0), n / 2 };
    struct prod b = { gr_chan_make(sizeof(int), 0), n / 2 };
    if (!a.c || !b.c || gr_go(producer, &a) < 0 || gr_go(producer, &b) < 0) {
        fprintf(stderr, "chan_select: setup failed\n");
        exit(1);
    }
    int va, vb;
    struct gr_case cs[2] = { { GR_RECV, a.c, &va, 0 }, { GR_RECV, b.c, &vb, 0 } };
    int64_t got[2] = { 0, 0 };
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++) {
        int k = gr_select(cs, 2, -1);
        if (k < 0) {
            fprintf(stderr, "chan_select: %d\n", k);
            exit(1);
        }
        got[k]++;
    }
    int64_t d = bench_now_ns() - t0;
    if (got[0] != n / 2 || got[1] != n / 2) {
        fprintf(stderr, "chan_select: bad counts\n");
        exit(1);
    }
    gr_chan_free(a.c);
    gr_chan_free(b.c);
    return d;
}

static void bench_main(void *arg)
{
    (void)arg;
    run(N / 10);
    printf("name=chan_select2 ns_per_op=%.2f\n", (double)run(N) / N);
    fflush(stdout);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "chan_select: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
