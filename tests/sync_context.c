/* tests/sync_context.c: gr_ctx. */
#include "harness.h"

static bool is_done(gr_ctx *c)
{
    gr_chan *d = gr_ctx_done(c);
    return d && gr_chan_try_recv(d, NULL) == -EPIPE;
}

Test(sync_context, background, .timeout = 5)
{
    gr_ctx *bg = gr_ctx_background();
    cr_assert_not_null(bg);
    cr_assert_eq(gr_ctx_background(), bg);
    cr_assert_null(gr_ctx_done(bg));
    cr_assert_eq(gr_ctx_err(bg), 0);
    cr_assert_eq(gr_ctx_deadline(bg), -1);
    gr_ctx_cancel(bg);
    gr_ctx_free(bg);
    cr_assert_eq(gr_ctx_err(bg), 0);
    gr_ctx_cancel(NULL);
    gr_ctx_free(NULL);
}

/* ---- a tree cancelled at different levels ---- */

static void tree_main(void *arg)
{
    (void)arg;
    gr_ctx *root = gr_ctx_with_cancel(NULL);
    CHECK(root != NULL);
    gr_ctx *a = gr_ctx_with_cancel(root), *b = gr_ctx_with_cancel(root);
    gr_ctx *a1 = gr_ctx_with_cancel(a), *a2 = gr_ctx_with_cancel(a);
    gr_ctx *b1 = gr_ctx_with_cancel(b);
    gr_ctx *a11 = gr_ctx_with_cancel(a1);
    CHECK(a && b && a1 && a2 && b1 && a11);
    gr_ctx *all[] = { root, a, b, a1, a2, b1, a11 };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        CHECK_EQ(gr_ctx_err(all[i]), 0);
        CHECK(!is_done(all[i]));
        CHECK(gr_ctx_done(all[i]) != NULL);
        CHECK_EQ(gr_ctx_done(all[i]), gr_ctx_done(all[i]));
    }

    /* cancelling a leaf's parent: its subtree only */
    gr_ctx_cancel(a1);
    CHECK_EQ(gr_ctx_err(a1), -ECANCELED);
    CHECK_EQ(gr_ctx_err(a11), -ECANCELED);
    CHECK(is_done(a1) && is_done(a11));
    CHECK_EQ(gr_ctx_err(a), 0);
    CHECK_EQ(gr_ctx_err(a2), 0);
    CHECK_EQ(gr_ctx_err(root), 0);
    gr_ctx_cancel(a1);               /* idempotent */
    CHECK_EQ(gr_ctx_err(a1), -ECANCELED);

    /* a goroutine blocked on a done channel is woken by the root's cancel */
    gr_ctx *late = gr_ctx_with_cancel(b1);
    gr_ctx_cancel(root);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        CHECK_EQ(gr_ctx_err(all[i]), -ECANCELED);
        CHECK(is_done(all[i]));
    }
    CHECK_EQ(gr_ctx_err(late), -ECANCELED);

    /* born of a cancelled parent: done at once */
    gr_ctx *born = gr_ctx_with_cancel(a2);
    CHECK_EQ(gr_ctx_err(born), -ECANCELED);
    CHECK(is_done(born));

    /* free in a mixed order: parents before children is fine */
    gr_ctx_free(root);
    gr_ctx_free(a);
    CHECK_EQ(gr_ctx_err(a11), -ECANCELED);   /* still valid */
    gr_ctx_free(a11);
    gr_ctx_free(born);
    gr_ctx_free(a2);
    gr_ctx_free(a1);
    gr_ctx_free(late);
    gr_ctx_free(b1);
    gr_ctx_free(b);
}

Test(sync_context, tree_cancel_1p, .timeout = 10) { RUN(1, tree_main, NULL); }
Test(sync_context, tree_cancel_4p, .timeout = 10) { RUN(4, tree_main, NULL); }

/* ---- waiters on done channels, cancelled from a goroutine and a thread ---- */

struct waiters {
    gr_ctx *ctx;
    gr_waitgroup wg;
    _Atomic int woke;
};

static void done_waiter(void *arg)
{
    struct waiters *w = arg;
    int r = gr_chan_recv(gr_ctx_done(w->ctx), NULL);
    CHECK_EQ(r, -EPIPE);
    CHECK(gr_ctx_err(w->ctx) != 0);
    atomic_fetch_add(&w->woke, 1);
    gr_waitgroup_done(&w->wg);
}

static void select_waiter(void *arg)
{
    struct waiters *w = arg;
    struct gr_case cs[2] = {
        { .op = GR_RECV, .ch = NULL },                   /* never chosen */
        { .op = GR_RECV, .ch = gr_ctx_done(w->ctx) },
    };
    int r = gr_select(cs, 2, -1);
    CHECK_EQ(r, 1);
    CHECK_EQ(cs[1].result, -EPIPE);
    atomic_fetch_add(&w->woke, 1);
    gr_waitgroup_done(&w->wg);
}

static void *thread_cancel(void *arg)
{
    struct waiters *w = arg;
    usleep(10000);
    gr_ctx_cancel(w->ctx);
    return NULL;
}

static void waiters_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 2; round++) {
        struct waiters w = { .wg = GR_WAITGROUP_INIT };
        gr_ctx *parent = gr_ctx_with_cancel(NULL);
        w.ctx = gr_ctx_with_cancel(parent);
        gr_waitgroup_add(&w.wg, 20);
        for (int i = 0; i < 10; i++) {
            GO(done_waiter, &w);
            GO(select_waiter, &w);
        }
        gr_sleep(5 * MS);
        CHECK_EQ(atomic_load(&w.woke), 0);
        pthread_t th;
        if (round == 0) {
            gr_ctx_cancel(parent);
        } else {
            CHECK_EQ(pthread_create(&th, NULL, thread_cancel, &w), 0);
        }
        gr_waitgroup_wait(&w.wg);
        CHECK_EQ(atomic_load(&w.woke), 20);
        if (round == 1)
            pthread_join(th, NULL);
        CHECK_EQ(gr_ctx_err(w.ctx), -ECANCELED);
        gr_ctx_free(w.ctx);
        gr_ctx_free(parent);
    }
}

Test(sync_context, done_waiters_2p, .timeout = 10)
{
    plain_threads_wake();
    RUN(2, waiters_main, NULL);
}

/* ---- deadlines and timeouts ---- */

static void timeout_main(void *arg)
{
    (void)arg;
    int64_t t0 = gr_nanotime();
    gr_ctx *parent = gr_ctx_with_cancel(NULL);
    gr_ctx *t = gr_ctx_with_timeout(parent, 30 * MS);
    CHECK(t != NULL);
    gr_ctx *child = gr_ctx_with_cancel(t);
    gr_ctx *longer = gr_ctx_with_timeout(t, 10000 * MS);   /* capped by t */
    CHECK(gr_ctx_deadline(t) >= t0 + 30 * MS);
    CHECK_EQ(gr_ctx_deadline(child), gr_ctx_deadline(t));
    CHECK_EQ(gr_ctx_deadline(longer), gr_ctx_deadline(t));
    CHECK_EQ(gr_ctx_deadline(parent), -1);
    CHECK_EQ(gr_ctx_err(t), 0);

    CHECK_EQ(gr_chan_recv(gr_ctx_done(child), NULL), -EPIPE);
    int64_t waited = gr_nanotime() - t0;
    CHECK(waited >= 30 * MS);
    CHECK_EQ(gr_ctx_err(t), -ETIMEDOUT);
    CHECK_EQ(gr_ctx_err(child), -ETIMEDOUT);   /* the ancestor's error */
    CHECK_EQ(gr_ctx_err(longer), -ETIMEDOUT);
    CHECK_EQ(gr_ctx_err(parent), 0);           /* not upwards */
    gr_ctx_cancel(child);
    CHECK_EQ(gr_ctx_err(child), -ETIMEDOUT);   /* the first error stays */

    /* expired at birth, and timeout 0 */
    gr_ctx *past = gr_ctx_with_deadline(parent, gr_nanotime() - 1);
    CHECK_EQ(gr_ctx_err(past), -ETIMEDOUT);
    CHECK(is_done(past));
    gr_ctx *zero = gr_ctx_with_timeout(NULL, 0);
    CHECK_EQ(gr_ctx_err(zero), -ETIMEDOUT);
    /* negative: no timeout */
    gr_ctx *none = gr_ctx_with_timeout(parent, -1);
    CHECK_EQ(gr_ctx_deadline(none), -1);
    gr_ctx *none2 = gr_ctx_with_deadline(parent, -1);
    CHECK_EQ(gr_ctx_deadline(none2), -1);

    /* cancel beats a later deadline; the timer never changes the error */
    gr_ctx *c = gr_ctx_with_timeout(parent, 20 * MS);
    gr_ctx_cancel(c);
    CHECK_EQ(gr_ctx_err(c), -ECANCELED);
    gr_sleep(30 * MS);
    CHECK_EQ(gr_ctx_err(c), -ECANCELED);

    /* a deadline cancelled by its parent, freed before the timer fires */
    gr_ctx *p2 = gr_ctx_with_cancel(NULL);
    gr_ctx *d2 = gr_ctx_with_timeout(p2, 5 * MS);
    gr_ctx_cancel(p2);
    CHECK_EQ(gr_ctx_err(d2), -ECANCELED);
    gr_ctx_free(d2);
    gr_ctx_free(p2);
    gr_sleep(10 * MS);          /* a stale timer would fire here */

    /* many timeouts firing close together, freed in any order */
    gr_ctx *many[100];
    for (int i = 0; i < 100; i++)
        many[i] = gr_ctx_with_timeout(i % 2 == 0 ? parent : many[i - 1], (1 + i % 7) * MS);
    gr_sleep(20 * MS);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gr_ctx_err(many[i]), -ETIMEDOUT);
    for (int i = 0; i < 100; i++)
        gr_ctx_free(many[i]);

    gr_ctx_free(c);
    gr_ctx_free(none2);
    gr_ctx_free(none);
    gr_ctx_free(zero);
    gr_ctx_free(past);
    gr_ctx_free(longer);
    gr_ctx_free(child);
    gr_ctx_free(t);
    gr_ctx_free(parent);
}

Test(sync_context, timeout_tree_1p, .timeout = 20) { RUN(1, timeout_main, NULL); }
Test(sync_context, timeout_tree_2p, .timeout = 20) { RUN(2, timeout_main, NULL); }

/* ---- free with no runtime; deadline needs one ---- */

Test(sync_context, outside_runtime, .timeout = 5)
{
    gr_ctx *c = gr_ctx_with_cancel(NULL);
    cr_assert_not_null(c);
    gr_ctx *k = gr_ctx_with_cancel(c);
    cr_assert_not_null(k);
    gr_ctx_cancel(c);
    cr_assert_eq(gr_ctx_err(k), -ECANCELED);
    gr_ctx_free(k);
    gr_ctx_free(c);
    errno = 0;
    cr_assert_null(gr_ctx_with_timeout(NULL, 1000 * MS));
    cr_assert_eq(errno, EPERM);
    gr_ctx *past = gr_ctx_with_timeout(NULL, 0);   /* no timer needed */
    cr_assert_not_null(past);
    cr_assert_eq(gr_ctx_err(past), -ETIMEDOUT);
    gr_ctx_free(past);
}

/* ---- cancel racing with children being made and freed ---- */

struct churn {
    gr_ctx *root;
    gr_waitgroup wg;
};

static void churner(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < 2000; i++) {
        gr_ctx *k = gr_ctx_with_cancel(c->root);
        gr_ctx *kk = gr_ctx_with_timeout(k, (i % 3) * 100 * 1000);
        if (i % 5 == 0)
            gr_ctx_cancel(k);
        if (i % 2)
            gr_ctx_free(k), gr_ctx_free(kk);
        else
            gr_ctx_free(kk), gr_ctx_free(k);
    }
    gr_waitgroup_done(&c->wg);
}

static void churn_main(void *arg)
{
    (void)arg;
    struct churn c = { .wg = GR_WAITGROUP_INIT };
    c.root = gr_ctx_with_cancel(NULL);
    gr_waitgroup_add(&c.wg, 6);
    for (int i = 0; i < 6; i++)
        GO(churner, &c);
    gr_sleep(2 * MS);
    gr_ctx_cancel(c.root);
    gr_waitgroup_wait(&c.wg);
    gr_ctx_free(c.root);
}

Test(sync_context, churn_4p, .timeout = 30) { RUN(4, churn_main, NULL); }

/* ---- contexts that outlive their runtime ---- */

static gr_ctx *kept_parent, *kept_timed, *kept_child;

static void make_and_leave(void *arg)
{
    (void)arg;
    kept_parent = gr_ctx_with_cancel(NULL);
    kept_timed = gr_ctx_with_timeout(kept_parent, 60000 * MS);   /* armed */
    kept_child = gr_ctx_with_cancel(kept_timed);
}

Test(sync_context, freed_after_gr_main_returned, .timeout = 10)
{
    RUN(2, make_and_leave, NULL);
    cr_assert_eq(gr_ctx_err(kept_child), 0);
    gr_ctx_cancel(kept_parent);          /* any thread, no runtime */
    cr_assert_eq(gr_ctx_err(kept_child), -ECANCELED);
    gr_ctx_free(kept_timed);             /* stops a timer whose heap is gone */
    gr_ctx_free(kept_parent);
    gr_ctx_free(kept_child);
    RUN(1, make_and_leave, NULL);        /* and again, in a new runtime */
    gr_ctx_free(kept_child);
    gr_ctx_free(kept_timed);
    gr_ctx_free(kept_parent);
}

/* ---- a deep chain: cancel recurses once per level ---- */

#define DEPTH 1000
static void deep_main(void *arg)
{
    (void)arg;
    static gr_ctx *chain[DEPTH];
    chain[0] = gr_ctx_with_cancel(NULL);
    for (int i = 1; i < DEPTH; i++) {
        chain[i] = i % 10 ? gr_ctx_with_cancel(chain[i - 1])
                          : gr_ctx_with_timeout(chain[i - 1], 60000 * MS);
        CHECK(chain[i] != NULL);
    }
    gr_ctx_cancel(chain[0]);
    CHECK_EQ(gr_ctx_err(chain[DEPTH - 1]), -ECANCELED);
    CHECK_EQ(gr_chan_recv(gr_ctx_done(chain[DEPTH - 1]), NULL), -EPIPE);
    for (int i = 0; i < DEPTH; i++)      /* parents first */
        gr_ctx_free(chain[i]);
}

Test(sync_context, deep_chain_1000_2p, .timeout = 20) { RUN(2, deep_main, NULL); }

/* ---- gr_ctx_sleep and gr_ctx_recv: the select idiom on Done ---- */

static void canceller(void *arg)
{
    gr_sleep(5 * GR_MS);
    gr_ctx_cancel(arg);
}

static void sender(void *arg)
{
    int v = 42;
    gr_sleep(2 * GR_MS);
    CHECK_EQ(gr_chan_send(arg, &v), 0);
}

static void ctx_wait_main(void *arg)
{
    (void)arg;
    gr_ctx *bg = gr_ctx_background();
    /* a full sleep returns 0 and lasts at least ns */
    int64_t t0 = gr_nanotime();
    CHECK_EQ(gr_ctx_sleep(bg, 3 * GR_MS), 0);
    CHECK(gr_nanotime() - t0 >= 3 * GR_MS);
    CHECK_EQ(gr_ctx_sleep(bg, 0), 0);
    CHECK_EQ(gr_ctx_sleep(NULL, GR_MS), -EINVAL);
    /* a cancel ends a long sleep with the context's error */
    gr_ctx *c = gr_ctx_with_cancel(NULL);
    GO(canceller, c);
    t0 = gr_nanotime();
    CHECK_EQ(gr_ctx_sleep(c, 3600 * GR_S), -ECANCELED);
    CHECK(gr_nanotime() - t0 < 30 * GR_S);
    CHECK_EQ(gr_ctx_sleep(c, GR_MS), -ECANCELED);     /* already done */
    gr_ctx_free(c);
    /* a deadline: -ETIMEDOUT */
    gr_ctx *d = gr_ctx_with_timeout(NULL, 2 * GR_MS);
    CHECK_EQ(gr_ctx_sleep(d, 3600 * GR_S), -ETIMEDOUT);
    /* recv: a value first, then the context, then a closed channel */
    gr_chan *ch = gr_chan_make(sizeof(int), 0);
    gr_ctx *e = gr_ctx_with_cancel(NULL);
    GO(sender, ch);
    int v = 0;
    CHECK_EQ(gr_ctx_recv(e, ch, &v), 0);
    CHECK_EQ(v, 42);
    GO(canceller, e);
    CHECK_EQ(gr_ctx_recv(e, ch, &v), -ECANCELED);
    CHECK_EQ(gr_ctx_recv(d, NULL, NULL), -ETIMEDOUT);  /* nil channel: ctx alone */
    gr_chan_close(ch);
    CHECK_EQ(gr_ctx_recv(bg, ch, &v), -EPIPE);
    CHECK_EQ(v, 0);
    CHECK_EQ(gr_ctx_recv(NULL, ch, &v), -EINVAL);
    gr_ctx_free(e);
    gr_ctx_free(d);
    gr_chan_free(ch);
}

Test(sync_context, sleep_and_recv_end_with_the_context, .timeout = 30)
{
    RUN(1, ctx_wait_main, NULL);
    RUN(2, ctx_wait_main, NULL);
    gr_ctx *bg = gr_ctx_background();
    cr_assert_eq(gr_ctx_sleep(bg, GR_MS), -EPERM);
    cr_assert_eq(gr_ctx_recv(bg, NULL, NULL), -EPERM);
}
