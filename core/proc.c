/*
 * core/proc.c: Ms and Ps: the idle lists, acquirep/releasep, creating and
 * starting Ms (allocm, startm, mstart), parking them (stopm, the shutdown
 * park), and giving work to a P or M (wakep, handoffp). Go's proc.go.
 *
 * An M is a thread; it runs Gs only while it holds a P. An idle M sleeps
 * on its note (m->park) until startm hands it a P in m->nextp.
 *
 * Invariants:
 * - P status: IDLE<->RUNNING by the holder under sched.lock (idle list);
 *   RUNNING->SYSCALL by its M; SYSCALL->RUNNING (exitsyscall) and
 *   SYSCALL->IDLE (sysmon retake) by CAS, so exactly one side wins.
 * - The idle P list, the idle M list, allm and mcount are under
 *   sched.lock; npidle is written under it with seq_cst and read without.
 * - No lost wake-up: a thread that adds work (runqput, globrunqput) then
 *   calls wakep, which reads nmspinning, npidle and each P's polling flag
 *   (after a seq_cst fence when the caller has no P: work on a running
 *   P's own queue cannot be stranded, as in Go). An M about to sleep first
 *   publishes (nmspinning decrement, P on the idle list, polling = 1, all
 *   seq_cst) and then re-checks every queue and its timers (core/sched.c).
 * - Every ring with requests in flight is watched: its P is running, or its
 *   M is blocked in it (polling), or (between the two) in handoffp, which
 *   gives such a P an M rather than the idle list.
 * - Teardown: shutdown is set under sched.lock, after which startm starts
 *   nothing.
 * - Lock order (core/lockrank.h): sched.lock is held only around list
 *   operations; nothing is taken under it. Callers may hold an hchan or
 *   semaphore lock (gr__ready -> wakep -> startm).
 */
#include "core/sched.h"
#include "core/netpoll.h"
#include <string.h>
#include <sys/prctl.h>

__thread M *gr__tls_m __attribute__((visibility("hidden"), tls_model("initial-exec")));

int gr__pid(void)
{
    M *mp = gr__getm();
    return mp && mp->p ? mp->p->id : -1;
}

int gr__nprocs(void)
{
    return gr__running() ? gr__sched.nprocs : 0;
}

/* ---------- idle Ps and Ms (sched.lock) ---------- */

void gr__pidleput(P *pp)
{
    /* seq_cst: pairs with wake_timer_p (core/timer.c), which publishes a
     * timer and then reads the status. */
    atomic_store_explicit(&pp->status, GR__PIDLE, memory_order_seq_cst);
    GR__RLX_STORE(pp->m, NULL);
    pp->link = gr__sched.pidle;
    gr__sched.pidle = pp;
    atomic_fetch_add_explicit(&gr__sched.npidle, 1, memory_order_seq_cst);
}

P *gr__pidleget(void)
{
    P *pp = gr__sched.pidle;
    if (pp) {
        gr__sched.pidle = pp->link;
        pp->link = NULL;
        atomic_fetch_sub_explicit(&gr__sched.npidle, 1, memory_order_seq_cst);
    }
    return pp;
}

/* Take pp off the idle list if it is still there. */
bool gr__pidle_take(P *pp)
{
    gr__lock(&gr__sched.lock);
    P **link = &gr__sched.pidle;
    while (*link && *link != pp)
        link = &(*link)->link;
    bool found = *link != NULL;
    if (found) {
        *link = pp->link;
        pp->link = NULL;
        atomic_fetch_sub_explicit(&gr__sched.npidle, 1, memory_order_seq_cst);
    }
    gr__unlock(&gr__sched.lock);
    return found;
}

static void mput(M *mp)
{
    mp->schedlink = gr__sched.midle;
    gr__sched.midle = mp;
    gr__sched.nmidle++;
}

static M *mget(void)
{
    M *mp = gr__sched.midle;
    if (mp) {
        gr__sched.midle = mp->schedlink;
        gr__sched.nmidle--;
    }
    return mp;
}

/* ---------- Ms ---------- */

static void *mstart(void *arg);

M *gr__allocm(void)
{
    M *mp = gr__xcalloc(1, sizeof *mp);
    gr__lock(&gr__sched.lock);
    if (gr__sched.mcount >= GR__MAX_MS) {
        gr__unlock(&gr__sched.lock);
        gr__throwf("thread exhaustion: more than %d threads", GR__MAX_MS);
    }
    mp->id = gr__sched.mnext++;
    gr__sched.mcount++;
    mp->alllink = gr__sched.allm;
    gr__sched.allm = mp;
    gr__unlock(&gr__sched.lock);
    atomic_fetch_add_explicit(&gr__sched.nmcreated, 1, memory_order_relaxed);
    return mp;
}

int gr__newm_thread(M *mp)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    /* Ms block no signals of the program's own; SIGQUIT and the overflow
     * handler are process-wide. */
    int r = pthread_create(&mp->thread, &attr, mstart, mp);
    pthread_attr_destroy(&attr);
    return -r;
}

/* Start an M to run pp (any idle P if NULL). If spinning, the caller has
 * already counted it in nmspinning. Go's startm. */
static void startm(P *pp, bool spinning)
{
    gr__lock(&gr__sched.lock);
    if (atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst)) {
        /* Tearing down: no new thread may pick up a P. */
        if (pp)
            gr__pidleput(pp);
        gr__unlock(&gr__sched.lock);
        if (spinning)
            atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
        return;
    }
    if (!pp) {
        pp = gr__pidleget();
        if (!pp) {
            gr__unlock(&gr__sched.lock);
            if (spinning)
                atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
            return;
        }
    }
    M *nm = mget();
    gr__unlock(&gr__sched.lock);
    if (!nm) {
        nm = gr__allocm();
        nm->spinning = spinning;
        nm->nextp = pp;
        int r = gr__newm_thread(nm);
        if (r != 0)
            gr__throwf("newm: pthread_create failed: %s", strerror(-r));
        return;
    }
    nm->spinning = spinning;
    nm->nextp = pp;
    gr__note_wakeup(&nm->park);
}


/* Park the M until startm hands it a P. Go's stopm. */
void gr__stopm(M *mp)
{
    gr__lock(&gr__sched.lock);
    mput(mp);
    gr__unlock(&gr__sched.lock);
    gr__note_sleep(&mp->park, -1);
    gr__note_clear(&mp->park);
    if (atomic_load_explicit(&gr__sched.shutdown, memory_order_acquire)) {
        if (mp->nextp) {
            gr__lock(&gr__sched.lock);
            gr__pidleput(mp->nextp);
            gr__unlock(&gr__sched.lock);
            mp->nextp = NULL;
        }
        gr__m_shutdown_park(mp);
    }
    gr__acquirep(mp, mp->nextp);
    mp->nextp = NULL;
}

/* If pp's M is blocked in its ring, claim the wake-up (polling 1 -> 2, so
 * one waker sends it) and break the poll. seq_cst: pairs with the M's
 * polling = 1 store before its last look at the queues and timers. */
bool gr__break_polling(P *pp)
{
    uint32_t one = 1;
    if (atomic_load_explicit(&pp->polling, memory_order_seq_cst) == 1 &&
        atomic_compare_exchange_strong_explicit(&pp->polling, &one, 2, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        gr__netpoll_break(pp);
        return true;
    }
    return false;
}

/* Wake an idle P for new work (Go's wakep), or break a polling P's M. */
void gr__wakep(void)
{
    M *self = gr__getm();
    P *own = self ? self->p : NULL;
    /* StoreLoad between publishing the work and reading the sleepers'
     * state. A caller holding a P may skip it, as Go's wakep does: if a
     * racing spinner misses the work, it sits on this running P's queue
     * and this P runs it; only a caller without a P (its work is on the
     * global queue) could strand work by a missed wake-up. */
    if (!own)
        atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&gr__sched.nmspinning, memory_order_seq_cst) != 0)
        return;
    if (atomic_load_explicit(&gr__sched.npidle, memory_order_seq_cst) > 0) {
        int32_t zero = 0;
        if (!atomic_compare_exchange_strong_explicit(&gr__sched.nmspinning, &zero, 1,
                                                     memory_order_seq_cst, memory_order_relaxed))
            return;
        if (atomic_load_explicit(&gr__sched.npidle, memory_order_seq_cst) > 0) {
            startm(NULL, true);
            return;
        }
        atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
    }
    int n = gr__sched.nprocs;
    if (n == 1 && own)
        return;
    uint32_t off = n > 1 ? gr__fastrandn((uint32_t)n) : 0;
    for (int i = 0; i < n; i++) {
        P *pp = gr__sched.allp[(off + (uint32_t)i) % (uint32_t)n];
        if (pp != own && gr__break_polling(pp))
            return;
    }
}

/* Give away a P whose M cannot run it (Go's handoffp). pp has no M. */
void gr__handoffp(P *pp)
{
    atomic_fetch_add_explicit(&gr__sched.nhandoffs, 1, memory_order_relaxed);
    if (!gr__runqempty(pp) || atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        startm(pp, false);
        return;
    }
    /* A ring with requests in flight or pending timers must be watched. */
    if (gr__netpoll_busy(pp) || gr__timers_next(pp) != 0) {
        startm(pp, false);
        return;
    }
    int32_t zero = 0;
    if (atomic_load_explicit(&gr__sched.npidle, memory_order_seq_cst) == 0 &&
        atomic_compare_exchange_strong_explicit(&gr__sched.nmspinning, &zero, 1,
                                                memory_order_seq_cst, memory_order_relaxed)) {
        startm(pp, true);
        return;
    }
    gr__lock(&gr__sched.lock);
    if (atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        gr__unlock(&gr__sched.lock);
        startm(pp, false);
        return;
    }
    gr__pidleput(pp);
    gr__unlock(&gr__sched.lock);
    /* A thread without a P may have put a timer on pp between our check
     * and pidleput (wake_timer_p saw it "idle" but not listed yet). */
    if (gr__timers_next(pp) != 0 && gr__pidle_take(pp))
        startm(pp, false);
}

/* Runtime stopping: park until teardown lets the thread exit. Nothing
 * after this runs user code. */
_Noreturn void gr__m_shutdown_park(M *mp)
{
    gr__drop_spinning(mp);
    if (mp->p) {
        P *pp = gr__releasep(mp);
        atomic_store_explicit(&pp->status, GR__PIDLE, memory_order_release);
    }
    uint32_t gen = atomic_load_explicit(&gr__sched.exitgen, memory_order_acquire);
    gr__lock(&gr__sched.lock);
    mp->stopped = true;
    gr__unlock(&gr__sched.lock);
    atomic_fetch_add_explicit(&gr__sched.nmstopped, 1, memory_order_acq_rel);
    gr__futex_wake((_Atomic uint32_t *)&gr__sched.nmstopped, 1);
    while (atomic_load_explicit(&gr__sched.exitgen, memory_order_acquire) == gen)
        gr__futex_wait(&gr__sched.exitgen, gen, -1);
    gr__m_altstack_disable(mp);
    pthread_exit(NULL);
}

/* A new M's thread (Go's mstart): note its stack, take the P that
 * startm handed it, run the scheduler loop. */
static void *mstart(void *arg)
{
    M *mp = arg;
    gr__tls_m = mp;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        pthread_attr_getstack(&attr, &addr, &size);
        mp->g0_stack_bottom = addr;
        mp->g0_stack_size = size;
        pthread_attr_destroy(&attr);
    }
    gr__m_altstack(mp);
#ifdef GR__TSAN
    mp->tsan_g0 = __tsan_get_current_fiber();
#endif
    /* Timer slack 1 us (default 50 us): sleeps in the ring end on time. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    gr__acquirep(mp, mp->nextp);
    mp->nextp = NULL;
    gr__schedule(mp);
}
