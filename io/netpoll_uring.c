/*
 * io/netpoll_uring.c: the io_uring poller, one ring per P.
 *
 * Implements core/netpoll.h (what the scheduler calls) and io/ring.h (what
 * goroutine I/O calls). A goroutine fills SQEs on its P's ring and parks;
 * the M holding the P submits them in batches from the scheduler loop and
 * reaps completions there; an M with nothing to run blocks in its own
 * ring (io_uring_enter waiting for one CQE, timeout = its next timer).
 *
 * Waking a blocked M (gr__netpoll_break): every ring keeps one read of its
 * own eventfd in flight; a write to the eventfd completes it. An eventfd
 * write works from any thread, with or without a ring of its own, which
 * IORING_OP_MSG_RING does not (it needs a ring to submit from).
 *
 * Thread affinity: io_uring runs a request's completion work in the thread
 * that submitted it. Rings are set up without COOP_TASKRUN/DEFER_TASKRUN,
 * so the kernel interrupts that thread (TWA_SIGNAL) to run it even when it
 * sleeps in another system call (a futex, a pipe read, nanosleep); only an
 * uninterruptible wait (fsync, a page fault) delays it until the call
 * returns. Ms never exit while the runtime runs, and teardown reaps every
 * request before the threads are joined.
 *
 * Invariants:
 * - sqlock guards the SQ (get_sqe, submit) and sq_pending; cqlock guards
 *   reaping (the CQ head). Lock order: sqlock -> cqlock (a submitter that
 *   must make room reaps); both are leaves otherwise.
 * - inflight counts CQEs owed to goroutine ops (incremented when an SQE is
 *   handed out, decremented after the op's goroutine is made runnable),
 *   seq_cst: checkdead reads it and must not see 0 while a reaped op's
 *   goroutine is still marked waiting.
 * - The wake read's CQE has user_data GR_UD_WAKE; ignored CQEs (cancels)
 *   have user_data 0; every other user_data is a struct gr__iop pointer
 *   (8-aligned) with a tag in its low 3 bits.
 * - Descriptors handed to ring ops must be in blocking mode: io_uring
 *   returns -EAGAIN for O_NONBLOCK files instead of waiting.
 */
#include "core/netpoll.h"
#include "core/sched.h"
#include "io/ring.h"
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define GR_UD_IGNORE 0ULL
#define GR_UD_WAKE 8ULL
#define GR_SQ_DEFAULT 256
#define GR_BATCH 8

#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif

struct gr__ring {
    struct io_uring ring;
    gr__mutex sqlock;
    gr__mutex cqlock;
    P *pp;
    int wakefd;
    uint64_t wakebuf;
    bool wake_armed;                /* (sqlock) the eventfd read is in flight */
    _Atomic bool wake_done;         /* its CQE was reaped: re-arm */
    uint32_t sq_pending;            /* (sqlock) SQEs not yet submitted */
    uint32_t pending_tick;          /* (sqlock) P's schedtick at the first of them */
    _Atomic int64_t inflight;
    _Atomic int64_t lastpoll;
    bool leak;                      /* drain gave up: never free (kernel may write) */
};

struct gr__io_features gr__io_features;
static _Atomic int64_t total_inflight;

/* ---------- set-up ---------- */

static void report_setup_error(int err)
{
    const char *why, *fix;
    int disabled = -1;
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    if (f) {
        if (fscanf(f, "%d", &disabled) != 1)
            disabled = -1;
        fclose(f);
    }
    switch (err) {
    case EPERM:
    case EACCES:
        if (disabled > 0) {
            why = "io_uring is disabled by sysctl kernel.io_uring_disabled";
            fix = "run `sysctl kernel.io_uring_disabled=0` as root";
        } else {
            why = "io_uring is refused (a seccomp filter, such as Docker's default profile)";
            fix = "allow io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile";
        }
        break;
    case ENOSYS:
        why = "this kernel has no io_uring";
        fix = "use Linux 5.19 or newer built with CONFIG_IO_URING";
        break;
    case ENOMEM:
        why = "no memory for the ring (RLIMIT_MEMLOCK on kernels before 5.12)";
        fix = "raise `ulimit -l` or lower GR_MAXPROCS";
        break;
    default:
        why = strerror(err);
        fix = "see io_uring_setup(2)";
    }
    fprintf(stderr, "goring: cannot create io_uring ring: %s; fix: %s\n", why, fix);
}

static void probe_features(struct io_uring *ring)
{
    struct gr__io_features *f = &gr__io_features;
    memset(f, 0, sizeof *f);
    f->nodrop = ring->features & IORING_FEAT_NODROP;
    f->ext_arg = ring->features & IORING_FEAT_EXT_ARG;
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (p) {
        f->msg_ring = io_uring_opcode_supported(p, IORING_OP_MSG_RING);
        f->link_timeout = io_uring_opcode_supported(p, IORING_OP_LINK_TIMEOUT);
        /* liburing 2.3's probe covers opcodes up to what the kernel reports;
         * FUTEX_WAIT (6.7) is past liburing's IORING_OP_LAST. */
        f->futex = p->last_op >= IORING_OP_FUTEX_WAIT + 1 &&
                   (p->ops[IORING_OP_FUTEX_WAIT].flags & IO_URING_OP_SUPPORTED);
        /* SEND_ZC (6.0) implies cancel-by-fd/any (5.19) and multishot accept (5.19). */
        f->cancel_fd = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
        f->multishot_accept = f->cancel_fd;
        f->buf_ring = f->cancel_fd;
        io_uring_free_probe(p);
    }
}

int gr__netpoll_init(P *pp)
{
    struct gr__ring *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    unsigned entries = gr__debug.sq_entries > 0 ? (unsigned)gr__debug.sq_entries : GR_SQ_DEFAULT;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
    if (gr__debug.cq_entries > 0) {
        params.flags |= IORING_SETUP_CQSIZE;
        params.cq_entries = (unsigned)gr__debug.cq_entries;
        if (entries > params.cq_entries)
            entries = params.cq_entries;
    } else {
        params.flags |= IORING_SETUP_CQSIZE;
        params.cq_entries = entries * 16;
    }
    int ret = io_uring_queue_init_params(entries, &r->ring, &params);
    if (ret == -EINVAL) {
        params.flags &= ~IORING_SETUP_SUBMIT_ALL;
        ret = io_uring_queue_init_params(entries, &r->ring, &params);
    } else {
        gr__io_features.submit_all = true;
    }
    if (ret < 0) {
        report_setup_error(-ret);
        free(r);
        return ret;
    }
    r->wakefd = eventfd(0, EFD_CLOEXEC);
    if (r->wakefd < 0) {
        int e = errno;
        io_uring_queue_exit(&r->ring);
        free(r);
        return -e;
    }
    if (pp->id == 0) {
        bool sa = gr__io_features.submit_all;
        probe_features(&r->ring);
        gr__io_features.submit_all = sa;
    }
    r->pp = pp;
    atomic_store(&r->lastpoll, gr__nanotime());
    pp->poller = (struct gr__poller *)r;
    if (pp->id == 0)
        atomic_store(&total_inflight, 0);
    return 0;
}

static inline struct gr__ring *ring_of(P *pp)
{
    return (struct gr__ring *)pp->poller;
}

void gr__netpoll_destroy(P *pp)
{
    struct gr__ring *r = ring_of(pp);
    if (!r)
        return;
    pp->poller = NULL;
    if (r->leak)
        return;
    io_uring_queue_exit(&r->ring);
    close(r->wakefd);
    free(r);
}

struct gr__ring *gr__io_ring_of(int i)
{
    if (!gr__running() || i < 0 || i >= gr__sched.nprocs)
        return NULL;
    return ring_of(gr__sched.allp[i]);
}

int gr__io_nrings(void)
{
    return gr__running() ? gr__sched.nprocs : 0;
}

/* ---------- submitting (sqlock held) ---------- */

static int submit_locked(struct gr__ring *r)
{
    if (r->sq_pending == 0 && io_uring_sq_ready(&r->ring) == 0)
        return 0;
    int n;
    for (;;) {
        n = io_uring_submit(&r->ring);
        if (n >= 0)
            break;
        if (n == -EINTR)
            continue;
        if (n == -EBUSY || n == -EAGAIN) {
            /* CQ overflow backlog or no memory: let completions drain. */
            io_uring_get_events(&r->ring);
            sched_yield();
            continue;
        }
        gr__throwf("io_uring_submit: %s", strerror(-n));
    }
    gr__stat_add_io((uint64_t)n, 0, 1);
    r->sq_pending = 0;
    return n;
}

static struct io_uring_sqe *get_sqe_locked(struct gr__ring *r)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&r->ring)))
        submit_locked(r);   /* SQ full: flush and retry, never an error */
    if (r->sq_pending++ == 0 && r->pp->m)
        r->pending_tick = r->pp->schedtick;
    return sqe;
}

static void arm_wake_locked(struct gr__ring *r)
{
    if (r->wake_armed && !atomic_load_explicit(&r->wake_done, memory_order_acquire))
        return;
    atomic_store_explicit(&r->wake_done, false, memory_order_relaxed);
    struct io_uring_sqe *sqe = get_sqe_locked(r);
    io_uring_prep_read(sqe, r->wakefd, &r->wakebuf, sizeof r->wakebuf, 0);
    io_uring_sqe_set_data64(sqe, GR_UD_WAKE);
    r->wake_armed = true;
}

struct gr__ring *gr__io_ring_lock(void)
{
    M *mp = gr__getm();
    if (!mp || !mp->curg || !mp->p)
        return NULL;
    struct gr__ring *r = ring_of(mp->p);
    gr__lock(&r->sqlock);
    return r;
}

void gr__io_ring_unlock(struct gr__ring *r)
{
    gr__unlock(&r->sqlock);
}

struct io_uring_sqe *gr__io_get_sqe(struct gr__ring *r, struct gr__iop *op, unsigned tag)
{
    /* An op's main SQE and its linked timeout go in one submission: make
     * room for both before the first. */
    if (tag == 0 && io_uring_sq_space_left(&r->ring) < 2)
        submit_locked(r);
    struct io_uring_sqe *sqe = get_sqe_locked(r);
    if (!op->g) {
        op->g = gr__getg();
        op->ring = r;
    }
    atomic_fetch_add_explicit(&op->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&total_inflight, 1, memory_order_seq_cst);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | (tag & 7u));
    return sqe;
}

struct io_uring_sqe *gr__io_get_sqe_nocqe(struct gr__ring *r)
{
    struct io_uring_sqe *sqe = get_sqe_locked(r);
    io_uring_sqe_set_data64(sqe, GR_UD_IGNORE);
    return sqe;
}

void gr__io_ring_submit(struct gr__ring *r)
{
    submit_locked(r);
}

static bool iop_park(G *gp, void *arg)
{
    (void)gp;
    struct gr__iop *op = arg;
    uint32_t exp = GR_IOP_INIT;
    return atomic_compare_exchange_strong_explicit(&op->state, &exp, GR_IOP_PARKED, memory_order_acq_rel,
                                                   memory_order_acquire);
}

int32_t gr__io_wait(struct gr__iop *op)
{
    if (atomic_load_explicit(&op->state, memory_order_acquire) != GR_IOP_DONE)
        gr__park(iop_park, op, GR_WAIT_IO);
    return op->res;
}

void gr__io_cancel(struct gr__iop *op)
{
    struct gr__ring *r = op->ring;
    if (!r || atomic_load_explicit(&op->state, memory_order_acquire) == GR_IOP_DONE)
        return;
    gr__lock(&r->sqlock);
    struct io_uring_sqe *sqe = get_sqe_locked(r);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, gr__io_features.cancel_fd ? IORING_ASYNC_CANCEL_ALL : 0);
    io_uring_sqe_set_data64(sqe, GR_UD_IGNORE);
    submit_locked(r);
    gr__unlock(&r->sqlock);
}

/* ---------- reaping (cqlock held) ---------- */

/* Handle one CQE. With list == NULL (teardown) goroutines are not readied. */
static int complete_one(struct gr__ring *r, const struct io_uring_cqe *cqe, G **list)
{
    uint64_t ud = cqe->user_data;
    if (ud == GR_UD_IGNORE)
        return 0;
    if (ud == GR_UD_WAKE) {
        atomic_store_explicit(&r->wake_done, true, memory_order_release);
        return 0;
    }
    struct gr__iop *op = (struct gr__iop *)(uintptr_t)(ud & ~7ULL);
    unsigned tag = (unsigned)(ud & 7);
    if (op->on_cqe)
        op->on_cqe(op, cqe);
    if (tag == 0) {
        op->res = cqe->res;
        op->cqe_flags = cqe->flags;
    } else if (tag == 1) {
        op->aux_res = cqe->res;
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return 0;   /* multishot: more CQEs to come for this request */
    int n = 0;
    if (atomic_fetch_sub_explicit(&op->pending, 1, memory_order_acq_rel) == 1) {
        G *gp = op->g;
        uint32_t prev = atomic_exchange_explicit(&op->state, GR_IOP_DONE, memory_order_acq_rel);
        /* op may be gone from here on: its goroutine can run now. */
        if (prev == GR_IOP_PARKED && list) {
            gr__ready_list_add(gp, list);
            n = 1;
        }
    }
    atomic_fetch_sub_explicit(&r->inflight, 1, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&total_inflight, 1, memory_order_seq_cst);
    return n;
}

/* Reap up to max CQEs (the rest stay in the CQ, in order). */
static int reap_locked(struct gr__ring *r, G **list, unsigned max)
{
    int readied = 0;
    unsigned total = 0;
    while (total < max) {
        struct io_uring_cqe *cqes[64];
        unsigned want = max - total < 64 ? max - total : 64;
        unsigned n = io_uring_peek_batch_cqe(&r->ring, cqes, want);
        if (n == 0) {
            if (io_uring_cq_has_overflow(&r->ring)) {
                io_uring_get_events(&r->ring);   /* flush the kernel's backlog */
                gr__stat_add_io(0, 0, 1);
                continue;
            }
            break;
        }
        for (unsigned i = 0; i < n; i++)
            readied += complete_one(r, cqes[i], list);
        io_uring_cq_advance(&r->ring, n);
        total += n;
    }
    if (total)
        gr__stat_add_io(0, total, 0);
    /* sysmon compares lastpoll only for rings with requests in flight:
     * skip the clock read for idle rings (it was 20% of a yield). */
    if (total || atomic_load_explicit(&r->inflight, memory_order_relaxed) > 0)
        atomic_store_explicit(&r->lastpoll, gr__nanotime(), memory_order_relaxed);
    return readied;
}

/* ---------- the scheduler's side ---------- */

int gr__netpoll(P *pp, int64_t delay_ns, G **list)
{
    struct gr__ring *r = ring_of(pp);
    if (!r)
        return 0;
    *list = NULL;
    bool blocking = delay_ns >= 0 ? delay_ns != 0 : delay_ns == -1;
    bool lazy = delay_ns == GR_NETPOLL_LAZY || delay_ns == GR_NETPOLL_SUBMIT;
    /* Never reap more than half the P's run queue can take: what the queue
     * cannot hold would spill to the global queue, out of order. */
    uint32_t qlen = gr__runqlen(pp);
    unsigned budget = qlen < GR_RUNQ_SIZE / 2 ? GR_RUNQ_SIZE / 2 - qlen : 0;
    if (budget == 0 && delay_ns != GR_NETPOLL_SUBMIT)
        budget = 1;
    /* Submit. delay -2: lazily, only a batch or an old request. The racy
     * read of sq_pending is fine: only this P's goroutines queue SQEs
     * without submitting (others submit under the lock at once). */
    if (r->sq_pending || blocking) {
        gr__lock(&r->sqlock);
        if (!lazy || r->sq_pending >= GR_BATCH || pp->schedtick - r->pending_tick >= 4)
            submit_locked(r);
        if (blocking) {
            arm_wake_locked(r);
            submit_locked(r);
        }
        gr__unlock(&r->sqlock);
    }
    /* Reap; an empty CQ (the common case between completions) costs two
     * loads and no lock. */
    int n = 0;
    if (delay_ns == GR_NETPOLL_SUBMIT) {
        /* Deferred on purpose: tell sysmon this ring is not forgotten. */
        if ((pp->schedtick & 63) == 0)
            atomic_store_explicit(&r->lastpoll, gr__nanotime(), memory_order_relaxed);
        return 0;
    }
    if (io_uring_cq_ready(&r->ring) || io_uring_cq_has_overflow(&r->ring)) {
        gr__lock(&r->cqlock);
        n = reap_locked(r, list, budget);
        gr__unlock(&r->cqlock);
    }
    if (n > 0 || !blocking)
        return n;
    /* The wake read completed: a break came in since it was armed. */
    if (atomic_load_explicit(&r->wake_done, memory_order_acquire))
        return 0;
    if (atomic_load_explicit(&gr__sched.shutdown, memory_order_acquire))
        return 0;
    /* Block for one completion (or the wake read). */
    struct io_uring_cqe *cqe;
    int ret;
    gr__stat_add_io(0, 0, 1);
    if (delay_ns > 0) {
        struct __kernel_timespec ts = {.tv_sec = delay_ns / 1000000000, .tv_nsec = delay_ns % 1000000000};
        ret = io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
    } else {
        ret = io_uring_wait_cqe(&r->ring, &cqe);
    }
    (void)ret;   /* -ETIME, -EINTR: fine, reap whatever is there */
    gr__lock(&r->cqlock);
    n = reap_locked(r, list, budget);
    gr__unlock(&r->cqlock);
    return n;
}

void gr__netpoll_break(P *pp)
{
    struct gr__ring *r = ring_of(pp);
    if (!r)
        return;
    uint64_t one = 1;
    ssize_t w = write(r->wakefd, &one, sizeof one);
    (void)w;
}

bool gr__netpoll_busy(P *pp)
{
    struct gr__ring *r = ring_of(pp);
    return r && atomic_load_explicit(&r->inflight, memory_order_seq_cst) > 0;
}

int64_t gr__netpoll_inflight(void)
{
    return atomic_load_explicit(&total_inflight, memory_order_seq_cst);
}

int gr__netpoll_reap_remote(P *pp, G **list)
{
    struct gr__ring *r = ring_of(pp);
    *list = NULL;
    if (!r || !gr__trylock(&r->cqlock))
        return 0;
    bool had_wake = r->wake_armed && !atomic_load_explicit(&r->wake_done, memory_order_acquire);
    int n = reap_locked(r, list, UINT32_MAX);
    gr__unlock(&r->cqlock);
    if (had_wake && atomic_load_explicit(&r->wake_done, memory_order_acquire)) {
        /* We ate a wake-up meant for the M that may be blocked in this
         * ring: arm a new read and break again, so it still wakes. */
        gr__lock(&r->sqlock);
        arm_wake_locked(r);
        submit_locked(r);
        gr__unlock(&r->sqlock);
        gr__netpoll_break(pp);
    }
    return n;
}

int64_t gr__netpoll_lastpoll(P *pp)
{
    struct gr__ring *r = ring_of(pp);
    return r ? atomic_load_explicit(&r->lastpoll, memory_order_relaxed) : 0;
}

void gr__netpoll_flush(P *pp)
{
    struct gr__ring *r = ring_of(pp);
    if (!r || !r->sq_pending)
        return;
    gr__lock(&r->sqlock);
    submit_locked(r);
    gr__unlock(&r->sqlock);
}

/* Teardown: cancel everything (the wake read included) and reap until no
 * goroutine op is owed, so no completion lands in freed memory. */
void gr__netpoll_drain(P *pp)
{
    struct gr__ring *r = ring_of(pp);
    if (!r)
        return;
    /* Each cancel's own CQE ends a wait at once, so bound by time, not
     * rounds: the submitting threads need a moment to run task work. */
    int64_t deadline = gr__nanotime() + 5LL * 1000 * 1000 * 1000;
    for (;;) {
        gr__lock(&r->sqlock);
        struct io_uring_sqe *sqe = get_sqe_locked(r);
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, GR_UD_IGNORE);
        submit_locked(r);
        gr__unlock(&r->sqlock);
        /* An eventfd read punted to an io-wq worker may not be cancellable
         * at once: complete it instead. */
        if (r->wake_armed && !atomic_load(&r->wake_done))
            gr__netpoll_break(pp);
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
        gr__lock(&r->cqlock);
        reap_locked(r, NULL, UINT32_MAX);
        gr__unlock(&r->cqlock);
        if (atomic_load(&r->inflight) <= 0 && (!r->wake_armed || atomic_load(&r->wake_done)))
            return;
        if (gr__nanotime() > deadline)
            break;
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "goring: warning: %lld I/O requests still in flight at exit%s\n",
            (long long)atomic_load(&r->inflight),
            r->wake_armed && !atomic_load(&r->wake_done) ? " (and the ring's wake-up read)" : "");
    r->leak = true;   /* keep the ring and its buffers: the kernel may still write */
}
