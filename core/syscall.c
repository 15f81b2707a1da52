/*
 * core/syscall.c: system calls (Go's entersyscall / exitsyscall) and the
 * public brackets gr_syscall_enter, gr_syscall_enter_blocking and
 * gr_syscall_exit.
 *
 * A G in a bracketed call keeps its M but lets its P go: the P's status
 * is PSYSCALL, and sysmon may retake it (CAS SYSCALL->IDLE, then
 * handoffp); _blocking hands the P off at once.
 *
 * Invariants:
 * - RUNNING<->SYSCALL for the G only by the G itself.
 * - P SYSCALL->RUNNING (exitsyscall) and SYSCALL->IDLE (retake) by CAS
 *   (acq-rel), so exactly one side wins; the entering M's last store to
 *   its P is the status release store, so the winner sees the P's state.
 * - Teardown: a thread marks itself in a system call (m->insyscall,
 *   seq_cst) only after its last touch of the runtime, and on return pairs
 *   a seq_cst store of that mark with a load of shutdown and of the
 *   runtime generation: either teardown waits for it, or it sees the
 *   runtime gone and touches nothing.
 * - Lock order (core/lockrank.h): sched.lock only, alone (idle P list).
 */
#include "core/sched.h"

static void entersyscall(G *gp, M *mp)
{
    P *pp = mp->p;
    atomic_fetch_add_explicit(&gr__sched.nsyscalls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
    atomic_store_explicit(&gp->status, GR__GSYSCALL, memory_order_release);
    atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
    atomic_store_explicit(&pp->syscallwhen, gr__nanotime(), memory_order_relaxed);
    mp->syscall_gen = atomic_load_explicit(&gr__runtime_gen, memory_order_relaxed);
    mp->oldp = pp;
    mp->p = NULL;
    GR__RLX_STORE(pp->m, NULL);
    /* release: sysmon (CAS SYSCALL->IDLE) then sees our P's state. */
    atomic_store_explicit(&pp->status, GR__PSYSCALL, memory_order_release);
}

/* Last step before the call: from here teardown may stop waiting for
 * this M and free the runtime, so nothing of the runtime is touched
 * after it (seq_cst: pairs with the shutdown flag, see gr_syscall_exit). */
static void mark_insyscall(M *mp)
{
    atomic_store_explicit(&mp->insyscall, true, memory_order_seq_cst);
}

void gr_syscall_enter(void)
{
    M *mp = gr__getm();
    G *gp = mp ? mp->curg : NULL;
    if (!gp || !mp->p)
        return;
    entersyscall(gp, mp);
    gr__sysmon_wake();
    mark_insyscall(mp);
}

void gr_syscall_enter_blocking(void)
{
    M *mp = gr__getm();
    G *gp = mp ? mp->curg : NULL;
    if (!gp || !mp->p)
        return;
    P *pp = mp->p;
    entersyscall(gp, mp);
    uint32_t st = GR__PSYSCALL;
    if (atomic_compare_exchange_strong_explicit(&pp->status, &st, GR__PIDLE, memory_order_acq_rel,
                                                memory_order_relaxed))
        gr__handoffp(pp);
    mark_insyscall(mp);
}

void gr_syscall_exit(void)
{
    M *mp = gr__getm();
    G *gp = mp ? mp->curg : NULL;
    if (!gp || atomic_load_explicit(&gp->status, memory_order_relaxed) != GR__GSYSCALL)
        return;
    P *pp = mp->oldp;
    mp->oldp = NULL;
    /* seq_cst store, then load: either teardown sees us back (and waits
     * for us to stop), or we see its shutdown flag (and stay away). A
     * runtime generation that moved on means ours was torn down. */
    atomic_store_explicit(&mp->insyscall, false, memory_order_seq_cst);
    if (mp->syscall_gen != atomic_load_explicit(&gr__runtime_gen, memory_order_seq_cst) ||
        atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst)) {
        /* The runtime stopped while we were away: this G is abandoned,
         * and so is this thread; touch nothing of the runtime. */
        atomic_store_explicit(&mp->insyscall, true, memory_order_release);
        static _Atomic uint32_t forever;
        for (;;)
            gr__futex_wait(&forever, 0, -1);
    }
    /* Fast path: our P is still ours. */
    uint32_t st = GR__PSYSCALL;
    if (pp && atomic_compare_exchange_strong_explicit(&pp->status, &st, GR__PRUNNING,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
        gr__acquirep(mp, pp);
        atomic_fetch_sub_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
        atomic_store_explicit(&gp->status, GR__GRUNNING, memory_order_release);
        if (atomic_load_explicit(&gp->preempt, memory_order_relaxed))
            gr__checkpreempt();
        return;
    }
    /* Any idle P. */
    if (atomic_load_explicit(&gr__sched.npidle, memory_order_relaxed) > 0) {
        gr__lock(&gr__sched.lock);
        P *p2 = gr__pidleget();
        gr__unlock(&gr__sched.lock);
        if (p2) {
            gr__acquirep(mp, p2);
            atomic_fetch_sub_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
            atomic_store_explicit(&gp->status, GR__GRUNNING, memory_order_release);
            return;
        }
    }
    /* Queue the G and park this M (on g0). */
    gr__mcall(GR__SW_SYSEXIT);
}

/* On g0, for a G back from a system call that found no P (Go's
 * exitsyscall0): an idle P if one freed up meanwhile (the G runs at once),
 * else the G goes to the global queue and this M stops. */
G *gr__exitsyscall0(M *mp, G *gp)
{
    gp->m = NULL;
    gr__lock(&gr__sched.lock);
    P *pp = gr__pidleget();
    if (!pp) {
        gr__globrunqput_locked(gp);
        atomic_store_explicit(&gp->status, GR__GRUNNABLE, memory_order_release);
    }
    gr__unlock(&gr__sched.lock);
    atomic_fetch_sub_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
    if (pp) {
        gr__acquirep(mp, pp);
        atomic_store_explicit(&gp->status, GR__GRUNNABLE, memory_order_release);
        return gp;
    }
    /* No idle P: every P runs or polls its ring. Break a polling one
     * so the G just queued globally is seen. */
    gr__wakep();
    gr__stopm(mp);
    return NULL;
}
