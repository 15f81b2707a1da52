/* tests/sync_waitgroup.c: gr_waitgroup. */
#include "harness.h"

Test(sync_waitgroup, zero_counter_wait_returns_anywhere, .timeout = 5)
{
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    cr_assert_eq(sizeof wg, 16);
    gr_waitgroup_wait(&wg);          /* zero: no wait, no goroutine needed */
    gr_waitgroup_add(&wg, 3);
    gr_waitgroup_add(&wg, -2);
    gr_waitgroup_done(&wg);
    gr_waitgroup_wait(&wg);
}

/* ---- rounds with many waiters ---- */

#define ROUNDS 50
#define WORKERS 40
#define WAITERS 30

struct rounds {
    gr_waitgroup wg;        /* the one under test, reused every round */
    gr_waitgroup waiters;   /* waiters of the round have returned */
    _Atomic int finished;   /* workers done this round */
    _Atomic int bad;
    int round;
};

static void rworker(void *arg)
{
    struct rounds *r = arg;
    if (gr_id() % 3 == 0)
        gr_sleep(100 * 1000);
    else
        gr_yield();
    atomic_fetch_add(&r->finished, 1);
    gr_waitgroup_done(&r->wg);
}

static void rwaiter(void *arg)
{
    struct rounds *r = arg;
    gr_waitgroup_wait(&r->wg);
    /* every worker of this round is done before any waiter returns */
    if (atomic_load(&r->finished) != WORKERS)
        atomic_fetch_add(&r->bad, 1);
    gr_waitgroup_done(&r->waiters);
}

static void rounds_main(void *arg)
{
    struct rounds *r = arg;
    for (r->round = 0; r->round < ROUNDS; r->round++) {
        atomic_store(&r->finished, 0);
        gr_waitgroup_add(&r->wg, WORKERS);
        gr_waitgroup_add(&r->waiters, WAITERS);
        for (int i = 0; i < WAITERS; i++)
            GO(rwaiter, r);
        for (int i = 0; i < WORKERS; i++)
            GO(rworker, r);
        gr_waitgroup_wait(&r->waiters);   /* only then may the next round add */
        CHECK_EQ(atomic_load(&r->finished), WORKERS);
    }
    CHECK_EQ(atomic_load(&r->bad), 0);
}

Test(sync_waitgroup, rounds_many_waiters_1p, .timeout = 60)
{
    struct rounds r = { .wg = GR_WAITGROUP_INIT, .waiters = GR_WAITGROUP_INIT };
    RUN(1, rounds_main, &r);
}

Test(sync_waitgroup, rounds_many_waiters_2p, .timeout = 60)
{
    struct rounds r = { .wg = GR_WAITGROUP_INIT, .waiters = GR_WAITGROUP_INIT };
    RUN(2, rounds_main, &r);
}

Test(sync_waitgroup, rounds_many_waiters_4p, .timeout = 60)
{
    struct rounds r = { .wg = GR_WAITGROUP_INIT, .waiters = GR_WAITGROUP_INIT };
    RUN(4, rounds_main, &r);
}

/* ---- done from plain threads (not goroutines) ---- */

#define NTH 4
struct threads {
    gr_waitgroup wg;
    _Atomic int done;
    pthread_t th[NTH];
};

static void *thread_done(void *arg)
{
    struct threads *t = arg;
    for (int i = 0; i < 250; i++) {
        if (i % 50 == 0)
            usleep(1000);
        atomic_fetch_add(&t->done, 1);
        gr_waitgroup_done(&t->wg);
    }
    return NULL;
}

static void threads_main(void *arg)
{
    struct threads *t = arg;
    gr_waitgroup_add(&t->wg, NTH * 250);
    for (int i = 0; i < NTH; i++)
        CHECK_EQ(pthread_create(&t->th[i], NULL, thread_done, t), 0);
    gr_waitgroup_wait(&t->wg);
    CHECK_EQ(atomic_load(&t->done), NTH * 250);
    for (int i = 0; i < NTH; i++)
        pthread_join(t->th[i], NULL);
}

Test(sync_waitgroup, done_from_threads_2p, .timeout = 30)
{
    struct threads t = { .wg = GR_WAITGROUP_INIT };
    plain_threads_wake();
    RUN(2, threads_main, &t);
}

/* ---- fan-out: 1000 goroutines ---- */

struct fan {
    gr_waitgroup wg;
    _Atomic long sum;
};

static void fan_child(void *arg)
{
    struct fan *f = arg;
    atomic_fetch_add(&f->sum, 1);
    gr_waitgroup_done(&f->wg);
}

static void fan_main(void *arg)
{
    struct fan *f = arg;
    for (int round = 0; round < 20; round++) {
        gr_waitgroup_add(&f->wg, 1000);
        for (int i = 0; i < 1000; i++)
            GO(fan_child, f);
        gr_waitgroup_wait(&f->wg);
        CHECK_EQ(atomic_load(&f->sum), 1000L * (round + 1));
    }
}

Test(sync_waitgroup, fan_out_1000_4p, .timeout = 60)
{
    struct fan f = { .wg = GR_WAITGROUP_INIT };
    RUN(4, fan_main, &f);
}
