/* tests/sync_sema.c: the goroutine semaphores of sync/sema.c, tested
 * directly. Internal (hidden) functions: this binary links libgoring
 * statically (see Makefile.am), as Go's export_test.go exposes internals. */
#include "harness.h"

#include "sync/sema.h"

struct sq {
    uint32_t sema;
    uint32_t other;            /* same root as sema? see collide */
    gr_waitgroup wg;
    gr_mutex m;
    int order[64], n;          /* (m) wake order */
    _Atomic int queued;
};

struct wa { struct sq *q; int id; uint32_t *word; int flags; };

static void waiter(void *arg)
{
    struct wa *a = arg;
    atomic_fetch_add(&a->q->queued, 1);
    gr__semacquire(a->word, a->flags, GR_WAIT_SEMACQUIRE, "test");
    gr_mutex_lock(&a->q->m);
    a->q->order[a->q->n++] = a->id;
    gr_mutex_unlock(&a->q->m);
    gr_waitgroup_done(&a->q->wg);
}

static int woken(struct sq *q)
{
    gr_mutex_lock(&q->m);
    int n = q->n;
    gr_mutex_unlock(&q->m);
    return n;
}

static void wait_woken(struct sq *q, int n)
{
    for (int i = 0; i < 5000 && woken(q) < n; i++)
        gr_sleep(100 * 1000);
}

/* Start waiters one by one, each parked before the next starts. */
static void start_in_order(struct sq *q, struct wa *a, int n)
{
    for (int i = 0; i < n; i++) {
        gr_waitgroup_add(&q->wg, 1);
        GO(waiter, &a[i]);
        while (atomic_load(&q->queued) < i + 1)
            gr_yield();
        gr_sleep(1 * MS);      /* past its last count check: queued */
    }
}

static void fifo_main(void *arg)
{
    (void)arg;
    struct sq q = { .wg = GR_WAITGROUP_INIT, .m = GR_MUTEX_INIT };

    /* a release before the acquire is remembered */
    gr__semrelease(&q.sema, false);
    gr__semacquire(&q.sema, 0, GR_WAIT_SEMACQUIRE, "test");
    CHECK_EQ(q.sema, 0);

    /* FIFO */
    struct wa a[8];
    for (int i = 0; i < 8; i++)
        a[i] = (struct wa){ &q, i, &q.sema, 0 };
    start_in_order(&q, a, 8);
    for (int i = 0; i < 8; i++) {
        gr__semrelease(&q.sema, false);
        wait_woken(&q, i + 1);
        CHECK_EQ(woken(&q), i + 1);
    }
    gr_waitgroup_wait(&q.wg);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(q.order[i], i);

    /* LIFO: a waiter queued with the flag goes to the front */
    q.n = 0;
    atomic_store(&q.queued, 0);
    for (int i = 0; i < 4; i++)
        a[i] = (struct wa){ &q, i, &q.sema, i == 3 ? GR__SEMA_LIFO : 0 };
    start_in_order(&q, a, 4);
    for (int i = 0; i < 4; i++) {
        gr__semrelease(&q.sema, false);
        wait_woken(&q, i + 1);
    }
    gr_waitgroup_wait(&q.wg);
    CHECK_EQ(q.order[0], 3);
    CHECK_EQ(q.order[1], 0);
    CHECK_EQ(q.order[2], 1);
    CHECK_EQ(q.order[3], 2);

    /* hand-off: the count goes to the waiter, not to a barging acquirer */
    q.n = 0;
    atomic_store(&q.queued, 0);
    a[0] = (struct wa){ &q, 0, &q.sema, 0 };
    start_in_order(&q, a, 1);
    gr__semrelease(&q.sema, true);
    CHECK_EQ(__atomic_load_n(&q.sema, __ATOMIC_SEQ_CST), 0);   /* not left in the word */
    gr_waitgroup_wait(&q.wg);
    CHECK_EQ(q.n, 1);
    CHECK_EQ(q.sema, 0);
}

Test(sync_sema, fifo_lifo_handoff_1p, .timeout = 30) { RUN(1, fifo_main, NULL); }
Test(sync_sema, fifo_lifo_handoff_2p, .timeout = 30) { RUN(2, fifo_main, NULL); }

/* Two words that hash to the same root: waking one leaves the other. */
static uint32_t words[251 * 2 + 1] __attribute__((aligned(8)));

static void collide_main(void *arg)
{
    (void)arg;
    struct sq q = { .wg = GR_WAITGROUP_INIT, .m = GR_MUTEX_INIT };
    uint32_t *w1 = &words[0], *w2 = &words[251 * 2];   /* 251*8 bytes apart */
    struct wa a[6];
    for (int i = 0; i < 6; i++)
        a[i] = (struct wa){ &q, i, i % 2 ? w2 : w1, 0 };
    start_in_order(&q, a, 6);
    gr__semrelease(w2, false);           /* wakes 1 */
    wait_woken(&q, 1);
    gr_sleep(2 * MS);
    CHECK_EQ(woken(&q), 1);
    CHECK_EQ(q.order[0], 1);
    gr__semrelease_n(w1, 3);             /* wakes 0, 2, 4 */
    wait_woken(&q, 4);
    gr_sleep(2 * MS);
    CHECK_EQ(woken(&q), 4);
    gr__semrelease_n(w2, 5);             /* wakes 3, 5; 3 counts left */
    gr_waitgroup_wait(&q.wg);
    CHECK_EQ(__atomic_load_n(w2, __ATOMIC_SEQ_CST), 3);
    CHECK_EQ(__atomic_load_n(w1, __ATOMIC_SEQ_CST), 0);
}

Test(sync_sema, colliding_addresses_2p, .timeout = 30) { RUN(2, collide_main, NULL); }

/* Releases from plain threads; counts conserved under stress. */
struct stress {
    uint32_t sema;
    gr_waitgroup wg;
    _Atomic long acquired;
};

static void acquirer(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < 5000; i++) {
        gr__semacquire(&s->sema, i % 7 == 0 ? GR__SEMA_LIFO : 0, GR_WAIT_SEMACQUIRE, "test");
        atomic_fetch_add(&s->acquired, 1);
    }
    gr_waitgroup_done(&s->wg);
}

static void *releaser_thread(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < 10000; i++) {
        gr__semrelease(&s->sema, false);
        if (i % 1000 == 0)
            usleep(500);
    }
    return NULL;
}

static void releaser_g(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < 10000; i++) {
        gr__semrelease(&s->sema, i % 3 == 0);
        if (i % 100 == 0)
            gr_yield();
    }
    gr_waitgroup_done(&s->wg);
}

static void stress_main(void *arg)
{
    struct stress *s = arg;
    pthread_t th;
    gr_waitgroup_add(&s->wg, 8 + 1);
    for (int i = 0; i < 8; i++)
        GO(acquirer, s);
    GO(releaser_g, s);
    CHECK_EQ(pthread_create(&th, NULL, releaser_thread, s), 0);
    /* 8 x 5000 acquires = 10000 (goroutine) + 10000 (thread) releases + 20000 here */
    for (int i = 0; i < 20000; i++)
        gr__semrelease_n(&s->sema, 1);
    gr_waitgroup_wait(&s->wg);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&s->acquired), 40000);
    CHECK_EQ(__atomic_load_n(&s->sema, __ATOMIC_SEQ_CST), 0);
}

Test(sync_sema, stress_thread_releases_4p, .timeout = 60)
{
    struct stress s = { .wg = GR_WAITGROUP_INIT };
    plain_threads_wake();
    RUN(4, stress_main, &s);
}
