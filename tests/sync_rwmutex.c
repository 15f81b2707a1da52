/* tests/sync_rwmutex.c: gr_rwmutex. */
#include "harness.h"

/* ---- counts: writers exclusive, readers never see a write in progress ---- */

struct rwc {
    gr_rwmutex rw;
    gr_waitgroup wg;
    long a, b;               /* written together under the write lock */
    _Atomic int writers_in, readers_in;
};

static void rw_writer(void *arg)
{
    struct rwc *c = arg;
    for (int i = 0; i < 20000; i++) {
        gr_rwmutex_lock(&c->rw);
        CHECK_EQ(atomic_fetch_add(&c->writers_in, 1), 0);
        CHECK_EQ(atomic_load(&c->readers_in), 0);
        c->a++;
        if ((i & 255) == 0)
            gr_yield();
        c->b++;
        atomic_fetch_sub(&c->writers_in, 1);
        gr_rwmutex_unlock(&c->rw);
    }
    gr_waitgroup_done(&c->wg);
}

static void rw_reader(void *arg)
{
    struct rwc *c = arg;
    for (int i = 0; i < 40000; i++) {
        gr_rwmutex_rlock(&c->rw);
        atomic_fetch_add(&c->readers_in, 1);
        CHECK_EQ(atomic_load(&c->writers_in), 0);
        CHECK_EQ(c->a, c->b);
        atomic_fetch_sub(&c->readers_in, 1);
        gr_rwmutex_runlock(&c->rw);
    }
    gr_waitgroup_done(&c->wg);
}

static void rwc_main(void *arg)
{
    struct rwc *c = arg;
    gr_waitgroup_add(&c->wg, 2 + 6);
    for (int i = 0; i < 2; i++)
        GO(rw_writer, c);
    for (int i = 0; i < 6; i++)
        GO(rw_reader, c);
    gr_waitgroup_wait(&c->wg);
    CHECK_EQ(c->a, 2 * 20000);
    CHECK_EQ(c->b, 2 * 20000);
}

Test(sync_rwmutex, exclusion_1p, .timeout = 60)
{
    struct rwc c = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(1, rwc_main, &c);
}

Test(sync_rwmutex, exclusion_2p, .timeout = 60)
{
    struct rwc c = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(2, rwc_main, &c);
}

Test(sync_rwmutex, exclusion_4p, .timeout = 60)
{
    struct rwc c = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(4, rwc_main, &c);
}

/* ---- try forms ---- */

Test(sync_rwmutex, try_forms_outside_runtime, .timeout = 5)
{
    gr_rwmutex rw = GR_RWMUTEX_INIT;
    cr_assert_eq(sizeof rw, 24);
    cr_assert_eq(gr_rwmutex_tryrlock(&rw), 0);
    cr_assert_eq(gr_rwmutex_tryrlock(&rw), 0);
    cr_assert_eq(gr_rwmutex_trylock(&rw), -EBUSY);
    gr_rwmutex_runlock(&rw);
    gr_rwmutex_runlock(&rw);
    cr_assert_eq(gr_rwmutex_trylock(&rw), 0);
    cr_assert_eq(gr_rwmutex_tryrlock(&rw), -EBUSY);
    cr_assert_eq(gr_rwmutex_trylock(&rw), -EBUSY);
    gr_rwmutex_unlock(&rw);
    gr_rwmutex_rlock(&rw);     /* free: no wait, so fine outside a goroutine */
    gr_rwmutex_runlock(&rw);
    gr_rwmutex_lock(&rw);
    gr_rwmutex_unlock(&rw);
}

/* ---- a waiting writer holds back new readers; readers released together ---- */

#define NR 16
struct gate {
    gr_rwmutex rw;
    gr_waitgroup wg;
    _Atomic int inside, max_inside, writer_done, readers_after;
    _Atomic bool stop;
};

/* Readers that queue behind a writer must all get in at once when it
 * unlocks: each waits (bounded) inside until all NR are in. */
static void gate_reader(void *arg)
{
    struct gate *g = arg;
    gr_rwmutex_rlock(&g->rw);
    int n = atomic_fetch_add(&g->inside, 1) + 1;
    int m = atomic_load(&g->max_inside);
    while (n > m && !atomic_compare_exchange_weak(&g->max_inside, &m, n))
        ;
    for (int i = 0; i < 2000 && atomic_load(&g->inside) < NR; i++)
        gr_sleep(100 * 1000);
    CHECK_EQ(atomic_load(&g->writer_done), 1);
    gr_rwmutex_runlock(&g->rw);
    gr_waitgroup_done(&g->wg);
}

static void gate_main(void *arg)
{
    struct gate *g = arg;
    gr_rwmutex_lock(&g->rw);
    gr_waitgroup_add(&g->wg, NR);
    for (int i = 0; i < NR; i++)
        GO(gate_reader, g);
    gr_sleep(20 * MS);          /* let them all queue */
    CHECK_EQ(atomic_load(&g->inside), 0);
    CHECK_EQ(gr_rwmutex_tryrlock(&g->rw), -EBUSY);
    atomic_store(&g->writer_done, 1);
    gr_rwmutex_unlock(&g->rw);
    gr_waitgroup_wait(&g->wg);
    CHECK_EQ(atomic_load(&g->max_inside), NR);
}

Test(sync_rwmutex, readers_released_together_1p, .timeout = 30)
{
    struct gate g = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(1, gate_main, &g);
}

Test(sync_rwmutex, readers_released_together_4p, .timeout = 30)
{
    struct gate g = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(4, gate_main, &g);
}

/* A stream of overlapping readers: there is always a reader inside, so a
 * writer that did not hold back new readers would never get in. */
static void stream_reader(void *arg)
{
    struct gate *g = arg;
    while (!atomic_load(&g->stop)) {
        gr_rwmutex_rlock(&g->rw);
        if (atomic_load(&g->writer_done))
            atomic_fetch_add(&g->readers_after, 1);
        gr_sleep(200 * 1000);   /* hold it a while: readers overlap */
        gr_rwmutex_runlock(&g->rw);
    }
    gr_waitgroup_done(&g->wg);
}

static void stream_main(void *arg)
{
    struct gate *g = arg;
    gr_waitgroup_add(&g->wg, 8);
    for (int i = 0; i < 8; i++)
        GO(stream_reader, g);
    gr_sleep(10 * MS);
    for (int w = 0; w < 20; w++) {   /* the writer gets in, again and again */
        gr_rwmutex_lock(&g->rw);
        atomic_store(&g->writer_done, 1);
        gr_rwmutex_unlock(&g->rw);
        gr_sleep(1 * MS);
    }
    gr_sleep(5 * MS);
    atomic_store(&g->stop, true);
    gr_waitgroup_wait(&g->wg);
    CHECK(atomic_load(&g->readers_after) > 0);   /* readers went on after */
}

Test(sync_rwmutex, writer_not_starved_by_readers_1p, .timeout = 30)
{
    struct gate g = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(1, stream_main, &g);
}

Test(sync_rwmutex, writer_not_starved_by_readers_4p, .timeout = 30)
{
    struct gate g = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(4, stream_main, &g);
}

/* A pending writer blocks a new reader even while readers are inside. */
struct pend {
    gr_rwmutex rw;
    gr_waitgroup wg;
    _Atomic int stage;
};

static void pend_writer(void *arg)
{
    struct pend *p = arg;
    atomic_store(&p->stage, 1);
    gr_rwmutex_lock(&p->rw);
    atomic_store(&p->stage, 2);
    gr_rwmutex_unlock(&p->rw);
    gr_waitgroup_done(&p->wg);
}

static void pend_main(void *arg)
{
    struct pend *p = arg;
    gr_rwmutex_rlock(&p->rw);
    gr_waitgroup_add(&p->wg, 1);
    GO(pend_writer, p);
    while (atomic_load(&p->stage) < 1)
        gr_yield();
    /* once the writer has announced itself, new readers are held back */
    int r = 0;
    for (int i = 0; i < 2000 && (r = gr_rwmutex_tryrlock(&p->rw)) == 0; i++) {
        gr_rwmutex_runlock(&p->rw);
        gr_sleep(1 * MS);
    }
    CHECK_EQ(r, -EBUSY);
    CHECK_EQ(atomic_load(&p->stage), 1);         /* writer waits for us */
    gr_rwmutex_runlock(&p->rw);
    gr_waitgroup_wait(&p->wg);
    CHECK_EQ(atomic_load(&p->stage), 2);
    CHECK_EQ(gr_rwmutex_tryrlock(&p->rw), 0);
    gr_rwmutex_runlock(&p->rw);
}

Test(sync_rwmutex, pending_writer_blocks_readers_2p, .timeout = 30)
{
    struct pend p = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(2, pend_main, &p);
}
