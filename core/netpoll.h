/*
 * core/netpoll.h: the poller contract, written once for every backend.
 *
 * A backend (io/netpoll_uring.c: one io_uring ring per P) fills one struct gr__netpoll_backend. The scheduler calls
 * it through the gr__netpoll_* functions below (core/netpoll.c dispatches);
 * the neutral I/O layer (io/fd.c) runs goroutine ops through its op engine.
 * A backend calls core only through the functions in "What core gives a
 * backend" (it includes this header and core/runtime.h, never core/sched.h).
 *
 * Rules for every backend:
 * - One poller instance per P, created by init(index) when the runtime
 *   starts, destroyed after drain() when it ends.
 * - poll(pl, ...) is called only by the M that holds pl's P. It makes
 *   pending requests go (submits them), then readies at most `budget`
 *   goroutines whose ops finished; budget 0 readies none (they wait, in
 *   order). It blocks only when it readied none and timeout_ns != 0:
 *   up to timeout_ns, or until woken for GR_NETPOLL_FOREVER, and returns
 *   at once after a brk() sent since the last poll or when
 *   gr__netpoll_shutting_down(). GR_NETPOLL_DEFER: the P has goroutines to
 *   run, so the backend may keep queued requests for a bigger batch, as
 *   long as none waits more than a few polls.
 * - brk(), busy(), inflight(), reap_remote(), lastpoll() and cancel() may be
 *   called from any thread, with or without a P. brk() is cheap when nobody
 *   is blocked; a brk() sent before the block ends the block at once.
 * - busy(pl): pl owes completions to goroutines. A P whose poller is busy is
 *   never put on the idle P list: its M blocks in poll() instead, so some
 *   thread always watches every poller that owes a wake-up.
 * - inflight(): ops owed on all pollers, seq_cst: the deadlock detector must
 *   never see 0 while a finished op's goroutine is still marked waiting (a
 *   backend decrements only after readying it).
 * - Goroutines are readied by chaining them into *list with
 *   gr__netpoll_ready_add(); the caller injects the list into run queues
 *   (Go's injectglist). A backend never readies a goroutine by itself.
 * - drain(pl) (teardown, every M stopped or parked): cancel and reap until
 *   no request references goroutine memory; on failure say so on stderr and
 *   keep pl's memory alive forever.
 *
 * The op engine (io/fd.c calls it; io/fd.h has the descriptor rules on top):
 * - An op is a struct gr__iop on the calling goroutine's stack describing
 *   one request (struct gr__ioreq) with an optional absolute deadline.
 * - submit(op) runs with the caller's descriptor lock held and must not
 *   park: it hands the request to the current P's poller (the ring: fills
 *   its SQE, and a LINK_TIMEOUT in the same submission for a deadline;
 *   epoll: records the op, the system call is tried in wait). 0 or -errno
 *   (-EPERM outside a goroutine, -ENOSYS for an opcode this backend lacks).
 *   From its return until wait() returns, cancel(op) may be called.
 * - wait(op) parks until the op is finished and returns its result (>= 0 or
 *   -errno, as the system call would). A finished op is never touched by the
 *   kernel or the backend again. An op ended by its deadline returns
 *   -ECANCELED (or the request's own -ETIME) with op->expired set.
 * - cancel(op): ends the op soon with -ECANCELED (or its real result if it
 *   already finished). The cancel is requested before cancel() returns
 *   (the ring: its ASYNC_CANCEL is submitted; epoll: the waiter is woken),
 *   so a closer that cancels and then waits for the op's unrecording never
 *   waits on a request nobody will end. Harmless on a finished op.
 * - Descriptors reach the ring in blocking mode (io_uring waits for them),
 *   and epoll in non-blocking mode (its backend sets O_NONBLOCK once per
 *   descriptor generation); neither changes what the caller observes.
 */
#ifndef GR__CORE_NETPOLL_H
#define GR__CORE_NETPOLL_H

#include "core/runtime.h"
#include <sys/socket.h>
#include <sys/uio.h>

struct gr__poller;   /* one backend's per-P state */

/* What a goroutine op asks for (the system call the backend makes, or
 * its io_uring opcode). */
enum gr__opcode {
    GR__OPC_READ = 1,   /* fd, buf, len, off ((uint64_t)-1: the file position) */
    GR__OPC_WRITE,      /* fd, cbuf, len, off */
    GR__OPC_READV,      /* fd, iov, iovcnt, off */
    GR__OPC_WRITEV,     /* fd, iov, iovcnt, off */
    GR__OPC_RECV,       /* fd, buf, len, flags */
    GR__OPC_SEND,       /* fd, cbuf, len, flags */
    GR__OPC_RECVMSG,    /* fd, msg, flags */
    GR__OPC_SENDMSG,    /* fd, cmsg, flags */
    GR__OPC_ACCEPT,     /* fd, addr, alen, flags (accept4's) */
    GR__OPC_CONNECT,    /* fd, caddr, clen: the handshake's result; sets polled
                           when the answer is a writability wait (see ops.c) */
    GR__OPC_POLL,       /* fd, flags (poll events): the revents mask */
    GR__OPC_FSYNC,      /* fd */
    GR__OPC_SLEEP,      /* until wake (absolute) or the deadline: -ETIME */
    GR__OPC_OPENAT,     /* fd (the directory), cbuf (path), flags, off (mode) */
    GR__OPC_FUTEX_WAIT, /* addr32, val, flags (futex2 flags): 0, -EAGAIN */
};

/* The request of one op (lives with the op, on the goroutine's stack). */
struct gr__ioreq {
    uint8_t opcode;                 /* enum gr__opcode */
    bool polled;                    /* (backend) CONNECT: the answer was a writability wait */
    int attempts;                   /* (backend) CONNECT: submissions so far */
    int fd;
    void *buf;
    const void *cbuf;
    unsigned len;
    uint64_t off;
    int flags;
    const struct iovec *iov;
    int iovcnt;
    struct msghdr *msg;
    const struct msghdr *cmsg;
    struct sockaddr *addr;
    const struct sockaddr *caddr;
    socklen_t *alen;
    socklen_t clen;
    uint32_t *addr32;               /* FUTEX_WAIT's word */
    uint32_t val;
    int64_t wake;                   /* SLEEP's end */
};

enum { GR_IOP_INIT = 0, GR_IOP_PARKED = 1, GR_IOP_DONE = 2 };

/* One goroutine op. The caller zeroes it, sets req and deadline. */
struct gr__iop {
    struct gr__ioreq *req;
    int64_t deadline;               /* absolute gr__nanotime(), -1 none */
    G *g;                           /* (backend) the waiting goroutine */
    struct gr__poller *poller;      /* (backend) where it was submitted */
    int32_t res;                    /* (backend) the result */
    bool expired;                   /* (backend) its deadline ended it */
    _Atomic int32_t pending;        /* (backend) completions still owed */
    _Atomic uint32_t state;         /* (backend) GR_IOP_* */
    /* Backend scratch: the ring's linked-timeout time, epoll's waiter. */
    union {
        struct { int64_t tv_sec; long long tv_nsec; } ts;   /* struct __kernel_timespec */
        struct { void *next, *prev; struct gr__timer tm; uint8_t dir; bool armed; } ep;
    } be;
};

/* Flags of poll(). */
#define GR_NETPOLL_DEFER 1u
/* poll()'s timeout_ns for "until woken". */
#define GR_NETPOLL_FOREVER INT64_MAX

struct gr__netpoll_backend {
    const char *name;               /* "uring", "epoll": gr_stats, schedtrace */
    /* Create the poller of P number index. 0 or -errno; a refused
     * io_uring says why through report (NULL: silent). */
    int (*init)(int index, struct gr__poller **out);
    void (*drain)(struct gr__poller *pl);
    void (*destroy)(struct gr__poller *pl);
    int (*poll)(struct gr__poller *pl, unsigned budget, int64_t timeout_ns, unsigned flags, G **list);
    void (*brk)(struct gr__poller *pl);
    bool (*busy)(struct gr__poller *pl);
    int64_t (*inflight)(void);
    /* Reap from a thread that does not hold pl's P (sysmon, an idle M);
     * nothing if another thread is reaping it. Goroutines readied. */
    int (*reap_remote)(struct gr__poller *pl, G **list);
    /* gr__nanotime() of pl's last reap (sysmon's "forgotten poller" check). */
    int64_t (*lastpoll)(struct gr__poller *pl);
    /* the op engine */
    int (*submit)(struct gr__iop *op);
    int32_t (*wait)(struct gr__iop *op);
    void (*cancel)(struct gr__iop *op);
};

GR_HIDDEN extern const struct gr__netpoll_backend gr__netpoll_uring;
/* The backend of the running runtime (chosen at gr_main, before any P). */
GR_HIDDEN extern const struct gr__netpoll_backend *gr__netpoll_be;

/* ---------- What the scheduler calls (core/netpoll.c) ---------- */

/* Choose the backend (GRDEBUG=poller) and create every P's poller.
 * 0 or -errno (reported on stderr). */
GR_HIDDEN int gr__netpoll_init(P *pp);
GR_HIDDEN void gr__netpoll_drain(P *pp);
GR_HIDDEN void gr__netpoll_destroy(P *pp);
GR_HIDDEN int gr__netpoll(P *pp, unsigned budget, int64_t timeout_ns, unsigned flags, G **list);
GR_HIDDEN void gr__netpoll_break(P *pp);
GR_HIDDEN bool gr__netpoll_busy(P *pp);
GR_HIDDEN int64_t gr__netpoll_inflight(void);
GR_HIDDEN int gr__netpoll_reap_remote(P *pp, G **list);
GR_HIDDEN int64_t gr__netpoll_lastpoll(P *pp);

/* ---------- What core gives a backend ---------- */

/* The poller of the P the calling goroutine runs on; NULL outside a
 * goroutine. */
GR_HIDDEN struct gr__poller *gr__netpoll_current(void);
/* Push a goroutine parked for I/O (WAITING) on *list, made RUNNABLE. */
GR_HIDDEN void gr__netpoll_ready_add(G *gp, G **list);
/* The runtime is shutting down: a blocking poll returns at once. */
GR_HIDDEN bool gr__netpoll_shutting_down(void);

#endif
