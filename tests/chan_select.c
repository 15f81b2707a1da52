/*
 * tests/chan_select.c: gr_select: ready cases, default, timeout, NULL
 * channels, fairness, close wake-ups that leave no waiter behind, select
 * pairing with select, lock order, many cases, bad input.
 */
#include "harness.h"

static void ready_and_default(void *arg)
{
    gr_chan *a = gr_chan_make(sizeof(int), 1), *b = gr_chan_make(sizeof(int), 1);
    int va = -1, vb = -1;
    struct gr_case cs[2] = {
        { GR_RECV, a, &va, 99 },
        { GR_RECV, b, &vb, 99 },
    };
    /* nothing ready: default, elements and results untouched */
    CHECK_EQ(gr_select(cs, 2, 0), -EAGAIN);
    CHECK_EQ(va, -1);
    CHECK_EQ(vb, -1);
    CHECK_EQ(cs[0].result, 99);
    int x = 5;
    CHECK_EQ(gr_chan_send(b, &x), 0);
    CHECK_EQ(gr_select(cs, 2, 0), 1);
    CHECK_EQ(vb, 5);
    CHECK_EQ(va, -1);
    CHECK_EQ(cs[1].result, 0);
    CHECK_EQ(cs[0].result, 99);
    /* a send case */
    int y = 8;
    struct gr_case sc[2] = {
        { GR_SEND, a, &y, 99 },
        { GR_RECV, b, &vb, 99 },
    };
    CHECK_EQ(gr_select(sc, 2, -1), 0);
    CHECK_EQ(sc[0].result, 0);
    CHECK_EQ(gr_chan_recv(a, &x), 0);
    CHECK_EQ(x, 8);
    gr_chan_free(a);
    gr_chan_free(b);
}

Test(chan_select, ready_case_and_default, .timeout = 30)
{
    RUN_PROCS(ready_and_default, NULL);
}

static void nil_and_empty(void *arg)
{
    CHECK_EQ(gr_select(NULL, 0, 0), -EAGAIN);
    CHECK_EQ(gr_select(NULL, 0, 1 * MS), -ETIMEDOUT);
    int v = 0;
    struct gr_case nils[2] = { { GR_RECV, NULL, &v, 0 }, { GR_SEND, NULL, &v, 0 } };
    CHECK_EQ(gr_select(nils, 2, 0), -EAGAIN);
    CHECK_EQ(gr_select(nils, 2, 1 * MS), -ETIMEDOUT);
    /* a NULL channel is never chosen, even beside a ready one */
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    struct gr_case cs[3] = {
        { GR_RECV, NULL, &v, 0 }, { GR_RECV, c, &v, 0 }, { GR_SEND, NULL, &v, 0 },
    };
    for (int i = 0; i < 200; i++) {
        int x = i;
        CHECK_EQ(gr_chan_send(c, &x), 0);
        CHECK_EQ(gr_select(cs, 3, -1), 1);
        CHECK_EQ(v, i);
    }
    gr_chan_free(c);
}

Test(chan_select, nil_channels_and_no_cases, .timeout = 30)
{
    RUN_PROCS(nil_and_empty, NULL);
}

static void timeout_leaves_nothing(void *arg)
{
    gr_chan *a = gr_chan_make(sizeof(int), 0), *b = gr_chan_make(sizeof(int), 0);
    int va = -1, vb = 3;
    for (int i = 0; i < 20; i++) {
        struct gr_case cs[3] = {
            { GR_RECV, a, &va, 99 }, { GR_SEND, b, &vb, 99 }, { GR_RECV, b, NULL, 99 },
        };
        CHECK_EQ(gr_select(cs, 3, 100000), -ETIMEDOUT);
        CHECK_EQ(va, -1);
        CHECK_EQ(cs[0].result, 99);
    }
    CHECK_EQ(gr_chan_free(a), 0); /* -EBUSY would mean a sudog was left */
    CHECK_EQ(gr_chan_free(b), 0);
}

Test(chan_select, timeout_leaves_no_waiter, .timeout = 30)
{
    RUN_PROCS(timeout_leaves_nothing, NULL);
}

/* ---------- fairness ---------- */

static void fairness(void *arg)
{
    int k = (int)(intptr_t)arg;
    enum { ROUNDS = 100000 };
    gr_chan *c[4];
    struct gr_case cs[4];
    int v[4];
    long counts[4] = { 0 };
    for (int i = 0; i < k; i++) {
        c[i] = gr_chan_make(sizeof(int), 2);
        int x = i;
        CHECK_EQ(gr_chan_send(c[i], &x), 0);
        cs[i] = (struct gr_case){ GR_RECV, c[i], &v[i], 0 };
    }
    for (int r = 0; r < ROUNDS; r++) {
        int i = gr_select(cs, (size_t)k, -1);
        CHECK(i >= 0 && i < k);
        if (i < 0 || i >= k)
            return;
        CHECK_EQ(v[i], i);
        counts[i]++;
        CHECK_EQ(gr_chan_send(c[i], &i), 0); /* keep every case ready */
    }
    double expect = (double)ROUNDS / k;
    for (int i = 0; i < k; i++) {
        double dev = (counts[i] - expect) / expect;
        /* 3%: more than 5 standard deviations at these counts */
        CHECKF((dev < 0 ? -dev : dev) < 0.03, "case %d chosen %lld times, %.0f expected", i,
               (long long)counts[i], expect);
        gr_chan_free(c[i]);
    }
}

Test(chan_select, fairness_2_way, .timeout = 60)
{
    RUN(1, fairness, (void *)2);
    RUN(2, fairness, (void *)2);
}

Test(chan_select, fairness_4_way, .timeout = 60)
{
    RUN(1, fairness, (void *)4);
    RUN(4, fairness, (void *)4);
}

/* ---------- wake-ups leave no waiter on the other channels ---------- */

struct selwait { gr_chan *c[3]; gr_chan *done; int want_idx; int want_res; int want_val; };

static void select_waiter(void *arg)
{
    struct selwait *w = arg;
    int v[3] = { -1, -1, -1 };
    struct gr_case cs[3] = {
        { GR_RECV, w->c[0], &v[0], 99 },
        { GR_RECV, w->c[1], &v[1], 99 },
        { GR_RECV, w->c[2], &v[2], 99 },
    };
    int i = gr_select(cs, 3, -1);
    CHECK_EQ(i, w->want_idx);
    if (i >= 0 && i < 3) {
        CHECK_EQ(cs[i].result, w->want_res);
        CHECK_EQ(v[i], w->want_val);
    }
    for (int j = 0; j < 3; j++)
        if (j != i) {
            CHECK_EQ(v[j], -1);
            CHECK_EQ(cs[j].result, 99);
        }
    done_signal(w->done);
}

static void wake_cleanup(void *arg)
{
    for (int round = 0; round < 50; round++) {
        struct selwait w;
        for (int j = 0; j < 3; j++)
            w.c[j] = gr_chan_make(sizeof(int), 0);
        w.done = done_make(1);
        int which = round % 3;
        int by_close = (round / 3) % 2;
        w.want_idx = which;
        w.want_res = by_close ? -EPIPE : 0;
        w.want_val = by_close ? 0 : 1000 + round;
        GO(select_waiter, &w);
        if (round % 5 == 0)
            gr_sleep(200000); /* sometimes let it park first */
        if (by_close) {
            CHECK_EQ(gr_chan_close(w.c[which]), 0);
        } else {
            int x = 1000 + round;
            CHECK_EQ(gr_chan_send(w.c[which], &x), 0);
        }
        done_wait(w.done, 1);
        for (int j = 0; j < 3; j++)
            CHECK_EQ(gr_chan_free(w.c[j]), 0); /* nothing left behind */
        gr_chan_free(w.done);
    }
}

Test(chan_select, woken_select_leaves_no_waiter, .timeout = 60)
{
    RUN_PROCS(wake_cleanup, NULL);
}

static void closed_cases(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 0), *d = gr_chan_make(sizeof(int), 0);
    CHECK_EQ(gr_chan_close(c), 0);
    int v = 7;
    struct gr_case rc[2] = { { GR_RECV, c, &v, 99 }, { GR_RECV, d, NULL, 99 } };
    CHECK_EQ(gr_select(rc, 2, -1), 0);
    CHECK_EQ(rc[0].result, -EPIPE);
    CHECK_EQ(v, 0);
    v = 7;
    struct gr_case sc[2] = { { GR_SEND, c, &v, 99 }, { GR_RECV, d, NULL, 99 } };
    CHECK_EQ(gr_select(sc, 2, 0), 0);
    CHECK_EQ(sc[0].result, -EPIPE);
    gr_chan_free(c);
    gr_chan_free(d);
}

Test(chan_select, closed_channel_cases, .timeout = 30)
{
    RUN_PROCS(closed_cases, NULL);
}

/* A select blocked sending is woken by a close with -EPIPE. */
struct sendsel { gr_chan *c; gr_chan *other; gr_chan *done; };

static void select_sender_closed(void *arg)
{
    struct sendsel *s = arg;
    int v = 1;
    struct gr_case cs[2] = { { GR_SEND, s->c, &v, 99 }, { GR_RECV, s->other, NULL, 99 } };
    CHECK_EQ(gr_select(cs, 2, -1), 0);
    CHECK_EQ(cs[0].result, -EPIPE);
    done_signal(s->done);
}

static void send_case_closed(void *arg)
{
    struct sendsel s = { gr_chan_make(sizeof(int), 0), gr_chan_make(0, 0), done_make(1) };
    GO(select_sender_closed, &s);
    gr_sleep(MS);
    CHECK_EQ(gr_chan_close(s.c), 0);
    done_wait(s.done, 1);
    CHECK_EQ(gr_chan_free(s.other), 0);
    CHECK_EQ(gr_chan_free(s.c), 0);
    gr_chan_free(s.done);
}

Test(chan_select, blocked_send_case_woken_by_close, .timeout = 30)
{
    RUN_PROCS(send_case_closed, NULL);
}

/* ---------- select pairs with select on an unbuffered channel ---------- */

struct pairsel { gr_chan *c; gr_chan *junk; gr_chan *done; int n; };

static void sel_sender(void *arg)
{
    struct pairsel *p = arg;
    for (int i = 0; i < p->n; i++) {
        int v = i;
        struct gr_case cs[2] = { { GR_SEND, p->c, &v, 99 }, { GR_RECV, p->junk, NULL, 99 } };
        CHECK_EQ(gr_select(cs, 2, -1), 0);
        CHECK_EQ(cs[0].result, 0);
    }
    done_signal(p->done);
}

static void select_pairs(void *arg)
{
    struct pairsel p = { gr_chan_make(sizeof(int), 0), gr_chan_make(0, 0), done_make(1), 3000 };
    GO(sel_sender, &p);
    for (int i = 0; i < p.n; i++) {
        int v = -1;
        struct gr_case cs[2] = { { GR_RECV, p.junk, NULL, 99 }, { GR_RECV, p.c, &v, 99 } };
        CHECK_EQ(gr_select(cs, 2, -1), 1);
        CHECK_EQ(v, i);
    }
    done_wait(p.done, 1);
    CHECK_EQ(gr_chan_free(p.c), 0);
    CHECK_EQ(gr_chan_free(p.junk), 0);
    gr_chan_free(p.done);
}

Test(chan_select, select_send_pairs_with_select_recv, .timeout = 60)
{
    RUN_PROCS(select_pairs, NULL);
}

/* ---------- same channel twice, send and receive on one channel ---------- */

static void plain_recv(void *arg)
{
    struct pairsel *p = arg;
    int v = -1;
    CHECK_EQ(gr_chan_recv(p->c, &v), 0);
    CHECK_EQ(v, 77);
    done_signal(p->done);
}

static void duplicates(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    int a = -1, b = -1, x = 4;
    CHECK_EQ(gr_chan_send(c, &x), 0);
    struct gr_case cs[2] = { { GR_RECV, c, &a, 99 }, { GR_RECV, c, &b, 99 } };
    int i = gr_select(cs, 2, -1);
    CHECK(i == 0 || i == 1);
    CHECK_EQ(i == 0 ? a : b, 4);
    CHECK_EQ(i == 0 ? b : a, -1);
    gr_chan_free(c);

    /* send and receive on one unbuffered channel: only a peer can match */
    struct pairsel p = { gr_chan_make(sizeof(int), 0), NULL, done_make(1), 0 };
    GO(plain_recv, &p);
    int out = 77, in = -1;
    struct gr_case sr[2] = { { GR_RECV, p.c, &in, 99 }, { GR_SEND, p.c, &out, 99 } };
    CHECK_EQ(gr_select(sr, 2, -1), 1);
    CHECK_EQ(in, -1);
    done_wait(p.done, 1);
    CHECK_EQ(gr_chan_free(p.c), 0);
    gr_chan_free(p.done);
}

Test(chan_select, duplicate_and_bidirectional_cases, .timeout = 30)
{
    RUN_PROCS(duplicates, NULL);
}

/* ---------- opposite case orders never deadlock ---------- */

struct abba { gr_chan *a, *b; gr_chan *done; int rev; int n; };

static void abba_worker(void *arg)
{
    struct abba *w = arg;
    for (int i = 0; i < w->n; i++) {
        int v = i, r = -1;
        gr_chan *x = w->rev ? w->b : w->a, *y = w->rev ? w->a : w->b;
        struct gr_case cs[2] = { { GR_SEND, x, &v, 99 }, { GR_RECV, y, &r, 99 } };
        int k = gr_select(cs, 2, -1);
        CHECK(k == 0 || k == 1);
    }
    done_signal(w->done);
}

static void lock_order(void *arg)
{
    enum { W = 4 };
    gr_chan *a = gr_chan_make(sizeof(int), 0), *b = gr_chan_make(sizeof(int), 0);
    gr_chan *done = done_make(W);
    struct abba w[W];
    for (int i = 0; i < W; i++) {
        w[i] = (struct abba){ a, b, done, i & 1, 5000 };
        GO(abba_worker, &w[i]);
    }
    done_wait(done, W); /* workers pair with each other: sends meet receives */
    CHECK_EQ(gr_chan_free(a), 0);
    CHECK_EQ(gr_chan_free(b), 0);
    gr_chan_free(done);
}

Test(chan_select, opposite_orders_do_not_deadlock, .timeout = 60)
{
    RUN_PROCS(lock_order, NULL);
}

/* ---------- many cases (scratch memory on the heap) ---------- */

struct late { gr_chan *c; int64_t delay; int v; };

static void late_send(void *arg)
{
    struct late *l = arg;
    gr_sleep(l->delay);
    CHECK_EQ(gr_chan_send(l->c, &l->v), 0);
}

static void many_cases(void *arg)
{
    enum { N = 40 };
    gr_chan *c[N];
    int v[N];
    struct gr_case cs[N];
    for (int i = 0; i < N; i++) {
        c[i] = gr_chan_make(sizeof(int), 0);
        v[i] = -1;
        cs[i] = (struct gr_case){ GR_RECV, c[i], &v[i], 99 };
    }
    for (int round = 0; round < 30; round++) {
        int k = (round * 7) % N;
        struct late l = { c[k], round % 2 ? 100000 : 0, round };
        GO(late_send, &l);
        v[k] = -1;
        CHECK_EQ(gr_select(cs, N, -1), k);
        CHECK_EQ(v[k], round);
    }
    gr_sleep(MS);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gr_chan_free(c[i]), 0);
}

Test(chan_select, many_cases, .timeout = 30)
{
    RUN_PROCS(many_cases, NULL);
}

/* ---------- bad input, outside goroutines ---------- */

static void bad_select(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    int v = 0;
    CHECK_EQ(gr_select(NULL, 1, 0), -EINVAL);
    struct gr_case bad_op[1] = { { 7, c, &v, 0 } };
    CHECK_EQ(gr_select(bad_op, 1, 0), -EINVAL);
    struct gr_case null_elem[1] = { { GR_SEND, c, NULL, 0 } };
    CHECK_EQ(gr_select(null_elem, 1, 0), -EINVAL);
    struct gr_case ok_nil_op[1] = { { 7, NULL, NULL, 0 } }; /* ignored */
    CHECK_EQ(gr_select(ok_nil_op, 1, 0), -EAGAIN);
    gr_chan_free(c);
}

Test(chan_select, bad_input_einval, .timeout = 30)
{
    RUN(1, bad_select, NULL);
}

Test(chan_select, outside_goroutine, .timeout = 30)
{
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    int v = 3;
    struct gr_case cs[1] = { { GR_RECV, c, &v, 0 } };
    cr_assert_eq(gr_select(cs, 1, -1), -EPERM);
    cr_assert_eq(gr_select(cs, 1, 5), -EPERM);
    cr_assert_eq(gr_select(cs, 1, 0), -EAGAIN);
    cr_assert_eq(gr_select(NULL, 0, -1), -EPERM);
    cr_assert_eq(gr_chan_try_send(c, &v), 0);
    cr_assert_eq(gr_select(cs, 1, 0), 0);
    cr_assert_eq(gr_chan_free(c), 0);
}

/* ---------- deadlock detection applies to channel waits ---------- */

static void select_forever(void *arg)
{
    gr_select(NULL, 0, -1); /* Go's select {}: nobody can wake it */
}

Test(chan_select, empty_select_forever_is_deadlock, .timeout = 30, .exit_code = 2)
{
    setenv("GRDEBUG", "crash=0", 1);
    gr_test_run(1, select_forever, NULL);
}

static void recv_forever(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 0);
    int v;
    gr_chan_recv(c, &v);
}

Test(chan_select, lone_receiver_is_deadlock, .timeout = 30, .exit_code = 2)
{
    setenv("GRDEBUG", "crash=0", 1);
    gr_test_run(2, recv_forever, NULL);
}

/* gr_main returns while goroutines still wait in channel operations and
 * in a select with a timeout: they are abandoned, as Go abandons them. */
static int64_t abandon_timeout;

static void waits_in_select(void *arg)
{
    gr_chan *c = arg;
    int v;
    struct gr_case cs[2] = { { GR_RECV, c, &v, 0 }, { GR_SEND, c, &v, 0 } };
    gr_select(cs, 2, abandon_timeout);
}

static void waits_in_recv(void *arg)
{
    int v;
    gr_chan_recv(arg, &v);
}

static gr_chan *abandoned;

static void abandon(void *arg)
{
    abandoned = gr_chan_make(sizeof(int), 0);
    abandon_timeout = arg ? 3600LL * 1000 * MS : -1;
    GO(waits_in_select, abandoned);
    GO(waits_in_recv, abandoned);
    gr_sleep(2 * MS);
}

/* After gr_main returned, core's teardown hook took the abandoned
 * goroutines out of the channel's queues: it can be freed. */
static void run_abandon(void *with_timer)
{
    static const int procs[] = { 1, 2, 4 };
    for (int i = 0; i < 3; i++) {
        RUN(procs[i], abandon, with_timer);
        cr_assert_eq(gr_chan_free(abandoned), 0);
    }
}

Test(chan_select, main_returns_while_goroutines_wait, .timeout = 30)
{
    run_abandon((void *)1);
}

/* As above with no timer pending: goroutine 1 returning is not a
 * deadlock. */
Test(chan_select, main_returns_over_untimed_waiters, .timeout = 30)
{
    run_abandon(NULL);
}

/* ---------- free right after the close that woke a select ---------- */

struct freerace { gr_chan *a, *b; gr_chan *started; gr_chan *done; int timed; };

static void select_on_two(void *arg)
{
    struct freerace *f = arg;
    int v = -1;
    struct gr_case cs[3] = {
        { GR_RECV, f->b, &v, 99 }, { GR_RECV, f->a, &v, 99 }, { GR_SEND, f->a, &v, 99 },
    };
    CHECK_EQ(gr_chan_send(f->started, NULL), 0);
    int k = gr_select(cs, 3, f->timed ? 3600LL * 1000 * MS : -1);
    CHECK(k == 1 || k == 2);
    if (k == 1 || k == 2)
        CHECK_EQ(cs[k].result, -EPIPE);
    done_signal(f->done);
}

/* A woken select locks every channel of its cases again before it
 * returns, so freeing the channel whose close woke it must wait (-EBUSY)
 * until then; freeing at once would be a use after free (valgrind sees
 * it). One P: the select is parked when goroutine 1 resumes after its
 * signal, and still unrun when goroutine 1 frees right after the close. */
static void free_after_close(void *arg)
{
    gr_chan *done = done_make(1), *started = gr_chan_make(0, 0);
    int busy = 0;
    for (int round = 0; round < 300; round++) {
        struct freerace f = { gr_chan_make(sizeof(int), 0), gr_chan_make(sizeof(int), round % 2),
                              started, done, round % 3 == 0 };
        GO(select_on_two, &f);
        CHECK_EQ(gr_chan_recv(started, NULL), 0);
        CHECK_EQ(gr_chan_close(f.a), 0);
        while (gr_chan_free(f.a) == -EBUSY) {
            busy++;
            gr_yield();
        }
        done_wait(done, 1);
        CHECK_EQ(gr_chan_free(f.b), 0);
    }
    CHECK_EQ(busy >= 300, 1); /* every round found the woken select still in */
    gr_chan_free(started);
    gr_chan_free(done);
}

Test(chan_select, free_after_close_waits_for_woken_select, .timeout = 60)
{
    RUN(1, free_after_close, NULL);
}

/* One case with a default takes the try path: same answers. */
static void one_case_default(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    int v = 7;
    struct gr_case r[1] = { { GR_RECV, c, &v, 99 } };
    struct gr_case s[1] = { { GR_SEND, c, &v, 99 } };
    CHECK_EQ(gr_select(r, 1, 0), -EAGAIN);
    CHECK_EQ(r[0].result, 99);
    CHECK_EQ(v, 7);
    CHECK_EQ(gr_select(s, 1, 0), 0);
    CHECK_EQ(s[0].result, 0);
    CHECK_EQ(gr_select(s, 1, 0), -EAGAIN); /* full */
    v = 0;
    CHECK_EQ(gr_select(r, 1, 0), 0);
    CHECK_EQ(r[0].result, 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(gr_chan_close(c), 0);
    v = 5;
    CHECK_EQ(gr_select(r, 1, 0), 0);
    CHECK_EQ(r[0].result, -EPIPE);
    CHECK_EQ(v, 0);
    CHECK_EQ(gr_select(s, 1, 0), 0);
    CHECK_EQ(s[0].result, -EPIPE);
    CHECK_EQ(gr_chan_free(c), 0);
}

Test(chan_select, one_case_with_default, .timeout = 30)
{
    RUN(1, one_case_default, NULL);
}
