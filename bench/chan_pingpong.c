/*
 * chan_pingpong: unbuffered ping-pong round trip (twin:
 * bench/go/chan_pingpong.go).
 *
 * Goroutine 1 sends an int on `ping` and receives it back on `pong`; one
 * other goroutine receives on ping and sends on pong. ns_per_op is the wall
 * time of one round trip: two unbuffered hand-offs, two parks, two wakes.
 */
#include <goring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define N 500000

struct pp { gr_chan *ping, *pong, *done; };

static void echo(void *arg)
{
    struct pp *p = arg;
    int v;
    while (gr_chan_recv(p->ping, &v) == 0)
        gr_chan_send(p->pong, &v);
    gr_chan_send(p->done, NULL);
}

static int64_t run(int n)
{
    struct pp p = { gr_chan_make(sizeof(int), 0), gr_chan_make(sizeof(int), 0),
                    gr_chan_make(0, 0) };
    if (!p.ping || !p.pong || !p.done || gr_go(echo, &p) < 0) {
        fprintf(stderr, "chan_pingpong: setup failed\n");
        exit(1);
    }
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++) {
        int v = i;
        gr_chan_send(p.ping, &v);
        gr_chan_recv(p.pong, &v);
        if (v != i) {
            fprintf(stderr, "chan_pingpong: got %d want %d\n", v, i);
            exit(1);
        }
    }
    int64_t d = bench_now_ns() - t0;
    gr_chan_close(p.ping);
    gr_chan_recv(p.done, NULL);
    gr_chan_free(p.ping);
    gr_chan_free(p.pong);
    gr_chan_free(p.done);
    return d;
}

static void bench_main(void *arg)
{
    (void)arg;
    run(N / 10);
    printf("name=chan_pingpong ns_per_op=%.2f\n", (double)run(N) / N);
    fflush(stdout);
}

int main(void)
{
    int rc = gr_main(bench_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "chan_pingpong: gr_main: %d\n", rc);
        return 1;
    }
    return 0;
}
