/*
 * core/sched.c: the scheduler loop: schedule, findrunnable, execute, the
 * spinning rules and deadlock detection (Go's proc.go).
 *
 * Design (after Go's proc.go):
 *   G  a goroutine: a stack and a saved stack pointer (core/g.c).
 *   M  a thread (core/proc.c). Each M runs this loop on its own thread
 *      stack ("g0") and switches into Gs with gr__swtch; a G gives control
 *      back by switching to g0 with an op in m->swop (park, yield, exit,
 *      ...), which g0 carries out once the G is fully switched out (Go's
 *      mcall; after_switch below).
 *   P  the right to run Gs: GR_MAXPROCS of them. A P holds a local run
 *      queue and runnext slot (core/runq.c), a timer heap (core/timer.c),
 *      an io_uring ring (io/) and a cache of dead Gs with their stacks.
 *
 * The M loop (schedule -> findrunnable), in the order the code runs:
 *   1. this P's expired timers (the clock is read every 4th pass, or when
 *      the local queue is empty);
 *   2. submit queued SQEs (in batches) and reap CQEs of this P's ring, no
 *      more than half the local queue can take (the rest wait in the CQ);
 *   3. every 61st pass, one G from the global queue (fairness);
 *   4. after gr_yield (the yielder is on the global queue), other Ps'
 *      queues first, so a yielding G cannot starve Gs queued behind them;
 *      then runnext (the G inherits the time slice: Go's inheritTime),
 *      then the local queue;
 *   5. the global queue (a batch);
 *   6. stealing, as a spinning M (at most half the busy Ps spin): half of a
 *      victim's queue, and the victim's due timers;
 *   7. nothing found: a P whose ring has requests in flight, or whose heap
 *      has timers, keeps its M, which blocks in the ring (timeout: its next
 *      timer). Any other P goes on the idle list and its M sleeps on a note.
 *
 * Invariants:
 * - Spinning: an M is spinning (counted in sched.nmspinning, seq_cst)
 *   while it looks for work without having found any; at most half the
 *   busy Ps spin; a spinner that finds work and was the last one wakes
 *   another (Go's resetspinning).
 * - No lost wake-up: an M about to sleep first publishes (nmspinning
 *   decrement, P on the idle list, polling = 1, all seq_cst) and then
 *   re-checks every queue and its timers; a thread that adds work calls
 *   wakep after publishing it (core/proc.c). One side always sees the
 *   other.
 * - RUNNABLE->RUNNING only by the M that dequeued the G (execute).
 * - Lock order (core/lockrank.h): sched.lock alone (global queue, idle P
 *   list); a P's timer lock is taken by gr__timers_run with no other lock
 *   held. No lock is
 *   held across gr__swtch except the one a parking G hands to
 *   gr__park_unlock, released on g0.
 */
#include "core/sched.h"
#include "core/netpoll.h"

struct gr__sched gr__sched;

/* Dispose of the G that just switched out. Returns a G to run at once
 * (the same one when its park was already satisfied), or NULL. */
static G *after_switch(M *mp, G *gp)
{
    uintptr_t sp = (uintptr_t)gp->sp;
    if (sp < gp->sp_min)
        gp->sp_min = sp;
    gr__stack_check(gp);
    int op = mp->swop;
    mp->swop = GR__SW_NONE;
    GR__RLX_STORE(mp->curg, NULL);
    switch (op) {
    case GR__SW_PARK: {
        gp->m = NULL;
        atomic_store_explicit(&gp->status, GR__GWAITING, memory_order_release);
        bool (*f)(G *, void *) = gp->waitunlockf;
        void *arg = gp->waitlock;
        gp->waitunlockf = NULL;
        gp->waitlock = NULL;
        if (f && !f(gp, arg)) {
            /* The wait is already over: run it again at once. */
            atomic_store_explicit(&gp->status, GR__GRUNNABLE, memory_order_release);
            gp->waitreason = GR_WAIT_ZERO;
            return gp;
        }
        /* gp may already be running elsewhere: do not touch it. */
        return NULL;
    }
    case GR__SW_YIELD:
        /* To the global queue, as Go's Gosched. (The local tail is ~15 ns
         * cheaper, but then Gs yielding among themselves never let their
         * P steal the Gs stranded behind a P blocked in a system call.)
         * The next pass looks at other Ps' queues first. */
        gp->m = NULL;
        atomic_store_explicit(&gp->status, GR__GRUNNABLE, memory_order_release);
        gr__globrunqput(gp);
        mp->after_yield = true;
        return NULL;
    case GR__SW_PREEMPT:
        /* A G that used its time slice goes to the global queue, as Go's
         * gopreempt_m: Gs readied without a P wait there. */
        gp->m = NULL;
        atomic_store_explicit(&gp->status, GR__GRUNNABLE, memory_order_release);
        gr__globrunqput(gp);
        return NULL;
    case GR__SW_EXIT: {
        gp->m = NULL;
        bool is_main = gp->goid == 1;
        atomic_store_explicit(&gp->status, GR__GDEAD, memory_order_release);
        gp->fn = NULL;
        gp->arg = NULL;
        gp->param = NULL;
        gp->name[0] = 0;
        atomic_fetch_sub_explicit(&gr__sched.ngoroutines, 1, memory_order_relaxed);
        if (is_main) {
            /* Keep G1 off the free lists: teardown frees it with the rest. */
            gr__note_wakeup(&gr__sched.main_done);
            return NULL;
        }
        gr__gfput(mp->p, gp);
        return NULL;
    }
    case GR__SW_SYSEXIT:
        return gr__exitsyscall0(mp, gp);
    case GR__SW_SHUTDOWN:
        gp->m = NULL;
        return NULL;
    default:
        gr__throwf("bad swop %d", op);
    }
}

/* ---------- the direct switch ---------- */

static G *global_take(P *pp, int32_t max);

/* Make gp mp's running G (execute's bookkeeping). inherit: gp came from
 * runnext and shares the current time slice. */
static inline void start_running(M *mp, P *pp, G *gp, bool inherit)
{
    if (!inherit) {
        GR__RLX_STORE(pp->schedtick, pp->schedtick + 1);
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    }
    GR__RLX_STORE(mp->curg, gp);
    gp->m = mp;
    gp->waitreason = GR_WAIT_ZERO;
    atomic_store_explicit(&gp->status, GR__GRUNNING, memory_order_release);
}

/* A G switching out with op may switch straight to the next G (Go's gogo)
 * when that G is known and g0 has nothing due. This pass counts as one of
 * findrunnable's passes: g0 runs instead on the pass that would check the
 * global queue for fairness (every 61st), on every 4th pass while this P
 * has timers or requests in flight on its ring (timers due, completions
 * to reap, queued SQEs to submit: the same cadence as run_timers), when
 * sysmon ended the time slice, at shutdown, and whenever the local queue
 * is empty (stealing, blocking) except at 1 P, where the global queue is
 * the next place g0 would look anyway. A syscall exit without a P and
 * shutdown always go through g0. */
G *gr__direct_next(M *mp, int op)
{
    if (op != GR__SW_PARK && op != GR__SW_YIELD && op != GR__SW_EXIT)
        return NULL;
    P *pp = mp->p;
    uint32_t ft = pp->fairtick + 1, tc = pp->timercheck + 1;
    if (ft % 61 == 0)
        return NULL;
    if ((tc & 3) == 0 &&
        (atomic_load_explicit(&pp->timers.timer0when, memory_order_relaxed) != 0 ||
         (pp->poller && gr__netpoll_busy(pp))))
        return NULL;
    if (atomic_load_explicit(&pp->slice_expired, memory_order_relaxed) ||
        atomic_load_explicit(&gr__sched.shutdown, memory_order_relaxed))
        return NULL;
    bool inherit = false;
    G *gp = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (gp && atomic_compare_exchange_strong_explicit(&pp->runnext, &gp, NULL, memory_order_acq_rel,
                                                      memory_order_relaxed))
        inherit = true;
    else
        gp = gr__runqget(pp);
    if (!gp && gr__sched.nprocs == 1)
        gp = global_take(pp, 0);
    if (!gp)
        return NULL;
    pp->fairtick = ft;
    pp->timercheck = tc;
    start_running(mp, pp, gp, inherit);
    return gp;
}

void gr__finish_prevg(M *mp)
{
    G *prev = mp->prevg;
    G *cur = mp->curg;
    mp->prevg = NULL;
    G *again = after_switch(mp, prev);
    GR__RLX_STORE(mp->curg, cur);
    /* Its park was already satisfied: it runs next. */
    if (again)
        gr__runqput(mp->p, again, true);
}

/* Run gp on mp until it switches out; then dispose of it. Returns a G to
 * run next without a pass through findrunnable, or NULL. */
static G *execute(M *mp, G *gp)
{
    start_running(mp, mp->p, gp, mp->inherit);
    mp->inherit = false;
    gr__san_start(&mp->asan_fake, (const void *)gp->stack_lo, gp->stack_hi - gp->stack_lo);
    gr__tsan_to(gp->tsan_fiber);
    gr__swtch(&mp->g0sp, gp->sp);
    gr__san_finish(mp->asan_fake);
    /* The G that switched to g0: gp, or one gp switched to directly. */
    return after_switch(mp, mp->curg);
}

/* ---------- finding work ---------- */

/* Steal from other Ps (Go's stealWork); runs their due timers on the last
 * pass. Returns a G to run or NULL. */
static G *steal_work(M *mp, int64_t *now)
{
    P *pp = mp->p;
    uint32_t n = (uint32_t)gr__sched.nprocs;
    if (n <= 1)
        return NULL;
    for (int pass = 0; pass < 4; pass++) {
        bool last = pass == 3;
        uint32_t off = gr__fastrandn(n);
        for (uint32_t i = 0; i < n; i++) {
            if (atomic_load_explicit(&gr__sched.shutdown, memory_order_relaxed))
                return NULL;
            P *p2 = gr__sched.allp[(off + i) % n];
            if (p2 == pp)
                continue;
            if (last) {
                int64_t w = atomic_load_explicit(&p2->timers.timer0when, memory_order_relaxed);
                if (w != 0) {
                    if (*now == 0)
                        *now = gr__nanotime();
                    if (w <= *now) {
                        gr__timers_run(p2, *now);
                        G *gp = gr__runqget(pp);
                        if (gp)
                            return gp;
                    }
                }
            }
            if (!gr__runqempty(p2)) {
                G *gp = gr__runqsteal(pp, p2, last);
                if (gp)
                    return gp;
            }
        }
    }
    return NULL;
}

static bool any_runq_work(P *self)
{
    if (atomic_load_explicit(&gr__sched.runqsize, memory_order_seq_cst) > 0)
        return true;
    for (int i = 0; i < gr__sched.nprocs; i++) {
        P *p2 = gr__sched.allp[i];
        if (p2 != self && !gr__runqempty(p2))
            return true;
    }
    return false;
}

static void become_spinning(M *mp)
{
    mp->spinning = true;
    atomic_fetch_add_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
}

void gr__drop_spinning(M *mp)
{
    if (mp->spinning) {
        mp->spinning = false;
        atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
    }
}

static void checkdead(void);

/* Step 1: this P's expired timers. The clock is read on every 4th pass
 * (a pass is well under a microsecond) and whenever the local queue is
 * empty; reading it on every pass cost 11% of a spawn+exit while some
 * goroutine slept. Before the M blocks, step 7 reads it again. *now is
 * the time read, or stays 0. */
static void run_timers(P *pp, int64_t *now)
{
    if (atomic_load_explicit(&pp->timers.timer0when, memory_order_relaxed) != 0 &&
        ((++pp->timercheck & 3) == 0 || gr__runqempty(pp))) {
        *now = gr__nanotime();
        gr__timers_run(pp, *now);
    }
}

/* Step 2: the ring: submit in batches, reap what completed. Reap only
 * while the local queue has room: past half full, completions wait in the
 * CQ in arrival order rather than spill the queue's oldest half to the
 * global queue (which made the 1000-connection echo tail latency several
 * times Go's). */
static void poll_ring(P *pp)
{
    if (!pp->poller)
        return;
    G *list = NULL;
    uint32_t qlen = gr__runqlen(pp);
    unsigned room = qlen < GR_RUNQ_SIZE / 2 ? GR_RUNQ_SIZE / 2 - qlen : 0;
    if (gr__netpoll(pp, room, 0, qlen ? GR_NETPOLL_DEFER : 0, &list) > 0)
        gr__injectglist(list);
}

/* A batch (at most max if max > 0) from the global queue, if it looks
 * non-empty. */
static G *global_take(P *pp, int32_t max)
{
    if (atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        gr__lock(&gr__sched.lock);
        G *gp = gr__globrunqget(pp, max);
        gr__unlock(&gr__sched.lock);
        return gp;
    }
    return NULL;
}

/* Step 3: fairness: one G from the global queue every 61st pass. */
static G *fair_global(P *pp)
{
    return ++pp->fairtick % 61 == 0 ? global_take(pp, 1) : NULL;
}

/* Step 4: after a yield (which queued the G globally) with nothing else
 * on this P, Gs queued behind other Ps first: a G yielding in a loop must
 * not starve them. Then runnext, then the local queue. A G from runnext
 * inherits the time slice of the G that readied it (Go's inheritTime): a
 * pair handing off through runnext shares one slice, so sysmon sees it
 * run long and ends the slice, which sends the pair's next G to the tail
 * (slice_expired). */
static G *local_work(M *mp, P *pp)
{
    G *gp;
    if (mp->after_yield) {
        mp->after_yield = false;
        if (gr__sched.nprocs > 1 && gr__runqempty(pp)) {
            for (int i = 0; i < gr__sched.nprocs; i++) {
                P *p2 = gr__sched.allp[i];
                /* Any P with queued Gs: a busy one, or one whose M is
                 * blocked in a system call and not (yet) retaken. */
                if (p2 != pp && !gr__runqempty(p2)) {
                    gp = gr__runqsteal(pp, p2, true);
                    if (gp)
                        return gp;
                }
            }
        }
    }
    if (atomic_load_explicit(&pp->slice_expired, memory_order_relaxed) &&
        atomic_exchange_explicit(&pp->slice_expired, 0, memory_order_relaxed)) {
        G *nx = atomic_exchange_explicit(&pp->runnext, NULL, memory_order_acq_rel);
        if (nx)
            gr__runqput(pp, nx, false);
    }
    G *nx = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (nx && atomic_compare_exchange_strong_explicit(&pp->runnext, &nx, NULL, memory_order_acq_rel,
                                                      memory_order_relaxed)) {
        mp->inherit = true;
        return nx;
    }
    return gr__runqget(pp);
}

/* Step 5: a batch from the global queue. */
static G *global_work(P *pp)
{
    return global_take(pp, 0);
}

/* Step 6: steal, as a spinning M, while fewer than half the busy Ps'
 * Ms spin. */
static G *steal_spinning(M *mp, int64_t *now)
{
    int32_t busy = gr__sched.nprocs - atomic_load_explicit(&gr__sched.npidle, memory_order_relaxed);
    if (mp->spinning || 2 * atomic_load_explicit(&gr__sched.nmspinning, memory_order_relaxed) < busy) {
        if (!mp->spinning)
            become_spinning(mp);
        return steal_work(mp, now);
    }
    return NULL;
}

/* Step 7, first case: nothing to run, but pp's ring has requests in
 * flight or its heap has timers: keep the P and block in its ring until a
 * completion, a break (wakep) or the next timer. Returns false at once for
 * a P with nothing to watch; true once back, to look for work again. */
static bool block_in_ring(M *mp, P *pp)
{
    int64_t next_timer = gr__timers_next(pp);
    if (!gr__netpoll_busy(pp) && next_timer == 0)
        return false;
    gr__drop_spinning(mp);
    atomic_store_explicit(&pp->polling, 1, memory_order_seq_cst);
    next_timer = gr__timers_next(pp);   /* re-read after announcing */
    if (any_runq_work(pp) || !gr__runqempty(pp) ||
        atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst)) {
        atomic_store_explicit(&pp->polling, 0, memory_order_seq_cst);
        return true;
    }
    int64_t delay = GR_NETPOLL_FOREVER;
    if (next_timer != 0) {
        delay = next_timer - gr__nanotime();
        if (delay < 0)
            delay = 0;
    }
    G *list = NULL;
    int n = gr__netpoll(pp, GR_RUNQ_SIZE / 2, delay, 0, &list);
    atomic_store_explicit(&pp->polling, 0, memory_order_seq_cst);
    if (n > 0)
        gr__injectglist(list);
    return true;
}

/* Step 7, second case: give up the P and stop the M. Returns a G from the
 * global queue if one arrived meanwhile (P kept); else NULL once the M
 * holds a P again (handed over by startm, or won back), to look again. */
static G *stop_idle(M *mp, P *pp)
{
    gr__lock(&gr__sched.lock);
    if (atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        G *gp = gr__globrunqget(pp, 0);
        gr__unlock(&gr__sched.lock);
        return gp;
    }
    gr__releasep(mp);
    gr__pidleput(pp);
    gr__unlock(&gr__sched.lock);
    /* A thread without a P may have added a timer to pp just before it
     * went idle (see wake_timer_p): take it back if it is still ours. */
    if (gr__timers_next(pp) != 0 && gr__pidle_take(pp)) {
        gr__acquirep(mp, pp);
        return NULL;
    }

    bool was_spinning = mp->spinning;
    gr__drop_spinning(mp);
    if (was_spinning) {
        /* Re-check after announcing: work added before our decrement was
         * visible may have seen a spinning M and not woken anyone. */
        if (any_runq_work(NULL)) {
            gr__lock(&gr__sched.lock);
            P *p2 = gr__pidleget();
            gr__unlock(&gr__sched.lock);
            if (p2) {
                gr__acquirep(mp, p2);
                become_spinning(mp);
                return NULL;
            }
        }
    }
    checkdead();
    gr__stopm(mp);
    return NULL;
}

/* Find a runnable G, in the steps listed at the top of this file; blocks
 * until there is one. Returns with mp->p held, or NULL when the runtime is
 * shutting down. */
static G *findrunnable(M *mp)
{
    for (;;) {
        if (atomic_load_explicit(&gr__sched.shutdown, memory_order_acquire))
            return NULL;
        P *pp = mp->p;
        int64_t now = 0;
        G *gp;
        run_timers(pp, &now);                       /* 1 */
        poll_ring(pp);                              /* 2 */
        if ((gp = fair_global(pp)))                 /* 3 */
            return gp;
        if ((gp = local_work(mp, pp)))              /* 4 */
            return gp;
        if ((gp = global_work(pp)))                 /* 5 */
            return gp;
        if ((gp = steal_spinning(mp, &now)))        /* 6 */
            return gp;
        if (block_in_ring(mp, pp))                  /* 7 */
            continue;
        if ((gp = stop_idle(mp, pp)))
            return gp;
    }
}

/* The M loop. Never returns. */
_Noreturn void gr__schedule(M *mp)
{
    for (;;) {
        G *gp = findrunnable(mp);
        if (!gp)
            gr__m_shutdown_park(mp);
        if (mp->spinning) {
            /* Found work: stop spinning; if we were the last spinner,
             * wake another M to look for more (Go's resetspinning). */
            mp->spinning = false;
            if (atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst) == 1)
                gr__wakep();
        }
        while (gp)
            gp = execute(mp, gp);
    }
}

/* ---------- deadlock detection (Go's checkdead) ---------- */

/* See gr__external_waker; seq_cst as the other counts checkdead reads. */
static _Atomic int32_t nexternal;

void gr__external_waker(int delta)
{
    atomic_fetch_add_explicit(&nexternal, delta, memory_order_seq_cst);
}

static void checkdead(void)
{
    if (!gr__debug.deadlock)
        return;
    if (atomic_load_explicit(&gr__sched.npidle, memory_order_seq_cst) != gr__sched.nprocs)
        return;
    if (atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst))
        return;
    /* Goroutine 1 returned: gr_main is tearing down, the rest is abandoned. */
    if (atomic_load_explicit(&gr__sched.main_done.key, memory_order_acquire))
        return;
    if (atomic_load_explicit(&gr__sched.nsyscall, memory_order_seq_cst) > 0 ||
        atomic_load_explicit(&nexternal, memory_order_seq_cst) > 0)
        return;
    if (gr__netpoll_inflight() > 0 || gr__timers_count() > 0)
        return;
    gr__lock(&gr__sched.lock);
    bool dead = atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) == 0 &&
                atomic_load_explicit(&gr__sched.npidle, memory_order_relaxed) == gr__sched.nprocs;
    gr__unlock(&gr__sched.lock);
    if (!dead)
        return;
    for (int i = 0; i < gr__sched.nprocs; i++)
        if (!gr__runqempty(gr__sched.allp[i]))
            return;
    /* Every G must be parked: any running or runnable one would hold a P. */
    gr__lock(&gr__sched.glock);
    for (G *gp = gr__sched.allg; gp; gp = gp->alllink) {
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
        if (st == GR__GRUNNABLE || st == GR__GRUNNING || st == GR__GSYSCALL) {
            gr__unlock(&gr__sched.glock);
            return;
        }
    }
    gr__unlock(&gr__sched.glock);
    if (atomic_load_explicit(&gr__sched.ngoroutines, memory_order_relaxed) == 0)
        return;
    gr__throw("all goroutines are asleep - deadlock!");
}
