/*
 * tests/chan_basic.c: the rules of send, receive, close, len/cap, free,
 * timed and try forms, calls from plain threads; channels of channels and
 * a prime sieve pipeline. Every case under GR_MAXPROCS 1, 2 and 4 unless
 * it needs one P to make an order deterministic.
 */
#include "harness.h"
#include <pthread.h>

/* ---------- unbuffered: values arrive in order ---------- */

struct pair { gr_chan *c; gr_chan *done; int n; };

static void seq_sender(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < p->n; i++)
        CHECK_EQ(gr_chan_send(p->c, &i), 0);
    done_signal(p->done);
}

static void unbuffered_order(void *arg)
{
    size_t cap = (size_t)(uintptr_t)arg;
    struct pair p = { gr_chan_make(sizeof(int), cap), done_make(1), 2000 };
    GO(seq_sender, &p);
    for (int i = 0; i < p.n; i++) {
        int v = -1;
        CHECK_EQ(gr_chan_recv(p.c, &v), 0);
        CHECK_EQ(v, i);
    }
    done_wait(p.done, 1);
    CHECK_EQ(gr_chan_len(p.c), 0);
    CHECK_EQ(gr_chan_free(p.c), 0);
    CHECK_EQ(gr_chan_free(p.done), 0);
}

Test(chan_basic, unbuffered_in_order, .timeout = 30)
{
    RUN_PROCS(unbuffered_order, (void *)0);
}

Test(chan_basic, buffered_in_order, .timeout = 30)
{
    RUN_PROCS(unbuffered_order, (void *)7);
}

/* ---------- an unbuffered send completes only when received ---------- */

struct rendez { gr_chan *c; gr_chan *done; _Atomic int sent; };

static void rendez_sender(void *arg)
{
    struct rendez *r = arg;
    int v = 42;
    CHECK_EQ(gr_chan_send(r->c, &v), 0);
    atomic_store(&r->sent, 1);
    done_signal(r->done);
}

static void rendezvous(void *arg)
{
    struct rendez r = { gr_chan_make(sizeof(int), 0), done_make(1), 0 };
    int v = 1;
    CHECK_EQ(gr_chan_try_send(r.c, &v), -EAGAIN);  /* nobody receives */
    GO(rendez_sender, &r);
    for (int i = 0; i < 5; i++) {
        gr_sleep(1 * MS);
        CHECK_EQ(atomic_load(&r.sent), 0);
    }
    CHECK_EQ(gr_chan_len(r.c), 0);
    v = 0;
    CHECK_EQ(gr_chan_recv(r.c, &v), 0);
    CHECK_EQ(v, 42);
    done_wait(r.done, 1);
    CHECK_EQ(atomic_load(&r.sent), 1);
    gr_chan_free(r.c);
    gr_chan_free(r.done);
}

Test(chan_basic, unbuffered_send_waits_for_receiver, .timeout = 30)
{
    RUN_PROCS(rendezvous, NULL);
}

/* ---------- buffer: try forms, len, cap ---------- */

static void buffer_try(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 4);
    CHECK_EQ(gr_chan_cap(c), 4);
    CHECK_EQ(gr_chan_len(c), 0);
    int v = 0;
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(gr_chan_try_send(c, &i), 0);
        CHECK_EQ(gr_chan_len(c), (size_t)i + 1);
    }
    v = 9;
    CHECK_EQ(gr_chan_try_send(c, &v), -EAGAIN);
    CHECK_EQ(gr_chan_send_timeout(c, &v, 0), -EAGAIN);
    CHECK_EQ(gr_chan_len(c), 4);
    for (int i = 0; i < 4; i++) {
        v = -1;
        CHECK_EQ(gr_chan_try_recv(c, &v), 0);
        CHECK_EQ(v, i);
    }
    v = 77;
    CHECK_EQ(gr_chan_try_recv(c, &v), -EAGAIN);
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 0), -EAGAIN);
    CHECK_EQ(v, 77); /* untouched */
    /* wrap-around many times */
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(gr_chan_send(c, &i), 0);
        if (i % 3 == 2) {
            for (int j = i - 2; j <= i; j++) {
                CHECK_EQ(gr_chan_recv(c, &v), 0);
                CHECK_EQ(v, j);
            }
        }
    }
    CHECK_EQ(gr_chan_free(c), 0);
}

Test(chan_basic, buffer_try_len_cap, .timeout = 30)
{
    RUN_PROCS(buffer_try, NULL);
}

/* ---------- elem_size 0 and NULL elem ---------- */

static void zero_sender(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gr_chan_send(p->c, NULL), 0);
    done_signal(p->done);
}

static void zero_size(void *arg)
{
    gr_chan *c = gr_chan_make(0, 3);
    CHECK(c != NULL);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gr_chan_send(c, NULL), 0);
    CHECK_EQ(gr_chan_try_send(c, NULL), -EAGAIN);
    CHECK_EQ(gr_chan_len(c), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gr_chan_recv(c, NULL), 0);
    CHECK_EQ(gr_chan_try_recv(c, NULL), -EAGAIN);
    CHECK_EQ(gr_chan_close(c), 0);
    CHECK_EQ(gr_chan_recv(c, NULL), -EPIPE);
    gr_chan_free(c);

    /* unbuffered zero-size: a pure rendezvous */
    struct pair p = { gr_chan_make(0, 0), done_make(1), 0 };
    CHECK_EQ(gr_chan_try_recv(p.c, NULL), -EAGAIN);
    GO(zero_sender, &p);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gr_chan_recv(p.c, NULL), 0);
    done_wait(p.done, 1);
    CHECK_EQ(gr_chan_free(p.c), 0);
    gr_chan_free(p.done);

    /* NULL elem on recv discards the value */
    c = gr_chan_make(sizeof(long), 2);
    long x = 5;
    CHECK_EQ(gr_chan_send(c, &x), 0);
    x = 6;
    CHECK_EQ(gr_chan_send(c, &x), 0);
    CHECK_EQ(gr_chan_recv(c, NULL), 0);
    CHECK_EQ(gr_chan_recv(c, &x), 0);
    CHECK_EQ(x, 6);
    gr_chan_free(c);
}

Test(chan_basic, zero_size_and_discard, .timeout = 30)
{
    RUN_PROCS(zero_size, NULL);
}

static void big_elems(void *arg)
{
    struct big { unsigned char b[1000]; };
    gr_chan *b = gr_chan_make(sizeof(struct big), 2);
    struct big x;
    memset(x.b, 0xab, sizeof x.b);
    CHECK_EQ(gr_chan_send(b, &x), 0);
    memset(&x, 0, sizeof x);
    CHECK_EQ(gr_chan_recv(b, &x), 0);
    CHECK_EQ(x.b[0], 0xab);
    CHECK_EQ(x.b[999], 0xab);
    CHECK_EQ(gr_chan_close(b), 0);
    memset(x.b, 0xcd, sizeof x.b);
    CHECK_EQ(gr_chan_recv(b, &x), -EPIPE);
    CHECK_EQ(x.b[500], 0);
    gr_chan_free(b);
}

Test(chan_basic, large_elements, .timeout = 30)
{
    RUN(1, big_elems, NULL);
}

/* ---------- close ---------- */

static void close_buffered(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 5);
    for (int i = 1; i <= 3; i++)
        CHECK_EQ(gr_chan_send(c, &i), 0);
    CHECK_EQ(gr_chan_close(c), 0);
    CHECK_EQ(gr_chan_close(c), -EPIPE);
    int v = 9;
    CHECK_EQ(gr_chan_send(c, &v), -EPIPE);
    CHECK_EQ(gr_chan_try_send(c, &v), -EPIPE);
    CHECK_EQ(gr_chan_send_timeout(c, &v, 5 * MS), -EPIPE);
    CHECK_EQ(gr_chan_len(c), 3);
    /* buffered values first, in order */
    for (int i = 1; i <= 3; i++) {
        v = -1;
        CHECK_EQ(gr_chan_recv(c, &v), 0);
        CHECK_EQ(v, i);
    }
    v = -1;
    CHECK_EQ(gr_chan_recv(c, &v), -EPIPE);
    CHECK_EQ(v, 0);
    v = -1;
    CHECK_EQ(gr_chan_try_recv(c, &v), -EPIPE);
    CHECK_EQ(v, 0);
    v = -1;
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 5 * MS), -EPIPE);
    CHECK_EQ(v, 0);
    v = -1;
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 0), -EPIPE);
    CHECK_EQ(v, 0);
    CHECK_EQ(gr_chan_free(c), 0);
}

Test(chan_basic, close_delivers_buffered_then_epipe, .timeout = 30)
{
    RUN_PROCS(close_buffered, NULL);
}

struct closers { gr_chan *c; gr_chan *done; int send; };

static void blocked_op(void *arg)
{
    struct closers *k = arg;
    long v = -1;
    if (k->send) {
        v = 5;
        CHECK_EQ(gr_chan_send(k->c, &v), -EPIPE);
    } else {
        CHECK_EQ(gr_chan_recv(k->c, &v), -EPIPE);
        CHECK_EQ(v, 0);
    }
    done_signal(k->done);
}

static void close_wakes(void *arg)
{
    enum { N = 20 };
    /* receivers on an empty channel */
    struct closers r = { gr_chan_make(sizeof(long), 0), done_make(N), 0 };
    for (int i = 0; i < N; i++)
        GO(blocked_op, &r);
    gr_sleep(2 * MS);
    CHECK_EQ(gr_chan_close(r.c), 0);
    done_wait(r.done, N);
    CHECK_EQ(gr_chan_free(r.c), 0);
    gr_chan_free(r.done);

    /* senders on a full buffered channel */
    struct closers s = { gr_chan_make(sizeof(long), 1), done_make(N), 1 };
    long v = 1;
    CHECK_EQ(gr_chan_send(s.c, &v), 0);
    for (int i = 0; i < N; i++)
        GO(blocked_op, &s);
    gr_sleep(2 * MS);
    CHECK_EQ(gr_chan_close(s.c), 0);
    done_wait(s.done, N);
    v = 0;
    CHECK_EQ(gr_chan_recv(s.c, &v), 0); /* the buffered one survives the close */
    CHECK_EQ(v, 1);
    CHECK_EQ(gr_chan_recv(s.c, &v), -EPIPE);
    CHECK_EQ(gr_chan_free(s.c), 0);
    gr_chan_free(s.done);
}

Test(chan_basic, close_wakes_all_waiters, .timeout = 30)
{
    RUN_PROCS(close_wakes, NULL);
}

/* ---------- FIFO service of waiters (one P makes the order certain) ---------- */

/* With one P, a goroutine that signals `started` keeps running until it
 * blocks in the operation that follows (the signal only readies the
 * waiting goroutine 1), so goroutine 1 resumes after it is queued: no
 * sleep decides the order. */
struct fifo { gr_chan *c; gr_chan *started; gr_chan *order; int id; };

static void fifo_recv(void *arg)
{
    struct fifo *f = arg;
    int v = -1;
    CHECK_EQ(gr_chan_send(f->started, NULL), 0);
    CHECK_EQ(gr_chan_recv(f->c, &v), 0);
    CHECK_EQ(v, f->id); /* the i-th waiter gets the i-th value */
    CHECK_EQ(gr_chan_send(f->order, &f->id), 0);
}

static void fifo_send(void *arg)
{
    struct fifo *f = arg;
    CHECK_EQ(gr_chan_send(f->started, NULL), 0);
    CHECK_EQ(gr_chan_send(f->c, &f->id), 0);
    CHECK_EQ(gr_chan_send(f->order, &f->id), 0);
}

static void fifo_waiters(void *arg)
{
    enum { N = 16 };
    gr_chan *c = gr_chan_make(sizeof(int), 0);
    gr_chan *started = gr_chan_make(0, 0);
    gr_chan *order = gr_chan_make(sizeof(int), N);
    struct fifo f[N];
    for (int i = 0; i < N; i++) {
        f[i] = (struct fifo){ c, started, order, i };
        GO(fifo_recv, &f[i]);
        CHECK_EQ(gr_chan_recv(started, NULL), 0); /* it is queued now */
    }
    for (int i = 0; i < N; i++)
        CHECK_EQ(gr_chan_send(c, &i), 0);
    for (int i = 0; i < N; i++) {
        int id;
        CHECK_EQ(gr_chan_recv(order, &id), 0);
    }
    /* senders queue in order too */
    for (int i = 0; i < N; i++) {
        f[i] = (struct fifo){ c, started, order, i };
        GO(fifo_send, &f[i]);
        CHECK_EQ(gr_chan_recv(started, NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        int v = -1;
        CHECK_EQ(gr_chan_recv(c, &v), 0);
        CHECK_EQ(v, i);
    }
    for (int i = 0; i < N; i++) {
        int id;
        CHECK_EQ(gr_chan_recv(order, &id), 0); /* every sender is done */
    }
    CHECK_EQ(gr_chan_free(c), 0);
    CHECK_EQ(gr_chan_free(started), 0);
    CHECK_EQ(gr_chan_free(order), 0);
}

Test(chan_basic, waiters_first_come_first_served, .timeout = 30)
{
    RUN(1, fifo_waiters, NULL);
}

/* ---------- timed forms ---------- */

struct late { gr_chan *c; gr_chan *done; int64_t delay; };

static void late_sender(void *arg)
{
    struct late *l = arg;
    gr_sleep(l->delay);
    int v = 7;
    CHECK_EQ(gr_chan_send(l->c, &v), 0);
    done_signal(l->done);
}

static void late_receiver(void *arg)
{
    struct late *l = arg;
    gr_sleep(l->delay);
    int v = -1;
    CHECK_EQ(gr_chan_recv(l->c, &v), 0);
    CHECK_EQ(v, 8);
    done_signal(l->done);
}

static void timed(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 0);
    int v = 3;
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 2 * MS), -ETIMEDOUT);
    CHECK_EQ(v, 3); /* untouched */
    CHECK_EQ(gr_chan_send_timeout(c, &v, 2 * MS), -ETIMEDOUT);
    CHECK_EQ(gr_chan_free(c), 0); /* no waiter left behind */

    c = gr_chan_make(sizeof(int), 0);
    struct late l = { c, done_make(2), 1 * MS };
    GO(late_sender, &l);
    v = -1;
    CHECK_EQ(gr_chan_recv_timeout(c, &v, 10000 * MS), 0);
    CHECK_EQ(v, 7);
    GO(late_receiver, &l);
    v = 8;
    CHECK_EQ(gr_chan_send_timeout(c, &v, 10000 * MS), 0);
    done_wait(l.done, 2);
    /* negative: forever, i.e. the plain forms */
    GO(late_sender, &l);
    CHECK_EQ(gr_chan_recv_timeout(c, &v, -1), 0);
    done_wait(l.done, 1);
    CHECK_EQ(gr_chan_free(c), 0);
    gr_chan_free(l.done);

    /* a huge timeout does not overflow */
    c = gr_chan_make(sizeof(int), 1);
    v = 1;
    CHECK_EQ(gr_chan_send_timeout(c, &v, INT64_MAX), 0);
    CHECK_EQ(gr_chan_recv_timeout(c, &v, INT64_MAX), 0);
    gr_chan_free(c);
}

Test(chan_basic, timed_send_recv, .timeout = 30)
{
    RUN_PROCS(timed, NULL);
}

/* ---------- bad input, calls outside goroutines ---------- */

static void bad_input(void *arg)
{
    int v = 0;
    CHECK_EQ(gr_chan_send(NULL, &v), -EINVAL);
    CHECK_EQ(gr_chan_recv(NULL, &v), -EINVAL);
    CHECK_EQ(gr_chan_try_send(NULL, &v), -EINVAL);
    CHECK_EQ(gr_chan_try_recv(NULL, &v), -EINVAL);
    CHECK_EQ(gr_chan_send_timeout(NULL, &v, 1), -EINVAL);
    CHECK_EQ(gr_chan_recv_timeout(NULL, &v, 1), -EINVAL);
    CHECK_EQ(gr_chan_close(NULL), -EINVAL);
    CHECK_EQ(gr_chan_len(NULL), 0);
    CHECK_EQ(gr_chan_cap(NULL), 0);
    CHECK_EQ(gr_chan_free(NULL), 0);
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    CHECK_EQ(gr_chan_send(c, NULL), -EINVAL);
    CHECK_EQ(gr_chan_try_send(c, NULL), -EINVAL);
    CHECK_EQ(gr_chan_send_timeout(c, NULL, 5), -EINVAL);
    gr_chan_free(c);
    errno = 0;
    CHECK(gr_chan_make(SIZE_MAX / 2, 3) == NULL);
    CHECK_EQ(errno, EINVAL);
}

Test(chan_basic, bad_input_einval, .timeout = 30)
{
    RUN(1, bad_input, NULL);
}

Test(chan_basic, blocking_outside_goroutine_eperm, .timeout = 30)
{
    gr_chan *c = gr_chan_make(sizeof(int), 1);
    int v = 1;
    cr_assert_eq(gr_chan_send(c, &v), -EPERM);
    cr_assert_eq(gr_chan_recv(c, &v), -EPERM);
    cr_assert_eq(gr_chan_send_timeout(c, &v, 5), -EPERM);
    cr_assert_eq(gr_chan_recv_timeout(c, &v, 5), -EPERM);
    /* the non-blocking forms work anywhere */
    cr_assert_eq(gr_chan_try_send(c, &v), 0);
    cr_assert_eq(gr_chan_len(c), 1);
    cr_assert_eq(gr_chan_try_recv(c, &v), 0);
    cr_assert_eq(gr_chan_send_timeout(c, &v, 0), 0);
    cr_assert_eq(gr_chan_recv_timeout(c, &v, 0), 0);
    cr_assert_eq(gr_chan_close(c), 0);
    cr_assert_eq(gr_chan_try_recv(c, &v), -EPIPE);
    cr_assert_eq(gr_chan_free(c), 0);
}

/* A plain thread feeds goroutines with try_send and closes the channel. */
struct feeder { gr_chan *c; int n; };

static void *feeder_thread(void *arg)
{
    struct feeder *f = arg;
    for (int i = 0; i < f->n;) {
        int r = gr_chan_try_send(f->c, &i);
        if (r == 0)
            i++;
        else if (r != -EAGAIN)
            CHECK_EQ(r, -EAGAIN); /* try_send from a plain thread */
        else
            sched_yield();
    }
    CHECK_EQ(gr_chan_send(f->c, &f->n), -EPERM);
    CHECK_EQ(gr_chan_close(f->c), 0);
    return NULL;
}

static void from_thread(void *arg)
{
    size_t cap = (size_t)(uintptr_t)arg;
    struct feeder f = { gr_chan_make(sizeof(int), cap), 3000 };
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, feeder_thread, &f), 0);
    for (int i = 0; i < f.n; i++) {
        int v = -1;
        CHECK_EQ(gr_chan_recv(f.c, &v), 0);
        CHECK_EQ(v, i);
    }
    int v = -1;
    CHECK_EQ(gr_chan_recv(f.c, &v), -EPIPE);
    pthread_join(th, NULL);
    CHECK_EQ(gr_chan_free(f.c), 0);
}

Test(chan_basic, plain_thread_try_send_and_close, .timeout = 60)
{
    setenv("GRDEBUG", "deadlock=0", 1); /* a plain thread wakes goroutines */
    RUN_PROCS(from_thread, (void *)0);
    RUN_PROCS(from_thread, (void *)4);
}

/* ---------- free ---------- */

struct busy { gr_chan *c; gr_chan *started; gr_chan *done; };

static void busy_recv(void *arg)
{
    struct busy *b = arg;
    long v;
    CHECK_EQ(gr_chan_send(b->started, NULL), 0);
    CHECK_EQ(gr_chan_recv(b->c, &v), -EPIPE);
    done_signal(b->done);
}

static void free_busy(void *arg)
{
    struct busy b = { gr_chan_make(sizeof(long), 0), gr_chan_make(0, 0), done_make(1) };
    GO(busy_recv, &b);
    /* one P: once it signalled, it runs on into its receive and blocks
     * before goroutine 1 resumes (see fifo_waiters) */
    CHECK_EQ(gr_chan_recv(b.started, NULL), 0);
    CHECK_EQ(gr_chan_free(b.c), -EBUSY);
    CHECK_EQ(gr_chan_close(b.c), 0);
    done_wait(b.done, 1);
    CHECK_EQ(gr_chan_free(b.c), 0);
    gr_chan_free(b.started);
    gr_chan_free(b.done);
}

Test(chan_basic, free_refuses_while_waiters, .timeout = 30)
{
    RUN(1, free_busy, NULL);
}

/* ---------- channels of channels: request / reply ---------- */

struct req { int x; gr_chan *reply; };

struct server { gr_chan *reqs; gr_chan *done; };

static void squarer(void *arg)
{
    struct server *sv = arg;
    struct req r;
    while (gr_chan_recv(sv->reqs, &r) == 0) {
        long y = (long)r.x * r.x;
        CHECK_EQ(gr_chan_send(r.reply, &y), 0);
    }
    done_signal(sv->done);
}

struct client { gr_chan *reqs; gr_chan *done; int base; };

static void client(void *arg)
{
    struct client *c = arg;
    gr_chan *reply = gr_chan_make(sizeof(long), 0);
    for (int i = 0; i < 200; i++) {
        struct req r = { c->base + i, reply };
        CHECK_EQ(gr_chan_send(c->reqs, &r), 0);
        long y = -1;
        CHECK_EQ(gr_chan_recv(reply, &y), 0);
        CHECK_EQ(y, (long)(c->base + i) * (c->base + i));
    }
    CHECK_EQ(gr_chan_free(reply), 0);
    done_signal(c->done);
}

/* A channel whose values are channels. */
static void chan_of_chans_pass(void *arg)
{
    gr_chan *cc = gr_chan_make(sizeof(gr_chan *), 1);
    gr_chan *inner = gr_chan_make(sizeof(int), 1);
    CHECK_EQ(gr_chan_send(cc, &inner), 0);
    gr_chan *got = NULL;
    CHECK_EQ(gr_chan_recv(cc, &got), 0);
    CHECK(got == inner);
    int v = 11;
    CHECK_EQ(gr_chan_send(got, &v), 0);
    CHECK_EQ(gr_chan_recv(inner, &v), 0);
    CHECK_EQ(v, 11);
    gr_chan_free(inner);
    gr_chan_free(cc);
}

static void chan_of_chans(void *arg)
{
    enum { C = 8, S = 3 };
    chan_of_chans_pass(NULL);
    struct server sv = { gr_chan_make(sizeof(struct req), 0), done_make(S) };
    gr_chan *done = done_make(C);
    for (int i = 0; i < S; i++)
        GO(squarer, &sv);
    struct client cl[C];
    for (int i = 0; i < C; i++) {
        cl[i] = (struct client){ sv.reqs, done, i * 1000 };
        GO(client, &cl[i]);
    }
    done_wait(done, C);
    CHECK_EQ(gr_chan_close(sv.reqs), 0); /* squarers see -EPIPE and exit */
    done_wait(sv.done, S);
    CHECK_EQ(gr_chan_free(sv.reqs), 0);
    gr_chan_free(sv.done);
    gr_chan_free(done);
}

Test(chan_basic, channels_of_channels, .timeout = 30)
{
    RUN_PROCS(chan_of_chans, NULL);
}

/* ---------- prime sieve: the first 1000 primes ---------- */

struct filter { gr_chan *in; gr_chan *out; int prime; gr_chan *done; };

static void generate(void *arg)
{
    struct filter *f = arg;
    for (int i = 2;; i++)
        if (gr_chan_send(f->out, &i) != 0)
            break; /* closed at the end */
    done_signal(f->done);
}

static void filter(void *arg)
{
    struct filter *f = arg;
    int v;
    while (gr_chan_recv(f->in, &v) == 0)
        if (v % f->prime != 0)
            if (gr_chan_send(f->out, &v) != 0)
                break;
    done_signal(f->done);
}

static int is_prime(int n)
{
    for (int d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return n >= 2;
}

static void sieve(void *arg)
{
    enum { N = 1000 };
    size_t cap = (size_t)(uintptr_t)arg;
    static struct filter fs[N + 1];
    static gr_chan *chans[N + 1];
    gr_chan *done = done_make(N + 1);
    gr_chan *ch = gr_chan_make(sizeof(int), cap);
    chans[0] = ch;
    fs[N] = (struct filter){ NULL, ch, 0, done };
    GO(generate, &fs[N]);
    int prev = 1;
    for (int i = 0; i < N; i++) {
        int p = 0;
        CHECK_EQ(gr_chan_recv(ch, &p), 0);
        CHECK(p > prev);
        CHECK(is_prime(p));
        for (int q = prev + 1; q < p; q++)
            CHECK(!is_prime(q)); /* no prime skipped */
        prev = p;
        gr_chan *ch1 = gr_chan_make(sizeof(int), cap);
        chans[i + 1] = ch1;
        fs[i] = (struct filter){ ch, ch1, p, done };
        GO(filter, &fs[i]);
        ch = ch1;
    }
    CHECK_EQ(prev, 7919); /* the 1000th prime */
    /* Stop the pipeline: closing every channel makes each stage return. */
    for (int i = 0; i <= N; i++)
        CHECK_EQ(gr_chan_close(chans[i]), 0);
    done_wait(done, N + 1);
    for (int i = 0; i <= N; i++)
        CHECK_EQ(gr_chan_free(chans[i]), 0);
    gr_chan_free(done);
}

Test(chan_basic, prime_sieve_1000, .timeout = 120)
{
    RUN_PROCS(sieve, (void *)0);
}

Test(chan_basic, prime_sieve_1000_buffered, .timeout = 120)
{
    RUN(2, sieve, (void *)16);
}

/* ---------- a channel that outlives the runtime ---------- */

static gr_chan *outlives;

static void parked_recv(void *arg)
{
    int v;
    gr_chan_recv(outlives, &v);
}

static void parked_select2(void *arg)
{
    int v = 1;
    struct gr_case cs[2] = { { GR_SEND, outlives, &v, 0 }, { GR_RECV, outlives, &v, 0 } };
    gr_select(cs, 2, -1);
}

static void abandon_waiters(void *arg)
{
    GO(parked_recv, NULL);
    GO(parked_select2, NULL);
    gr_sleep(2 * MS);
}

static void reuse_after(void *arg)
{
    int v = 5;
    /* the abandoned waiters must be gone: nobody receives, nobody sends */
    CHECK_EQ(gr_chan_try_send(outlives, &v), -EAGAIN);
    CHECK_EQ(gr_chan_try_recv(outlives, &v), -EAGAIN);
    CHECK_EQ(gr_chan_free(outlives), 0);
}

/* Core calls gr__chan_abandon for each abandoned goroutine at teardown. */
Test(chan_basic, channel_outlives_abandoned_waiters, .timeout = 30)
{
    outlives = gr_chan_make(sizeof(int), 0);
    RUN(2, abandon_waiters, NULL);
    RUN(2, reuse_after, NULL);
}

/* A receiver readied by a send but not yet run when gr_main returns, with
 * its channel already freed (legal: a woken receiver does not touch the
 * channel again): the teardown must not touch the freed channel. */
static gr_chan *woken_started;

static void woken_recv(void *arg)
{
    int v;
    gr_chan_send(woken_started, NULL);
    gr_chan_recv(arg, &v);
}

static void free_then_return(void *arg)
{
    gr_chan *c = gr_chan_make(sizeof(int), 0);
    woken_started = gr_chan_make(0, 0);
    GO(woken_recv, c);
    CHECK_EQ(gr_chan_recv(woken_started, NULL), 0); /* one P: it is parked in recv */
    int v = 1;
    CHECK_EQ(gr_chan_send(c, &v), 0); /* readies it; it has not run */
    CHECK_EQ(gr_chan_free(c), 0);
    CHECK_EQ(gr_chan_free(woken_started), 0);
}

Test(chan_basic, teardown_skips_freed_channel_of_woken_receiver, .timeout = 30)
{
    for (int i = 0; i < 20; i++)
        RUN(1, free_then_return, NULL);
}
