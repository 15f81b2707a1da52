/*
 * io/fd.c: per-fd descriptors (Go's pollDesc + fdMutex), the op engine,
 * deadlines and gr_close.
 *
 * Design (see also docs/DESIGN.md, "I/O"):
 *
 * - The table. Descriptors live in chunks of 256 indexed by fd number,
 *   allocated on first use and published with a release CAS; lookup is
 *   one acquire load, no lock. A descriptor is never freed: when its
 *   number is closed (gr_close) or created again by goring (accept,
 *   openat, socket) its generation is bumped and its state reset, so a
 *   reused number never inherits an old deadline, reset flag or kind.
 *
 * - Ops. gr__fd_op records each op in flight in fd->ops, submitted to the
 *   poller backend under fd->lock (see io/fd.h for why). The op
 *   (struct gr__iop) is on the goroutine's stack; the backend's wait
 *   returns only when the op is finished (on the ring: every CQE of it,
 *   main and linked timeout, reaped), so no buffer is written after the
 *   call returned.
 *
 * - Cancellation. gr_close sets closing, tags each recorded op
 *   GR__WHY_CLOSE, cancels it on whichever poller holds it, and
 *   parks until nops is 0; only then does it close(2) the number, so the
 *   socket really closes (io_uring holds a file reference while a request
 *   is in flight: closing the number earlier would not send the peer a
 *   FIN) and no completion of the old file can land after it.
 *
 * - Deadlines. A deadline known when the op is submitted goes with it
 *   (iop.deadline: the ring links an absolute IORING_OP_LINK_TIMEOUT, so
 *   the common case costs no timer and no extra wake-up). A deadline moved while ops
 *   are in flight: moved earlier, into the past -> gr_set_deadline
 *   cancels them at once; moved earlier, still in the future -> a
 *   per-fd, per-direction gr__timer fires at it and cancels them; moved
 *   later or cleared -> their submitted deadlines fire at the old time and
 *   the engine, seeing the deadline has not passed, resubmits. The
 *   engine decides what a cancelled op returns by looking at the
 *   descriptor after the op came back (closing: -ECANCELED; deadline
 *   passed: -ETIMEDOUT; otherwise resubmit), as Go's pollDesc does.
 *
 * - Runtimes end and start again (gr_main returns, a later one starts).
 *   Goroutines abandoned in I/O when gr_main returned never unrecord their
 *   ops, and the deadline timers may sit in a dead P's heap. Each
 *   descriptor remembers the runtime that last used it (its start time)
 *   and, when locked under another one, or with no runtime at all, drops
 *   those records and re-inits its timers (fd_lock): nothing can be in
 *   flight from a runtime that is gone, since teardown reaps every request.
 *
 * Invariants:
 * - An op is in fd->ops exactly while its request may be in a poller
 *   (recorded in the same fd->lock hold that submitted it, removed after
 *   the backend's wait returned).
 * - A backend's cancel(op) is called only with fd->lock held and op in
 *   fd->ops, so op's stack frame is alive.
 * - fd->closer / closer_thread are set only while closing && nops > 0;
 *   whoever takes nops to 0 clears and wakes them.
 */
#include "io/fd.h"
#include "core/list.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_CHUNK_SHIFT 8
#define FD_CHUNK (1 << FD_CHUNK_SHIFT)
#define FD_MAX (1 << 22)                 /* far above any RLIMIT_NOFILE we meet */

static _Atomic(struct gr__fd *) fd_chunks[FD_MAX / FD_CHUNK];

static void deadline_fire(void *arg, int64_t now);

static void fd_init(struct gr__fd *d, int num)
{
    d->num = num;
    d->deadline[GR__DIR_READ] = d->deadline[GR__DIR_WRITE] = -1;
    d->deadline[GR__DIR_NONE] = -1;
}

/* (Re)initialise d's deadline timers, if it has any. */
static void fd_timers_init(struct gr__fd *d)
{
    if (!d->timer)
        return;
    for (int dir = GR__DIR_READ; dir <= GR__DIR_WRITE; dir++) {
        d->timer[dir].fd = d;
        d->timer[dir].dir = dir;
        gr__timer_init(&d->timer[dir].t, deadline_fire, &d->timer[dir]);
    }
}

struct gr__fd *gr__fd_lookup(int fd)
{
    if (fd < 0 || fd >= FD_MAX)
        return NULL;
    /* acquire: pairs with the release CAS that published the chunk */
    struct gr__fd *c = atomic_load_explicit(&fd_chunks[fd >> FD_CHUNK_SHIFT], memory_order_acquire);
    return c ? &c[fd & (FD_CHUNK - 1)] : NULL;
}

struct gr__fd *gr__fd_get(int fd)
{
    if (fd < 0 || fd >= FD_MAX)
        return NULL;
    _Atomic(struct gr__fd *) *slot = &fd_chunks[fd >> FD_CHUNK_SHIFT];
    struct gr__fd *c = atomic_load_explicit(slot, memory_order_acquire);
    if (gr__unlikely(!c)) {
        struct gr__fd *n = gr__xcalloc(FD_CHUNK, sizeof *n);
        int base = fd & ~(FD_CHUNK - 1);
        for (int i = 0; i < FD_CHUNK; i++)
            fd_init(&n[i], base + i);
        struct gr__fd *expect = NULL;
        /* release: the initialised chunk is visible to whoever loads it */
        if (atomic_compare_exchange_strong_explicit(slot, &expect, n, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            c = n;
        } else {
            free(n);
            c = expect;
        }
    }
    return &c[fd & (FD_CHUNK - 1)];
}

/* A new generation: called with d->lock held. */
static void fd_newgen(struct gr__fd *d, int kind)
{
    /* gen and kind are also read without the lock (gr__fd_gen, gr__fd_kind):
     * every access to them is atomic */
    __atomic_store_n(&d->gen, d->gen + 1, __ATOMIC_RELAXED);
    d->closing = false;
    d->reset = false;
    __atomic_store_n(&d->kind, (uint8_t)kind, __ATOMIC_RELAXED);
    d->deadline[GR__DIR_READ] = d->deadline[GR__DIR_WRITE] = -1;
}

/* Drop the records of ops a runtime that is gone left behind (nothing of
 * them is in flight: teardown reaped every request). A plain thread
 * waiting in gr_close for them is woken: they will never finish, and its
 * close(2) goes ahead. d->lock held. */
static void fd_drop_ops(struct gr__fd *d)
{
    d->ops = NULL;
    d->nops = 0;
    d->closer = NULL;   /* a goroutine: abandoned with its runtime */
    if (d->closer_thread) {
        d->closer_thread = false;
        atomic_store_explicit(&d->closer_word, 1, memory_order_release);
        gr__futex_wake(&d->closer_word, 1);
    }
}

/* Drop what a runtime that is gone left behind. d->lock held. */
static void fd_forget_runtime(struct gr__fd *d)
{
    fd_drop_ops(d);
    d->closing = false;
    fd_timers_init(d);
}

/* Lock d; first use under a new runtime forgets the old one's records. */
static void fd_lock(struct gr__fd *d)
{
    gr__lock(&d->lock);
    int64_t e = gr__runtime_epoch();
    if (gr__unlikely(d->epoch != e)) {
        if (d->epoch != 0 || d->nops != 0)
            fd_forget_runtime(d);
        d->epoch = e;
    }
}

/* Start a new op record for direction dir and lock d for it: -ECANCELED
 * if d is closing, -ECONNRESET for a read-end op after a reset (unlocked
 * then); 0 with d->lock held and *dl the direction's deadline (-1: none). */
static int fd_begin_op(struct gr__fd *d, struct gr__fdop *op, int dir, unsigned flags, int64_t *dl)
{
    memset(op, 0, sizeof *op);   /* iop.poller NULL: op_cancel leaves it alone */
    op->dir = (uint8_t)dir;
    op->armed = -1;
    fd_lock(d);
    *dl = dir ? d->deadline[dir] : -1;
    if (d->closing) {
        gr__unlock(&d->lock);
        return -ECANCELED;
    }
    if ((flags & GR__OP_READ_END) && d->reset) {
        gr__unlock(&d->lock);
        return -ECONNRESET;
    }
    return 0;
}

void gr__fd_fresh(int fd, int kind)
{
    struct gr__fd *d = gr__fd_get(fd);
    if (!d)
        return;
    fd_lock(d);
    fd_newgen(d, kind);
    gr__unlock(&d->lock);
}

int gr__fd_kind(int fd)
{
    struct gr__fd *d = gr__fd_get(fd);
    if (!d)
        return GR__KIND_OTHER;
    /* a hint, re-checked by the op (ENOTSOCK): no lock */
    int kind = __atomic_load_n(&d->kind, __ATOMIC_RELAXED);
    if (kind != GR__KIND_UNKNOWN)
        return kind;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return GR__KIND_OTHER;     /* the op itself will say EBADF */
    kind = S_ISSOCK(st.st_mode) ? GR__KIND_SOCKET : GR__KIND_OTHER;
    fd_lock(d);
    __atomic_store_n(&d->kind, (uint8_t)kind, __ATOMIC_RELAXED);
    gr__unlock(&d->lock);
    return kind;
}

void gr__fd_forget_kind(int fd)
{
    struct gr__fd *d = gr__fd_lookup(fd);
    if (!d)
        return;
    fd_lock(d);
    __atomic_store_n(&d->kind, GR__KIND_UNKNOWN, __ATOMIC_RELAXED);
    gr__unlock(&d->lock);
}

/* ---------- the op list ---------- */

static void ops_add(struct gr__fd *d, struct gr__fdop *op)
{
    GR__LIST_PUSH_FRONT(d->ops, op);
    d->nops++;
}

/* Remove op; returns the closer to wake (goroutine), if any. d->lock held. */
static G *ops_del(struct gr__fd *d, struct gr__fdop *op, bool *wake_thread)
{
    GR__LIST_REMOVE(d->ops, op);
    d->nops--;
    *wake_thread = false;
    if (d->nops > 0 || !d->closing)
        return NULL;
    G *g = d->closer;
    d->closer = NULL;
    if (d->closer_thread) {
        d->closer_thread = false;
        *wake_thread = true;
    }
    return g;
}

static void wake_closer(struct gr__fd *d, G *g, bool wake_thread)
{
    if (g)
        gr__ready(g);
    if (wake_thread) {
        /* release: the closer sees nops == 0 when it relocks anyway */
        atomic_store_explicit(&d->closer_word, 1, memory_order_release);
        gr__futex_wake(&d->closer_word, 1);
    }
}

/* Cancel op for why (close wins over deadline). d->lock held, op recorded.
 * A direct attempt (iop.poller NULL) has nothing to cancel. */
static void op_cancel(struct gr__fdop *op, int why)
{
    if (op->why < why)
        op->why = (uint8_t)why;
    if (op->iop.poller)
        gr__netpoll_be->cancel(&op->iop);
}

static int64_t earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* ---------- the engine ---------- */

int gr__fd_op(int fd, int dir, struct gr__ioreq *req, int64_t extra, unsigned flags)
{
    if (!gr__getg())
        return -EPERM;
    struct gr__fd *d = gr__fd_get(fd);
    if (!d)
        return -EBADF;
    req->fd = fd;
    bool poll_first = false;   /* the fd is O_NONBLOCK and said EAGAIN: wait for readiness */
    struct gr__ioreq pollreq = { .opcode = GR__OPC_POLL, .fd = fd,
                                 .flags = dir == GR__DIR_WRITE ? POLLOUT : POLLIN };
    for (;;) {
        struct gr__fdop op;
        int64_t dl;
        int err = fd_begin_op(d, &op, dir, flags, &dl);
        if (err)
            return err;
        int64_t eff = earliest(dl, extra);
        if (eff >= 0) {
            int64_t now = gr__nanotime();
            if (dl >= 0 && dl <= now) {
                gr__unlock(&d->lock);
                return -ETIMEDOUT;
            }
            if (extra >= 0 && extra <= now) {
                gr__unlock(&d->lock);
                return -ETIME;
            }
        }
        op.iop.req = poll_first ? &pollreq : req;
        op.iop.deadline = eff;
        op.armed = eff;
        err = gr__netpoll_be->submit(&op.iop);
        if (err) {
            gr__unlock(&d->lock);
            return err;
        }
        ops_add(d, &op);
        gr__unlock(&d->lock);

        int res = gr__netpoll_be->wait(&op.iop);

        bool wake_thread;
        fd_lock(d);
        G *closer = ops_del(d, &op, &wake_thread);
        if (res == -ECONNRESET)   /* a write may consume the error first */
            d->reset = true;
        gr__unlock(&d->lock);
        wake_closer(d, closer, wake_thread);

        if (res == -ECANCELED || res == -EINTR) {
            if (op.why == GR__WHY_CLOSE)
                return -ECANCELED;
            continue;   /* deadline passed, moved, or a stale cancel: the top decides */
        }
        if (poll_first) {
            if (res < 0)
                return res;
            poll_first = false;
            continue;
        }
        if (res == -EAGAIN && !(flags & GR__OP_NOWAIT)) {
            poll_first = true;
            continue;
        }
        return res;
    }
}

/* GRDEBUG=io_direct=1: try sends directly before the ring. Off by default:
 * measured on the echo server (docs/DESIGN.md, "I/O"), a direct send costs
 * more CPU per message than an SQE batched with the P's other requests. */
static bool direct_enabled(void)
{
    return gr__debug.io_direct != 0;
}

int gr__fd_op_direct(int fd, int dir, gr__direct_fn direct, struct gr__ioreq *req,
                     int64_t extra, unsigned flags)
{
    if (!direct_enabled())
        return gr__fd_op(fd, dir, req, extra, flags);
    if (!gr__getg())
        return -EPERM;
    struct gr__fd *d = gr__fd_get(fd);
    if (!d)
        return -EBADF;
    struct gr__fdop op;
    int64_t dl;
    int err = fd_begin_op(d, &op, dir, flags, &dl);
    if (err)
        return err;
    if (dl >= 0 && dl <= gr__nanotime()) {
        gr__unlock(&d->lock);
        return -ETIMEDOUT;
    }
    ops_add(d, &op);
    gr__unlock(&d->lock);

    ssize_t res = direct(fd, req);

    bool wake_thread;
    fd_lock(d);
    G *closer = ops_del(d, &op, &wake_thread);
    if (res == -ECONNRESET)   /* a write may consume the error first */
        d->reset = true;
    gr__unlock(&d->lock);
    wake_closer(d, closer, wake_thread);
    if (res != -EAGAIN || (flags & GR__OP_NOWAIT))
        return (int)res;
    return gr__fd_op(fd, dir, req, extra, flags);
}

int gr__io_op(struct gr__ioreq *req, int64_t deadline)
{
    if (!gr__getg())
        return -EPERM;
    if (deadline >= 0 && deadline <= gr__nanotime())
        return -ETIME;
    struct gr__iop op;
    memset(&op, 0, sizeof op);
    op.req = req;
    op.deadline = deadline;
    int res = gr__netpoll_be->submit(&op);
    if (res)
        return res;
    res = gr__netpoll_be->wait(&op);
    if ((res == -ECANCELED || res == -EINTR) && deadline >= 0 &&
        (op.expired || gr__nanotime() >= deadline))
        return -ETIME;
    return res;
}

/* ---------- deadlines ---------- */

/* Cancel ops of dir that would outlive deadline dl. d->lock held. */
static void cancel_late_ops(struct gr__fd *d, int dir, int64_t dl)
{
    for (struct gr__fdop *op = d->ops; op; op = op->next)
        if (op->dir == dir && (op->armed < 0 || op->armed > dl))
            op_cancel(op, GR__WHY_DEADLINE);
}

static void deadline_fire(void *arg, int64_t now)
{
    struct gr__fdtimer *ft = arg;
    struct gr__fd *d = ft->fd;
    int64_t t = gr__nanotime();
    if (now > t)
        t = now;
    fd_lock(d);
    int64_t dl = d->deadline[ft->dir];
    if (dl >= 0 && dl <= t)
        cancel_late_ops(d, ft->dir, dl);
    gr__unlock(&d->lock);
}

static int gr_set_deadline_impl(int fd, int which, int64_t deadline_ns)
{
    if (fd < 0)
        return -EBADF;
    if (!(which & (GR_READ | GR_WRITE)) || (which & ~(GR_READ | GR_WRITE)))
        return -EINVAL;
    if (deadline_ns < 0)
        deadline_ns = -1;
    struct gr__fd *d = gr__fd_get(fd);
    if (!d)
        return -EBADF;
    if (fcntl(fd, F_GETFD) < 0)
        return -EBADF;

    bool arm[3] = { false, false, false };
    gr__lock(&d->setlock);
    fd_lock(d);
    if (d->closing) {
        gr__unlock(&d->lock);
        gr__unlock(&d->setlock);
        return -EBADF;
    }
    int64_t now = -1;
    for (int dir = GR__DIR_READ; dir <= GR__DIR_WRITE; dir++) {
        if (!(which & dir))          /* GR_READ == GR__DIR_READ, GR_WRITE == GR__DIR_WRITE */
            continue;
        d->deadline[dir] = deadline_ns;
        if (deadline_ns < 0)
            continue;                /* linked timeouts fire early; the engine resubmits */
        for (struct gr__fdop *op = d->ops; op; op = op->next) {
            if (op->dir != dir || (op->armed >= 0 && op->armed <= deadline_ns))
                continue;
            if (now < 0)
                now = gr__nanotime();
            if (deadline_ns <= now)
                op_cancel(op, GR__WHY_DEADLINE);
            else
                arm[dir] = true;
        }
    }
    if ((arm[GR__DIR_READ] || arm[GR__DIR_WRITE]) && !d->timer) {
        /* Most fds never need one: 144 bytes saved per descriptor. */
        d->timer = gr__xcalloc(3, sizeof *d->timer);
        fd_timers_init(d);
    }
    gr__unlock(&d->lock);
    /* Outside fd->lock: the timer's callback takes it. setlock keeps the
     * last start the one of the last deadline set. */
    for (int dir = GR__DIR_READ; dir <= GR__DIR_WRITE; dir++)
        if (arm[dir])
            gr__timer_start(&d->timer[dir].t, deadline_ns, 0);
    gr__unlock(&d->setlock);
    return 0;
}

_Static_assert((int)GR_READ == (int)GR__DIR_READ && (int)GR_WRITE == (int)GR__DIR_WRITE, "directions are the API's bits");

/* ---------- close ---------- */

static int close_number(int fd)
{
    bool in_g = gr__getg() != NULL;
    if (in_g)
        gr_syscall_enter();
    int rc = close(fd);
    int err = errno;
    if (in_g)
        gr_syscall_exit();
    if (rc < 0 && err != EINTR)   /* Linux frees the number even on EINTR */
        return -err;
    return 0;
}

static int gr_close_impl(int fd)
{
    if (fd < 0)
        return -EBADF;
    struct gr__fd *d = gr__fd_lookup(fd);
    if (!d)
        return close_number(fd);

    fd_lock(d);
    if (d->closing) {
        gr__unlock(&d->lock);
        return -EBADF;
    }
    d->closing = true;
    uint32_t gen = d->gen;
    for (struct gr__fdop *op = d->ops; op; op = op->next)
        op_cancel(op, GR__WHY_CLOSE);
    G *g = gr__getg();
    while (d->nops > 0) {
        if (g) {
            d->closer = g;
            gr__park_unlock(&d->lock, GR_WAIT_IO);
        } else {
            /* A plain thread (a signal-handling thread, say): sleep on a futex. */
            d->closer_thread = true;
            atomic_store_explicit(&d->closer_word, 0, memory_order_relaxed);
            gr__unlock(&d->lock);
            while (atomic_load_explicit(&d->closer_word, memory_order_acquire) == 0)
                gr__futex_wait(&d->closer_word, 0, -1);
        }
        fd_lock(d);
    }
    gr__unlock(&d->lock);

    int rc = close_number(fd);

    fd_lock(d);
    if (d->gen == gen)      /* not already recreated by accept/openat/socket */
        fd_newgen(d, GR__KIND_UNKNOWN);
    gr__unlock(&d->lock);
    return rc;
}

/* ---------- misc ---------- */

__attribute__((noinline, noipa)) int *gr__errno_loc(void)
{
    return &errno;
}

void gr__fd_teardown(void)
{
    for (size_t i = 0; i < FD_MAX / FD_CHUNK; i++) {
        struct gr__fd *c = atomic_load_explicit(&fd_chunks[i], memory_order_acquire);
        if (!c)
            continue;
        for (int j = 0; j < FD_CHUNK; j++) {
            struct gr__fd *d = &c[j];
            fd_lock(d);
            fd_drop_ops(d);
            fd_newgen(d, GR__KIND_UNKNOWN);
            fd_timers_init(d);
            gr__unlock(&d->lock);
        }
    }
}

/* ---------- errno is never touched (API.md): libc calls above may set it ---------- */

int gr_set_deadline(int fd, int which, int64_t deadline_ns)
{
    int saved = *gr__errno_loc();
    int r = gr_set_deadline_impl(fd, which, deadline_ns);
    *gr__errno_loc() = saved;
    return r;
}

int gr_close(int fd)
{
    int saved = *gr__errno_loc();
    int r = gr_close_impl(fd);
    *gr__errno_loc() = saved;
    return r;
}

/* Core calls this at gr_main's teardown (core/runtime.h, struct gr__hooks). */
static const struct gr__hooks fd_hooks = {.abandon = NULL, .fini = gr__fd_teardown};
__attribute__((constructor)) static void fd_register_hooks(void)
{
    gr__register_hooks(&fd_hooks);
}


