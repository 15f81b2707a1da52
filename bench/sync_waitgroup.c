/*
 * bench/sync_waitgroup.c: gr_waitgroup fan-out (Go twin:
 * bench/go/sync_waitgroup.go). Protocol: bench/README.md.
 *   sync_wg_fanout1000  goroutine 1 adds 1000, starts 1000 goroutines that
 *                       each call done, and waits; 300 rounds; ns per round.
 *   sync_wg_waiters100  100 goroutines wait on a gate group that one done
 *                       releases, then report back through a second group;
 *                       2000 rounds; ns per round (wake-up of many waiters).
 */
#include <goring.h>

#include "bench_util.h"

#define FAN 1000
#define ROUNDS 300
#define NWAIT 100
#define WROUNDS 2000

static gr_waitgroup wg = GR_WAITGROUP_INIT;

static void child(void *arg)
{
    (void)arg;
    gr_waitgroup_done(&wg);
}

static double fanout(int rounds)
{
    int64_t t0 = bench_now_ns();
    for (int r = 0; r < rounds; r++) {
        gr_waitgroup_add(&wg, FAN);
        for (int i = 0; i < FAN; i++)
            gr_go(child, NULL);
        gr_waitgroup_wait(&wg);
    }
    return (double)(bench_now_ns() - t0) / rounds;
}

/* Two gates and two return groups, alternating by round: round r+1's are
 * armed while round r's waiters may still be inside round r's, and a group
 * is re-armed only after every Wait of its previous use returned. */
static gr_waitgroup gates[2] = { GR_WAITGROUP_INIT, GR_WAITGROUP_INIT };
static gr_waitgroup backs[2] = { GR_WAITGROUP_INIT, GR_WAITGROUP_INIT };

static void waiter(void *arg)
{
    int rounds = (int)(intptr_t)arg;
    for (int r = 0; r < rounds; r++) {
        gr_waitgroup_wait(&gates[r % 2]);
        gr_waitgroup_done(&backs[r % 2]);
    }
}

static double waiters(int rounds)
{
    gr_waitgroup_add(&gates[0], 1);
    gr_waitgroup_add(&backs[0], NWAIT);
    for (int i = 0; i < NWAIT; i++)
        gr_go(waiter, (void *)(intptr_t)rounds);
    int64_t t0 = bench_now_ns();
    for (int r = 0; r < rounds; r++) {
        if (r + 1 < rounds) {
            gr_waitgroup_add(&gates[(r + 1) % 2], 1);
            gr_waitgroup_add(&backs[(r + 1) % 2], NWAIT);
        }
        gr_waitgroup_done(&gates[r % 2]);     /* release the waiters */
        gr_waitgroup_wait(&backs[r % 2]);     /* all of them came back */
    }
    return (double)(bench_now_ns() - t0) / rounds;
}

static void bench(void *arg)
{
    (void)arg;
    fanout(ROUNDS / 10);
    printf("name=sync_wg_fanout1000 ns_per_op=%.2f\n", fanout(ROUNDS));
    waiters(WROUNDS / 10);
    printf("name=sync_wg_waiters100 ns_per_op=%.2f\n", waiters(WROUNDS));
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
