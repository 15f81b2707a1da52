/*
 * goring/core.h: the runtime and goroutines.
 *
 * Conventions for every gr_ function: time is int64_t nanoseconds on
 * CLOCK_MONOTONIC; success is 0 (or a count), failure is -errno; errno is
 * never touched (except by constructors that return a pointer). Functions
 * that may block a goroutine return -EPERM when called outside a goroutine.
 */
#ifndef GORING_CORE_H
#define GORING_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__cplusplus)
#define GR_NORETURN [[noreturn]]
#else
#define GR_NORETURN _Noreturn
#endif

#if defined(GR_BUILDING)
#define GR_API __attribute__((visibility("default")))
#else
#define GR_API
#endif

#include <goring/version.h> /* GR_VERSION, GR_VERSION_MAJOR/MINOR/PATCH */

/* Units of time, in the int64_t nanoseconds every gr_ function takes (Go's
 * time.Nanosecond .. time.Second): gr_sleep(5 * GR_MS). */
#define GR_NS 1LL
#define GR_US (1000LL * GR_NS)
#define GR_MS (1000LL * GR_US)
#define GR_S (1000LL * GR_MS)

/* A goroutine's start function. */
typedef void (*gr_fn)(void *arg);

/*
 * gr_main: start the runtime and run fn(arg) as goroutine 1 on the calling
 * thread; return when fn returns. Goroutines still alive then are abandoned
 * where they wait, as Go abandons them at exit: their I/O is cancelled and
 * reaped, their stacks freed, the runtime's threads stopped. A later
 * gr_main in the same process starts afresh, sync objects, channels,
 * timers and descriptors used by the earlier one included.
 * Plain threads may keep calling the functions documented "any thread"
 * (gr_go, gr_timer_*, channel and sync wake-ups, gr_close) while gr_main
 * starts and ends: such a call returns as it would with the runtime
 * running or with none (gr_go: 0 or -EPERM), waiting out a teardown in
 * progress if need be, and never touches a runtime being freed. A plain
 * thread in gr_close on a descriptor whose ops are abandoned is released
 * and closes it.
 * Reads GR_MAXPROCS, GR_STACK_SIZE and GRDEBUG (see README.md).
 * Returns 0; -EBUSY if a runtime is already running in this process;
 * -ENOMEM; -EAGAIN if a thread could not be created; the io_uring setup
 * error (-EPERM, -ENOSYS, -ENOMEM) when the kernel refuses a ring, after one
 * line on stderr naming the cause and the fix.
 * Source: Go's runtime.main (proc.go): main goroutine, exit ends the program.
 */
GR_API int gr_main(gr_fn fn, void *arg);

/*
 * gr_go: spawn a goroutine running fn(arg) with the default stack
 * (GR_STACK_SIZE, 256 KiB unless set). It is put in the current P's runnext
 * slot, as Go's newproc does, and may run on any thread.
 * Returns 0; -EPERM outside a running runtime; -ENOMEM when no stack or G
 * could be allocated.
 * Source: the Go spec, "Go statements"; runtime.newproc.
 */
GR_API int gr_go(gr_fn fn, void *arg);

/* Options for gr_go_opts. Zero fields take the defaults. */
struct gr_go_opts {
    size_t stack_size;  /* bytes, 16 KiB .. 64 MiB, rounded up to pages; 0: default */
    const char *name;   /* shown in goroutine dumps; copied, up to 31 bytes */
};

/*
 * gr_go_opts: gr_go with options.
 * Returns 0; -EINVAL for a stack size outside 16 KiB .. 64 MiB; -EPERM;
 * -ENOMEM.
 */
GR_API int gr_go_opts(gr_fn fn, void *arg, const struct gr_go_opts *opts);

/*
 * gr_yield: let other goroutines run; the caller stays runnable and goes
 * on the global run queue (runtime.Gosched). If nothing else is queued on
 * its P, Gs queued behind other Ps are stolen first. Outside a goroutine it
 * yields the thread (sched_yield).
 */
GR_API void gr_yield(void);

/*
 * gr_exit: end the calling goroutine (runtime.Goexit). Called from
 * goroutine 1 it ends gr_main as a return from its function would.
 * Outside a goroutine it is fatal.
 */
GR_API GR_NORETURN void gr_exit(void);

/* gr_id: the calling goroutine's id (1 for the main one), 0 outside a goroutine. */
GR_API uint64_t gr_id(void);

/*
 * gr_sleep: park the calling goroutine for at least ns nanoseconds
 * (time.Sleep). ns <= 0 only yields. Returns 0; -EPERM outside a goroutine.
 * Source: a timer on the current P's heap; the M loop fires it.
 */
GR_API int gr_sleep(int64_t ns);

/* gr_nanotime: CLOCK_MONOTONIC now, in nanoseconds. Any thread. */
GR_API int64_t gr_nanotime(void);

/* gr_maxprocs: the number of Ps of the running runtime (GOMAXPROCS), or
 * the number it would start with when none runs. */
GR_API int gr_maxprocs(void);

/* gr_num_goroutine: live goroutines now (runtime.NumGoroutine); 0 when no
 * runtime runs. */
GR_API size_t gr_num_goroutine(void);

/*
 * gr_syscall_enter / gr_syscall_exit: bracket a call that may block the
 * thread (runtime.entersyscall / exitsyscall). Entering costs a few atomics:
 * the P stays with the thread, marked as in a system call; sysmon retakes it
 * after GRDEBUG retake_us (default 20 us) and hands it to another thread so
 * the P's other goroutines keep running. On exit the thread takes back its P
 * if still free, else any idle P, else queues the goroutine and parks.
 * Calls must pair and must not nest. Outside a goroutine both do nothing.
 * Calling any other goring function between them is not allowed.
 */
GR_API void gr_syscall_enter(void);
GR_API void gr_syscall_exit(void);

/*
 * gr_syscall_enter_blocking: as gr_syscall_enter, but hands the P off at
 * once (runtime.entersyscallblock), for calls known to block long such as
 * getaddrinfo. Pair it with gr_syscall_exit.
 */
GR_API void gr_syscall_enter_blocking(void);

struct gr_stats {                  /* a snapshot; counters are totals since gr_main started */
    uint64_t goroutines;           /* live goroutines now */
    uint64_t goroutines_created;
    uint32_t ps, idle_ps;          /* Ps now, and how many are idle */
    uint32_t ms, idle_ms, spinning_ms; /* Ms alive now, idle, spinning */
    uint64_t ms_created;           /* threads ever created */
    uint64_t steals, handoffs, retakes, syscalls;
    uint64_t sqes_submitted, cqes_reaped, enter_calls;
    uint64_t timers_fired, preempt_requests;
    /* more fields may follow; never reorder these */
    uint64_t stacks_unguarded;     /* stacks allocated past the guard-page mapping budget */
};

/* gr_stats: fill *out with a snapshot (the last one after gr_main returned;
 * zeros before any). Any thread. */
GR_API void gr_stats(struct gr_stats *out);

/* gr_version: the library's version, "MAJOR.MINOR.PATCH" (GR_VERSION of
 * the headers a program was built with may differ from the library it runs
 * with). */
GR_API const char *gr_version(void);

#ifdef __cplusplus
}
#endif
#endif
