/*
 * core/sched.c: the G/M/P scheduler.
 *
 * Design (after Go's proc.go):
 *   G  a goroutine: a stack and a saved stack pointer.
 *   M  a thread. Each M runs the scheduler loop on its own thread stack
 *      ("g0") and switches into Gs with gr__swtch; a G gives control back
 *      by switching to g0 with an op in m->swop (park, yield, exit, ...),
 *      which g0 carries out once the G is fully switched out (Go's mcall).
 *   P  the right to run Gs: GR_MAXPROCS of them. A P holds a local run
 *      queue and runnext slot, a timer heap, an io_uring ring and a cache
 *      of dead Gs with their stacks.
 * The thread that calls gr_main is not an M: it starts M0 and the sysmon
 * thread, waits for goroutine 1 to end, then tears the runtime down. So a
 * goroutine blocked in a system call on any M can never hold up gr_main.
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
 * Lock order (outer first): sched.glock -> sched.lock; P timer lock ->
 * (nothing); chan/sema locks (layer 2) -> sched.lock. A timer function
 * runs with no lock held. No lock is held across gr__swtch except the one
 * a parking G hands to gr__park_unlock, released on g0.
 *
 * Invariants:
 * - A G is on at most one queue (a P's runq/runnext, the global runq, a
 *   free list) and only while GRUNNABLE (queues) or GDEAD (free lists).
 * - Status changes: RUNNABLE->RUNNING by the M that dequeued it;
 *   RUNNING->WAITING on g0 before waitunlockf runs; WAITING->RUNNABLE only
 *   by gr__ready (CAS, acq-rel); RUNNING<->SYSCALL by the G itself.
 * - A P's runq: only the owner writes tail (store-release after filling the
 *   slot); consumers (owner and stealers) CAS head (acq-rel). runnext: the
 *   owner stores, stealers CAS it to NULL.
 * - P status: IDLE<->RUNNING by the holder under sched.lock (idle list);
 *   RUNNING->SYSCALL by its M; SYSCALL->RUNNING (exitsyscall) and
 *   SYSCALL->IDLE (sysmon retake) by CAS, so exactly one side wins.
 * - No lost wake-up: a thread that adds work (runqput, globrunqput) then
 *   calls wakep, which reads nmspinning, npidle and each P's polling flag
 *   (after a seq_cst fence when the caller has no P: work on a running
 *   P's own queue cannot be stranded, as in Go). An M about to sleep first
 *   publishes (nmspinning decrement, P on the idle list, polling = 1, all
 *   seq_cst) and then re-checks every queue and its timers. One side
 *   always sees the other.
 * - Teardown: shutdown is set under sched.lock, after which startm starts
 *   nothing; a thread marks itself in a system call only after its last
 *   touch of the runtime, and on return pairs a seq_cst store of that mark
 *   with a load of shutdown and of the runtime generation.
 * - Every ring with requests in flight is watched: its P is running, or its
 *   M is blocked in it (polling), or (between the two) in handoffp, which
 *   gives such a P an M rather than the idle list.
 */
#include "core/sched.h"
#include "core/netpoll.h"
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define GR_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define GR_TSAN 1
#endif

/* ThreadSanitizer: each G is a fiber; each M's scheduler stack is the
 * thread's own fiber. Switch annotations go right before gr__swtch. */
static inline void tsan_to(void *fiber)
{
#ifdef GR_TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
}

struct gr__sched gr__sched;

__thread M *gr__tls_m __attribute__((visibility("hidden"), tls_model("initial-exec")));

/* The M of this thread. The read must never be cached across a switch (a
 * goroutine may resume on another thread): on x86-64 it is one volatile
 * %fs-relative load; elsewhere a call the optimizer cannot see through. */
#if defined(__x86_64__)
static inline M *getm_inline(void)
{
    M *mp;
    __asm__ volatile("movq gr__tls_m@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0"
                     : "=r"(mp)
                     :
                     : "memory");
    return mp;
}
#else
__attribute__((noinline, noipa)) static M *getm_inline(void)
{
    M *mp;
    __asm__ volatile("" ::: "memory");
    mp = gr__tls_m;
    return mp;
}
#endif

M *gr__getm(void)
{
    return getm_inline();
}

G *gr__getg(void)
{
    M *mp = getm_inline();
    return mp ? mp->curg : NULL;
}

#define gr__getm() getm_inline()

__attribute__((noinline, noipa)) static int errno_get(void) { return errno; }
__attribute__((noinline, noipa)) static void errno_set(int e) { errno = e; }

bool gr__running(void)
{
    return atomic_load_explicit(&gr__sched.running, memory_order_acquire) != 0;
}

int gr__pid(void)
{
    M *mp = gr__getm();
    return mp && mp->p ? mp->p->id : -1;
}

int gr__nprocs(void)
{
    return gr__running() ? gr__sched.nprocs : 0;
}

/* ---------- sanitizer fiber annotations ---------- */

static inline void san_start(void **fake, const void *bottom, size_t size)
{
#ifdef GR_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake; (void)bottom; (void)size;
#endif
}

static inline void san_finish(void *fake)
{
#ifdef GR_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)fake;
#endif
}

/* ---------- local run queues (Go's runqput/runqget/runqsteal) ---------- */

bool gr__runqempty(P *pp)
{
    /* Read head, tail, runnext, then tail again: a consistent snapshot
     * even when runnext moves into the queue between the loads. */
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        G *next = atomic_load_explicit(&pp->runnext, memory_order_acquire);
        if (tail == atomic_load_explicit(&pp->runqtail, memory_order_acquire))
            return head == tail && next == NULL;
    }
}

uint32_t gr__runqlen(P *pp)
{
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
    return tail - head + (atomic_load_explicit(&pp->runnext, memory_order_relaxed) != NULL);
}

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
static G *runqget(P *pp)
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
                if (next && atomic_load_explicit(&victim->status, memory_order_relaxed) == GR_PRUNNING) {
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
static G *runqsteal(P *pp, P *victim, bool stealnext)
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

static void globrunqput_locked(G *gp)
{
    gp->schedlink = NULL;
    if (gr__sched.runqtail)
        gr__sched.runqtail->schedlink = gp;
    else
        gr__sched.runqhead = gp;
    gr__sched.runqtail = gp;
    atomic_fetch_add_explicit(&gr__sched.runqsize, 1, memory_order_relaxed);
}

void gr__globrunqput(G *gp)
{
    gr__lock(&gr__sched.lock);
    globrunqput_locked(gp);
    gr__unlock(&gr__sched.lock);
}

/* Take a batch from the global queue into pp; sched.lock held. */
static G *globrunqget(P *pp, int32_t max)
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

/* ---------- idle Ps and Ms (sched.lock) ---------- */

static void pidleput(P *pp)
{
    /* seq_cst: pairs with wake_timer_p (core/timer.c), which publishes a
     * timer and then reads the status. */
    atomic_store_explicit(&pp->status, GR_PIDLE, memory_order_seq_cst);
    GR_RLX_STORE(pp->m, NULL);
    pp->link = gr__sched.pidle;
    gr__sched.pidle = pp;
    atomic_fetch_add_explicit(&gr__sched.npidle, 1, memory_order_seq_cst);
}

static P *pidleget(void)
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

static void acquirep(M *mp, P *pp)
{
    mp->p = pp;
    GR_RLX_STORE(pp->m, mp);
    atomic_store_explicit(&pp->status, GR_PRUNNING, memory_order_release);
}

static P *releasep(M *mp)
{
    P *pp = mp->p;
    mp->p = NULL;
    GR_RLX_STORE(pp->m, NULL);
    return pp;
}

/* ---------- Ms ---------- */

static void *mstart(void *arg);

static M *allocm(void)
{
    M *mp = gr__xcalloc(1, sizeof *mp);
    gr__lock(&gr__sched.lock);
    if (gr__sched.mcount >= GR_MAX_MS) {
        gr__unlock(&gr__sched.lock);
        gr__throwf("thread exhaustion: more than %d threads", GR_MAX_MS);
    }
    mp->id = gr__sched.mnext++;
    gr__sched.mcount++;
    mp->alllink = gr__sched.allm;
    gr__sched.allm = mp;
    gr__unlock(&gr__sched.lock);
    atomic_fetch_add_explicit(&gr__sched.nmcreated, 1, memory_order_relaxed);
    return mp;
}

static int newm_thread(M *mp)
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
            pidleput(pp);
        gr__unlock(&gr__sched.lock);
        if (spinning)
            atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
        return;
    }
    if (!pp) {
        pp = pidleget();
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
        nm = allocm();
        nm->spinning = spinning;
        nm->nextp = pp;
        int r = newm_thread(nm);
        if (r != 0)
            gr__throwf("newm: pthread_create failed: %s", strerror(-r));
        return;
    }
    nm->spinning = spinning;
    nm->nextp = pp;
    gr__note_wakeup(&nm->park);
}

static void m_shutdown_park(M *mp);

/* Park the M until startm hands it a P. Go's stopm. */
static void stopm(M *mp)
{
    gr__lock(&gr__sched.lock);
    mput(mp);
    gr__unlock(&gr__sched.lock);
    gr__note_sleep(&mp->park, -1);
    gr__note_clear(&mp->park);
    if (atomic_load_explicit(&gr__sched.shutdown, memory_order_acquire)) {
        if (mp->nextp) {
            gr__lock(&gr__sched.lock);
            pidleput(mp->nextp);
            gr__unlock(&gr__sched.lock);
            mp->nextp = NULL;
        }
        m_shutdown_park(mp);
    }
    acquirep(mp, mp->nextp);
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
    pidleput(pp);
    gr__unlock(&gr__sched.lock);
    /* A thread without a P may have put a timer on pp between our check
     * and pidleput (wake_timer_p saw it "idle" but not listed yet). */
    if (gr__timers_next(pp) != 0 && gr__pidle_take(pp))
        startm(pp, false);
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
            globrunqput_locked(gp);
            n++;
        }
        gr__unlock(&gr__sched.lock);
    }
    if (n > 1 || !pp)
        gr__wakep();
}

/* ---------- G allocation ---------- */

static void gfput(P *pp, G *gp)
{
    if (gp->stack_map_size == 0 || (uint64_t)(gp->stack_hi - gp->stack_lo) != (uint64_t)gr__sched.default_stack) {
        gr__stack_free(gp);
    } else if (gr__stack_is_deep(gp)) {
        gr__stack_release_deep(gp);
    }
    if (pp) {
        gp->schedlink = pp->gfree;
        pp->gfree = gp;
        if (++pp->ngfree < GR_GFREE_LOCAL_MAX)
            return;
        /* spill half to the global list */
        gr__lock(&gr__sched.glock);
        while (pp->ngfree > GR_GFREE_LOCAL_MAX / 2) {
            G *g2 = pp->gfree;
            pp->gfree = g2->schedlink;
            pp->ngfree--;
            g2->schedlink = gr__sched.gfree;
            gr__sched.gfree = g2;
            GR_RLX_STORE(gr__sched.ngfree, gr__sched.ngfree + 1);
        }
        gr__unlock(&gr__sched.glock);
        return;
    }
    gr__lock(&gr__sched.glock);
    gp->schedlink = gr__sched.gfree;
    gr__sched.gfree = gp;
    GR_RLX_STORE(gr__sched.ngfree, gr__sched.ngfree + 1);
    gr__unlock(&gr__sched.glock);
}

static G *gfget(P *pp)
{
    if (pp && !pp->gfree && GR_RLX_LOAD(gr__sched.ngfree) > 0) {
        gr__lock(&gr__sched.glock);
        while (pp->ngfree < GR_GFREE_LOCAL_MAX / 2 && gr__sched.gfree) {
            G *g2 = gr__sched.gfree;
            gr__sched.gfree = g2->schedlink;
            GR_RLX_STORE(gr__sched.ngfree, gr__sched.ngfree - 1);
            g2->schedlink = pp->gfree;
            pp->gfree = g2;
            pp->ngfree++;
        }
        gr__unlock(&gr__sched.glock);
    }
    G *gp = NULL;
    if (pp && pp->gfree) {
        gp = pp->gfree;
        pp->gfree = gp->schedlink;
        pp->ngfree--;
    } else if (!pp) {
        gr__lock(&gr__sched.glock);
        gp = gr__sched.gfree;
        if (gp) {
            gr__sched.gfree = gp->schedlink;
            GR_RLX_STORE(gr__sched.ngfree, gr__sched.ngfree - 1);
        }
        gr__unlock(&gr__sched.glock);
    }
    return gp;
}

static G *malg(size_t stack_size)
{
    G *gp = calloc(1, sizeof *gp);
    if (!gp)
        return NULL;
    if (gr__stack_alloc(gp, stack_size) != 0) {
        free(gp);
        return NULL;
    }
#ifdef GR_TSAN
    gp->tsan_fiber = __tsan_create_fiber(0);
#endif
    gr__lock(&gr__sched.glock);
    gp->alllink = gr__sched.allg;
    gr__sched.allg = gp;
    gr__unlock(&gr__sched.glock);
    return gp;
}

/* ---------- switching ---------- */

static _Noreturn void gstart(void);

/* From a G to its M's scheduler stack with op; returns when the G is
 * resumed (perhaps on another M). */
static void mcall(int op)
{
    M *mp = gr__getm();
    G *gp = mp->curg;
    int saved = errno_get();
    mp->swop = op;
    san_start(op == GR_SW_EXIT ? NULL : &gp->asan_fake_stack, mp->g0_stack_bottom, mp->g0_stack_size);
    tsan_to(mp->tsan_g0);
    gr__swtch(&gp->sp, mp->g0sp);
    gp = gr__getg();
    san_finish(gp->asan_fake_stack);
    errno_set(saved);
}

static G *execute(M *mp, G *gp);

static _Noreturn void gstart(void)
{
    G *gp = gr__getg();
    san_finish(NULL);
    gp->fn(gp->arg);
    gr_exit();
}

/* Dispose of the G that just switched out. Returns a G to run at once
 * (the same one when its park was already satisfied), or NULL. */
static G *after_switch(M *mp, G *gp)
{
    uintptr_t sp = (uintptr_t)gp->sp;
    if (sp < gp->sp_min)
        gp->sp_min = sp;
    gr__stack_check(gp);
    int op = mp->swop;
    mp->swop = GR_SW_NONE;
    GR_RLX_STORE(mp->curg, NULL);
    switch (op) {
    case GR_SW_PARK: {
        gp->m = NULL;
        atomic_store_explicit(&gp->status, GR_GWAITING, memory_order_release);
        bool (*f)(G *, void *) = gp->waitunlockf;
        void *arg = gp->waitlock;
        gp->waitunlockf = NULL;
        gp->waitlock = NULL;
        if (f && !f(gp, arg)) {
            /* The wait is already over: run it again at once. */
            atomic_store_explicit(&gp->status, GR_GRUNNABLE, memory_order_release);
            gp->waitreason = GR_WAIT_ZERO;
            return gp;
        }
        /* gp may already be running elsewhere: do not touch it. */
        return NULL;
    }
    case GR_SW_YIELD:
        /* To the global queue, as Go's Gosched. (The local tail is ~15 ns
         * cheaper, but then Gs yielding among themselves never let their
         * P steal the Gs stranded behind a P blocked in a system call.)
         * The next pass looks at other Ps' queues first. */
        gp->m = NULL;
        atomic_store_explicit(&gp->status, GR_GRUNNABLE, memory_order_release);
        gr__globrunqput(gp);
        mp->after_yield = true;
        return NULL;
    case GR_SW_PREEMPT:
        /* A G that used its time slice goes to the global queue, as Go's
         * gopreempt_m: Gs readied without a P wait there. */
        gp->m = NULL;
        atomic_store_explicit(&gp->status, GR_GRUNNABLE, memory_order_release);
        gr__globrunqput(gp);
        return NULL;
    case GR_SW_EXIT: {
        gp->m = NULL;
        bool is_main = gp->goid == 1;
        atomic_store_explicit(&gp->status, GR_GDEAD, memory_order_release);
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
        gfput(mp->p, gp);
        return NULL;
    }
    case GR_SW_SYSEXIT: {
        gp->m = NULL;
        gr__lock(&gr__sched.lock);
        P *pp = pidleget();
        if (!pp) {
            globrunqput_locked(gp);
            atomic_store_explicit(&gp->status, GR_GRUNNABLE, memory_order_release);
        }
        gr__unlock(&gr__sched.lock);
        atomic_fetch_sub_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
        if (pp) {
            acquirep(mp, pp);
            atomic_store_explicit(&gp->status, GR_GRUNNABLE, memory_order_release);
            return gp;
        }
        /* No idle P: every P runs or polls its ring. Break a polling one
         * so the G just queued globally is seen. */
        gr__wakep();
        stopm(mp);
        return NULL;
    }
    case GR_SW_SHUTDOWN:
        gp->m = NULL;
        return NULL;
    default:
        gr__throwf("bad swop %d", op);
    }
}

/* Run gp on mp until it switches out; then dispose of it. Returns a G to
 * run next without a pass through findrunnable, or NULL. */
static G *execute(M *mp, G *gp)
{
    P *pp = mp->p;
    if (mp->inherit) {
        mp->inherit = false;
    } else {
        GR_RLX_STORE(pp->schedtick, pp->schedtick + 1);
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    }
    GR_RLX_STORE(mp->curg, gp);
    gp->m = mp;
    gp->waitreason = GR_WAIT_ZERO;
    atomic_store_explicit(&gp->status, GR_GRUNNING, memory_order_release);
    san_start(&mp->asan_fake, (const void *)gp->stack_lo, gp->stack_hi - gp->stack_lo);
    tsan_to(gp->tsan_fiber);
    gr__swtch(&mp->g0sp, gp->sp);
    san_finish(mp->asan_fake);
    return after_switch(mp, gp);
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
                        G *gp = runqget(pp);
                        if (gp)
                            return gp;
                    }
                }
            }
            if (!gr__runqempty(p2)) {
                G *gp = runqsteal(pp, p2, last);
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

static void drop_spinning(M *mp)
{
    if (mp->spinning) {
        mp->spinning = false;
        atomic_fetch_sub_explicit(&gr__sched.nmspinning, 1, memory_order_seq_cst);
    }
}

static void checkdead(void);

/* Find a runnable G; blocks until there is one. Returns with mp->p held. */
static G *findrunnable(M *mp)
{
    G *gp;
top:
    if (atomic_load_explicit(&gr__sched.shutdown, memory_order_acquire))
        return NULL;
    P *pp = mp->p;
    int64_t now = 0;

    /* 2. this P's expired timers. The clock is read on every 4th pass
     * (a pass is well under a microsecond) and whenever the local queue is
     * empty; reading it on every pass cost 11% of a spawn+exit while some
     * goroutine slept. Before the M blocks, step 7 reads it again. */
    if (atomic_load_explicit(&pp->timers.timer0when, memory_order_relaxed) != 0 &&
        ((++pp->timercheck & 3) == 0 || gr__runqempty(pp))) {
        now = gr__nanotime();
        gr__timers_run(pp, now);
    }
    /* 3. the ring: submit in batches, reap what completed */
    if (pp->poller) {
        /* Reap only while the local queue has room: past half full,
         * completions wait in the CQ in arrival order rather than spill
         * the queue's oldest half to the global queue (which made the
         * 1000-connection echo tail latency several times Go's). */
        G *list = NULL;
        uint32_t qlen = gr__runqlen(pp);
        int64_t mode = qlen == 0 ? 0 : qlen < GR_RUNQ_SIZE / 2 ? GR_NETPOLL_LAZY : GR_NETPOLL_SUBMIT;
        if (gr__netpoll(pp, mode, &list) > 0)
            gr__injectglist(list);
    }
    /* 1. fairness: the global queue every 61st tick */
    if (++pp->fairtick % 61 == 0 && atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        gr__lock(&gr__sched.lock);
        gp = globrunqget(pp, 1);
        gr__unlock(&gr__sched.lock);
        if (gp)
            return gp;
    }
    /* After a yield (which queued the G globally), look at other Ps'
     * queues before the global one: a G yielding in a loop must not starve
     * Gs sitting behind a busy P. */
    if (mp->after_yield) {
        mp->after_yield = false;
        /* Nothing else on this P: before the global queue (where the
         * yielder is), take Gs queued behind other Ps, so a G yielding in
         * a loop cannot starve them. */
        if (gr__sched.nprocs > 1 && gr__runqempty(pp)) {
            for (int i = 0; i < gr__sched.nprocs; i++) {
                P *p2 = gr__sched.allp[i];
                /* Any P with queued Gs: a busy one, or one whose M is
                 * blocked in a system call and not (yet) retaken. */
                if (p2 != pp && !gr__runqempty(p2)) {
                    gp = runqsteal(pp, p2, true);
                    if (gp)
                        return gp;
                }
            }
        }
    }
    /* 4. local. A G from runnext inherits the time slice of the G that
     * readied it (Go's inheritTime): a pair handing off through runnext
     * shares one slice, so sysmon sees it run long and ends the slice,
     * which sends the pair's next G to the tail (slice_expired). */
    if (atomic_load_explicit(&pp->slice_expired, memory_order_relaxed) &&
        atomic_exchange_explicit(&pp->slice_expired, 0, memory_order_relaxed)) {
        G *nx = atomic_exchange_explicit(&pp->runnext, NULL, memory_order_acq_rel);
        if (nx)
            gr__runqput(pp, nx, false);
    }
    {
        G *nx = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
        if (nx && atomic_compare_exchange_strong_explicit(&pp->runnext, &nx, NULL, memory_order_acq_rel,
                                                          memory_order_relaxed)) {
            mp->inherit = true;
            return nx;
        }
    }
    if ((gp = runqget(pp)))
        return gp;
    /* 5. global */
    if (atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        gr__lock(&gr__sched.lock);
        gp = globrunqget(pp, 0);
        gr__unlock(&gr__sched.lock);
        if (gp)
            return gp;
    }
    /* 6. steal, as a spinning M */
    int32_t busy = gr__sched.nprocs - atomic_load_explicit(&gr__sched.npidle, memory_order_relaxed);
    if (mp->spinning || 2 * atomic_load_explicit(&gr__sched.nmspinning, memory_order_relaxed) < busy) {
        if (!mp->spinning)
            become_spinning(mp);
        gp = steal_work(mp, &now);
        if (gp)
            return gp;
    }

    /* 7. nothing to run. */
    int64_t next_timer = gr__timers_next(pp);
    if (gr__netpoll_busy(pp) || next_timer != 0) {
        /* Keep the P and block in its ring. */
        drop_spinning(mp);
        atomic_store_explicit(&pp->polling, 1, memory_order_seq_cst);
        next_timer = gr__timers_next(pp);   /* re-read after announcing */
        if (any_runq_work(pp) || !gr__runqempty(pp) ||
            atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst)) {
            atomic_store_explicit(&pp->polling, 0, memory_order_seq_cst);
            goto top;
        }
        int64_t delay = -1;
        if (next_timer != 0) {
            delay = next_timer - gr__nanotime();
            if (delay < 0)
                delay = 0;
        }
        G *list = NULL;
        int n = gr__netpoll(pp, delay, &list);
        atomic_store_explicit(&pp->polling, 0, memory_order_seq_cst);
        if (n > 0)
            gr__injectglist(list);
        goto top;
    }

    /* Give up the P. */
    gr__lock(&gr__sched.lock);
    if (atomic_load_explicit(&gr__sched.runqsize, memory_order_relaxed) > 0) {
        gp = globrunqget(pp, 0);
        gr__unlock(&gr__sched.lock);
        return gp;
    }
    releasep(mp);
    pidleput(pp);
    gr__unlock(&gr__sched.lock);
    /* A thread without a P may have added a timer to pp just before it
     * went idle (see wake_timer_p): take it back if it is still ours. */
    if (gr__timers_next(pp) != 0 && gr__pidle_take(pp)) {
        acquirep(mp, pp);
        goto top;
    }

    bool was_spinning = mp->spinning;
    drop_spinning(mp);
    if (was_spinning) {
        /* Re-check after announcing: work added before our decrement was
         * visible may have seen a spinning M and not woken anyone. */
        if (any_runq_work(NULL)) {
            gr__lock(&gr__sched.lock);
            P *p2 = pidleget();
            gr__unlock(&gr__sched.lock);
            if (p2) {
                acquirep(mp, p2);
                become_spinning(mp);
                goto top;
            }
        }
    }
    checkdead();
    stopm(mp);
    goto top;
}

static void m_shutdown_park(M *mp)
{
    /* Runtime stopping: park until told to exit. Nothing after this runs
     * user code. */
    drop_spinning(mp);
    if (mp->p) {
        P *pp = releasep(mp);
        atomic_store_explicit(&pp->status, GR_PIDLE, memory_order_release);
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

/* The M loop. Never returns. */
static _Noreturn void schedule(M *mp)
{
    for (;;) {
        G *gp = findrunnable(mp);
        if (!gp)
            m_shutdown_park(mp);
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
#ifdef GR_TSAN
    mp->tsan_g0 = __tsan_get_current_fiber();
#endif
    /* Timer slack 1 us (default 50 us): sleeps in the ring end on time. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    acquirep(mp, mp->nextp);
    mp->nextp = NULL;
    schedule(mp);
}

/* ---------- deadlock detection (Go's checkdead) ---------- */

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
    if (atomic_load_explicit(&gr__sched.nsyscall, memory_order_seq_cst) > 0)
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
        if (st == GR_GRUNNABLE || st == GR_GRUNNING || st == GR_GSYSCALL) {
            gr__unlock(&gr__sched.glock);
            return;
        }
    }
    gr__unlock(&gr__sched.glock);
    if (atomic_load_explicit(&gr__sched.ngoroutines, memory_order_relaxed) == 0)
        return;
    gr__throw("all goroutines are asleep - deadlock!");
}

/* ---------- park / ready ---------- */

void gr__park(bool (*unlockf)(G *gp, void *arg), void *arg, int reason)
{
    G *gp = gr__getg();
    if (!gp)
        gr__throw("gr__park called outside a goroutine");
    gp->waitunlockf = unlockf;
    gp->waitlock = arg;
    gp->waitreason = (uint8_t)reason;
    gp->waitsince = 0;
    mcall(GR_SW_PARK);
}

static bool unlock_runtime_lock(G *gp, void *arg)
{
    (void)gp;
    gr__unlock((gr__mutex *)arg);
    return true;
}

void gr__park_unlock(gr__mutex *l, int reason)
{
    gr__park(unlock_runtime_lock, l, reason);
}

void gr__ready(G *gp)
{
    uint32_t st = GR_GWAITING;
    if (!atomic_compare_exchange_strong_explicit(&gp->status, &st, GR_GRUNNABLE, memory_order_acq_rel,
                                                 memory_order_acquire))
        gr__throwf("bad g status in ready: goroutine %llu status %u", (unsigned long long)gp->goid, st);
    M *mp = gr__getm();
    P *pp = mp ? mp->p : NULL;
    if (pp)
        gr__runqput(pp, gp, true);
    else
        gr__globrunqput(gp);
    gr__wakep();
}

void gr__checkpreempt(void)
{
    G *gp = gr__getg();
    if (gp && atomic_load_explicit(&gp->preempt, memory_order_relaxed)) {
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
        gp->yielded = true;
        mcall(GR_SW_PREEMPT);
    }
}

/* ---------- public goroutine API ---------- */

static int newproc(gr_fn fn, void *arg, size_t stack_size, const char *name)
{
    if (!fn)
        return -EINVAL;
    if (!gr__running() || atomic_load_explicit(&gr__sched.shutdown, memory_order_relaxed))
        return -EPERM;
    M *mp = gr__getm();
    P *pp = mp ? mp->p : NULL;
    G *gp = NULL;
    if (stack_size == (size_t)gr__sched.default_stack) {
        gp = gfget(pp);
        /* A cached G whose odd-sized stack was freed gets a default one. */
        if (gp && gp->stack_map_size == 0 && gr__stack_alloc(gp, stack_size) != 0) {
            gfput(pp, gp);
            return -ENOMEM;
        }
    }
    if (!gp) {
        gp = malg(stack_size);
        if (!gp)
            return -ENOMEM;
    }
    gp->sp = gr__ctx_init(gp->stack_hi, gstart);
    gp->sp_min = gp->stack_hi;
    gp->fn = fn;
    gp->arg = arg;
    gp->goid = atomic_fetch_add_explicit(&gr__sched.goidgen, 1, memory_order_relaxed) + 1;
    gp->preempt = false;
    gp->yielded = false;
    gp->param = NULL;
    gp->waiting = NULL;
    gp->waitreason = GR_WAIT_ZERO;
    gp->saved_errno = 0;
    if (name) {
        strncpy(gp->name, name, sizeof gp->name - 1);
        gp->name[sizeof gp->name - 1] = 0;
    } else {
        gp->name[0] = 0;
    }
    atomic_fetch_add_explicit(&gr__sched.ngoroutines, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&gr__sched.ngcreated, 1, memory_order_relaxed);
    atomic_store_explicit(&gp->status, GR_GRUNNABLE, memory_order_release);
    if (pp)
        gr__runqput(pp, gp, true);
    else
        gr__globrunqput(gp);
    gr__wakep();
    return 0;
}

int gr_go(gr_fn fn, void *arg)
{
    int r = newproc(fn, arg, (size_t)gr__sched.default_stack, NULL);
    gr__checkpreempt();
    return r;
}

int gr_go_opts(gr_fn fn, void *arg, const struct gr_go_opts *opts)
{
    size_t size = (size_t)gr__sched.default_stack;
    const char *name = NULL;
    if (opts) {
        if (opts->stack_size) {
            if (opts->stack_size < 16 * 1024 || opts->stack_size > 64 * 1024 * 1024)
                return -EINVAL;
            long pg = sysconf(_SC_PAGESIZE);
            size = (opts->stack_size + (size_t)pg - 1) & ~((size_t)pg - 1);
        }
        name = opts->name;
    }
    return newproc(fn, arg, size, name);
}

void gr_yield(void)
{
    G *gp = gr__getg();
    if (!gp) {
        sched_yield();
        return;
    }
    atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    gp->yielded = true;
    mcall(GR_SW_YIELD);
}

_Noreturn void gr_exit(void)
{
    G *gp = gr__getg();
    if (!gp)
        gr__throw("gr_exit called outside a goroutine");
    mcall(GR_SW_EXIT);
    __builtin_unreachable();
}

uint64_t gr_id(void)
{
    G *gp = gr__getg();
    return gp ? gp->goid : 0;
}

size_t gr_num_goroutine(void)
{
    if (!gr__running())
        return 0;
    int64_t n = atomic_load_explicit(&gr__sched.ngoroutines, memory_order_relaxed);
    return n > 0 ? (size_t)n : 0;
}

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
    sc.when = now + ns < now ? INT64_MAX : now + ns;
    /* Arm on g0 after switching out, so the timer cannot ready us before
     * we are parked (Go's resetForSleep). */
    gr__park(sleep_arm, &sc, GR_WAIT_SLEEP);
    /* The firing thread may still be returning from sleep_wake: wait for
     * it to let go of sc.t before this frame goes away. */
    gr__timer_stop(&sc.t);
    return 0;
}

/* ---------- system calls (Go's entersyscall / exitsyscall) ---------- */

/* Runtimes started by this process: a thread back from a system call
 * that began under an earlier runtime must not touch the current one. */
static _Atomic uint64_t runtime_gen;

static void entersyscall(G *gp, M *mp)
{
    P *pp = mp->p;
    atomic_fetch_add_explicit(&gr__sched.nsyscalls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
    atomic_store_explicit(&gp->status, GR_GSYSCALL, memory_order_release);
    atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
    atomic_store_explicit(&pp->syscallwhen, gr__nanotime(), memory_order_relaxed);
    mp->syscall_gen = atomic_load_explicit(&runtime_gen, memory_order_relaxed);
    mp->oldp = pp;
    mp->p = NULL;
    GR_RLX_STORE(pp->m, NULL);
    /* release: sysmon (CAS SYSCALL->IDLE) then sees our P's state. */
    atomic_store_explicit(&pp->status, GR_PSYSCALL, memory_order_release);
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
    uint32_t st = GR_PSYSCALL;
    if (atomic_compare_exchange_strong_explicit(&pp->status, &st, GR_PIDLE, memory_order_acq_rel,
                                                memory_order_relaxed))
        gr__handoffp(pp);
    mark_insyscall(mp);
}

void gr_syscall_exit(void)
{
    M *mp = gr__getm();
    G *gp = mp ? mp->curg : NULL;
    if (!gp || atomic_load_explicit(&gp->status, memory_order_relaxed) != GR_GSYSCALL)
        return;
    P *pp = mp->oldp;
    mp->oldp = NULL;
    /* seq_cst store, then load: either teardown sees us back (and waits
     * for us to stop), or we see its shutdown flag (and stay away). A
     * runtime generation that moved on means ours was torn down. */
    atomic_store_explicit(&mp->insyscall, false, memory_order_seq_cst);
    if (mp->syscall_gen != atomic_load_explicit(&runtime_gen, memory_order_seq_cst) ||
        atomic_load_explicit(&gr__sched.shutdown, memory_order_seq_cst)) {
        /* The runtime stopped while we were away: this G is abandoned,
         * and so is this thread; touch nothing of the runtime. */
        atomic_store_explicit(&mp->insyscall, true, memory_order_release);
        static _Atomic uint32_t forever;
        for (;;)
            gr__futex_wait(&forever, 0, -1);
    }
    /* Fast path: our P is still ours. */
    uint32_t st = GR_PSYSCALL;
    if (pp && atomic_compare_exchange_strong_explicit(&pp->status, &st, GR_PRUNNING,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
        acquirep(mp, pp);
        atomic_fetch_sub_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
        atomic_store_explicit(&gp->status, GR_GRUNNING, memory_order_release);
        if (atomic_load_explicit(&gp->preempt, memory_order_relaxed))
            gr__checkpreempt();
        return;
    }
    /* Any idle P. */
    if (atomic_load_explicit(&gr__sched.npidle, memory_order_relaxed) > 0) {
        gr__lock(&gr__sched.lock);
        P *p2 = pidleget();
        gr__unlock(&gr__sched.lock);
        if (p2) {
            acquirep(mp, p2);
            atomic_fetch_sub_explicit(&gr__sched.nsyscall, 1, memory_order_relaxed);
            atomic_store_explicit(&gp->status, GR_GRUNNING, memory_order_release);
            return;
        }
    }
    /* Queue the G and park this M (on g0). */
    mcall(GR_SW_SYSEXIT);
}

/* ---------- gr_main and teardown ---------- */

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
    atomic_fetch_add_explicit(&runtime_gen, 1, memory_order_seq_cst);
    memset(&gr__sched, 0, sizeof gr__sched);
    gr__debug_parse();
    gr__stack_init();
    gr__sched.start_time = gr__nanotime();
    int n = gr__env_procs(true);
    gr__sched.nprocs = n;
    gr__sched.allp = gr__xcalloc((size_t)n, sizeof(P *));
    for (int i = 0; i < n; i++) {
        P *pp = gr__xcalloc(1, sizeof *pp);
        pp->id = i;
        atomic_store(&pp->status, GR_PIDLE);
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
        if (st != GR_GWAITING && st != GR_GRUNNABLE)
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
        if (atomic_load(&gp->status) == GR_GSYSCALL) {
            kept = true;   /* its thread still runs on this stack */
            gp = next;
            continue;
        }
        gr__stack_free(gp);
#ifdef GR_TSAN
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
    M *m0 = allocm();
    gr__lock(&gr__sched.lock);
    for (int i = gr__sched.nprocs - 1; i > 0; i--)
        pidleput(gr__sched.allp[i]);
    gr__unlock(&gr__sched.lock);
    P *p0 = gr__sched.allp[0];
    atomic_store(&p0->status, GR_PRUNNING);
    G *g1 = malg((size_t)gr__sched.default_stack);
    if (!g1)
        gr__throw("out of memory allocating goroutine 1");
    g1->sp = gr__ctx_init(g1->stack_hi, gstart);
    g1->sp_min = g1->stack_hi;
    g1->fn = fn;
    g1->arg = arg;
    g1->goid = atomic_fetch_add(&gr__sched.goidgen, 1) + 1;
    atomic_store(&gr__sched.ngoroutines, 1);
    atomic_store(&gr__sched.ngcreated, 1);
    atomic_store(&g1->status, GR_GRUNNABLE);
    atomic_store(&p0->runnext, g1);
    m0->nextp = p0;
    r = gr__sysmon_start();
    if (r == 0)
        r = newm_thread(m0);
    if (r != 0)
        gr__throwf("gr_main: cannot create threads: %s", strerror(-r));

    gr__note_sleep(&gr__sched.main_done, -1);

    /* Teardown: stop sysmon (it would start Ms), stop Ms, cancel and
     * reap I/O, join threads, free. */
    gr__sysmon_stop();
    stop_the_world_for_shutdown();
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
    atomic_store(&busy, 0);
    return 0;
}

void gr__ready_list_add(G *gp, G **list)
{
    uint32_t st = GR_GWAITING;
    if (!atomic_compare_exchange_strong_explicit(&gp->status, &st, GR_GRUNNABLE, memory_order_acq_rel,
                                                 memory_order_acquire))
        gr__throwf("bad g status in netpoll ready: goroutine %llu status %u",
                   (unsigned long long)gp->goid, st);
    gp->schedlink = *list;
    *list = gp;
}
