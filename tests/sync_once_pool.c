/* tests/sync_once_pool.c: gr_once and gr_pool. */
#include "harness.h"

#include <stdlib.h>

/* ---- once with a slow function and many racing callers ---- */

#define RACERS 64
struct onceq {
    gr_once once;
    gr_waitgroup wg;
    _Atomic int calls;
    _Atomic int finished;     /* set by fn just before it returns */
    _Atomic int early;        /* callers that returned before fn finished */
    _Atomic int go;
};

static void slow_fn(void *arg)
{
    struct onceq *q = arg;
    atomic_fetch_add(&q->calls, 1);
    gr_sleep(30 * MS);
    atomic_store(&q->finished, 1);
}

static void racer(void *arg)
{
    struct onceq *q = arg;
    while (!atomic_load(&q->go))
        gr_yield();
    gr_once_do(&q->once, slow_fn, q);
    if (!atomic_load(&q->finished))
        atomic_fetch_add(&q->early, 1);
    gr_waitgroup_done(&q->wg);
}

static void once_main(void *arg)
{
    struct onceq *q = arg;
    gr_waitgroup_add(&q->wg, RACERS);
    for (int i = 0; i < RACERS; i++)
        GO(racer, q);
    atomic_store(&q->go, 1);
    gr_waitgroup_wait(&q->wg);
    CHECK_EQ(atomic_load(&q->calls), 1);
    CHECK_EQ(atomic_load(&q->early), 0);
    gr_once_do(&q->once, slow_fn, q);     /* done: returns at once */
    CHECK_EQ(atomic_load(&q->calls), 1);
}

Test(sync_once, slow_fn_racers_1p, .timeout = 30)
{
    struct onceq q = { .once = GR_ONCE_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(1, once_main, &q);
}

Test(sync_once, slow_fn_racers_4p, .timeout = 30)
{
    struct onceq q = { .once = GR_ONCE_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(4, once_main, &q);
}

static void count_fn(void *arg) { (*(int *)arg)++; }

Test(sync_once, outside_runtime, .timeout = 5)
{
    gr_once o = GR_ONCE_INIT;
    int n = 0;
    cr_assert_eq(sizeof o, 12);
    gr_once_do(&o, count_fn, &n);
    gr_once_do(&o, count_fn, &n);
    cr_assert_eq(n, 1);
}

/* ---- pool ---- */

struct counts {
    _Atomic int made, freed;
};

static void *obj_new(void *arg)
{
    struct counts *c = arg;
    atomic_fetch_add(&c->made, 1);
    return malloc(64);
}

static void obj_free(void *arg, void *obj)
{
    struct counts *c = arg;
    atomic_fetch_add(&c->freed, 1);
    free(obj);
}

Test(sync_pool, get_put_free_outside_runtime, .timeout = 10)
{
    struct counts c = { 0 };
    gr_pool *p = gr_pool_new(obj_new, obj_free, &c);
    cr_assert_not_null(p);
    void *a = gr_pool_get(p);
    cr_assert_not_null(a);
    cr_assert_eq(c.made, 1);
    gr_pool_put(p, a);
    void *b = gr_pool_get(p);
    cr_assert_eq(b, a, "a put object comes back");
    cr_assert_eq(c.made, 1);
    gr_pool_put(p, b);
    gr_pool_put(p, NULL);            /* ignored */
    /* overfill: everything beyond the bound goes to free_fn */
    enum { N = 1000 };
    static void *objs[N];
    for (int i = 0; i < N; i++)
        objs[i] = gr_pool_get(p);
    for (int i = 0; i < N; i++)
        gr_pool_put(p, objs[i]);
    int made = atomic_load(&c.made), freed = atomic_load(&c.freed);
    cr_assert(freed > 0, "bounded: some were dropped");
    gr_pool_free(p);
    cr_assert_eq(atomic_load(&c.freed), made, "free hands every cached object to free_fn");
}

Test(sync_pool, no_new_fn_returns_null, .timeout = 5)
{
    gr_pool *p = gr_pool_new(NULL, NULL, NULL);
    cr_assert_not_null(p);
    cr_assert_null(gr_pool_get(p));
    int x;
    gr_pool_put(p, &x);
    cr_assert_eq(gr_pool_get(p), &x);
    gr_pool_free(p);
    gr_pool_free(NULL);
}

struct pstress {
    gr_pool *p;
    struct counts c;
    gr_waitgroup wg;
    _Atomic int bad;
};

static void pool_worker(void *arg)
{
    struct pstress *s = arg;
    void *held[4];
    for (int i = 0; i < 20000; i++) {
        int k = i % 4 + 1;
        for (int j = 0; j < k; j++) {
            held[j] = gr_pool_get(s->p);
            /* exclusive ownership: stamp it and check it after a yield */
            *(uint64_t *)held[j] = gr_id();
        }
        if (i % 64 == 0)
            gr_yield();
        for (int j = 0; j < k; j++) {
            if (*(uint64_t *)held[j] != gr_id())
                atomic_fetch_add(&s->bad, 1);
            gr_pool_put(s->p, held[j]);
        }
    }
    gr_waitgroup_done(&s->wg);
}

static void pstress_main(void *arg)
{
    struct pstress *s = arg;
    s->p = gr_pool_new(obj_new, obj_free, &s->c);
    CHECK(s->p != NULL);
    gr_waitgroup_add(&s->wg, 8);
    for (int i = 0; i < 8; i++)
        GO(pool_worker, s);
    gr_waitgroup_wait(&s->wg);
    CHECK_EQ(atomic_load(&s->bad), 0);
    int made = atomic_load(&s->c.made);
    CHECK(made <= 8 * 4 + 8 * 64);    /* reuse, not one object per get */
    gr_pool_free(s->p);
    CHECK_EQ(atomic_load(&s->c.freed), made);
}

Test(sync_pool, stress_4p, .timeout = 60)
{
    struct pstress s = { .wg = GR_WAITGROUP_INIT };
    RUN(4, pstress_main, &s);
}

Test(sync_pool, stress_1p, .timeout = 60)
{
    struct pstress s = { .wg = GR_WAITGROUP_INIT };
    RUN(1, pstress_main, &s);
}
