/*
 * goring/io.h: goroutine-blocking I/O through the current P's io_uring ring.
 *
 * Each call blocks only the calling goroutine: it fills an SQE on its P's
 * ring with a completion record on the goroutine's stack and parks; the
 * scheduler submits in batches and reaps. When a call returns, the kernel
 * is done with its buffers (every CQE of the request was reaped), whatever
 * the result.
 *
 * Conventions (as every goring call): 0 or a count on success, -errno on
 * failure, errno never touched. Calls that may block return -EPERM outside
 * a goroutine. Time is int64_t nanoseconds on CLOCK_MONOTONIC.
 *
 * Common errors, named below as "the fd errors":
 *   -EPERM      called outside a goroutine
 *   -EBADF      fd is not open (or beyond 4194303)
 *   -ECANCELED  gr_close(fd) ran while the call was blocked (or began
 *               before it): every blocked call on fd is woken with it
 *   -ETIMEDOUT  the fd's deadline for the call's direction (gr_set_deadline)
 *               passed before or while it was blocked
 *
 * Deadlines (Go's net.Conn SetReadDeadline/SetWriteDeadline): reads
 * (recv, read, readv, pread, recvmsg, accept) use the GR_READ deadline;
 * writes (send, write, write_all, writev, pwrite, sendmsg, connect) the
 * GR_WRITE one. fsync and poll use none.
 *
 * Descriptors: goring keeps per-fd state (deadlines, a peer-reset flag)
 * indexed by fd number, reset when goring creates or gr_close()s the
 * number. Close with gr_close, not close(2), an fd that had a deadline
 * set, or the next file given that number inherits it until goring
 * creates it.
 *
 * SIGPIPE: socket writes use MSG_NOSIGNAL; the first write to a non-socket
 * sets SIGPIPE to SIG_IGN if its disposition is the default (as Go's
 * runtime does), so a broken pipe returns -EPIPE and never kills.
 */
#ifndef GORING_IO_H
#define GORING_IO_H
#include <goring/core.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Directions for gr_set_deadline; may be or-ed. */
enum { GR_READ = 1, GR_WRITE = 2 };

/*
 * gr_accept: wait for and accept a connection on listening socket fd
 * (accept4(2)). addr/len as accept4 (both may be NULL). flags: 0 or
 * SOCK_NONBLOCK; SOCK_CLOEXEC is always added. Returns the new fd.
 * ECONNABORTED (the client gave up first) is retried. EMFILE/ENFILE
 * (and ENOBUFS/ENOMEM) do not return: the call sleeps 1 ms, doubling to
 * 100 ms, and tries again, so a server out of fds neither spins nor dies
 * (net/http's Serve loop); close and the read deadline still end the wait.
 * Errors: the fd errors; -EINVAL (bad flags, or fd is not listening);
 * -ENOTSOCK; other accept4(2) errors.
 * Source: IORING_OP_ACCEPT; the backoff sleep is an IORING_OP_TIMEOUT.
 */
GR_API int gr_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/*
 * gr_connect: connect socket fd to addr (connect(2)), waiting for the
 * handshake. Uses the GR_WRITE deadline, as Go's dialer does. When the
 * connect was interrupted by a deadline that was then moved later, the
 * call waits for the handshake with a poll and reads SO_ERROR.
 * Errors: the fd errors; -EFAULT (addr NULL); -ECONNREFUSED; -ENETUNREACH;
 * -EISCONN; other connect(2) errors.
 * Source: IORING_OP_CONNECT (then IORING_OP_POLL_ADD POLLOUT on a retry).
 */
GR_API int gr_connect(int fd, const struct sockaddr *addr, socklen_t len);

/*
 * gr_recv: receive up to n bytes from socket fd into buf (recv(2)).
 * Returns the count, 0 at end of stream (the peer closed). flags as
 * recv(2); with MSG_DONTWAIT -EAGAIN is returned instead of waiting.
 * After the peer reset the connection every read call on fd returns
 * -ECONNRESET (the kernel says so once, then EOF; Go's rule is kept).
 * n above 1 GiB is read as 1 GiB (a short read).
 * Errors: the fd errors; -ECONNRESET; -ENOTSOCK; -EAGAIN (MSG_DONTWAIT).
 * Source: IORING_OP_RECV.
 */
GR_API ssize_t gr_recv(int fd, void *buf, size_t n, int flags);

/*
 * gr_send: send up to n bytes from buf on socket fd (send(2)); returns the
 * count sent, which may be short (a full socket buffer): gr_write_all
 * finishes the job. MSG_NOSIGNAL is always added. With MSG_DONTWAIT
 * -EAGAIN is returned instead of waiting.
 * Errors: the fd errors; -EPIPE or -ECONNRESET (peer gone); -ENOTSOCK;
 * -EAGAIN (MSG_DONTWAIT).
 * Source: IORING_OP_SEND.
 */
GR_API ssize_t gr_send(int fd, const void *buf, size_t n, int flags);

/*
 * gr_read: read up to n bytes from fd at its file position (read(2));
 * any kind of fd (socket, pipe, file, signalfd, eventfd). Returns the
 * count, 0 at end of file. An O_NONBLOCK fd still blocks the goroutine
 * (it waits for readiness with a poll). Peer reset: as gr_recv.
 * Errors: the fd errors; -ECONNRESET; -EINVAL; -EISDIR; read(2) errors.
 * Source: IORING_OP_READ (offset -1: the file position).
 */
GR_API ssize_t gr_read(int fd, void *buf, size_t n);

/*
 * gr_write: write up to n bytes from buf to fd (write(2)); returns the
 * count, which may be short. On a socket it is a send with MSG_NOSIGNAL.
 * Errors: the fd errors; -EPIPE, -ECONNRESET; -ENOSPC; write(2) errors.
 * Source: IORING_OP_SEND on sockets, IORING_OP_WRITE otherwise.
 */
GR_API ssize_t gr_write(int fd, const void *buf, size_t n);

/*
 * gr_write_all: write all n bytes, looping over short writes (Go's
 * net.Conn.Write). Returns n; or, when an error (the write deadline
 * passing, a close, a reset) stops it after some bytes went out, that
 * byte count (the next call reports the error); or -errno when nothing
 * went out. Errors: as gr_write.
 */
GR_API ssize_t gr_write_all(int fd, const void *buf, size_t n);

/*
 * gr_readv / gr_writev: scatter/gather read and write (readv(2),
 * writev(2)) at the file position; n iovecs, 0..IOV_MAX. writev on a
 * socket is a sendmsg with MSG_NOSIGNAL. Counts may be short.
 * Errors: as gr_read / gr_write; -EINVAL (n out of range).
 * Source: IORING_OP_READV, IORING_OP_WRITEV (IORING_OP_SENDMSG on sockets).
 */
GR_API ssize_t gr_readv(int fd, const struct iovec *iov, int n);
GR_API ssize_t gr_writev(int fd, const struct iovec *iov, int n);

/*
 * gr_pread / gr_pwrite: read/write at offset off (bytes) without moving the
 * file position (pread(2), pwrite(2)). Errors: as gr_read / gr_write;
 * -EINVAL (off < 0); -ESPIPE (fd not seekable).
 * Source: IORING_OP_READ / IORING_OP_WRITE with an offset.
 */
GR_API ssize_t gr_pread(int fd, void *buf, size_t n, off_t off);
GR_API ssize_t gr_pwrite(int fd, const void *buf, size_t n, off_t off);

/*
 * gr_recvmsg / gr_sendmsg: recvmsg(2) / sendmsg(2) on socket fd; msg is
 * used as those calls use it (names, iovecs, control data). sendmsg adds
 * MSG_NOSIGNAL. Peer reset on recvmsg: as gr_recv.
 * Errors: as gr_recv / gr_send; -EFAULT (msg NULL).
 * Source: IORING_OP_RECVMSG, IORING_OP_SENDMSG.
 */
GR_API ssize_t gr_recvmsg(int fd, struct msghdr *msg, int flags);
GR_API ssize_t gr_sendmsg(int fd, const struct msghdr *msg, int flags);

/*
 * gr_openat: open path relative to directory fd dfd (AT_FDCWD for the
 * current directory), as openat(2); O_CLOEXEC is always added; mode is
 * used with O_CREAT/O_TMPFILE. Returns the new fd.
 * Errors: -EPERM (outside a goroutine); -EFAULT (path NULL); openat(2)
 * errors (-ENOENT, -EACCES, -EMFILE, ...).
 * Source: IORING_OP_OPENAT (runs in the kernel's io-wq: no M blocks).
 */
GR_API int gr_openat(int dfd, const char *path, int flags, mode_t mode);

/*
 * gr_close: close fd. Goroutines blocked on fd in any call (read, write,
 * poll, accept, connect, ...) are woken with -ECANCELED; gr_close waits
 * until their requests were reaped, then closes the number, so the peer
 * sees EOF and no completion of the old file can land after it returns,
 * even if the number is reused at once. Calls that begin on fd while it
 * closes return -ECANCELED. Callable from a goroutine (it parks) or from
 * a plain thread (it sleeps on a futex), e.g. a signal-handling thread.
 * Returns 0; -EBADF when fd is not open or a close of it is under way
 * (a second close); close(2) errors (-EIO).
 * Source: IORING_OP_ASYNC_CANCEL for each request in flight on fd (on the
 * ring that holds it), then close(2) bracketed as a system call.
 * Go: (*netFD).Close / pollDesc.evict.
 */
GR_API int gr_close(int fd);

/*
 * gr_fsync: flush fd's data and metadata to storage (fsync(2)).
 * Errors: -EPERM; -EBADF; -ECANCELED (closed meanwhile); -EIO; -EINVAL.
 * Source: IORING_OP_FSYNC (io-wq: no M blocks).
 */
GR_API int gr_fsync(int fd);

/*
 * gr_poll: wait until fd is ready for events (POLLIN, POLLOUT, POLLPRI,
 * ...; POLLERR and POLLHUP are always reported) or timeout_ns passes
 * (< 0: no timeout; 0: check without waiting). Returns the revents mask
 * (> 0), or 0 on timeout. Deadlines set by gr_set_deadline do not apply.
 * Errors: -EPERM; -EBADF; -ECANCELED (gr_close of fd).
 * Source: IORING_OP_POLL_ADD with a LINK_TIMEOUT; poll(2) for timeout 0.
 */
GR_API int gr_poll(int fd, short events, int64_t timeout_ns);

/*
 * gr_set_deadline: set the absolute deadline (gr_nanotime() clock, ns) of
 * fd's reads (GR_READ), writes (GR_WRITE) or both (GR_READ|GR_WRITE);
 * deadline_ns < 0 (-1) clears it. It applies to calls already blocked and
 * to later ones: a call that reaches it returns -ETIMEDOUT (after its
 * request was cancelled and reaped, so its buffer is no longer touched);
 * a deadline already past fails new calls at once. Moving it later or
 * clearing it lets blocked calls keep waiting. Cheap enough to call for
 * every read (Go programs do); calls from many goroutines do not block
 * each other beyond a short lock.
 * Returns 0; -EBADF (fd not open, or being closed); -EINVAL (which not a
 * non-empty combination of GR_READ and GR_WRITE).
 * Source: IORING_OP_LINK_TIMEOUT (IORING_TIMEOUT_ABS) linked to each
 * request when it is submitted; a runtime timer plus
 * IORING_OP_ASYNC_CANCEL when the deadline moves earlier under a blocked
 * call. Go: net.Conn.SetDeadline, internal/poll.(*FD).SetDeadline.
 */
GR_API int gr_set_deadline(int fd, int which, int64_t deadline_ns);

/*
 * gr_listen_tcp: a listening TCP socket on addr: "127.0.0.1:7000",
 * "[::1]:7000", "localhost:7000" (names are resolved, first address that
 * binds wins), ":7000" (every address: dual-stack [::], or 0.0.0.0 where
 * IPv6 is missing); port 0 lets the kernel pick (read it back with
 * gr_local_port). SO_REUSEADDR is set; backlog is passed to listen(2)
 * (<= 0: SOMAXCONN). The fd is close-on-exec and blocking. Callable from
 * any thread (resolution of a name blocks only when not in a goroutine).
 * Returns the fd. Errors: -EINVAL (malformed addr, or a numeric port
 * outside 0..65535); -ENOENT (no such host); -EADDRINUSE; -EACCES; -EMFILE; socket(2),
 * bind(2), listen(2) errors.
 * Source: Go's net.Listen("tcp", addr).
 */
GR_API int gr_listen_tcp(const char *addr, int backlog);

/*
 * gr_local_port: the local port fd is bound to (0..65535), as
 * getsockname(2) reports it: how a program learns the port the kernel
 * picked for a listener on port 0. Any thread, never blocks.
 * Errors: -EBADF; -ENOTSOCK; -EAFNOSUPPORT (not an IPv4/IPv6 socket).
 * goring addition. Source: Go's Listener.Addr().(*net.TCPAddr).Port.
 */
GR_API int gr_local_port(int fd);

/*
 * gr_dial_tcp: connect to addr ("host:port", "[v6]:port"; ":port" dials
 * localhost) within timeout_ns (< 0: no timeout; 0: fails at once with
 * -ETIMEDOUT). Names are resolved with getaddrinfo(3) while the P is
 * handed to another thread (gr_syscall_enter_blocking), so other
 * goroutines run; the timeout covers the connects, not the resolution.
 * Each resolved address is tried in order until one connects. The socket
 * is close-on-exec, blocking, with TCP_NODELAY set (as Go).
 * Returns the connected fd. Errors: -EPERM; -EINVAL (malformed addr, or
 * a numeric port outside 0..65535);
 * -ENOENT (no such host); -EAGAIN (resolver temporarily failed);
 * -ETIMEDOUT; -ECONNREFUSED; -ENETUNREACH; -EHOSTUNREACH; -EMFILE.
 * Source: Go's net.DialTimeout("tcp", addr, timeout); IORING_OP_CONNECT.
 */
GR_API int gr_dial_tcp(const char *addr, int64_t timeout_ns);

/*
 * gr_futex_wait: if *addr == val, park the calling goroutine (not its
 * thread) until a futex wake on addr, or timeout_ns passes (< 0: none;
 * 0: do not wait). addr: an aligned 32-bit word of this process, shared
 * with goroutines and plain threads alike.
 * Returns 0 when woken (possibly spuriously, as futex(2)); -EAGAIN when
 * *addr != val; -ETIMEDOUT; -EPERM (outside a goroutine); -EINVAL
 * (addr NULL or misaligned); -ENOSYS when the kernel has no io_uring
 * futex ops (before Linux 6.7).
 * Source: IORING_OP_FUTEX_WAIT (FUTEX2_SIZE_U32 | FUTEX2_PRIVATE) with a
 * LINK_TIMEOUT.
 */
GR_API int gr_futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_ns);

/*
 * gr_futex_wake: wake up to n waiters (goroutines in gr_futex_wait and
 * threads in futex(2) FUTEX_WAIT_PRIVATE) on addr. Any thread, goroutine
 * or not. Returns the number woken (0 for n <= 0); -EINVAL (addr NULL or
 * misaligned).
 * Source: futex(2) FUTEX_WAKE_PRIVATE (it wakes io_uring futex waiters too).
 */
GR_API int gr_futex_wake(uint32_t *addr, int n);

/*
 * gr_futex_wait_shared / gr_futex_wake_shared: as above for a word in
 * memory shared with other processes (MAP_SHARED): the futex key is the
 * page, not this address space. Pair shared waits with shared wakes.
 * Source: IORING_OP_FUTEX_WAIT without FUTEX2_PRIVATE; futex(2) FUTEX_WAKE.
 */
GR_API int gr_futex_wait_shared(uint32_t *addr, uint32_t val, int64_t timeout_ns);
GR_API int gr_futex_wake_shared(uint32_t *addr, int n);

#ifdef __cplusplus
}
#endif
#endif
