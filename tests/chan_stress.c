/*
 * tests/chan_stress.c: many senders and receivers with tagged values (each
 * received exactly once, in per-sender order), close storms racing with
 * sends, receives and selects, and select-heavy traffic. Loops are bounded
 * for a 2-core machine; every case runs under GR_MAXPROCS 1, 2 and 4.
 */
#include "harness.h"
#include <stdlib.h>

/* ---------- MPMC: each value exactly once ---------- */

enum { S = 8, R = 8, PER = 4000 };

struct mpmc {
    gr_chan *c;
    gr_chan *sdone, *rdone;
    _Atomic uint8_t seen[S][PER];
    _Atomic long received;
    int use_select;
};

struct sender { struct mpmc *m; int id; };

static void mpmc_sender(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < PER; i++) {
        uint64_t v = ((uint64_t)s->id << 32) | (uint32_t)i;
        if (s->m->use_select && i % 2) {
            struct gr_case cs[2] = { { GR_SEND, s->m->c, &v, 99 }, { GR_SEND, NULL, &v, 99 } };
            CHECK_EQ(gr_select(cs, 2, -1), 0);
        } else {
            CHECK_EQ(gr_chan_send(s->m->c, &v), 0);
        }
    }
    done_signal(s->m->sdone);
}

static void mpmc_receiver(void *arg)
{
    struct mpmc *m = arg;
    int last[S];
    for (int i = 0; i < S; i++)
        last[i] = -1;
    for (;;) {
        uint64_t v;
        int r;
        if (m->use_select) {
            struct gr_case cs[1] = { { GR_RECV, m->c, &v, 99 } };
            r = gr_select(cs, 1, -1);
            if (r == 0)
                r = cs[0].result;
        } else {
            r = gr_chan_recv(m->c, &v);
        }
        if (r == -EPIPE)
            break;
        CHECK_EQ(r, 0);
        int id = (int)(v >> 32), seq = (int)(uint32_t)v;
        CHECK(id >= 0 && id < S && seq >= 0 && seq < PER);
        if (id < 0 || id >= S || seq < 0 || seq >= PER)
            continue;
        CHECK_EQ(atomic_fetch_add(&m->seen[id][seq], 1), 0);
        CHECK(seq > last[id]); /* one sender's values arrive in its order */
        last[id] = seq;
        atomic_fetch_add(&m->received, 1);
    }
    done_signal(m->rdone);
}

static void mpmc(void *arg)
{
    static struct mpmc m;
    size_t cap = (size_t)(uintptr_t)arg & 0xffff;
    memset(&m, 0, sizeof m);
    m.use_select = ((uintptr_t)arg >> 16) & 1;
    m.c = gr_chan_make(sizeof(uint64_t), cap);
    m.sdone = done_make(S);
    m.rdone = done_make(R);
    struct sender ss[S];
    for (int i = 0; i < R; i++)
        GO(mpmc_receiver, &m);
    for (int i = 0; i < S; i++) {
        ss[i] = (struct sender){ &m, i };
        GO(mpmc_sender, &ss[i]);
    }
    done_wait(m.sdone, S);
    CHECK_EQ(gr_chan_close(m.c), 0);
    done_wait(m.rdone, R);
    CHECK_EQ(atomic_load(&m.received), (long)S * PER);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < PER; j++)
            CHECK_EQ(atomic_load(&m.seen[i][j]), 1);
    CHECK_EQ(gr_chan_free(m.c), 0);
    gr_chan_free(m.sdone);
    gr_chan_free(m.rdone);
}

Test(chan_stress, mpmc_unbuffered_each_value_once, .timeout = 120)
{
    RUN_PROCS(mpmc, (void *)0);
}

Test(chan_stress, mpmc_buffered_each_value_once, .timeout = 120)
{
    RUN_PROCS(mpmc, (void *)16);
}

Test(chan_stress, mpmc_select_each_value_once, .timeout = 120)
{
    RUN_PROCS(mpmc, (void *)((1 << 16) | 0));
    RUN(2, mpmc, (void *)((1 << 16) | 3));
}

/* ---------- close storms ---------- */

struct storm {
    gr_chan *c, *other;
    gr_chan *done;
    _Atomic long sent, received;
};

static void storm_sender(void *arg)
{
    struct storm *s = arg;
    for (long i = 0;; i++) {
        int r = gr_chan_send(s->c, &i);
        if (r == -EPIPE)
            break;
        CHECK_EQ(r, 0);
        atomic_fetch_add(&s->sent, 1);
    }
    done_signal(s->done);
}

static void storm_receiver(void *arg)
{
    struct storm *s = arg;
    for (;;) {
        long v = -1;
        int r = gr_chan_recv(s->c, &v);
        if (r == -EPIPE) {
            CHECK_EQ(v, 0);
            break;
        }
        CHECK_EQ(r, 0);
        atomic_fetch_add(&s->received, 1);
    }
    done_signal(s->done);
}

/* Selects that send and receive on the storm channel and on one that is
 * never ready: the close must wake them and leave nothing on `other`. */
static void storm_selector(void *arg)
{
    struct storm *s = arg;
    for (long i = 0;; i++) {
        long out = i, in = -1;
        struct gr_case cs[3] = {
            { GR_SEND, s->c, &out, 99 }, { GR_RECV, s->c, &in, 99 }, { GR_RECV, s->other, NULL, 99 },
        };
        int k = gr_select(cs, 3, (i % 4 == 0) ? 50000 : -1);
        if (k == -ETIMEDOUT)
            continue;
        CHECK(k == 0 || k == 1);
        if (k == 0) {
            if (cs[0].result == -EPIPE)
                break;
            CHECK_EQ(cs[0].result, 0);
            atomic_fetch_add(&s->sent, 1);
        } else if (k == 1) {
            if (cs[1].result == -EPIPE) {
                CHECK_EQ(in, 0);
                break;
            }
            CHECK_EQ(cs[1].result, 0);
            atomic_fetch_add(&s->received, 1);
        } else {
            break;
        }
    }
    done_signal(s->done);
}

static void close_storm(void *arg)
{
    enum { ROUNDS = 150, K = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        struct storm s;
        size_t cap = (size_t)(round % 3 == 0 ? 0 : round % 3 == 1 ? 1 : 8);
        s.c = gr_chan_make(sizeof(long), cap);
        s.other = gr_chan_make(sizeof(long), 0);
        s.done = done_make(3 * K);
        atomic_store(&s.sent, 0);
        atomic_store(&s.received, 0);
        for (int i = 0; i < K; i++) {
            GO(storm_sender, &s);
            GO(storm_receiver, &s);
            GO(storm_selector, &s);
        }
        /* close at a varying moment: before anyone ran, or mid-traffic */
        int wait = round % 5;
        for (int i = 0; i < wait; i++)
            gr_yield();
        if (round % 7 == 3)
            gr_sleep(100000);
        CHECK_EQ(gr_chan_close(s.c), 0);
        CHECK_EQ(gr_chan_close(s.c), -EPIPE);
        done_wait(s.done, 3 * K);
        /* every value sent was received: buffered ones drain after close */
        CHECK_EQ(atomic_load(&s.sent), atomic_load(&s.received));
        CHECK_EQ(gr_chan_len(s.c), 0);
        CHECK_EQ(gr_chan_free(s.c), 0);
        CHECK_EQ(gr_chan_free(s.other), 0); /* no select left a waiter */
        gr_chan_free(s.done);
    }
}

Test(chan_stress, close_storm, .timeout = 180)
{
    RUN_PROCS(close_storm, NULL);
}

/* Close racing with a select parked on several channels, repeated. */
struct racer { gr_chan *c[4]; gr_chan *done; };

static void parked_select(void *arg)
{
    struct racer *r = arg;
    int v[4];
    struct gr_case cs[4];
    for (int i = 0; i < 4; i++)
        cs[i] = (struct gr_case){ GR_RECV, r->c[i], &v[i], 99 };
    int k = gr_select(cs, 4, -1);
    CHECK(k >= 0 && k < 4);
    done_signal(r->done);
}

static void close_vs_select(void *arg)
{
    for (int round = 0; round < 400; round++) {
        struct racer r;
        for (int i = 0; i < 4; i++)
            r.c[i] = gr_chan_make(sizeof(int), round % 2);
        r.done = done_make(2);
        GO(parked_select, &r);
        GO(parked_select, &r);
        if (round % 3)
            gr_yield();
        /* two closes and a send race to wake the two selects */
        int x = round;
        CHECK_EQ(gr_chan_close(r.c[round % 4]), 0);
        CHECK_EQ(gr_chan_try_send(r.c[(round + 1) % 4], &x) == -EPIPE, 0);
        CHECK_EQ(gr_chan_close(r.c[(round + 2) % 4]), 0);
        done_wait(r.done, 2);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(gr_chan_free(r.c[i]), 0);
        gr_chan_free(r.done);
    }
}

Test(chan_stress, close_races_parked_selects, .timeout = 120)
{
    RUN_PROCS(close_vs_select, NULL);
}

/* ---------- ping-pong pairs: wake-ups always reach the right side ---------- */

struct pp { gr_chan *ping, *pong; gr_chan *done; int n; };

static void ponger(void *arg)
{
    struct pp *p = arg;
    int v;
    while (gr_chan_recv(p->ping, &v) == 0) {
        v++;
        CHECK_EQ(gr_chan_send(p->pong, &v), 0);
    }
    done_signal(p->done);
}

static void pinger(void *arg)
{
    struct pp *p = arg;
    for (int i = 0; i < p->n; i++) {
        int v = i * 2;
        CHECK_EQ(gr_chan_send(p->ping, &v), 0);
        CHECK_EQ(gr_chan_recv(p->pong, &v), 0);
        CHECK_EQ(v, i * 2 + 1);
    }
    CHECK_EQ(gr_chan_close(p->ping), 0);
    done_signal(p->done);
}

static void pingpong_pairs(void *arg)
{
    enum { P = 16 };
    static struct pp ps[P];
    gr_chan *done = done_make(2 * P);
    for (int i = 0; i < P; i++) {
        ps[i] = (struct pp){ gr_chan_make(sizeof(int), 0), gr_chan_make(sizeof(int), 0), done, 2000 };
        GO(ponger, &ps[i]);
        GO(pinger, &ps[i]);
    }
    done_wait(done, 2 * P);
    for (int i = 0; i < P; i++) {
        CHECK_EQ(gr_chan_free(ps[i].ping), 0);
        CHECK_EQ(gr_chan_free(ps[i].pong), 0);
    }
    gr_chan_free(done);
}

Test(chan_stress, pingpong_pairs, .timeout = 120)
{
    RUN_PROCS(pingpong_pairs, NULL);
}

/* ---------- try forms racing with close: no value lost ---------- */

static void try_sender(void *arg)
{
    struct storm *s = arg;
    for (long i = 0;; i++) {
        int r = gr_chan_try_send(s->c, &i);
        if (r == -EPIPE)
            break;
        if (r == 0)
            atomic_fetch_add(&s->sent, 1);
        else {
            CHECK_EQ(r, -EAGAIN);
            gr_yield();
        }
    }
    done_signal(s->done);
}

static void try_receiver(void *arg)
{
    struct storm *s = arg;
    for (;;) {
        long v = -1;
        int r = gr_chan_try_recv(s->c, &v);
        if (r == -EPIPE) {
            CHECK_EQ(v, 0);
            /* closed and drained stays so */
            CHECK_EQ(gr_chan_try_recv(s->c, &v), -EPIPE);
            break;
        }
        if (r == 0)
            atomic_fetch_add(&s->received, 1);
        else {
            CHECK_EQ(r, -EAGAIN);
            gr_yield();
        }
    }
    done_signal(s->done);
}

static void try_storm(void *arg)
{
    enum { ROUNDS = 100, K = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        struct storm s;
        s.c = gr_chan_make(sizeof(long), (size_t)(round % 3 == 0 ? 0 : round % 3 == 1 ? 1 : 16));
        s.other = NULL;
        s.done = done_make(3 * K);
        atomic_store(&s.sent, 0);
        atomic_store(&s.received, 0);
        for (int i = 0; i < K; i++) {
            GO(try_sender, &s);
            GO(try_receiver, &s);
            GO(storm_receiver, &s); /* blocking receivers give try_send peers */
        }
        for (int i = 0; i < round % 7; i++)
            gr_yield();
        if (round % 4 == 1)
            gr_sleep(100000);
        CHECK_EQ(gr_chan_close(s.c), 0);
        done_wait(s.done, 3 * K);
        CHECK_EQ(atomic_load(&s.sent), atomic_load(&s.received));
        CHECK_EQ(gr_chan_free(s.c), 0);
        gr_chan_free(s.done);
    }
}

Test(chan_stress, try_forms_race_close, .timeout = 180)
{
    RUN_PROCS(try_storm, NULL);
}

/* ---------- a ping-pong pair must not starve the rest of its P ---------- */

struct pair2 { gr_chan *a, *b; };

static void pp_ping(void *arg)
{
    struct pair2 *p = arg;
    int v = 0;
    while (gr_chan_send(p->a, &v) == 0 && gr_chan_recv(p->b, &v) == 0)
        ;
}

static void pp_pong(void *arg)
{
    struct pair2 *p = arg;
    int v;
    while (gr_chan_recv(p->a, &v) == 0 && gr_chan_send(p->b, &v) == 0)
        ;
}

static struct pair2 starve_pair;

static void no_starvation(void *arg)
{
    struct pair2 *p = &starve_pair;
    p->a = gr_chan_make(sizeof(int), 0);
    p->b = gr_chan_make(sizeof(int), 0);
    GO(pp_ping, p);
    GO(pp_pong, p);
    for (int i = 0; i < 10; i++)
        gr_yield(); /* must come back: the pair shares one time slice */
    CHECK_EQ(gr_sleep(MS), 0);
    /* the pair is abandoned when gr_main returns */
}

/* Go's time-slice inheritance: a G taken from runnext runs in its
 * waker's slice, so a ping-pong pair is preempted after 10 ms like one
 * goroutine would be. */
Test(chan_stress, pingpong_pair_does_not_starve_the_p, .timeout = 60)
{
    static const int procs[] = { 1, 2, 4 };
    for (int i = 0; i < 3; i++) {
        RUN(procs[i], no_starvation, NULL);
        cr_assert_eq(gr_chan_free(starve_pair.a), 0);
        cr_assert_eq(gr_chan_free(starve_pair.b), 0);
    }
}
