/* goring/io.h: goroutine-blocking I/O through the current P's io_uring ring.
 * (draft: io layer fills in docs) */
#ifndef GORING_IO_H
#define GORING_IO_H
#include <goring/core.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#ifdef __cplusplus
extern "C" {
#endif
enum { GR_READ = 1, GR_WRITE = 2 };
GR_API int gr_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags);
GR_API int gr_connect(int fd, const struct sockaddr *addr, socklen_t len);
GR_API ssize_t gr_recv(int fd, void *buf, size_t n, int flags);
GR_API ssize_t gr_send(int fd, const void *buf, size_t n, int flags);
GR_API ssize_t gr_read(int fd, void *buf, size_t n);
GR_API ssize_t gr_write(int fd, const void *buf, size_t n);
GR_API ssize_t gr_write_all(int fd, const void *buf, size_t n);
GR_API ssize_t gr_readv(int fd, const struct iovec *iov, int n);
GR_API ssize_t gr_writev(int fd, const struct iovec *iov, int n);
GR_API ssize_t gr_pread(int fd, void *buf, size_t n, off_t off);
GR_API ssize_t gr_pwrite(int fd, const void *buf, size_t n, off_t off);
GR_API ssize_t gr_recvmsg(int fd, struct msghdr *msg, int flags);
GR_API ssize_t gr_sendmsg(int fd, const struct msghdr *msg, int flags);
GR_API int gr_openat(int dfd, const char *path, int flags, mode_t mode);
GR_API int gr_close(int fd);
GR_API int gr_fsync(int fd);
GR_API int gr_poll(int fd, short events, int64_t timeout_ns);
GR_API int gr_set_deadline(int fd, int which, int64_t deadline_ns);
GR_API int gr_listen_tcp(const char *addr, int backlog);
GR_API int gr_dial_tcp(const char *addr, int64_t timeout_ns);
GR_API int gr_futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_ns);
GR_API int gr_futex_wake(uint32_t *addr, int n);
GR_API int gr_futex_wait_shared(uint32_t *addr, uint32_t val, int64_t timeout_ns);
GR_API int gr_futex_wake_shared(uint32_t *addr, int n);
#ifdef __cplusplus
}
#endif
#endif
