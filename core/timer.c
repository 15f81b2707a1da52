/*
 * core/timer.c: runtime timers on per-P heaps, and gr_sleep on them.
 *
 * Each P has a binary min-heap of timers ordered by `when`, under the P's
 * timer lock. The M holding a P runs its due timers on every scheduler
 * pass; a stealing M runs a busy P's due timers; sysmon runs timers that
 * stay overdue on a P whose M is busy in a long goroutine. A P with timers
 * never goes on the idle list: its M blocks in its ring with the next
 * timer as timeout (core/sched.c).
 *
 * Invariants:
 * - t->pp != NULL iff t is in pp's heap; t->pp, t->idx and t->when change
 *   only under pp->timers.lock. t->pp is atomic so that stop/start can find
 *   the heap without a lock, then re-check under it.
 * - t->seq (atomic, seq_cst) is bumped by every start and stop; a periodic
 *   timer is re-added after its f only if seq did not change meanwhile,
 *   so a stop or reset during f wins.
 * - t->running counts f calls in progress: incremented (seq_cst) under the
 *   heap lock before t->seq is read and t leaves the heap, decremented
 *   (release) after f and the re-add. It is the last field of t the firing
 *   thread touches; gr__timer_stop waits for it to drop to zero, so the
 *   struct may be freed right after stop.
 * - timers.timer0when mirrors heap[0]->when (0: empty), seq_cst: it pairs
 *   with the polling flag of the P (an M about to block re-reads it after
 *   announcing the poll; an adder from another thread reads polling after
 *   publishing the timer).
 * - Lock order (core/lockrank.h): a P's timer lock ("timers") may be
 *   taken under hchan and descriptor locks (a select, a deadline arms its
 *   timer under them); nothing is taken under it, and f runs with no lock
 *   held.
 */
#include "core/sched.h"
#include "core/netpoll.h"
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

static _Atomic int64_t ntimers;      /* timers in all heaps */
static __thread struct gr__timer *tls_firing __attribute__((tls_model("initial-exec")));

void gr__timers_init(P *pp)
{
    gr__lock_init(&pp->timers.lock, GR__RANK_TIMERS);
    pp->timers.cap = 64;
    pp->timers.heap = gr__xcalloc((size_t)pp->timers.cap, sizeof(struct gr__timer *));
    pp->timers.len = 0;
    atomic_store(&pp->timers.timer0when, 0);
}

void gr__timers_destroy(P *pp)
{
    struct gr__timers *ts = &pp->timers;
    for (int32_t i = 0; i < ts->len; i++)
        atomic_store(&ts->heap[i]->pp, NULL);
    atomic_fetch_sub(&ntimers, ts->len);
    free(ts->heap);
    ts->heap = NULL;
    ts->len = ts->cap = 0;
}

int64_t gr__timers_count(void)
{
    return atomic_load_explicit(&ntimers, memory_order_seq_cst);
}

int64_t gr__timers_next(P *pp)
{
    return atomic_load_explicit(&pp->timers.timer0when, memory_order_seq_cst);
}

static void heap_set(struct gr__timers *ts, int32_t i, struct gr__timer *t)
{
    ts->heap[i] = t;
    t->idx = i;
}

static void sift_up(struct gr__timers *ts, int32_t i)
{
    struct gr__timer *t = ts->heap[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (ts->heap[parent]->when <= t->when)
            break;
        heap_set(ts, i, ts->heap[parent]);
        i = parent;
    }
    heap_set(ts, i, t);
}

static void sift_down(struct gr__timers *ts, int32_t i)
{
    struct gr__timer *t = ts->heap[i];
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= ts->len)
            break;
        if (c + 1 < ts->len && ts->heap[c + 1]->when < ts->heap[c]->when)
            c++;
        if (t->when <= ts->heap[c]->when)
            break;
        heap_set(ts, i, ts->heap[c]);
        i = c;
    }
    heap_set(ts, i, t);
}

static void update_t0(struct gr__timers *ts)
{
    atomic_store_explicit(&ts->timer0when, ts->len ? ts->heap[0]->when : 0, memory_order_seq_cst);
}

/* Push t on pp's heap; pp's timer lock held. */
static void heap_push(P *pp, struct gr__timer *t)
{
    struct gr__timers *ts = &pp->timers;
    if (ts->len == ts->cap) {
        int32_t ncap = ts->cap * 2;
        struct gr__timer **nh = realloc(ts->heap, (size_t)ncap * sizeof *nh);
        if (!nh)
            gr__throw("out of memory growing a timer heap");
        ts->heap = nh;
        ts->cap = ncap;
    }
    ts->heap[ts->len] = t;
    t->idx = ts->len++;
    atomic_store_explicit(&t->pp, pp, memory_order_release);
    sift_up(ts, t->idx);
    atomic_fetch_add_explicit(&ntimers, 1, memory_order_seq_cst);
    if (t->idx == 0)
        update_t0(ts);
}

/* Remove heap[i]; lock held. */
static void heap_remove(P *pp, int32_t i)
{
    struct gr__timers *ts = &pp->timers;
    struct gr__timer *t = ts->heap[i];
    int32_t last = --ts->len;
    if (i != last) {
        heap_set(ts, i, ts->heap[last]);
        sift_down(ts, i);
        sift_up(ts, ts->heap[i]->idx == i ? i : ts->heap[i]->idx);
    }
    ts->heap[last] = NULL;
    t->idx = -1;
    atomic_store_explicit(&t->pp, NULL, memory_order_release);
    atomic_fetch_sub_explicit(&ntimers, 1, memory_order_seq_cst);
    update_t0(ts);
}

/* Remove t from whatever heap holds it; true if it was there. */
static bool timer_unlink(struct gr__timer *t)
{
    for (;;) {
        P *pp = atomic_load_explicit(&t->pp, memory_order_acquire);
        if (!pp)
            return false;
        gr__lock(&pp->timers.lock);
        if (atomic_load_explicit(&t->pp, memory_order_relaxed) != pp) {
            gr__unlock(&pp->timers.lock);
            continue;
        }
        heap_remove(pp, t->idx);
        gr__unlock(&pp->timers.lock);
        return true;
    }
}

void gr__timer_init(struct gr__timer *t, void (*f)(void *, int64_t), void *arg)
{
    t->when = 0;
    t->period = 0;
    t->f = f;
    t->arg = arg;
    atomic_store_explicit(&t->pp, NULL, memory_order_relaxed);
    t->idx = -1;
    atomic_store_explicit(&t->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&t->running, 0, memory_order_relaxed);
}

/* A timer was added to pp by a thread that does not hold it: make sure an
 * M watches pp's heap (break its poll, or take it off the idle list). */
static void wake_timer_p(P *pp)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (gr__break_polling(pp))
        return;
    uint32_t st = atomic_load_explicit(&pp->status, memory_order_seq_cst);
    if (st == GR__PSYSCALL) {
        /* Its M is blocked in a call: retake it now, as sysmon would. */
        if (atomic_compare_exchange_strong_explicit(&pp->status, &st, GR__PIDLE, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_fetch_add_explicit(&gr__sched.nretakes, 1, memory_order_relaxed);
            gr__handoffp(pp);
        }
        return;
    }
    if (st != GR__PIDLE)
        return;
    if (gr__pidle_take(pp))
        gr__handoffp(pp);
}

bool gr__timer_start(struct gr__timer *t, int64_t when, int64_t period)
{
    M *mp = gr__getm();
    P *pp = mp ? mp->p : NULL;
    bool foreign = pp == NULL;
    /* From a thread with no P: the heaps may be going (gr_main's end). */
    bool entered = foreign && !mp && gr__foreign_enter(true);
    if (foreign && !mp && !entered)
        return false;
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_seq_cst);
    bool pending = timer_unlink(t);
    if (foreign) {
        if (!gr__running() || !gr__sched.allp) {
            if (entered)
                gr__foreign_exit();
            return pending;
        }
        pp = gr__sched.allp[gr__fastrandn((uint32_t)gr__sched.nprocs)];
    }
    gr__lock(&pp->timers.lock);
    t->when = when;
    t->period = period > 0 ? period : 0;
    heap_push(pp, t);
    gr__unlock(&pp->timers.lock);
    if (foreign)
        wake_timer_p(pp);
    if (entered)
        gr__foreign_exit();
    return pending;
}

static bool timer_stop(struct gr__timer *t);

bool gr__timer_stop(struct gr__timer *t)
{
    if (gr__getm())
        return timer_stop(t);
    if (!gr__foreign_enter(true))
        return false;   /* no runtime: t is in no heap (teardown emptied them) */
    bool removed = timer_stop(t);
    gr__foreign_exit();
    return removed;
}

static bool timer_stop(struct gr__timer *t)
{
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_seq_cst);
    bool removed = timer_unlink(t);
    if (tls_firing == t)
        return removed;   /* stopped from its own f */
    int spins = 0;
    while (atomic_load_explicit(&t->running, memory_order_acquire) != 0) {
        removed |= timer_unlink(t);
        if (++spins > 100)
            sched_yield();
        else
            gr__cpu_relax();
    }
    /* A periodic re-add that raced with our seq bump is visible now. */
    removed |= timer_unlink(t);
    return removed;
}

/* The first multiple of period after `when` that is later than now
 * (missed ticks are skipped); INT64_MAX where that is past the clock's
 * range, as Go clamps a ticker's next when to maxWhen. when <= now. */
static int64_t next_tick(int64_t when, int64_t period, int64_t now)
{
    int64_t k = (now - when) / period + 1;
    if (k > (INT64_MAX - when) / period)
        return INT64_MAX;
    return when + k * period;
}

int64_t gr__timers_run(P *pp, int64_t now)
{
    struct gr__timers *ts = &pp->timers;
    if (!gr__trylock(&ts->lock))
        return atomic_load_explicit(&ts->timer0when, memory_order_relaxed);
    while (ts->len > 0 && ts->heap[0]->when <= now) {
        struct gr__timer *t = ts->heap[0];
        /* running before seq, both before t->pp goes NULL: a stop that
         * sees t out of the heap (acquire on t->pp) also sees running and
         * waits; a stop whose seq bump we miss here is one that will wait
         * for our re-add and unlink it. */
        atomic_fetch_add_explicit(&t->running, 1, memory_order_seq_cst);
        uint32_t seq = atomic_load_explicit(&t->seq, memory_order_seq_cst);
        heap_remove(pp, 0);
        gr__unlock(&ts->lock);

        struct gr__timer *outer = tls_firing;
        tls_firing = t;
        t->f(t->arg, now);
        tls_firing = outer;
        atomic_fetch_add_explicit(&gr__sched.ntimers_fired, 1, memory_order_relaxed);

        gr__lock(&ts->lock);
        if (t->period > 0 && atomic_load_explicit(&t->seq, memory_order_seq_cst) == seq &&
            atomic_load_explicit(&t->pp, memory_order_relaxed) == NULL) {
            t->when = next_tick(t->when, t->period, now);
            heap_push(pp, t);
        }
        atomic_fetch_sub_explicit(&t->running, 1, memory_order_release);
    }
    int64_t next = ts->len ? ts->heap[0]->when : 0;
    gr__unlock(&ts->lock);
    return next;
}

/* ---------- gr_sleep ---------- */

static void sleep_wake(void *arg, int64_t now)
{
    (void)now;
    gr__ready((G *)arg);
}

struct sleep_ctx {
    struct gr__timer t;
    int64_t when;
};

static bool sleep_arm(G *gp, void *arg)
{
    (void)gp;
    struct sleep_ctx *sc = arg;
    gr__timer_start(&sc->t, sc->when, 0);
    return true;
}

int gr_sleep(int64_t ns)
{
    G *gp = gr__getg();
    if (!gp)
        return -EPERM;
    if (ns <= 0) {
        gr_yield();
        return 0;
    }
    struct sleep_ctx sc;
    gr__timer_init(&sc.t, sleep_wake, gp);
    int64_t now = gr__nanotime();
    sc.when = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    /* Arm on g0 after switching out, so the timer cannot ready us before
     * we are parked (Go's resetForSleep). */
    gr__park(sleep_arm, &sc, GR_WAIT_SLEEP);
    /* The firing thread may still be returning from sleep_wake: wait for
     * it to let go of sc.t before this frame goes away. */
    gr__timer_stop(&sc.t);
    return 0;
}
