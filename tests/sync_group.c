/* tests/sync_group.c: gr_group (errgroup). */
#include "harness.h"

struct job {
    int id;
    int result;             /* what the member returns */
    int64_t delay_ns;
    _Atomic int *ran;
    _Atomic int *saw_cancel;
};

static int member(void *arg, gr_ctx *ctx)
{
    struct job *j = arg;
    atomic_fetch_add(j->ran, 1);
    if (j->result != 0) {
        gr_sleep(j->delay_ns);
        return j->result;
    }
    /* a well-behaved member: works until done or cancelled */
    int r = gr_chan_recv_timeout(gr_ctx_done(ctx), NULL, j->delay_ns);
    if (r == -EPIPE) {
        atomic_fetch_add(j->saw_cancel, 1);
        return gr_ctx_err(ctx);
    }
    return 0;
}

static void all_ok_main(void *arg)
{
    (void)arg;
    _Atomic int ran = 0, saw = 0;
    gr_group *g = gr_group_new(NULL);
    CHECK(g != NULL);
    struct job jobs[20];
    for (int i = 0; i < 20; i++) {
        jobs[i] = (struct job){ i, 0, (i % 4) * MS, &ran, &saw };
        CHECK_EQ(gr_group_go(g, member, &jobs[i]), 0);
    }
    CHECK_EQ(gr_group_wait(g), 0);
    CHECK_EQ(atomic_load(&ran), 20);
    CHECK_EQ(atomic_load(&saw), 0);
    CHECK_EQ(gr_ctx_err(gr_group_ctx(g)), -ECANCELED);   /* wait cancels it */
    gr_group_free(g);
}

Test(sync_group, all_succeed_2p, .timeout = 10) { RUN(2, all_ok_main, NULL); }

static void failing_main(void *arg)
{
    (void)arg;
    _Atomic int ran = 0, saw = 0;
    gr_ctx *parent = gr_ctx_with_cancel(NULL);
    gr_group *g = gr_group_new(parent);
    struct job jobs[12];
    for (int i = 0; i < 12; i++) {
        int res = 0;
        int64_t d = 5000 * MS;           /* would run long: must be cancelled */
        if (i == 5) { res = -EIO; d = 5 * MS; }       /* first failure */
        if (i == 9) { res = -ENOENT; d = 200 * MS; }  /* later failure */
        jobs[i] = (struct job){ i, res, d, &ran, &saw };
        CHECK_EQ(gr_group_go(g, member, &jobs[i]), 0);
    }
    CHECK_EQ(gr_group_wait(g), -EIO);
    CHECK_EQ(atomic_load(&ran), 12);
    CHECK_EQ(atomic_load(&saw), 10);
    CHECK_EQ(gr_ctx_err(gr_group_ctx(g)), -ECANCELED);
    CHECK_EQ(gr_ctx_err(parent), 0);     /* the group's cancel stays below */
    gr_group_free(g);

    /* a parent's cancel reaches the members */
    atomic_store(&ran, 0);
    atomic_store(&saw, 0);
    g = gr_group_new(parent);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){ i, 0, 5000 * MS, &ran, &saw };
        CHECK_EQ(gr_group_go(g, member, &jobs[i]), 0);
    }
    gr_sleep(5 * MS);
    gr_ctx_cancel(parent);
    CHECK_EQ(gr_group_wait(g), -ECANCELED);
    CHECK_EQ(atomic_load(&saw), 4);
    gr_group_free(g);
    gr_ctx_free(parent);
}

Test(sync_group, failing_members_1p, .timeout = 10) { RUN(1, failing_main, NULL); }
Test(sync_group, failing_members_4p, .timeout = 10) { RUN(4, failing_main, NULL); }

/* ---- limit ---- */

struct lim {
    _Atomic int in, max, ran;
};

static int limited(void *arg, gr_ctx *ctx)
{
    (void)ctx;
    struct lim *l = arg;
    int n = atomic_fetch_add(&l->in, 1) + 1;
    int m = atomic_load(&l->max);
    while (n > m && !atomic_compare_exchange_weak(&l->max, &m, n))
        ;
    gr_sleep(1 * MS);
    atomic_fetch_add(&l->ran, 1);
    atomic_fetch_sub(&l->in, 1);
    return 0;
}

static void limit_main(void *arg)
{
    (void)arg;
    struct lim l = { 0 };
    gr_group *g = gr_group_new(NULL);
    gr_group_set_limit(g, 3);
    for (int i = 0; i < 30; i++)
        CHECK_EQ(gr_group_go(g, limited, &l), 0);
    CHECK_EQ(gr_group_wait(g), 0);
    CHECK(atomic_load(&l.max) <= 3);
    CHECK_EQ(atomic_load(&l.ran), 30);

    /* try_go at the limit */
    gr_group_set_limit(g, 1);
    atomic_store(&l.ran, 0);
    CHECK_EQ(gr_group_try_go(g, limited, &l), 0);
    CHECK_EQ(gr_group_try_go(g, limited, &l), -EBUSY);
    CHECK_EQ(gr_group_wait(g), 0);
    CHECK_EQ(atomic_load(&l.ran), 1);
    gr_group_set_limit(g, -1);           /* no limit again */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(gr_group_try_go(g, limited, &l), 0);
    CHECK_EQ(gr_group_wait(g), 0);
    gr_group_free(g);
}

Test(sync_group, limit_2p, .timeout = 20) { RUN(2, limit_main, NULL); }

Test(sync_group, new_free_outside_runtime, .timeout = 5)
{
    gr_group *g = gr_group_new(NULL);
    cr_assert_not_null(g);
    cr_assert_not_null(gr_group_ctx(g));
    cr_assert_eq(gr_ctx_err(gr_group_ctx(g)), 0);
    cr_assert_eq(gr_group_wait(g), 0);   /* no members: no wait */
    gr_group_free(g);
    gr_group_free(NULL);
}

/* wait outside a goroutine while members run: -EPERM, no wait */
static gr_group *eperm_group;
static int eperm_rc = 1;

static int slow_member(void *arg, gr_ctx *ctx)
{
    (void)arg;
    (void)ctx;
    gr_sleep(20 * MS);
    return 0;
}

static void *thread_wait(void *arg)
{
    (void)arg;
    eperm_rc = gr_group_wait(eperm_group);
    return NULL;
}

static void eperm_main(void *arg)
{
    (void)arg;
    eperm_group = gr_group_new(NULL);
    CHECK_EQ(gr_group_go(eperm_group, slow_member, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_wait, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(eperm_rc, -EPERM);
    CHECK_EQ(gr_group_wait(eperm_group), 0);
    gr_group_free(eperm_group);
}

Test(sync_group, wait_outside_goroutine_eperm, .timeout = 10) { RUN(2, eperm_main, NULL); }

/* A gr_group_go blocked by a limit of 0 proceeds once the limit is raised. */
struct zl {
    gr_group *g;
    struct lim l;
    _Atomic int went;
    gr_waitgroup wg;
};

static void zl_goer(void *arg)
{
    struct zl *z = arg;
    CHECK_EQ(gr_group_go(z->g, limited, &z->l), 0);
    atomic_store(&z->went, 1);
    gr_waitgroup_done(&z->wg);
}

static void zero_limit_main(void *arg)
{
    (void)arg;
    struct zl z = { .wg = GR_WAITGROUP_INIT };
    z.g = gr_group_new(NULL);
    gr_group_set_limit(z.g, 0);
    CHECK_EQ(gr_group_try_go(z.g, limited, &z.l), -EBUSY);
    gr_waitgroup_add(&z.wg, 1);
    GO(zl_goer, &z);
    gr_sleep(5 * MS);
    CHECK_EQ(atomic_load(&z.went), 0);
    gr_group_set_limit(z.g, 1);
    gr_waitgroup_wait(&z.wg);
    CHECK_EQ(gr_group_wait(z.g), 0);
    CHECK_EQ(atomic_load(&z.l.ran), 1);
    gr_group_free(z.g);
}

Test(sync_group, raising_a_zero_limit_releases_go_1p, .timeout = 10) { RUN(1, zero_limit_main, NULL); }
