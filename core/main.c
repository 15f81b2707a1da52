/*
 * core/main.c: the runtime's life: gr_main (init, goroutine 1, wait),
 * teardown (stop the world, drain the rings, the layers' teardown hooks,
 * join and free).
 *
 * The thread that calls gr_main is not an M: it starts M0 and the sysmon
 * thread, waits for goroutine 1 to end, then tears the runtime down. So a
 * goroutine blocked in a system call on any M can never hold up gr_main.
 *
 * Invariants:
 * - One runtime at a time (gr_main's busy flag); gr__runtime_gen counts
 *   runtimes started, so a thread back from a system call begun under an
 *   earlier runtime touches nothing (core/syscall.c).
 * - Teardown: shutdown is set under sched.lock (startm then starts
 *   nothing); every M then either parks for shutdown (m->stopped, under
 *   sched.lock, counted in nmstopped) or is marked in a system call;
 *   teardown waits for that, and frees only what no thread still uses (a
 *   G in a system call and its M's thread are leaked).
 * - Plain threads (gr_go, timers, wake-ups from any thread) enter the
 *   scheduler's state through gr__foreign_enter, which refuses once
 *   shutdown is set; teardown waits for those inside before it walks allg
 *   or frees anything.
 * - Lock order (core/lockrank.h): sched.lock, with nothing taken under
 *   it; sched.glock is not taken (teardown walks allg once every M has
 *   stopped).
 */
#include "core/sched.h"
#include "core/netpoll.h"
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Runtimes started by this process: a thread back from a system call
 * that began under an earlier runtime must not touch the current one. */
_Atomic uint64_t gr__runtime_gen;

/* Plain threads inside the scheduler's state now (gr__foreign_enter).
 * Outside gr__sched: that is zeroed when a runtime starts. seq_cst with
 * running/shutdown: a thread either sees teardown begun and stays out, or
 * teardown sees its count and waits. */
static _Atomic int32_t nforeign;
static _Atomic int tearing;   /* 1 from teardown's start to the last free */

bool gr__foreign_enter(bool wait)
{
    for (;;) {
        atomic_fetch_add_explicit(&nforeign, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&gr__sched.running, memory_order_seq_cst) &&
            !atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst))
            return true;
        atomic_fetch_sub_explicit(&nforeign, 1, memory_order_release);
        if (!wait || !atomic_load_explicit(&tearing, memory_order_seq_cst))
            return false;
        sched_yield();   /* bounded: teardown does not wait for us */
    }
}

void gr__foreign_exit(void)
{
    atomic_fetch_sub_explicit(&nforeign, 1, memory_order_release);
}

/* Teardown, with shutdown set: wait for plain threads still inside. */
static void wait_foreign_out(void)
{
    while (atomic_load_explicit(&nforeign, memory_order_acquire) != 0)
        sched_yield();
}

static void stop_the_world_for_shutdown(void)
{
    gr__lock(&gr__sched.lock);
    atomic_store_explicit(&gr__sched.shutdown, 1, memory_order_seq_cst);
    gr__unlock(&gr__sched.lock);
    /* Wake idle Ms and break polling Ps; running Ms see the flag at their
     * next pass through the scheduler. */
    for (;;) {
        gr__lock(&gr__sched.lock);
        M *idle = gr__sched.midle;
        gr__sched.midle = NULL;
        gr__sched.nmidle = 0;
        gr__unlock(&gr__sched.lock);
        for (M *mp = idle; mp;) {
            M *next = mp->schedlink;
            mp->nextp = NULL;
            gr__note_wakeup(&mp->park);
            mp = next;
        }
        for (int i = 0; i < gr__sched.nprocs; i++)
            gr__netpoll_break(gr__sched.allp[i]);
        /* Wait until every M is parked for shutdown or stuck in a syscall. */
        int32_t want = 0, stopped = atomic_load_explicit(&gr__sched.nmstopped, memory_order_acquire);
        gr__lock(&gr__sched.lock);
        for (M *mp = gr__sched.allm; mp; mp = mp->alllink)
            if (!mp->stopped && !atomic_load_explicit(&mp->insyscall, memory_order_acquire))
                want++;
        gr__unlock(&gr__sched.lock);
        if (want == 0)
            break;
        gr__futex_wait((_Atomic uint32_t *)&gr__sched.nmstopped, (uint32_t)stopped, 2000000);
    }
}

static int runtime_init(void)
{
    atomic_fetch_add_explicit(&gr__runtime_gen, 1, memory_order_seq_cst);
    memset(&gr__sched, 0, sizeof gr__sched);
    gr__lock_init(&gr__sched.lock, GR__RANK_SCHED);
    gr__lock_init(&gr__sched.glock, GR__RANK_GLOCK);
    gr__debug_parse();
    gr__stack_init();
    gr__sched.start_time = gr__nanotime();
    int n = gr__env_procs(true);
    gr__sched.nprocs = n;
    gr__sched.allp = gr__xcalloc((size_t)n, sizeof(P *));
    for (int i = 0; i < n; i++) {
        P *pp = gr__xcalloc(1, sizeof *pp);
        pp->id = i;
        atomic_store(&pp->status, GR__PIDLE);
        gr__timers_init(pp);
        gr__sched.allp[i] = pp;
    }
    for (int i = 0; i < n; i++) {
        int r = gr__netpoll_init(gr__sched.allp[i]);
        if (r < 0) {
            for (int j = 0; j < i; j++)
                gr__netpoll_destroy(gr__sched.allp[j]);
            return r;
        }
    }
    return 0;
}

static const struct gr__hooks *hooks[8];
static int nhooks;

void gr__register_hooks(const struct gr__hooks *h)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i] == h)
            return;
    if (nhooks < 8)
        hooks[nhooks++] = h;
}

/* Let the layers above unlink abandoned goroutines from their queues
 * (channels, descriptors), as their waiters live on stacks about to go. */
static void run_teardown_hooks(void)
{
    for (G *gp = gr__sched.allg; gp; gp = gp->alllink) {
        uint32_t st = atomic_load(&gp->status);
        if (st != GR__GWAITING && st != GR__GRUNNABLE)
            continue;
        for (int i = 0; i < nhooks; i++)
            if (hooks[i]->abandon)
                hooks[i]->abandon(gp);
    }
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->fini)
            hooks[i]->fini();
}

static void runtime_free(void)
{
    for (int i = 0; i < gr__sched.nprocs; i++) {
        P *pp = gr__sched.allp[i];
        gr__netpoll_destroy(pp);
        gr__timers_destroy(pp);
        free(pp);
    }
    free(gr__sched.allp);
    gr__sched.allp = NULL;
    /* Gs: free all but those stuck in a system call (their M still
     * runs on their stack). */
    G *gp = gr__sched.allg;
    bool kept = false;
    while (gp) {
        G *next = gp->alllink;
        if (atomic_load(&gp->status) == GR__GSYSCALL) {
            kept = true;   /* its thread still runs on this stack */
            gp = next;
            continue;
        }
        gr__stack_free(gp);
#ifdef GR__TSAN
        if (gp->tsan_fiber)
            __tsan_destroy_fiber(gp->tsan_fiber);
#endif
        free(gp);
        gp = next;
    }
    gr__sched.allg = NULL;
    /* Chunk stacks are unmapped whole: not while a kept G may live in one. */
    if (!kept)
        gr__stack_shutdown();
}

int gr_main(gr_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    int zero = 0;
    static _Atomic int busy;
    if (!atomic_compare_exchange_strong(&busy, &zero, 1))
        return -EBUSY;
    int r = runtime_init();
    if (r < 0) {
        gr__stats_snapshot();
        runtime_free();
        atomic_store(&busy, 0);
        return r;
    }
    gr__signals_init();
    /* Go ignores SIGPIPE for the process's own writes: a write to a
     * closed pipe or socket returns -EPIPE instead of killing us. */
    struct sigaction old_pipe, ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, NULL, &old_pipe);
    bool pipe_was_default = !(old_pipe.sa_flags & SA_SIGINFO) && old_pipe.sa_handler == SIG_DFL;
    if (pipe_was_default)
        sigaction(SIGPIPE, &ign, NULL);
    atomic_store_explicit(&gr__sched.running, 1, memory_order_release);

    /* Goroutine 1 goes on P0's queue; M0 starts with P0. */
    M *m0 = gr__allocm();
    gr__lock(&gr__sched.lock);
    for (int i = gr__sched.nprocs - 1; i > 0; i--)
        gr__pidleput(gr__sched.allp[i]);
    gr__unlock(&gr__sched.lock);
    P *p0 = gr__sched.allp[0];
    atomic_store(&p0->status, GR__PRUNNING);
    G *g1 = gr__newg(NULL, fn, arg, (size_t)gr__sched.default_stack, NULL);
    if (!g1)
        gr__throw("out of memory allocating goroutine 1");
    atomic_store(&p0->runnext, g1);
    m0->nextp = p0;
    r = gr__sysmon_start();
    if (r == 0)
        r = gr__newm_thread(m0);
    if (r != 0)
        gr__throwf("gr_main: cannot create threads: %s", strerror(-r));

    gr__note_sleep(&gr__sched.main_done, -1);

    /* Teardown: stop sysmon (it would start Ms), stop Ms, cancel and
     * reap I/O, join threads, free. */
    atomic_store_explicit(&tearing, 1, memory_order_seq_cst);
    gr__sysmon_stop();
    stop_the_world_for_shutdown();
    wait_foreign_out();
    for (int i = 0; i < gr__sched.nprocs; i++)
        gr__netpoll_drain(gr__sched.allp[i]);
    run_teardown_hooks();
    gr__stats_snapshot();
    atomic_fetch_add_explicit(&gr__sched.exitgen, 1, memory_order_release);
    gr__futex_wake(&gr__sched.exitgen, INT32_MAX);
    M *mp = gr__sched.allm;
    while (mp) {
        M *next = mp->alllink;
        if (mp->stopped) {
            pthread_join(mp->thread, NULL);
            gr__m_altstack_free(mp);
            free(mp);
        } else {
            pthread_detach(mp->thread);   /* stuck in a syscall: leaked */
        }
        mp = next;
    }
    gr__sched.allm = NULL;
    atomic_store_explicit(&gr__sched.running, 0, memory_order_release);
    gr__signals_fini();
    if (pipe_was_default)
        sigaction(SIGPIPE, &old_pipe, NULL);
    runtime_free();
    atomic_store_explicit(&tearing, 0, memory_order_seq_cst);
    atomic_store(&busy, 0);
    return 0;
}
