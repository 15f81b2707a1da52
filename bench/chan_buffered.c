/*
 * chan_buffered: throughput of a buffered channel (cap 128) with 1
 * producer and 1 consumer, then 4 and 4 (twin: bench/go/chan_buffered.go).
 *
 * P producers each send N/P int64 values; C consumers receive until the
 * channel is closed (goroutine 1 closes it once every producer is done)
 * and report on a done channel. ns_per_op is the wall time divided by N:
 * one value through the channel (a send and a receive).
 */
#include <goring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define N 2000000
#define CAP 128

struct buf { gr_chan *c, *pdone, *cdone; int64_t per; };

/* Producers and consumers copy *arg (in run()'s frame) before use. */
static void producer(void *arg)
{
    struct buf b = *(struct buf *)arg;
    for (int64_t i = 0; i < b.per; i++)
        gr_chan_send(b.c, &i);
    gr_chan_send(b.pdone, NULL);
}

static void consumer(void *arg)
{
    struct buf b = *(struct buf *)arg;
    int64_t v, sum = 0;
    while (gr_chan_recv(b.c, &v) == 0)
        sum += v;
    gr_chan_send(b.cdone, &sum);
}

static int64_t run(int64_t n, int np, int nc)
{
    struct buf b = { gr_chan_make(sizeof(int64_t), CAP), gr_chan_make(0, 0),
                     gr_chan_make(sizeof(int64_t), 0), n / np };
    if (!b.c || !b.pdone || !b.cdone) {
        fprintf(stderr, "chan_buffered: make failed\n");
        exit(1);
    }
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < nc; i++)
        if (gr_go(consumer, &b) < 0)
            exit(1);
    for (int i = 0; i < np; i++)
        if (gr_go(producer, &b) < 0)
            exit(1);
    for (int i = 0; i < np; i++)
        gr_chan_recv(b.pdone, NULL);
    gr_chan_close(b.c);
    int64_t sum = 0;
    for (int i = 0; i < nc; i++) {
        int64_t s;
        gr_chan_recv(b.cdone, &s);
        sum += s;
    }
    int64_t d = bench_now_ns() - t0;
    if (sum != np * (b.per * (b.per - 1) / 2)) {
        fprintf(stderr, "chan_buffered: bad sum\n");
        exit(1);
    }
    gr_chan_free(b.c);
    gr_chan_free(b.pdone);
    gr_chan_free(b.cdone);
    return d;
}

static void bench_main(void *arg)
{
    (void)arg;
    run(N / 10, 1, 1);
    printf("name=chan_buf128_1x1 ns_per_op=%.2f\n", (double)run(N, 1, 1) / N);
    run(N / 10, 4, 4);
    printf("name=chan_buf128_4x4 ns_per_op=%.2f\n", (double)run(N, 4, 4) / N);
    fflush(stdout);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "chan_buffered: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
