/*
 * core/sysmon.c: the system monitor (Go's sysmon): a thread with no P.
 *
 * Every period (GRDEBUG sysmon_us, 20 us; doubling up to 10 ms after 1 ms
 * of finding nothing to do, back to 20 us as soon as it acts) it:
 *   - retakes Ps that sat in a system call for GRDEBUG retake_us and hands
 *     them to another M (handoffp), when handoff=1;
 *   - asks a goroutine that ran 10 ms (preempt_ms) without a scheduler pass
 *     to yield at its next runtime call;
 *   - reaps a busy P's ring that nobody reaped for 10 ms;
 *   - runs timers that stay overdue on a P whose M is stuck in a goroutine;
 *   - prints the schedtrace line.
 * gr_syscall_enter wakes it early when it is in a long sleep, so a blocked
 * call is retaken within about retake_us, not after the 10 ms back-off.
 *
 * Invariants: sysmon holds no P and no lock across its sleep; its per-P
 * fields (sm_*) are its own; it changes a P only by CAS on p->status
 * (SYSCALL -> IDLE), racing exitsyscall's CAS (SYSCALL -> RUNNING).
 * `deep` (atomic, seq_cst): set by sysmon before a long sleep, cleared by
 * exchange by exactly one waker.
 */
#include "core/sched.h"
#include "core/netpoll.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_t sysmon_thread;
static _Atomic bool sysmon_stop;
static _Atomic bool deep;

void gr__sysmon_wake(void)
{
    if (atomic_load_explicit(&deep, memory_order_relaxed) &&
        atomic_exchange_explicit(&deep, false, memory_order_seq_cst))
        gr__note_wakeup(&gr__sched.sysmon_note);
}

static bool retake(int64_t now)
{
    bool acted = false;
    for (int i = 0; i < gr__sched.nprocs; i++) {
        P *pp = gr__sched.allp[i];
        uint32_t st = atomic_load_explicit(&pp->status, memory_order_acquire);
        if (st == GR__PSYSCALL) {
            uint32_t t = atomic_load_explicit(&pp->syscalltick, memory_order_relaxed);
            if (pp->sm_syscalltick != t) {
                /* A new call: it began at syscallwhen (entersyscall's
                 * clock), so it may be retaken on this first look. */
                pp->sm_syscalltick = t;
                pp->sm_syscallwhen = atomic_load_explicit(&pp->syscallwhen, memory_order_relaxed);
                acted = true;      /* keep the short period while syscalls happen */
            }
            if (!gr__debug.handoff || now - pp->sm_syscallwhen < gr__debug.retake_ns)
                continue;
            /* Go: leave it if there is no work for it and others are idle,
             * for up to 10 ms. A ring owing completions is work. */
            if (gr__runqempty(pp) && !gr__netpoll_busy(pp) && gr__timers_next(pp) == 0 &&
                atomic_load(&gr__sched.nmspinning) + atomic_load(&gr__sched.npidle) > 0 &&
                now - pp->sm_syscallwhen < 10 * 1000 * 1000)
                continue;
            uint32_t exp = GR__PSYSCALL;
            if (atomic_compare_exchange_strong_explicit(&pp->status, &exp, GR__PIDLE, memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                atomic_fetch_add_explicit(&gr__sched.nretakes, 1, memory_order_relaxed);
                gr__handoffp(pp);
                acted = true;
            }
        } else if (st == GR__PRUNNING) {
            uint32_t t = GR__RLX_LOAD(pp->schedtick);
            if (pp->sm_schedtick != t || pp->sm_schedwhen == 0) {
                pp->sm_schedtick = t;
                pp->sm_schedwhen = now;
            } else if (atomic_load_explicit(&pp->polling, memory_order_relaxed) == 0 &&
                       now - pp->sm_schedwhen >= gr__debug.preempt_ns) {
                M *mp = GR__RLX_LOAD(pp->m);
                G *gp = mp ? GR__RLX_LOAD(mp->curg) : NULL;
                atomic_store_explicit(&pp->slice_expired, 1, memory_order_relaxed);
                if (gp && !atomic_load_explicit(&gp->preempt, memory_order_relaxed)) {
                    atomic_store_explicit(&gp->preempt, true, memory_order_relaxed);
                    atomic_fetch_add_explicit(&gr__sched.npreempt, 1, memory_order_relaxed);
                    acted = true;
                }
                pp->sm_schedwhen = now;
            }
        }
    }
    return acted;
}

/* Rings and timers of Ps whose M is stuck running one goroutine. */
static bool help_busy_ps(int64_t now)
{
    bool acted = false;
    for (int i = 0; i < gr__sched.nprocs; i++) {
        P *pp = gr__sched.allp[i];
        if (atomic_load_explicit(&pp->status, memory_order_acquire) != GR__PRUNNING ||
            atomic_load_explicit(&pp->polling, memory_order_relaxed) != 0)
            continue;
        if (gr__netpoll_busy(pp) && now - gr__netpoll_lastpoll(pp) > 10 * 1000 * 1000) {
            G *list = NULL;
            if (gr__netpoll_reap_remote(pp, &list) > 0) {
                gr__injectglist(list);
                acted = true;
            }
        }
        int64_t w = gr__timers_next(pp);
        if (w != 0 && now - w > 1000 * 1000) {
            gr__timers_run(pp, now);
            acted = true;
        }
    }
    return acted;
}

static void schedtrace(int64_t now)
{
    char line[4096];
    int n = snprintf(line, sizeof line,
                     "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
                     "idlethreads=%d runqueue=%d [",
                     (long long)((now - gr__sched.start_time) / 1000000), gr__sched.nprocs,
                     atomic_load(&gr__sched.npidle), gr__sched.mcount + 1,
                     atomic_load(&gr__sched.nmspinning), gr__sched.nmidle,
                     atomic_load(&gr__sched.runqsize));
    for (int i = 0; i < gr__sched.nprocs && n < (int)sizeof line - 16; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, i ? " %u" : "%u", gr__runqlen(gr__sched.allp[i]));
    snprintf(line + n, sizeof line - (size_t)n, "]\n");
    ssize_t w = write(2, line, strlen(line));
    (void)w;
}

/* The next schedtrace line's time after t (schedtrace_ms is capped at
 * INT64_MAX / 1e6 when parsed; the sum saturates). */
static int64_t trace_after(int64_t t)
{
    int64_t d = gr__debug.schedtrace_ms * 1000000;
    return d > INT64_MAX - t ? INT64_MAX : t + d;
}

static void *sysmon_main(void *arg)
{
    (void)arg;
    int64_t delay = gr__debug.sysmon_ns;
    int idle = 0;
    int64_t next_trace = trace_after(gr__sched.start_time);
    while (!atomic_load_explicit(&sysmon_stop, memory_order_acquire)) {
        if (delay > 4 * gr__debug.sysmon_ns)
            atomic_store_explicit(&deep, true, memory_order_seq_cst);
        if (gr__note_sleep(&gr__sched.sysmon_note, delay)) {
            gr__note_clear(&gr__sched.sysmon_note);
            idle = 0;
            delay = gr__debug.sysmon_ns;
        }
        atomic_store_explicit(&deep, false, memory_order_relaxed);
        if (atomic_load_explicit(&sysmon_stop, memory_order_acquire))
            break;
        int64_t now = gr__nanotime();
        bool acted = retake(now);
        acted |= help_busy_ps(now);
        if (gr__debug.schedtrace_ms > 0 && now >= next_trace) {
            schedtrace(now);
            next_trace = trace_after(now);
        }
        if (acted) {
            idle = 0;
            delay = gr__debug.sysmon_ns;
        } else if (++idle > 50) {
            delay *= 2;
            if (delay > 10 * 1000 * 1000)
                delay = 10 * 1000 * 1000;
        }
        if (gr__debug.schedtrace_ms > 0 && delay > gr__debug.schedtrace_ms * 1000000)
            delay = gr__debug.schedtrace_ms * 1000000;
    }
    return NULL;
}

int gr__sysmon_start(void)
{
    atomic_store(&sysmon_stop, false);
    atomic_store(&deep, false);
    gr__note_clear(&gr__sched.sysmon_note);
    return -pthread_create(&sysmon_thread, NULL, sysmon_main, NULL);
}

void gr__sysmon_stop(void)
{
    atomic_store_explicit(&sysmon_stop, true, memory_order_release);
    gr__note_wakeup(&gr__sched.sysmon_note);
    pthread_join(sysmon_thread, NULL);
}
