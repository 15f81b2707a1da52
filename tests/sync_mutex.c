/* tests/sync_mutex.c: gr_mutex. */
#include "harness.h"

#define NG 8
#define ITERS 100000

struct count {
    gr_mutex m;
    gr_waitgroup wg;
    long n;             /* plain: the mutex is what protects it */
    long inside;        /* goroutines in the critical section */
    int iters;
    bool yield_inside;
};

static void counter(void *arg)
{
    struct count *c = arg;
    for (int i = 0; i < c->iters; i++) {
        gr_mutex_lock(&c->m);
        c->inside++;
        CHECK_EQ(c->inside, 1);
        c->n++;
        if (c->yield_inside && (i & 1023) == 0)
            gr_yield();   /* hold it across a switch now and then */
        c->inside--;
        gr_mutex_unlock(&c->m);
    }
    gr_waitgroup_done(&c->wg);
}

static void count_main(void *arg)
{
    struct count *c = arg;
    gr_waitgroup_add(&c->wg, NG);
    for (int i = 0; i < NG; i++)
        GO(counter, c);
    gr_waitgroup_wait(&c->wg);
    gr_mutex_lock(&c->m);
    CHECK_EQ(c->n, (long)NG * c->iters);
    gr_mutex_unlock(&c->m);
}

static void count_on(int procs, bool yield_inside)
{
    struct count c = { .m = GR_MUTEX_INIT, .wg = GR_WAITGROUP_INIT, .iters = ITERS,
                       .yield_inside = yield_inside };
    RUN(procs, count_main, &c);
    cr_assert_eq(c.n, (long)NG * ITERS);
}

Test(sync_mutex, count_8x100k_1p, .timeout = 60) { count_on(1, false); }
Test(sync_mutex, count_8x100k_2p, .timeout = 60) { count_on(2, false); }
Test(sync_mutex, count_8x100k_4p, .timeout = 60) { count_on(4, false); }
Test(sync_mutex, count_yield_inside_2p, .timeout = 60) { count_on(2, true); }
Test(sync_mutex, count_yield_inside_4p, .timeout = 60) { count_on(4, true); }

Test(sync_mutex, static_init_is_zero, .timeout = 5)
{
    gr_mutex m = GR_MUTEX_INIT;
    gr_mutex z;
    memset(&z, 0, sizeof z);
    cr_assert(memcmp(&m, &z, sizeof m) == 0);
    cr_assert_eq(sizeof(gr_mutex), 8);
}

/* trylock and lock/unlock of a free mutex need no goroutine */
Test(sync_mutex, trylock_outside_runtime, .timeout = 5)
{
    gr_mutex m = GR_MUTEX_INIT;
    cr_assert_eq(gr_mutex_trylock(&m), 0);
    cr_assert_eq(gr_mutex_trylock(&m), -EBUSY);
    gr_mutex_unlock(&m);
    gr_mutex_lock(&m);
    cr_assert_eq(gr_mutex_trylock(&m), -EBUSY);
    gr_mutex_unlock(&m);
    cr_assert_eq(gr_mutex_trylock(&m), 0);
    gr_mutex_unlock(&m);
}

/* ---- unlock by another goroutine, and by a plain thread ---- */

struct handoff {
    gr_mutex m;
    gr_waitgroup wg;
    _Atomic int stage;
    pthread_t th;
};

static void locker(void *arg)
{
    struct handoff *h = arg;
    gr_mutex_lock(&h->m);          /* held by main; unlocked elsewhere */
    atomic_store(&h->stage, 2);
    gr_mutex_unlock(&h->m);
    gr_waitgroup_done(&h->wg);
}

static void *thread_unlock(void *arg)
{
    struct handoff *h = arg;
    usleep(20000);
    gr_mutex_unlock(&h->m);        /* not a goroutine: only wakes */
    return NULL;
}

static void unlock_elsewhere_main(void *arg)
{
    struct handoff *h = arg;
    /* another goroutine unlocks */
    gr_mutex_lock(&h->m);
    gr_waitgroup_add(&h->wg, 1);
    GO(locker, h);
    gr_sleep(5 * MS);
    CHECK_EQ(atomic_load(&h->stage), 0);
    gr_mutex_unlock(&h->m);
    gr_waitgroup_wait(&h->wg);
    CHECK_EQ(atomic_load(&h->stage), 2);

    /* a plain thread unlocks a mutex a goroutine waits for */
    atomic_store(&h->stage, 0);
    gr_mutex_lock(&h->m);
    gr_waitgroup_add(&h->wg, 1);
    GO(locker, h);
    CHECK_EQ(pthread_create(&h->th, NULL, thread_unlock, h), 0);
    gr_waitgroup_wait(&h->wg);
    CHECK_EQ(atomic_load(&h->stage), 2);
    pthread_join(h->th, NULL);
    CHECK_EQ(gr_mutex_trylock(&h->m), 0);
    gr_mutex_unlock(&h->m);
}

Test(sync_mutex, unlock_by_other_goroutine_and_thread_1p, .timeout = 30)
{
    struct handoff h = { .m = GR_MUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    plain_threads_wake();
    RUN(1, unlock_elsewhere_main, &h);
}

Test(sync_mutex, unlock_by_other_goroutine_and_thread_2p, .timeout = 30)
{
    struct handoff h = { .m = GR_MUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    plain_threads_wake();
    RUN(2, unlock_elsewhere_main, &h);
}

/* ---- many mutexes, many goroutines: exercises the sema table ---- */

#define NM 64
#define NW 64
struct many {
    gr_mutex m[NM];
    long n[NM];
    gr_waitgroup wg;
};

static void many_worker(void *arg)
{
    struct many *s = arg;
    uint32_t x = (uint32_t)gr_id() * 2654435761u;
    for (int i = 0; i < 20000; i++) {
        x = x * 1664525u + 1013904223u;
        int k = (x >> 8) % 4;    /* a few hot locks: real contention */
        if (x & 1)
            k = (x >> 12) % NM;
        gr_mutex_lock(&s->m[k]);
        s->n[k]++;
        gr_mutex_unlock(&s->m[k]);
    }
    gr_waitgroup_done(&s->wg);
}

static void many_main(void *arg)
{
    struct many *s = arg;
    gr_waitgroup_add(&s->wg, NW);
    for (int i = 0; i < NW; i++)
        GO(many_worker, s);
    gr_waitgroup_wait(&s->wg);
    long t = 0;
    for (int i = 0; i < NM; i++)
        t += s->n[i];
    CHECK_EQ(t, (long)NW * 20000);
}

Test(sync_mutex, many_mutexes_4p, .timeout = 60)
{
    static struct many s;   /* zero: every mutex GR_MUTEX_INIT */
    RUN(4, many_main, &s);
}

/* ---- trylock under contention keeps exclusion ---- */

struct trys {
    gr_mutex m;
    gr_waitgroup wg;
    long n, got, inside;
};

static void trier(void *arg)
{
    struct trys *t = arg;
    for (int i = 0; i < 20000; i++) {
        if (gr_mutex_trylock(&t->m) == 0) {
            t->inside++;
            CHECK_EQ(t->inside, 1);
            t->got++;
            t->inside--;
            gr_mutex_unlock(&t->m);
        } else {
            gr_mutex_lock(&t->m);
            t->n++;
            gr_mutex_unlock(&t->m);
        }
    }
    gr_waitgroup_done(&t->wg);
}

static void trys_main(void *arg)
{
    struct trys *t = arg;
    gr_waitgroup_add(&t->wg, 6);
    for (int i = 0; i < 6; i++)
        GO(trier, t);
    gr_waitgroup_wait(&t->wg);
    CHECK_EQ(t->n + t->got, 6 * 20000);
}

Test(sync_mutex, trylock_contended_2p, .timeout = 60)
{
    struct trys t = { .m = GR_MUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(2, trys_main, &t);
}

/* ---- a later gr_main after goroutines were abandoned on a mutex ----
 * The abandoned waiters' records would stay in the semaphore table while
 * their stacks are unmapped; sync's teardown hook forgets them. */

static gr_mutex abandoned = GR_MUTEX_INIT;

static void blocked_forever(void *arg)
{
    (void)arg;
    gr_mutex_lock(&abandoned);   /* main holds it and returns */
}

static void abandon_main(void *arg)
{
    (void)arg;
    gr_mutex_lock(&abandoned);
    for (int i = 0; i < 4; i++)
        GO(blocked_forever, NULL);
    gr_sleep(5 * MS);            /* they are parked on the semaphore */
}

static void second_main(void *arg)
{
    (void)arg;
    gr_mutex m = GR_MUTEX_INIT;
    /* the abandoned mutex still says "locked, 4 waiters": unlock it and
     * use it again; its semaphore root must not hold the old records */
    gr_mutex_unlock(&abandoned);
    gr_mutex_lock(&m);
    gr_mutex_unlock(&m);
    for (int i = 0; i < 1000; i++) {
        gr_mutex_lock(&abandoned);
        gr_mutex_unlock(&abandoned);
    }
}

Test(sync_mutex, second_gr_main_after_abandoned_waiters, .timeout = 20)
{
    RUN(2, abandon_main, NULL);
    RUN(2, second_main, NULL);
}
