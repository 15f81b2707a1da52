/* tests/sync_weighted.c: gr_sem, the weighted semaphore. */
#include "harness.h"

Test(sync_weighted, basics_outside_runtime, .timeout = 5)
{
    errno = 0;
    cr_assert_null(gr_sem_new(-1));
    cr_assert_eq(errno, EINVAL);
    gr_sem *s = gr_sem_new(10);
    cr_assert_not_null(s);
    cr_assert_eq(gr_sem_try_acquire(s, 4), 0);
    cr_assert_eq(gr_sem_try_acquire(s, 6), 0);
    cr_assert_eq(gr_sem_try_acquire(s, 1), -EBUSY);
    cr_assert_eq(gr_sem_try_acquire(s, 0), 0);
    cr_assert_eq(gr_sem_try_acquire(s, -1), -EINVAL);
    cr_assert_eq(gr_sem_acquire(s, 11, NULL), -EPERM);   /* would wait for ever (x/sync) */
    cr_assert_eq(gr_sem_acquire(s, 1, NULL), -EPERM);   /* would wait */
    gr_sem_release(s, 10);
    cr_assert_eq(gr_sem_acquire(s, 10, NULL), 0);
    gr_sem_release(s, 10);
    gr_ctx *c = gr_ctx_with_cancel(NULL);
    gr_ctx_cancel(c);
    cr_assert_eq(gr_sem_acquire(s, 1, c), -ECANCELED, "a done ctx wins over a free sem");
    gr_ctx_free(c);
    gr_sem_free(s);
    gr_sem_free(NULL);
}

/* ---- bound on concurrency under weighted acquires ---- */

#define SIZE 10
struct bound {
    gr_sem *s;
    gr_waitgroup wg;
    _Atomic long in_use, max_in_use;
};

static void weight_worker(void *arg)
{
    struct bound *b = arg;
    for (int i = 0; i < 2000; i++) {
        int64_t n = 1 + (gr_id() + i) % 4;
        CHECK_EQ(gr_sem_acquire(b->s, n, NULL), 0);
        long u = atomic_fetch_add(&b->in_use, n) + n;
        CHECK(u <= SIZE);
        long m = atomic_load(&b->max_in_use);
        while (u > m && !atomic_compare_exchange_weak(&b->max_in_use, &m, u))
            ;
        if (i % 16 == 0)
            gr_yield();
        atomic_fetch_sub(&b->in_use, n);
        gr_sem_release(b->s, n);
    }
    gr_waitgroup_done(&b->wg);
}

static void bound_main(void *arg)
{
    struct bound *b = arg;
    b->s = gr_sem_new(SIZE);
    gr_waitgroup_add(&b->wg, 12);
    for (int i = 0; i < 12; i++)
        GO(weight_worker, b);
    gr_waitgroup_wait(&b->wg);
    CHECK(atomic_load(&b->max_in_use) <= SIZE);
    CHECK_EQ(gr_sem_try_acquire(b->s, SIZE), 0);
    gr_sem_release(b->s, SIZE);
    gr_sem_free(b->s);
}

Test(sync_weighted, bound_1p, .timeout = 60) { struct bound b = { .wg = GR_WAITGROUP_INIT }; RUN(1, bound_main, &b); }
Test(sync_weighted, bound_4p, .timeout = 60) { struct bound b = { .wg = GR_WAITGROUP_INIT }; RUN(4, bound_main, &b); }

/* ---- FIFO: a big request at the head is not overtaken ---- */

struct fifo {
    gr_sem *s;
    gr_waitgroup wg;
    gr_mutex m;
    int order[3], n;
    _Atomic int arrived;    /* waiters about to call acquire */
};

struct fifo_arg { struct fifo *f; int id; int64_t w; };

static void fifo_waiter(void *arg)
{
    struct fifo_arg *a = arg;
    atomic_fetch_add(&a->f->arrived, 1);   /* nothing yields from here to the queue */
    CHECK_EQ(gr_sem_acquire(a->f->s, a->w, NULL), 0);
    gr_mutex_lock(&a->f->m);
    a->f->order[a->f->n++] = a->id;
    gr_mutex_unlock(&a->f->m);
    gr_sem_release(a->f->s, a->w);
    gr_waitgroup_done(&a->f->wg);
}

static void fifo_main(void *arg)
{
    struct fifo *f = arg;
    f->s = gr_sem_new(4);
    CHECK_EQ(gr_sem_acquire(f->s, 3, NULL), 0);     /* 1 left */
    struct fifo_arg big = { f, 0, 4 }, small = { f, 1, 1 };
    gr_waitgroup_add(&f->wg, 2);
    GO(fifo_waiter, &big);
    while (atomic_load(&f->arrived) < 1)
        gr_yield();
    gr_sleep(2 * MS);
    GO(fifo_waiter, &small);   /* 1 would fit, but big is first */
    while (atomic_load(&f->arrived) < 2)
        gr_yield();
    gr_sleep(2 * MS);
    gr_mutex_lock(&f->m);
    CHECK_EQ(f->n, 0);
    gr_mutex_unlock(&f->m);
    CHECK_EQ(gr_sem_try_acquire(f->s, 1), -EBUSY);  /* waiters first */
    gr_sem_release(f->s, 3);
    gr_waitgroup_wait(&f->wg);
    CHECK_EQ(f->n, 2);
    CHECK_EQ(f->order[0], 0);
    CHECK_EQ(f->order[1], 1);
    gr_sem_free(f->s);
}

Test(sync_weighted, fifo_big_first_2p, .timeout = 10)
{
    struct fifo f = { .wg = GR_WAITGROUP_INIT, .m = GR_MUTEX_INIT };
    RUN(2, fifo_main, &f);
}

/* ---- acquire cancelled by ctx and by deadline; the head leaving ---- */

struct canc {
    gr_sem *s;
    gr_ctx *ctx;
    gr_waitgroup wg;
    _Atomic int cancelled, acquired;
    _Atomic int arrived;    /* waiters about to call acquire */
};

static void canc_waiter(void *arg)
{
    struct canc *c = arg;
    atomic_fetch_add(&c->arrived, 1);
    int r = gr_sem_acquire(c->s, 2, c->ctx);
    if (r == 0) {
        atomic_fetch_add(&c->acquired, 1);
        gr_sem_release(c->s, 2);
    } else {
        CHECK_EQ(r, gr_ctx_err(c->ctx));
        atomic_fetch_add(&c->cancelled, 1);
    }
    gr_waitgroup_done(&c->wg);
}

static void small_waiter(void *arg)
{
    struct canc *c = arg;
    CHECK_EQ(gr_sem_acquire(c->s, 1, NULL), 0);
    atomic_fetch_add(&c->acquired, 1);
    gr_sem_release(c->s, 1);
    gr_waitgroup_done(&c->wg);
}

static void canc_main(void *arg)
{
    (void)arg;
    struct canc c = { .wg = GR_WAITGROUP_INIT };
    c.s = gr_sem_new(2);
    CHECK_EQ(gr_sem_acquire(c.s, 1, NULL), 0);       /* 1 left: 2 cannot fit */

    /* cancel */
    c.ctx = gr_ctx_with_cancel(NULL);
    gr_waitgroup_add(&c.wg, 10);
    for (int i = 0; i < 10; i++)
        GO(canc_waiter, &c);
    while (atomic_load(&c.arrived) < 10)
        gr_yield();
    gr_sleep(2 * MS);
    /* a small waiter behind the big ones: admitted when the head leaves */
    gr_waitgroup_add(&c.wg, 1);
    GO(small_waiter, &c);
    gr_sleep(5 * MS);
    CHECK_EQ(atomic_load(&c.acquired), 0);
    gr_ctx_cancel(c.ctx);
    gr_waitgroup_wait(&c.wg);
    CHECK_EQ(atomic_load(&c.cancelled), 10);
    CHECK_EQ(atomic_load(&c.acquired), 1);
    gr_ctx_free(c.ctx);

    /* deadline */
    atomic_store(&c.cancelled, 0);
    c.ctx = gr_ctx_with_timeout(NULL, 10 * MS);
    gr_waitgroup_add(&c.wg, 5);
    for (int i = 0; i < 5; i++)
        GO(canc_waiter, &c);
    gr_waitgroup_wait(&c.wg);
    CHECK_EQ(atomic_load(&c.cancelled), 5);
    CHECK_EQ(gr_ctx_err(c.ctx), -ETIMEDOUT);
    gr_ctx_free(c.ctx);

    /* nothing was taken by the failed acquires */
    gr_sem_release(c.s, 1);
    CHECK_EQ(gr_sem_try_acquire(c.s, 2), 0);
    gr_sem_release(c.s, 2);
    gr_sem_free(c.s);
}

Test(sync_weighted, cancel_and_deadline_1p, .timeout = 10) { RUN(1, canc_main, NULL); }
Test(sync_weighted, cancel_and_deadline_4p, .timeout = 10) { RUN(4, canc_main, NULL); }

/* ---- cancel racing release: tokens are never lost ---- */

struct race {
    gr_sem *s;
    gr_waitgroup wg;
};

static void race_worker(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 300; i++) {
        gr_ctx *c = gr_ctx_with_timeout(NULL, (i % 4) * 50 * 1000);
        if (gr_sem_acquire(r->s, 1 + i % 2, c) == 0) {
            if (i % 3 == 0)
                gr_yield();
            gr_sem_release(r->s, 1 + i % 2);
        }
        gr_ctx_free(c);
    }
    gr_waitgroup_done(&r->wg);
}

static void race_main(void *arg)
{
    (void)arg;
    struct race r = { .wg = GR_WAITGROUP_INIT };
    r.s = gr_sem_new(3);
    gr_waitgroup_add(&r.wg, 8);
    for (int i = 0; i < 8; i++)
        GO(race_worker, &r);
    gr_waitgroup_wait(&r.wg);
    CHECK_EQ(gr_sem_try_acquire(r.s, 3), 0);    /* all tokens back */
    gr_sem_release(r.s, 3);
    gr_sem_free(r.s);
}

Test(sync_weighted, cancel_release_race_4p, .timeout = 60) { RUN(4, race_main, NULL); }

/* ---- a later gr_main after goroutines were abandoned in gr_sem_acquire ----
 * Their records sit in the semaphore's queue and in their context's watch
 * list; sync's teardown hook takes them out of both. */

static gr_sem *asem;
static gr_ctx *actx;
static _Atomic int a_arrived;

static void abandoned_acquirer(void *arg)
{
    atomic_fetch_add(&a_arrived, 1);
    gr_sem_acquire(asem, 2, arg ? actx : NULL);   /* never satisfied here */
}

static void abandon_sem_main(void *arg)
{
    (void)arg;
    asem = gr_sem_new(2);
    actx = gr_ctx_with_cancel(NULL);
    CHECK_EQ(gr_sem_acquire(asem, 1, NULL), 0);    /* 1 left: 2 waits */
    for (int i = 0; i < 6; i++)
        GO(abandoned_acquirer, (void *)(intptr_t)(i % 2));
    while (atomic_load(&a_arrived) < 6)
        gr_yield();
    gr_sleep(2 * MS);
}

static void second_sem_main(void *arg)
{
    (void)arg;
    gr_ctx_cancel(actx);          /* walks the watch list: must be empty */
    gr_sem_release(asem, 1);      /* walks the queue: must be empty */
    CHECK_EQ(gr_sem_try_acquire(asem, 2), 0);
    gr_sem_release(asem, 2);
    gr_sem_free(asem);            /* fatal if the queue were not empty */
    gr_ctx_free(actx);
}

Test(sync_weighted, second_gr_main_after_abandoned_waiters, .timeout = 20)
{
    RUN(2, abandon_sem_main, NULL);
    RUN(2, second_sem_main, NULL);
}
