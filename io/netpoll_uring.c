/*
 * io/netpoll_uring.c: the io_uring backend of core/netpoll.h, one ring
 * per P.
 *
 * The op engine is submit-and-park: a goroutine fills its op's SQE (and a
 * LINK_TIMEOUT for a deadline) on its P's ring and parks; the M holding
 * the P submits them in batches from the scheduler loop and reaps
 * completions there; an M with nothing to run blocks in its own ring
 * (io_uring_enter waiting for one CQE, timeout = its next timer).
 *
 * Waking a blocked M (gr__netpoll_break): every ring keeps one read of its
 * own eventfd in flight; a write to the eventfd completes it. An eventfd
 * write works from any thread, with or without a ring of its own, which
 * IORING_OP_MSG_RING does not (it needs a ring to submit from).
 *
 * Thread affinity: io_uring runs a request's completion work in the thread
 * that submitted it. Rings are set up with COOP_TASKRUN | TASKRUN_FLAG
 * (where the kernel has them; GRDEBUG=taskrun=plain: without): the kernel
 * does not interrupt a running submitter, which posts the work at its next
 * system call (a reap sees IORING_SQ_TASKRUN and enters), but it still
 * wakes one that sleeps interruptibly in another call (a futex, a pipe
 * read, nanosleep), so an M blocked in a bracketed call delays nothing;
 * only an uninterruptible wait (fsync, a page fault) delays it until the
 * call returns. Ms never exit while the runtime runs, and teardown reaps
 * every request before the threads are joined.
 *
 * Submission: SQEs queue while the P has goroutines to run (a batch of
 * GR_BATCH, or GR_DEFER_POLLS polls at most); a poll that blocks submits
 * them in the same io_uring_enter as its wait.
 *
 * Invariants:
 * - sqlock guards the SQ (get_sqe, submit) and sq_pending; cqlock guards
 *   reaping (the CQ head). Lock order: sqlock -> cqlock (a submitter that
 *   must make room reaps); both are leaves otherwise.
 * - inflight counts CQEs owed to goroutine ops (incremented when an SQE is
 *   handed out, decremented after the op's goroutine is made runnable),
 *   seq_cst: checkdead reads their sum over rings[] and must not see 0
 *   while a reaped op's goroutine is still marked waiting.
 * - The wake read's CQE has user_data GR_UD_WAKE; ignored CQEs (cancels)
 *   have user_data 0; every other user_data is a struct gr__iop pointer
 *   (8-aligned) with a tag in its low 3 bits.
 * - An op's SQE and its LINK_TIMEOUT are filled under one sqlock hold
 *   with room for both made first, so they always reach the kernel in one
 *   submission (a chain split across two would end at the first).
 * - A user-data tag (low 3 bits): 0 the op's request, 1 its linked timeout.
 * - Descriptors reach ring ops in blocking mode: io_uring returns -EAGAIN
 *   for O_NONBLOCK files instead of waiting (io/fd.c then polls).
 */
#include "core/netpoll.h"
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define GR_UD_IGNORE 0ULL
#define GR_UD_WAKE 8ULL
#define GR_SQ_DEFAULT 256
#define GR_BATCH 32             /* a deferred batch goes once this many SQEs wait */
#define GR_DEFER_POLLS 16       /* a deferred SQE waits at most this many polls */
#define GR_MAX_RINGS 1024       /* GR_MAXPROCS's upper bound */

#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#endif

_Static_assert(sizeof(struct io_uring_sqe) == 64, "io_uring_sqe is the kernel's 64-byte SQE");
_Static_assert(offsetof(struct io_uring_sqe, addr3) == 48, "addr3 at the kernel's offset");
_Static_assert(sizeof(((struct gr__iop *)0)->be.ts) == sizeof(struct __kernel_timespec),
               "the op's timespec scratch is a __kernel_timespec");

struct gr__ring {
    struct io_uring ring;
    gr__mutex sqlock;
    gr__mutex cqlock;
    int wakefd;
    uint64_t wakebuf;
    bool wake_armed;                /* (sqlock) the eventfd read is in flight */
    _Atomic bool wake_done;         /* its CQE was reaped: re-arm */
    uint32_t sq_pending;            /* (sqlock) SQEs not yet submitted */
    uint32_t pending_poll;          /* (sqlock) npolls at the first of them */
    uint32_t npolls;                /* (owner M) polls of this ring */
    _Atomic int64_t inflight;
    _Atomic int64_t lastpoll;
    bool leak;                      /* drain gave up: never free (kernel may write) */
    int index;                      /* P index (rings[]), -1 none */
};

/* Probed features of the kernel (set when P 0's ring is created). */
static struct {
    bool futex;            /* IORING_OP_FUTEX_WAIT/WAKE (6.7+) */
    bool submit_all;
    bool cancel_fd;        /* IORING_ASYNC_CANCEL_FD / ANY */
    bool coop;             /* rings run with COOP_TASKRUN | TASKRUN_FLAG */
} features;
/* Every live ring, by P index: inflight() sums their counters, so no
 * process-wide counter is written per SQE and CQE. */
static struct gr__ring *_Atomic rings[GR_MAX_RINGS];

static inline struct gr__ring *ring_of(struct gr__poller *pl)
{
    return (struct gr__ring *)pl;
}

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

/* GRDEBUG=taskrun=plain: rings without COOP_TASKRUN (the kernel then
 * interrupts a running submitter to post its completions at once). */
static bool taskrun_coop(void)
{
    const char *e = getenv("GRDEBUG");
    const char *k = e ? strstr(e, "taskrun=") : NULL;
    return !(k && !strncmp(k + 8, "plain", 5));
}

static void probe_features(struct io_uring *ring)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    features.futex = features.cancel_fd = false;
    if (p) {
        /* liburing 2.3's probe covers opcodes up to what the kernel reports;
         * FUTEX_WAIT (6.7) is past liburing's IORING_OP_LAST. */
        features.futex = p->last_op >= IORING_OP_FUTEX_WAIT + 1 &&
                         (p->ops[IORING_OP_FUTEX_WAIT].flags & IO_URING_OP_SUPPORTED);
        /* SEND_ZC (6.0) implies cancel-by-fd/any (5.19). */
        features.cancel_fd = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
        io_uring_free_probe(p);
    }
}

static int uring_init(int index, struct gr__poller **out)
{
    struct gr__ring *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    unsigned entries = gr__debug.sq_entries > 0 ? (unsigned)gr__debug.sq_entries : GR_SQ_DEFAULT;
    if (entries < 2)
        entries = 2;   /* an op and its linked timeout share one submission */
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP | IORING_SETUP_CQSIZE;
    bool coop = taskrun_coop();
    if (coop)
        params.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    if (gr__debug.cq_entries > 0) {
        params.cq_entries = (unsigned)gr__debug.cq_entries;
        if (entries > params.cq_entries)
            entries = params.cq_entries;
    } else {
        params.cq_entries = entries * 16;
    }
    int ret = io_uring_queue_init_params(entries, &r->ring, &params);
    if (ret == -EINVAL && coop) {   /* before 5.19: the kernel interrupts (TWA_SIGNAL) */
        params.flags &= ~(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
        coop = false;
        ret = io_uring_queue_init_params(entries, &r->ring, &params);
    }
    bool submit_all = true;
    if (ret == -EINVAL) {
        params.flags &= ~IORING_SETUP_SUBMIT_ALL;
        submit_all = false;
        ret = io_uring_queue_init_params(entries, &r->ring, &params);
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
    if (index == 0) {
        probe_features(&r->ring);
        features.submit_all = submit_all;
        features.coop = coop;
    }
    atomic_store(&r->lastpoll, gr__nanotime());
    if (index >= 0 && index < GR_MAX_RINGS) {
        r->index = index;
        atomic_store(&rings[index], r);
    } else {
        r->index = -1;
    }
    *out = (struct gr__poller *)r;
    return 0;
}

static void uring_destroy(struct gr__poller *pl)
{
    struct gr__ring *r = ring_of(pl);
    if (r->index >= 0)
        atomic_store(&rings[r->index], NULL);
    if (r->leak)
        return;
    io_uring_queue_exit(&r->ring);
    close(r->wakefd);
    free(r);
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
    if (r->sq_pending++ == 0)
        r->pending_poll = r->npolls;
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

/* An SQE for op with tag (0: its request, 1: its linked timeout). */
static struct io_uring_sqe *op_sqe(struct gr__ring *r, struct gr__iop *op, unsigned tag)
{
    struct io_uring_sqe *sqe = get_sqe_locked(r);
    atomic_fetch_add_explicit(&op->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_seq_cst);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | tag);
    return sqe;
}

/* Fill sqe with req (not SLEEP; an opcode the ring has). */
static void prep(struct io_uring_sqe *sqe, struct gr__ioreq *a)
{
    switch (a->opcode) {
    case GR__OPC_READ:
        io_uring_prep_read(sqe, a->fd, a->buf, a->len, a->off);
        break;
    case GR__OPC_WRITE:
        io_uring_prep_write(sqe, a->fd, a->cbuf, a->len, a->off);
        break;
    case GR__OPC_READV:
        io_uring_prep_readv(sqe, a->fd, a->iov, (unsigned)a->iovcnt, a->off);
        break;
    case GR__OPC_WRITEV:
        io_uring_prep_writev(sqe, a->fd, a->iov, (unsigned)a->iovcnt, a->off);
        break;
    case GR__OPC_RECV:
        io_uring_prep_recv(sqe, a->fd, a->buf, a->len, a->flags);
        break;
    case GR__OPC_SEND:
        io_uring_prep_send(sqe, a->fd, a->cbuf, a->len, a->flags);
        break;
    case GR__OPC_RECVMSG:
        io_uring_prep_recvmsg(sqe, a->fd, a->msg, (unsigned)a->flags);
        break;
    case GR__OPC_SENDMSG:
        io_uring_prep_sendmsg(sqe, a->fd, a->cmsg, (unsigned)a->flags);
        break;
    case GR__OPC_ACCEPT:
        io_uring_prep_accept(sqe, a->fd, a->addr, a->alen, a->flags);
        break;
    case GR__OPC_CONNECT:
        if (a->attempts++ == 0) {
            io_uring_prep_connect(sqe, a->fd, a->caddr, a->clen);
            a->polled = false;
        } else {
            /* A CONNECT resubmitted on a socket already connecting would say
             * EALREADY: wait for the handshake's end instead (Go's way). */
            io_uring_prep_poll_add(sqe, a->fd, POLLOUT);
            a->polled = true;
        }
        break;
    case GR__OPC_POLL:
        io_uring_prep_poll_add(sqe, a->fd, (unsigned)(unsigned short)a->flags);
        break;
    case GR__OPC_FSYNC:
        io_uring_prep_fsync(sqe, a->fd, 0);
        break;
    case GR__OPC_OPENAT:
        io_uring_prep_openat(sqe, a->fd, (const char *)a->cbuf, a->flags, (mode_t)a->off);
        break;
    case GR__OPC_FUTEX_WAIT:
        /* liburing 2.3 has neither the opcode nor a helper: the kernel ABI
         * (include/uapi/linux/io_uring.h, io_uring/futex.c): fd = futex2
         * flags, addr = the word, addr2 = the expected value, addr3 = the
         * bitset mask; len, rw_flags, buf_index, file_index 0. */
        io_uring_prep_rw(IORING_OP_FUTEX_WAIT, sqe, a->flags, a->addr32, 0, a->val);
        sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
        break;
    default:
        gr__throwf("io_uring: bad op code %d", a->opcode);
    }
}

static int uring_submit(struct gr__iop *op)
{
    struct gr__poller *pl = gr__netpoll_current();
    if (!pl)
        return -EPERM;
    struct gr__ring *r = ring_of(pl);
    struct gr__ioreq *a = op->req;
    if (a->opcode == GR__OPC_FUTEX_WAIT && !features.futex)
        return -ENOSYS;
    int64_t dl = op->deadline;
    bool link = dl >= 0 && a->opcode != GR__OPC_SLEEP;
    op->g = gr__getg();
    op->poller = pl;
    gr__lock(&r->sqlock);
    /* The request and its linked timeout go in one submission: room for
     * both before the first. */
    if (io_uring_sq_space_left(&r->ring) < 2)
        submit_locked(r);
    struct io_uring_sqe *sqe = op_sqe(r, op, 0);
    if (a->opcode == GR__OPC_SLEEP) {
        /* Until wake, or the deadline if sooner: one TIMEOUT, no link. */
        int64_t when = a->wake;
        if (dl >= 0 && dl < when)
            when = dl;
        op->be.ts.tv_sec = when / 1000000000;
        op->be.ts.tv_nsec = when % 1000000000;
        io_uring_prep_timeout(sqe, (struct __kernel_timespec *)&op->be.ts, 0, IORING_TIMEOUT_ABS);
    } else {
        prep(sqe, a);
    }
    if (link) {
        sqe->flags |= IOSQE_IO_LINK;
        op->be.ts.tv_sec = dl / 1000000000;
        op->be.ts.tv_nsec = dl % 1000000000;
        io_uring_prep_link_timeout(op_sqe(r, op, 1), (struct __kernel_timespec *)&op->be.ts,
                                   IORING_TIMEOUT_ABS);
    }
    gr__unlock(&r->sqlock);
    return 0;
}

static bool iop_park(G *gp, void *arg)
{
    (void)gp;
    struct gr__iop *op = arg;
    uint32_t exp = GR_IOP_INIT;
    return atomic_compare_exchange_strong_explicit(&op->state, &exp, GR_IOP_PARKED, memory_order_acq_rel,
                                                   memory_order_acquire);
}

static int32_t uring_wait(struct gr__iop *op)
{
    if (atomic_load_explicit(&op->state, memory_order_acquire) != GR_IOP_DONE)
        gr__park(iop_park, op, GR_WAIT_IO);
    return op->res;
}

static void uring_cancel(struct gr__iop *op)
{
    struct gr__ring *r = op->poller ? ring_of(op->poller) : NULL;
    if (!r || atomic_load_explicit(&op->state, memory_order_acquire) == GR_IOP_DONE)
        return;
    gr__lock(&r->sqlock);
    struct io_uring_sqe *sqe = get_sqe_locked(r);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, features.cancel_fd ? IORING_ASYNC_CANCEL_ALL : 0);
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
    if ((ud & 7) == 0)
        op->res = cqe->res;
    else if (cqe->res == -ETIME)
        op->expired = true;   /* the linked timeout fired */
    int n = 0;
    if (atomic_fetch_sub_explicit(&op->pending, 1, memory_order_acq_rel) == 1) {
        G *gp = op->g;
        uint32_t prev = atomic_exchange_explicit(&op->state, GR_IOP_DONE, memory_order_acq_rel);
        /* op may be gone from here on: its goroutine can run now. */
        if (prev == GR_IOP_PARKED && list) {
            gr__netpoll_ready_add(gp, list);
            n = 1;
        }
    }
    atomic_fetch_sub_explicit(&r->inflight, 1, memory_order_seq_cst);
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

/* Completions the kernel holds back: CQ overflow, or (COOP_TASKRUN) task
 * work queued for this ring that only a system call of its submitter runs. */
static inline bool cq_needs_enter(struct gr__ring *r)
{
    return IO_URING_READ_ONCE(*r->ring.sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

/* Publish the queued SQEs to the kernel (liburing's flush, which 2.3
 * keeps private); returns how many the kernel has not consumed yet. */
static unsigned flush_sq_locked(struct gr__ring *r)
{
    struct io_uring_sq *sq = &r->ring.sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    r->sq_pending = 0;
    return tail - io_uring_smp_load_acquire(sq->khead);
}

/* Block for one completion: the queued SQEs go in the same io_uring_enter.
 * The SQ lock is not held across the wait (gr_close cancels from other
 * threads); concurrent enters are fine: each submits what the kernel has
 * not consumed yet, up to its count, and SUBMIT_ALL never stops early. */
static void submit_and_wait(struct gr__ring *r, int64_t timeout_ns)
{
    gr__lock(&r->sqlock);
    arm_wake_locked(r);
    unsigned n = flush_sq_locked(r);
    gr__unlock(&r->sqlock);
    struct __kernel_timespec ts;
    struct io_uring_getevents_arg arg = {.sigmask = 0, .sigmask_sz = _NSIG / 8, .ts = 0};
    unsigned flags = IORING_ENTER_GETEVENTS;
    if (timeout_ns != GR_NETPOLL_FOREVER) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        arg.ts = (uint64_t)(uintptr_t)&ts;
        flags |= IORING_ENTER_EXT_ARG;
    }
    int ret = io_uring_enter2(r->ring.ring_fd, n, 1, flags, (flags & IORING_ENTER_EXT_ARG) ? (sigset_t *)&arg : NULL,
                              sizeof arg);
    gr__stat_add_io(ret > 0 ? (uint64_t)ret : 0, 0, 1);
    if (ret == -EBUSY || ret == -EAGAIN) {
        /* CQ overflow backlog or no memory: submit the usual way (it
         * drains and retries), the caller reaps. */
        gr__lock(&r->sqlock);
        submit_locked(r);
        gr__unlock(&r->sqlock);
    }
    /* -ETIME, -EINTR: fine, the caller reaps whatever is there */
}

static int uring_poll(struct gr__poller *pl, unsigned budget, int64_t timeout_ns, unsigned flags, G **list)
{
    struct gr__ring *r = ring_of(pl);
    bool blocking = timeout_ns != 0;
    bool defer = (flags & GR_NETPOLL_DEFER) && !blocking;
    r->npolls++;
    /* Submit, unless this poll may block: its wait carries the SQEs.
     * Deferred: only a batch or an old request. The racy read of
     * sq_pending is fine: only this P's goroutines queue SQEs without
     * submitting (others submit under the lock at once). */
    if (r->sq_pending && !blocking &&
        (!defer || r->sq_pending >= GR_BATCH || r->npolls - r->pending_poll >= GR_DEFER_POLLS)) {
        gr__lock(&r->sqlock);
        submit_locked(r);   /* its enter also runs our task work (COOP_TASKRUN) */
        gr__unlock(&r->sqlock);
    }
    if (budget == 0) {
        /* Deferred on purpose: tell sysmon this ring is not forgotten. */
        if ((r->npolls & 63) == 0)
            atomic_store_explicit(&r->lastpoll, gr__nanotime(), memory_order_relaxed);
        return 0;
    }
    /* Reap; an empty CQ (the common case between completions) costs a few
     * loads and no lock. peek_batch enters the kernel when cq_needs_enter. */
    int n = 0;
    if (io_uring_cq_ready(&r->ring) || cq_needs_enter(r)) {
        gr__lock(&r->cqlock);
        n = reap_locked(r, list, budget);
        gr__unlock(&r->cqlock);
    }
    if (n > 0 || !blocking) {
        if (blocking && r->sq_pending) {   /* not blocking after all: submit now */
            gr__lock(&r->sqlock);
            submit_locked(r);
            gr__unlock(&r->sqlock);
        }
        return n;
    }
    /* The wake read completed: a break came in since it was armed. */
    if (atomic_load_explicit(&r->wake_done, memory_order_acquire) || gr__netpoll_shutting_down()) {
        gr__lock(&r->sqlock);
        arm_wake_locked(r);   /* consumed: the next block waits again */
        submit_locked(r);
        gr__unlock(&r->sqlock);
        return 0;
    }
    submit_and_wait(r, timeout_ns);
    gr__lock(&r->cqlock);
    n = reap_locked(r, list, budget);
    gr__unlock(&r->cqlock);
    return n;
}

static void uring_break(struct gr__poller *pl)
{
    uint64_t one = 1;
    ssize_t w = write(ring_of(pl)->wakefd, &one, sizeof one);
    (void)w;
}

static bool uring_busy(struct gr__poller *pl)
{
    return atomic_load_explicit(&ring_of(pl)->inflight, memory_order_seq_cst) > 0;
}

static int64_t uring_inflight(void)
{
    int64_t n = 0;
    for (int i = 0; i < GR_MAX_RINGS; i++) {
        struct gr__ring *r = atomic_load_explicit(&rings[i], memory_order_acquire);
        if (!r)
            break;   /* rings exist for P 0..n-1 while the runtime runs */
        n += atomic_load_explicit(&r->inflight, memory_order_seq_cst);
    }
    return n;
}

static int uring_reap_remote(struct gr__poller *pl, G **list)
{
    struct gr__ring *r = ring_of(pl);
    if (!gr__trylock(&r->cqlock))
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
        uring_break(pl);
    }
    return n;
}

static int64_t uring_lastpoll(struct gr__poller *pl)
{
    return atomic_load_explicit(&ring_of(pl)->lastpoll, memory_order_relaxed);
}

/* Teardown: cancel everything (the wake read included) and reap until no
 * goroutine op is owed, so no completion lands in freed memory. */
static void uring_drain(struct gr__poller *pl)
{
    struct gr__ring *r = ring_of(pl);
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
            uring_break(pl);
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

const struct gr__netpoll_backend gr__netpoll_uring = {
    .name = "uring",
    .init = uring_init,
    .drain = uring_drain,
    .destroy = uring_destroy,
    .poll = uring_poll,
    .brk = uring_break,
    .busy = uring_busy,
    .inflight = uring_inflight,
    .reap_remote = uring_reap_remote,
    .lastpoll = uring_lastpoll,
    .submit = uring_submit,
    .wait = uring_wait,
    .cancel = uring_cancel,
};
