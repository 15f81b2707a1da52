/*
 * io/fd.h: the per-fd descriptor and the neutral op engine shared by
 * io/ops.c, io/net.c and io/futex.c (private to io/). Backend-neutral: the
 * poller backend (core/netpoll.h, gr__netpoll_be) carries each request.
 *
 * Every goroutine-blocking I/O call on an fd goes through gr__fd_op: it
 * takes the fd's descriptor (Go's pollDesc + fdMutex in one), submits the
 * op to the backend (submit: the ring fills the SQE and a linked timeout
 * for a deadline; epoll records a waiter) while holding the descriptor
 * lock, records the op in the descriptor, waits (backend wait), and
 * unrecords it. Submitting under the descriptor lock is what lets gr_close
 * and gr_set_deadline see every op that is (or is about to be) in flight:
 * an op is either recorded with its request already handed to the
 * backend, or has not looked at the descriptor yet (and will see
 * `closing` / the new deadline when it does).
 *
 * Rules every backend keeps for this layer (core/netpoll.h states them):
 * - A cancel is requested before the backend's cancel() returns: the ring
 *   submits its ASYNC_CANCEL at once, never deferred (io cancels under the
 *   fd lock with the op alive; a deferred cancel could hit a later op that
 *   reused the stack address).
 * - An op whose deadline ended it comes back -ECANCELED (or -ETIME) with
 *   iop.expired; the engine decides what the caller sees from the
 *   descriptor's state (closing, deadline passed, moved: resubmit).
 * - gr__timer callbacks run without a heap lock (the deadline callback
 *   takes the fd lock and, through cancel, a poller's lock).
 *
 * The runtime's identity for descriptors is gr__runtime_epoch() (its start
 * time): a descriptor locked under another runtime (or none) than the one
 * that recorded its ops forgets them (see fd_lock in io/fd.c).
 *
 * Lock order: gr__fd.setlock -> gr__fd.lock -> a poller's submit lock
 *             gr__fd.setlock -> a P's timer heap lock (gr__timer_start)
 * gr__timer_start/stop are never called with gr__fd.lock held; the
 * deadline timer's callback takes gr__fd.lock (and so a poller's lock
 * through cancel) and nothing else.
 */
#ifndef GR_IO_FD_H
#define GR_IO_FD_H

#include "core/runtime.h"
#include "core/netpoll.h"
#include <goring/io.h>

/* Direction of an op, for deadlines. 0: no deadline applies. */
enum { GR__DIR_NONE = 0, GR__DIR_READ = 1, GR__DIR_WRITE = 2 };
/* Why an op was cancelled by io/ (set under the descriptor lock). */
enum { GR__WHY_NONE = 0, GR__WHY_DEADLINE = 1, GR__WHY_CLOSE = 2 };
/* What the fd is (cached per generation; see gr__fd_kind). */
enum { GR__KIND_UNKNOWN = 0, GR__KIND_SOCKET = 1, GR__KIND_OTHER = 2 };

/* Flags for gr__fd_op. */
enum {
    GR__OP_NOWAIT   = 1 << 1,  /* caller asked for non-blocking: -EAGAIN is final */
    GR__OP_READ_END = 1 << 2,  /* a read: honours the sticky peer-reset state */
};

struct gr__fd;

/* One op in flight on an fd; lives on the calling goroutine's stack. */
struct gr__fdop {
    struct gr__iop iop;
    struct gr__fdop *next, *prev;   /* (fd lock) in fd->ops */
    int64_t armed;                  /* deadline the backend ends it at, -1 none */
    uint8_t dir;
    uint8_t why;                    /* (fd lock) GR__WHY_* */
};

struct gr__fdtimer {
    struct gr__timer t;             /* fires at the deadline moved under ops in flight */
    struct gr__fd *fd;
    int dir;
};

/* The descriptor of fd number `num`. Never freed while the process runs;
 * reused (gen bumped) when the number is closed and created again. */
struct gr__fd {
    gr__mutex lock;                 /* protects everything below but setlock */
    gr__mutex setlock;              /* serialises gr_set_deadline's timer starts */
    int num;
    uint32_t gen;                   /* bumped at each close / creation */
    bool closing;                   /* gr_close under way: new ops fail */
    bool reset;                     /* a read saw ECONNRESET: later reads do too */
    uint8_t kind;                   /* GR__KIND_* */
    int nops;                       /* ops recorded in ops */
    struct gr__fdop *ops;           /* doubly linked, head */
    int64_t deadline[3];            /* [GR__DIR_READ], [GR__DIR_WRITE]; -1 none */
    struct gr__fdtimer *timer;      /* [GR__DIR_READ], [GR__DIR_WRITE]; allocated the
                                       first time a deadline moves under a blocked op
                                       (written with lock and setlock held) */
    int64_t epoch;                  /* runtime (its start time) that recorded ops here */
    G *closer;                      /* goroutine in gr_close waiting for nops == 0 */
    bool closer_thread;             /* a plain thread waits on closer_word */
    _Atomic uint32_t closer_word;   /* 0 waiting, 1 released (futex word) */
};

/* The descriptor of fd, created on first use; NULL for fd out of range. */
GR_HIDDEN struct gr__fd *gr__fd_get(int fd);
/* The descriptor if it was ever created, else NULL (no allocation). */
GR_HIDDEN struct gr__fd *gr__fd_lookup(int fd);
/* fd was just created by goring (accept, openat, socket): start a new
 * generation with no deadlines, no reset state, and the given kind. */
GR_HIDDEN void gr__fd_fresh(int fd, int kind);
/* GR__KIND_SOCKET or GR__KIND_OTHER (fstat once per generation). */
GR_HIDDEN int gr__fd_kind(int fd);
/* Forget a cached kind (an op said ENOTSOCK where a socket was cached). */
GR_HIDDEN void gr__fd_forget_kind(int fd);

/*
 * gr__fd_op: run one request on fd (req->fd is set here) through the
 * current P's poller and wait.
 * dir selects the deadline that applies; extra (absolute, -1 none) is an
 * additional deadline of the call itself (poll's timeout, dial's timeout).
 * Returns the request's result (>= 0 or -errno), or:
 *   -EPERM      outside a goroutine
 *   -EBADF      fd < 0 or beyond the descriptor table
 *   -ECANCELED  gr_close of fd began before or during the op
 *   -ETIMEDOUT  the fd's deadline for dir passed
 *   -ETIME      extra passed (the caller maps it)
 *   -ECONNRESET a read (GR__OP_READ_END) after the peer reset
 * A cancel that was neither (the deadline was moved later) resubmits.
 * -EAGAIN (an O_NONBLOCK fd) waits for readiness with a POLL request and
 * retries, unless GR__OP_NOWAIT.
 */
GR_HIDDEN int gr__fd_op(int fd, int dir, struct gr__ioreq *req, int64_t extra, unsigned flags);

/* A non-blocking attempt made before the poller (a send that usually fits
 * the socket buffer): returns the result, or -EAGAIN to go through the
 * poller. Runs with the op recorded in the descriptor (so gr_close waits
 * for it) but nothing to cancel. */
typedef ssize_t (*gr__direct_fn)(int fd, struct gr__ioreq *req);

/* gr__fd_op with a direct attempt first when GRDEBUG=io_direct=1. */
GR_HIDDEN int gr__fd_op_direct(int fd, int dir, gr__direct_fn direct, struct gr__ioreq *req,
                               int64_t extra, unsigned flags);

/* A request not tied to an fd (openat, futex wait): submit with an
 * optional absolute deadline, wait. -ETIME when it passed; a cancel nobody
 * asked for (a stale one) is returned as -ECANCELED. */
GR_HIDDEN int gr__io_op(struct gr__ioreq *req, int64_t deadline);

/* gr_connect with an extra absolute deadline (-ETIME when it passed). */
GR_HIDDEN int gr__connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t extra);


/* Reset every descriptor (no ops, no deadlines, new generation): the
 * runtime that recorded them is gone. Optional: each descriptor also
 * notices a new runtime by itself (see fd_lock in io/fd.c). */
GR_HIDDEN void gr__fd_teardown(void);

/* errno's address on the thread running now. glibc declares
 * __errno_location const, so a compiler may reuse the address taken
 * before a call that parked the goroutine, which may resume on another
 * thread: public entry points save and restore errno through this. */
GR_HIDDEN int *gr__errno_loc(void);

/* An absolute deadline `ns` from now, -1 for ns < 0 (none). */
static inline int64_t gr__deadline_in(int64_t ns)
{
    if (ns < 0)
        return -1;
    int64_t now = gr__nanotime();
    return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

#endif
