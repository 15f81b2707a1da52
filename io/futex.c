/*
 * io/futex.c: a goroutine waits on a futex word without blocking its M.
 *
 * The wait is an IORING_OP_FUTEX_WAIT (kernel 6.7+, probed at start into
 * gr__io_features.futex) on the current P's ring, with a LINK_TIMEOUT for
 * the timeout; the goroutine parks like any I/O. liburing 2.3 has neither
 * the opcode nor a helper, so the SQE is filled here from the kernel ABI
 * (include/uapi/linux/io_uring.h and io_uring/futex.c):
 *   opcode  IORING_OP_FUTEX_WAIT (51) / IORING_OP_FUTEX_WAKE (52)
 *   fd      futex2 flags: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE (private only)
 *   addr    the word;  addr2  the expected value (wait) / count (wake)
 *   addr3   the bitset mask (FUTEX_BITSET_MATCH_ANY)
 *   len, futex_flags (rw_flags), buf_index, file_index: 0
 * The wake side is plain futex(2) FUTEX_WAKE: a waiter queued by io_uring
 * is an ordinary futex waiter with the same key, so one syscall wakes
 * threads and goroutines alike, from any thread.
 */
#include "io/fd.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128       /* FUTEX_PRIVATE_FLAG */
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#endif

_Static_assert(sizeof(struct io_uring_sqe) == 64, "io_uring_sqe is the kernel's 64-byte SQE");
_Static_assert(offsetof(struct io_uring_sqe, addr3) == 48, "addr3 at the kernel's offset");

struct futex_args {
    uint32_t *addr;
    uint32_t val;
    uint32_t flags;
};

static void prep_futex_wait(struct io_uring_sqe *sqe, int fd, void *c, int64_t dl)
{
    struct futex_args *a = c;
    io_uring_prep_rw(IORING_OP_FUTEX_WAIT, sqe, (int)a->flags, a->addr, 0, a->val);
    sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
}

static int futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_ns, uint32_t flags)
{
    if (!gr__getg())
        return -EPERM;
    if (!addr || ((uintptr_t)addr & 3))
        return -EINVAL;
    if (!gr__io_features.futex)
        return -ENOSYS;
    if (timeout_ns == 0)
        return __atomic_load_n(addr, __ATOMIC_SEQ_CST) != val ? -EAGAIN : -ETIMEDOUT;
    struct futex_args a = { .addr = addr, .val = val, .flags = FUTEX2_SIZE_U32 | flags };
    int r = gr__io_op(prep_futex_wait, &a, gr__deadline_in(timeout_ns));
    switch (r) {
    case -ETIME: return -ETIMEDOUT;
    case -ECANCELED:             /* nobody cancels a futex wait but a stale cancel: */
    case -EINTR: return 0;       /* a spurious wake-up, which futex callers allow */
    default: return r > 0 ? 0 : r;
    }
}

static int futex_wake(uint32_t *addr, int n, int op)
{
    if (!addr || ((uintptr_t)addr & 3))
        return -EINVAL;
    if (n <= 0)
        return 0;
    long r = syscall(SYS_futex, addr, op, n, NULL, NULL, 0);
    return r < 0 ? -errno : (int)r;
}

int gr_futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    return futex_wait(addr, val, timeout_ns, FUTEX2_PRIVATE);
}

int gr_futex_wait_shared(uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    return futex_wait(addr, val, timeout_ns, 0);
}

static int gr_futex_wake_impl(uint32_t *addr, int n)
{
    return futex_wake(addr, n, FUTEX_WAKE_PRIVATE);
}

static int gr_futex_wake_shared_impl(uint32_t *addr, int n)
{
    return futex_wake(addr, n, FUTEX_WAKE);
}

/* ---------- errno is never touched (API.md): libc calls above may set it ---------- */

int gr_futex_wake(uint32_t *addr, int n)
{
    int saved = *gr__errno_loc();
    int r = gr_futex_wake_impl(addr, n);
    *gr__errno_loc() = saved;
    return r;
}

int gr_futex_wake_shared(uint32_t *addr, int n)
{
    int saved = *gr__errno_loc();
    int r = gr_futex_wake_shared_impl(addr, n);
    *gr__errno_loc() = saved;
    return r;
}
