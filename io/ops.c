/*
 * io/ops.c: goroutine-blocking I/O calls, each one request (struct
 * gr__ioreq, core/netpoll.h) run through the op engine (io/fd.c), which
 * applies the fd's deadline, close-cancellation and retries; the poller
 * backend carries it out.
 *
 * Choices (docs/DESIGN.md, "I/O", has the reasons):
 * - Writes to a socket go out as SEND / SENDMSG with MSG_NOSIGNAL;
 *   writes to anything else as WRITE / WRITEV; gr_main ignores SIGPIPE
 *   while the runtime runs (when its disposition was the default, as Go
 *   does), so SIGPIPE never fires.
 * - Reads honour a sticky peer-reset flag: the kernel reports ECONNRESET
 *   once and then EOF; Go's contract (and ours) is ECONNRESET on every
 *   later read.
 * - accept retries ECONNABORTED and backs off on EMFILE/ENFILE with an
 *   SLEEP request recorded on the listener (so gr_close and the
 *   deadline still end it): 1 ms doubling to 100 ms, as net/http's server
 *   loop does (5 ms..1 s there; ours is shorter so a freed fd is used soon).
 */
#include "io/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Request lengths are 32-bit (io_uring's); a shorter transfer is a legal result. */
#define GR_IO_MAXLEN (1u << 30)

static unsigned clamp_len(size_t n)
{
    return n > GR_IO_MAXLEN ? GR_IO_MAXLEN : (unsigned)n;
}

/* ---------- sockets ---------- */

int gr_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    struct gr__ioreq a = { .opcode = GR__OPC_ACCEPT, .addr = addr, .alen = len, .flags = flags | SOCK_CLOEXEC };
    int64_t backoff = 1000000;   /* 1 ms, doubling to 100 ms */
    for (;;) {
        int res = gr__fd_op(fd, GR__DIR_READ, &a, -1, 0);
        if (res >= 0) {
            gr__fd_fresh(res, GR__KIND_SOCKET);
            return res;
        }
        if (res == -ECONNABORTED)
            continue;
        if (res != -EMFILE && res != -ENFILE && res != -ENOBUFS && res != -ENOMEM)
            return res;
        /* Out of fds: sleep in the poller, recorded on the listener, and retry. */
        struct gr__ioreq s = { .opcode = GR__OPC_SLEEP, .wake = gr__deadline_in(backoff) };
        int r = gr__fd_op(fd, GR__DIR_READ, &s, -1, 0);
        if (r != -ETIME && r != 0)
            return r;   /* -ECANCELED (closed), -ETIMEDOUT (deadline), -EPERM */
        backoff = backoff * 2 > 100000000 ? 100000000 : backoff * 2;
    }
}

int gr__connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t extra)
{
    struct gr__ioreq a = { .opcode = GR__OPC_CONNECT, .caddr = addr, .clen = len };
    int res = gr__fd_op(fd, GR__DIR_WRITE, &a, extra, 0);
    if (res == -EINPROGRESS || res == -EALREADY)   /* an O_NONBLOCK socket's answer */
        res = gr__fd_op(fd, GR__DIR_WRITE, &a, extra, 0);
    if (res < 0)
        return res;
    if (!a.polled)
        return 0;
    /* The answer was a writability wait: the handshake's outcome is in SO_ERROR. */
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -errno;
    return -err;
}

static int gr_connect_impl(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!addr)
        return -EFAULT;
    return gr__connect(fd, addr, len, -1);
}

ssize_t gr_recv(int fd, void *buf, size_t n, int flags)
{
    struct gr__ioreq a = { .opcode = GR__OPC_RECV, .buf = buf, .len = clamp_len(n), .flags = flags };
    return gr__fd_op(fd, GR__DIR_READ, &a, -1,
                     GR__OP_READ_END | ((flags & MSG_DONTWAIT) ? GR__OP_NOWAIT : 0));
}

/* A send that fits the socket buffer completes without a park (Go writes
 * directly too); a full buffer (-EAGAIN) goes through the poller. */
static ssize_t direct_send(int fd, struct gr__ioreq *a)
{
    int saved = *gr__errno_loc();
    ssize_t r = send(fd, a->cbuf, a->len, a->flags | MSG_DONTWAIT);
    if (r < 0)
        r = -errno;
    errno = saved;
    return r;
}

ssize_t gr_send(int fd, const void *buf, size_t n, int flags)
{
    struct gr__ioreq a = { .opcode = GR__OPC_SEND, .cbuf = buf, .len = clamp_len(n), .flags = flags | MSG_NOSIGNAL };
    return gr__fd_op_direct(fd, GR__DIR_WRITE, direct_send, &a, -1,
                            (flags & MSG_DONTWAIT) ? GR__OP_NOWAIT : 0);
}

ssize_t gr_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (!msg)
        return -EFAULT;
    struct gr__ioreq a = { .opcode = GR__OPC_RECVMSG, .msg = msg, .flags = flags };
    return gr__fd_op(fd, GR__DIR_READ, &a, -1,
                     GR__OP_READ_END | ((flags & MSG_DONTWAIT) ? GR__OP_NOWAIT : 0));
}

ssize_t gr_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!msg)
        return -EFAULT;
    struct gr__ioreq a = { .opcode = GR__OPC_SENDMSG, .cmsg = msg, .flags = flags | MSG_NOSIGNAL };
    return gr__fd_op(fd, GR__DIR_WRITE, &a, -1,
                     (flags & MSG_DONTWAIT) ? GR__OP_NOWAIT : 0);
}

/* ---------- read and write (any fd) ---------- */

ssize_t gr_read(int fd, void *buf, size_t n)
{
    struct gr__ioreq a = { .opcode = GR__OPC_READ, .buf = buf, .len = clamp_len(n), .off = (uint64_t)-1 };
    return gr__fd_op(fd, GR__DIR_READ, &a, -1, GR__OP_READ_END);
}

/* One write: SEND on a socket (MSG_NOSIGNAL), WRITE elsewhere. */
static ssize_t write_once(int fd, const void *buf, size_t n)
{
    if (gr__fd_kind(fd) == GR__KIND_SOCKET) {
        ssize_t r = gr_send(fd, buf, n, 0);
        if (r != -ENOTSOCK)
            return r;
        gr__fd_forget_kind(fd);   /* the number was reused behind our back */
    }
    struct gr__ioreq a = { .opcode = GR__OPC_WRITE, .cbuf = buf, .len = clamp_len(n), .off = (uint64_t)-1 };
    return gr__fd_op(fd, GR__DIR_WRITE, &a, -1, 0);
}

static ssize_t gr_write_impl(int fd, const void *buf, size_t n)
{
    if (!gr__getg())
        return -EPERM;
    return write_once(fd, buf, n);
}

static ssize_t gr_write_all_impl(int fd, const void *buf, size_t n)
{
    if (!gr__getg())
        return -EPERM;
    struct gr__fd *d = gr__fd_get(fd);
    if (!d)
        return -EBADF;
    uint32_t gen = __atomic_load_n(&d->gen, __ATOMIC_RELAXED);   /* written atomically (fd_newgen) */
    const char *p = buf;
    size_t done = 0;
    while (done < n || n == 0) {
        ssize_t r = write_once(fd, p + done, n - done);
        if (r < 0)
            return done > 0 ? (ssize_t)done : r;
        done += (size_t)r;
        if (n == 0)
            break;
        if (r == 0)
            return done > 0 ? (ssize_t)done : -EIO;   /* a 0-byte write would loop forever */
        /* Closed and reused between two writes: the rest is not ours to send. */
        if (done < n && __atomic_load_n(&d->gen, __ATOMIC_RELAXED) != gen)
            return (ssize_t)done;
    }
    return (ssize_t)done;
}

ssize_t gr_readv(int fd, const struct iovec *iov, int n)
{
    if (n < 0 || n > IOV_MAX)
        return -EINVAL;
    struct gr__ioreq a = { .opcode = GR__OPC_READV, .iov = iov, .iovcnt = n, .off = (uint64_t)-1 };
    return gr__fd_op(fd, GR__DIR_READ, &a, -1, GR__OP_READ_END);
}

static ssize_t gr_writev_impl(int fd, const struct iovec *iov, int n)
{
    if (!gr__getg())
        return -EPERM;
    if (n < 0 || n > IOV_MAX)
        return -EINVAL;
    if (gr__fd_kind(fd) == GR__KIND_SOCKET) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = (struct iovec *)iov;
        msg.msg_iovlen = (size_t)n;
        ssize_t r = gr_sendmsg(fd, &msg, 0);
        if (r != -ENOTSOCK)
            return r;
        gr__fd_forget_kind(fd);
    }
    struct gr__ioreq a = { .opcode = GR__OPC_WRITEV, .iov = iov, .iovcnt = n, .off = (uint64_t)-1 };
    return gr__fd_op(fd, GR__DIR_WRITE, &a, -1, 0);
}

ssize_t gr_pread(int fd, void *buf, size_t n, off_t off)
{
    if (off < 0)
        return -EINVAL;
    struct gr__ioreq a = { .opcode = GR__OPC_READ, .buf = buf, .len = clamp_len(n), .off = (uint64_t)off };
    return gr__fd_op(fd, GR__DIR_READ, &a, -1, 0);
}

static ssize_t gr_pwrite_impl(int fd, const void *buf, size_t n, off_t off)
{
    if (off < 0)
        return -EINVAL;
    struct gr__ioreq a = { .opcode = GR__OPC_WRITE, .cbuf = buf, .len = clamp_len(n), .off = (uint64_t)off };
    return gr__fd_op(fd, GR__DIR_WRITE, &a, -1, 0);
}

/* ---------- files ---------- */

int gr_openat(int dfd, const char *path, int flags, mode_t mode)
{
    if (!path)
        return -EFAULT;
    struct gr__ioreq a = { .opcode = GR__OPC_OPENAT, .fd = dfd, .cbuf = path, .flags = flags | O_CLOEXEC, .off = mode };
    int res;
    do
        res = gr__io_op(&a, -1);
    while (res == -ECANCELED || res == -EINTR);   /* nobody cancels an open: stale */
    if (res >= 0)
        gr__fd_fresh(res, GR__KIND_UNKNOWN);
    return res;
}

int gr_fsync(int fd)
{
    struct gr__ioreq a = { .opcode = GR__OPC_FSYNC };
    return gr__fd_op(fd, GR__DIR_NONE, &a, -1, 0);
}

static int gr_poll_impl(int fd, short events, int64_t timeout_ns)
{
    if (!gr__getg())
        return -EPERM;
    if (fd < 0)
        return -EBADF;
    if (timeout_ns == 0) {
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, 0);
        if (r < 0)
            return -errno;
        if (r > 0 && (p.revents & POLLNVAL))
            return -EBADF;
        return r > 0 ? p.revents : 0;
    }
    struct gr__ioreq a = { .opcode = GR__OPC_POLL, .flags = (unsigned short)events };
    int r = gr__fd_op(fd, GR__DIR_NONE, &a, gr__deadline_in(timeout_ns), GR__OP_NOWAIT);
    if (r == -ETIME)
        return 0;
    if (r > 0 && (r & POLLNVAL))
        return -EBADF;
    return r;
}

/* ---------- errno is never touched (API.md): libc calls above may set it ---------- */

int gr_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int saved = *gr__errno_loc();
    int r = gr_connect_impl(fd, addr, len);
    *gr__errno_loc() = saved;
    return r;
}

ssize_t gr_write(int fd, const void *buf, size_t n)
{
    int saved = *gr__errno_loc();
    ssize_t r = gr_write_impl(fd, buf, n);
    *gr__errno_loc() = saved;
    return r;
}

ssize_t gr_write_all(int fd, const void *buf, size_t n)
{
    int saved = *gr__errno_loc();
    ssize_t r = gr_write_all_impl(fd, buf, n);
    *gr__errno_loc() = saved;
    return r;
}

ssize_t gr_writev(int fd, const struct iovec *iov, int n)
{
    int saved = *gr__errno_loc();
    ssize_t r = gr_writev_impl(fd, iov, n);
    *gr__errno_loc() = saved;
    return r;
}

ssize_t gr_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int saved = *gr__errno_loc();
    ssize_t r = gr_pwrite_impl(fd, buf, n, off);
    *gr__errno_loc() = saved;
    return r;
}

int gr_poll(int fd, short events, int64_t timeout_ns)
{
    int saved = *gr__errno_loc();
    int r = gr_poll_impl(fd, events, timeout_ns);
    *gr__errno_loc() = saved;
    return r;
}
