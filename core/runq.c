/*
 * core/runq.c: run queues (Go's runqput/runqget/runqsteal, globrunq*,
 * injectglist).
 *
 * Each P has a local queue of GR_RUNQ_SIZE slots and a one-G runnext
 * slot; one global queue (sched.runqhead/tail) takes what overflows and
 * what threads without a P ready.
 *
 * Invariants:
 * - A G is on at most one queue (a P's runq/runnext or the global runq),
 *   and only while GRUNNABLE.
 * - A P's runq: only the owner writes tail (store-release after filling
 *   the slot); consumers (owner and stealers) CAS head (acq-rel). runnext:
 *   the owner stores, stealers CAS it to NULL.
 * - The global queue is under sched.lock; runqsize is written under it and
 *   read racily as a hint (relaxed), re-checked under the lock.
 * - Lock order (core/lockrank.h): sched.lock, with nothing taken under it;
 *   callers may hold an hchan lock (gr__ready -> globrunqput).
 */
#include "core/sched.h"

/* Move half the local queue plus gp to the global queue. Owner only. */
static bool runqputslow(P *pp, G *gp, uint32_t head, uint32_t tail)
{
    G *batch[GR_RUNQ_SIZE / 2 + 1];
    uint32_t n = (tail - head) / 2;
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&pp->runq[(head + i) % GR_RUNQ_SIZE], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&pp->runqhead, &head, head + n,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    batch[n] = gp;
    for (uint32_t i = 0; i < n; i++)
        batch[i]->schedlink = batch[i + 1];
    batch[n]->schedlink = NULL;
    gr__lock(&gr__sched.lock);
    if (gr__sched.runqtail)
        gr__sched.runqtail->schedlink = batch[0];
    else
        gr__sched.runqhead = batch[0];
    gr__sched.runqtail = batch[n];
    atomic_fetch_add_explicit(&gr__sched.runqsize, (int32_t)n + 1, memory_order_relaxed);
    gr__unlock(&gr__sched.lock);
    return true;
}

/* Put gp on pp's local queue; with next, in runnext (the old runnext goes
 * to the tail). Owner only. */
void gr__runqput(P *pp, G *gp, bool next)
{
    if (next) {
        G *old = atomic_exchange_explicit(&pp->runnext, gp, memory_order_acq_rel);
        if (old == NULL)
            return;
        gp = old;
    }
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail - head < GR_RUNQ_SIZE) {
            atomic_store_explicit(&pp->runq[tail % GR_RUNQ_SIZE], gp, memory_order_relaxed);
            atomic_store_explicit(&pp->runqtail, tail + 1, memory_order_release);
            return;
        }
        if (runqputslow(pp, gp, head, tail))
            return;
    }
}

/* Take a G from pp's runnext or queue. Owner only. */
G *gr__runqget(P *pp)
{
    G *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (next && atomic_compare_exchange_strong_explicit(&pp->runnext, &next, NULL,
                                                         memory_order_acq_rel, memory_order_relaxed))
        return next;
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail == head)
            return NULL;
        G *gp = atomic_load_explicit(&pp->runq[head % GR_RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + 1,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return gp;
    }
}

/* Grab half of victim's queue into batch (Go's runqgrab). */
static uint32_t runqgrab(P *victim, G **batch, bool stealnext)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&victim->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&victim->runqtail, memory_order_acquire);
        uint32_t n = tail - head;
        n = n - n / 2;
        if (n == 0) {
            if (stealnext) {
                G *next = atomic_load_explicit(&victim->runnext, memory_order_acquire);
                if (next && atomic_load_explicit(&victim->status, memory_order_relaxed) == GR__PRUNNING) {
                    /* Go's runqgrab: a running P is about to run its
                     * runnext (typically the partner of a hand-off that is
                     * just parking). Give it ~3 us before stealing, or the
                     * pair bounces between Ps. */
                    int64_t until = gr__nanotime() + 3000;
                    while (atomic_load_explicit(&victim->runnext, memory_order_acquire) == next &&
                           gr__nanotime() < until)
                        gr__cpu_relax();
                    next = atomic_load_explicit(&victim->runnext, memory_order_acquire);
                }
                if (next && atomic_compare_exchange_strong_explicit(&victim->runnext, &next, NULL,
                                                                     memory_order_acq_rel,
                                                                     memory_order_relaxed)) {
                    batch[0] = next;
                    return 1;
                }
            }
            return 0;
        }
        if (n > GR_RUNQ_SIZE / 2)
            continue;   /* inconsistent head/tail pair: reread */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&victim->runq[(head + i) % GR_RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&victim->runqhead, &head, head + n,
                                                    memory_order_acq_rel, memory_order_relaxed))
            return n;
    }
}

/* Steal half of victim's queue into pp's; return one G to run. */
G *gr__runqsteal(P *pp, P *victim, bool stealnext)
{
    G *batch[GR_RUNQ_SIZE / 2];
    uint32_t n = runqgrab(victim, batch, stealnext);
    if (n == 0)
        return NULL;
    atomic_fetch_add_explicit(&pp->steals, 1, memory_order_relaxed);
    G *gp = batch[--n];
    if (n == 0)
        return gp;
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        atomic_store_explicit(&pp->runq[(tail + i) % GR_RUNQ_SIZE], batch[i], memory_order_relaxed);
    atomic_store_explicit(&pp->runqtail, tail + n, memory_order_release);
    return gp;
}

/* ---------- global run queue (sched.lock) ---------- */

/* Take a batch from the global queue into pp; sched.lock held. */
G *gr__globrunqget(P *pp, int32_t max)
{
    int32_t size = atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int32_t n = size / gr__sched.nprocs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > GR_RUNQ_SIZE / 2)
        n = GR_RUNQ_SIZE / 2;
    atomic_fetch_sub_explicit(&gr__sched.runqsize, n, memory_order_relaxed);
    G *gp = gr__sched.runqhead;
    gr__sched.runqhead = gp->schedlink;
    n--;
    for (; n > 0; n--) {
        G *g2 = gr__sched.runqhead;
        gr__sched.runqhead = g2->schedlink;
        gr__runqput(pp, g2, false);
    }
    if (!gr__sched.runqhead)
        gr__sched.runqtail = NULL;
    gp->schedlink = NULL;
    return gp;
}

/* Ready a list of Gs (netpoll completions): onto our P if we have one,
 * else the global queue; wake Ps for the extra work. Go's injectglist. */
void gr__injectglist(G *list)
{
    if (!list)
        return;
    /* The poller chains completions newest first: restore their order. */
    G *rev = NULL;
    while (list) {
        G *next = list->schedlink;
        list->schedlink = rev;
        rev = list;
        list = next;
    }
    list = rev;
    M *mp = gr__getm();
    P *pp = mp ? mp->p : NULL;
    int n = 0;
    if (pp) {
        while (list) {
            G *gp = list;
            list = gp->schedlink;
            gp->schedlink = NULL;
            gr__runqput(pp, gp, false);
            n++;
        }
    } else {
        gr__lock(&gr__sched.lock);
        while (list) {
            G *gp = list;
            list = gp->schedlink;
            gr__globrunqput_locked(gp);
            n++;
        }
        gr__unlock(&gr__sched.lock);
    }
    if (n > 1 || !pp)
        gr__wakep();
}
