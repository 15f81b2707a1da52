/*
 * io/futex.c: a goroutine waits on a futex word without blocking its M.
 *
 * The wait is a FUTEX_WAIT request to the poller backend, with the timeout
 * as its deadline; the goroutine parks like any I/O. On the ring it is an
 * IORING_OP_FUTEX_WAIT (kernel 6.7+; -ENOSYS before). The wake side is
 * plain futex(2) FUTEX_WAKE: a waiter queued by io_uring is an ordinary
 * futex waiter with the same key, so one syscall wakes threads and
 * goroutines alike, from any thread.
 */
#include "io/fd.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128       /* FUTEX_PRIVATE_FLAG */
#endif

static int futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_ns, uint32_t flags)
{
    if (!gr__getg())
        return -EPERM;
    if (!addr || ((uintptr_t)addr & 3))
        return -EINVAL;
    if (timeout_ns == 0)
        return __atomic_load_n(addr, __ATOMIC_SEQ_CST) != val ? -EAGAIN : -ETIMEDOUT;
    struct gr__ioreq a = { .opcode = GR__OPC_FUTEX_WAIT, .addr32 = addr, .val = val,
                           .flags = (int)(FUTEX2_SIZE_U32 | flags) };
    int r = gr__io_op(&a, gr__deadline_in(timeout_ns));
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
