/* tests/sync_cond.c: gr_cond. */
#include "harness.h"

/* ---- producer/consumer stress over a bounded buffer ---- */

#define CAP 8
#define NPROD 4
#define NCONS 4
#define PER 20000

struct pc {
    gr_mutex m;
    gr_cond notfull, notempty;
    gr_waitgroup wg;
    long buf[CAP];
    int head, len;
    long sum_in, sum_out, count_out;
    int producers_left;
};

static void producer(void *arg)
{
    struct pc *q = arg;
    for (long i = 1; i <= PER; i++) {
        gr_mutex_lock(&q->m);
        while (q->len == CAP)
            gr_cond_wait(&q->notfull, &q->m);
        q->buf[(q->head + q->len) % CAP] = i;
        q->len++;
        q->sum_in += i;
        gr_mutex_unlock(&q->m);
        gr_cond_signal(&q->notempty);   /* outside the lock: allowed */
    }
    gr_mutex_lock(&q->m);
    if (--q->producers_left == 0)
        gr_cond_broadcast(&q->notempty);  /* wake consumers to see the end */
    gr_mutex_unlock(&q->m);
    gr_waitgroup_done(&q->wg);
}

static void consumer(void *arg)
{
    struct pc *q = arg;
    for (;;) {
        gr_mutex_lock(&q->m);
        while (q->len == 0 && q->producers_left > 0)
            gr_cond_wait(&q->notempty, &q->m);
        if (q->len == 0) {
            gr_mutex_unlock(&q->m);
            break;
        }
        long v = q->buf[q->head];
        q->head = (q->head + 1) % CAP;
        q->len--;
        q->sum_out += v;
        q->count_out++;
        gr_cond_signal(&q->notfull);     /* inside the lock */
        gr_mutex_unlock(&q->m);
    }
    gr_waitgroup_done(&q->wg);
}

static void pc_main(void *arg)
{
    struct pc *q = arg;
    q->producers_left = NPROD;
    gr_waitgroup_add(&q->wg, NPROD + NCONS);
    for (int i = 0; i < NCONS; i++)
        GO(consumer, q);
    for (int i = 0; i < NPROD; i++)
        GO(producer, q);
    gr_waitgroup_wait(&q->wg);
    CHECK_EQ(q->count_out, (long)NPROD * PER);
    CHECK_EQ(q->sum_out, q->sum_in);
    CHECK_EQ(q->sum_in, (long)NPROD * PER * (PER + 1) / 2);
}

#define PC_INIT { .m = GR_MUTEX_INIT, .notfull = GR_COND_INIT, .notempty = GR_COND_INIT, \
                  .wg = GR_WAITGROUP_INIT }

Test(sync_cond, producer_consumer_1p, .timeout = 60) { struct pc q = PC_INIT; RUN(1, pc_main, &q); }
Test(sync_cond, producer_consumer_2p, .timeout = 60) { struct pc q = PC_INIT; RUN(2, pc_main, &q); }
Test(sync_cond, producer_consumer_4p, .timeout = 60) { struct pc q = PC_INIT; RUN(4, pc_main, &q); }

/* ---- signal wakes in wait order; a late waiter misses an earlier broadcast ---- */

#define NW 8
struct order {
    gr_mutex m;
    gr_cond c;
    gr_waitgroup wg;
    int started;        /* (m) waiters that called wait */
    int woke[NW + 1];   /* (m) wake order */
    int nwoke;          /* (m) */
    int id_next;
};

static void order_waiter(void *arg)
{
    struct order *o = arg;
    gr_mutex_lock(&o->m);
    int id = o->id_next++;
    o->started++;
    gr_cond_wait(&o->c, &o->m);
    o->woke[o->nwoke++] = id;
    gr_mutex_unlock(&o->m);
    gr_waitgroup_done(&o->wg);
}

static int started(struct order *o)
{
    gr_mutex_lock(&o->m);
    int n = o->started;
    gr_mutex_unlock(&o->m);
    return n;
}

static int nwoke(struct order *o)
{
    gr_mutex_lock(&o->m);
    int n = o->nwoke;
    gr_mutex_unlock(&o->m);
    return n;
}

static void order_main(void *arg)
{
    struct order *o = arg;
    /* Start waiters one at a time so their tickets are in id order. */
    for (int i = 0; i < NW; i++) {
        gr_waitgroup_add(&o->wg, 1);
        GO(order_waiter, o);
        while (started(o) < i + 1)
            gr_yield();
    }
    for (int i = 0; i < NW; i++) {
        gr_cond_signal(&o->c);
        for (int k = 0; k < 10000 && nwoke(o) < i + 1; k++)
            gr_sleep(100 * 1000);
        CHECK_EQ(nwoke(o), i + 1);
        gr_sleep(2 * MS);
        CHECK_EQ(nwoke(o), i + 1);      /* one signal, one wake-up */
    }
    gr_waitgroup_wait(&o->wg);
    for (int i = 0; i < NW; i++)
        CHECK_EQ(o->woke[i], i);         /* FIFO by ticket */
    gr_cond_signal(&o->c);               /* nobody waits: a no-op */
    gr_cond_broadcast(&o->c);

    /* A waiter that starts after a broadcast is not woken by it. */
    o->nwoke = 0;
    o->started = 0;
    gr_waitgroup_add(&o->wg, 2);
    GO(order_waiter, o);         /* id NW */
    while (started(o) < 1)
        gr_yield();
    gr_mutex_lock(&o->m);
    gr_cond_broadcast(&o->c);            /* for waiter NW only */
    gr_mutex_unlock(&o->m);
    GO(order_waiter, o);         /* id NW+1: after the broadcast */
    while (started(o) < 2)
        gr_yield();
    for (int k = 0; k < 10000 && nwoke(o) < 1; k++)
        gr_sleep(100 * 1000);
    gr_sleep(10 * MS);
    CHECK_EQ(nwoke(o), 1);
    CHECK_EQ(o->woke[0], NW);
    gr_cond_signal(&o->c);
    gr_waitgroup_wait(&o->wg);
    CHECK_EQ(o->woke[1], NW + 1);
}

Test(sync_cond, signal_order_and_late_waiter_1p, .timeout = 30)
{
    struct order o = { .m = GR_MUTEX_INIT, .c = GR_COND_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(1, order_main, &o);
}

Test(sync_cond, signal_order_and_late_waiter_4p, .timeout = 30)
{
    struct order o = { .m = GR_MUTEX_INIT, .c = GR_COND_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(4, order_main, &o);
}

/* ---- broadcast wakes every waiter; signal from a plain thread ---- */

struct bc {
    gr_mutex m;
    gr_cond c;
    gr_waitgroup wg;
    _Atomic int gen;    /* changed under m, or by the thread without it */
    int waiting;        /* (m) */
};

static void bc_waiter(void *arg)
{
    struct bc *b = arg;
    gr_mutex_lock(&b->m);
    int g = b->gen;
    b->waiting++;
    while (b->gen == g)
        gr_cond_wait(&b->c, &b->m);
    b->waiting--;
    gr_mutex_unlock(&b->m);
    gr_waitgroup_done(&b->wg);
}

static void *thread_broadcast(void *arg)
{
    struct bc *b = arg;
    usleep(5000);
    /* No mutex: a plain thread may not wait for one. Every waiter took its
     * ticket before main saw waiting == 50 (same critical section), so the
     * broadcast reaches them all. */
    atomic_fetch_add(&b->gen, 1);
    gr_cond_broadcast(&b->c);
    return NULL;
}

static void bc_main(void *arg)
{
    struct bc *b = arg;
    for (int round = 0; round < 20; round++) {
        gr_waitgroup_add(&b->wg, 50);
        for (int i = 0; i < 50; i++)
            GO(bc_waiter, b);
        for (;;) {
            gr_mutex_lock(&b->m);
            int w = b->waiting;
            gr_mutex_unlock(&b->m);
            if (w == 50)
                break;
            gr_yield();
        }
        if (round % 2 == 0) {
            gr_mutex_lock(&b->m);
            b->gen++;
            gr_cond_broadcast(&b->c);
            gr_mutex_unlock(&b->m);
        } else {
            pthread_t th;
            CHECK_EQ(pthread_create(&th, NULL, thread_broadcast, b), 0);
            gr_waitgroup_wait(&b->wg);
            pthread_join(th, NULL);
        }
        gr_waitgroup_wait(&b->wg);
    }
}

Test(sync_cond, broadcast_rounds_2p, .timeout = 30)
{
    struct bc b = { .m = GR_MUTEX_INIT, .c = GR_COND_INIT, .wg = GR_WAITGROUP_INIT };
    plain_threads_wake();
    RUN(2, bc_main, &b);
}

/* ---- a later gr_main after goroutines were abandoned in gr_cond_wait ----
 * Their records sit in the cond's notify list on stacks teardown unmaps;
 * sync's teardown hook unlinks them, so the cond works in a new runtime. */

static gr_mutex am = GR_MUTEX_INIT;
static gr_cond ac = GR_COND_INIT;
static _Atomic int aw_waiting;

static void abandoned_waiter(void *arg)
{
    (void)arg;
    gr_mutex_lock(&am);
    atomic_fetch_add(&aw_waiting, 1);
    gr_cond_wait(&ac, &am);     /* never signalled in this runtime */
    gr_mutex_unlock(&am);
}

static void abandon_cond_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        GO(abandoned_waiter, NULL);
    while (atomic_load(&aw_waiting) < 5)
        gr_yield();
    gr_mutex_lock(&am);         /* all five are parked in the list now */
    gr_mutex_unlock(&am);
    gr_cond_signal(&ac);        /* one readied, not yet run: also abandoned */
}

struct again {
    gr_waitgroup wg;
    int woke;                   /* (am) */
};

static void again_waiter(void *arg)
{
    struct again *a = arg;
    gr_mutex_lock(&am);
    atomic_fetch_add(&aw_waiting, 1);
    gr_cond_wait(&ac, &am);
    a->woke++;
    gr_mutex_unlock(&am);
    gr_waitgroup_done(&a->wg);
}

static void second_cond_main(void *arg)
{
    (void)arg;
    struct again a = { .wg = GR_WAITGROUP_INIT };
    atomic_store(&aw_waiting, 0);
    gr_cond_broadcast(&ac);     /* walks the list: must not find old records */
    gr_cond_signal(&ac);
    gr_waitgroup_add(&a.wg, 3);
    for (int i = 0; i < 3; i++)
        GO(again_waiter, &a);
    while (atomic_load(&aw_waiting) < 3)
        gr_yield();
    gr_mutex_lock(&am);
    gr_cond_broadcast(&ac);
    gr_mutex_unlock(&am);
    gr_waitgroup_wait(&a.wg);
    CHECK_EQ(a.woke, 3);
}

Test(sync_cond, second_gr_main_after_abandoned_waiters, .timeout = 20)
{
    RUN(2, abandon_cond_main, NULL);
    RUN(2, second_cond_main, NULL);
}
