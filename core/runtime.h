/*
 * core/runtime.h: the runtime's internal interface (layer 1).
 *
 * Everything here is private to libgoring (hidden visibility); io/, sync/
 * and chan/ include it, tests reach it only through the public API.
 * Internal names are gr__ / GR__ (two underscores), struct tags included
 * (struct gr__g, gr__m, gr__p); G, M and P are Go's standard terms and are
 * the typedef names. Public names (include/goring/) are gr_ / GR_.
 *
 * What the layers above use:
 *   gr__mutex      a runtime lock: a futex word, for short critical sections
 *                  (channel lock, semaphore root, timers). Blocks the thread.
 *   gr__note       one-shot sleep/wake of a thread (an idle M).
 *   gr__getg()     the running goroutine, NULL on a scheduler stack or on a
 *                  thread that is not an M.
 *   gr__park()     block the calling goroutine (Go's gopark).
 *   gr__ready()    make a parked goroutine runnable (goready); any thread.
 *   gr__timer_*    runtime timers on per-P heaps.
 *   gr__throw()    fatal error with a goroutine dump.
 *
 * Ownership and memory orders live at the top of each core/ file; the
 * lock order of the whole runtime is core/lockrank.h.
 */
#ifndef GR__CORE_RUNTIME_H
#define GR__CORE_RUNTIME_H

#include <goring/core.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/lockrank.h"

#define GR_HIDDEN __attribute__((visibility("hidden")))
#define gr__likely(x) __builtin_expect(!!(x), 1)
#define gr__unlikely(x) __builtin_expect(!!(x), 0)
#if defined(__x86_64__)
#define gr__cpu_relax() __builtin_ia32_pause()
#else
#define gr__cpu_relax() __asm__ volatile("yield" ::: "memory")
#endif

typedef struct gr__g G;
typedef struct gr__m M;
typedef struct gr__p P;

/* ---------- runtime locks and notes (core/lock.c) ---------- */

/* A runtime lock: 0 unlocked, 1 locked, 2 locked with waiters (in the
 * low 16 bits; the upper ones hold its rank in --enable-lockrank builds).
 * Zero-initialised is unlocked (and unranked). Held only for short
 * sections; never held across a park (gr__park_unlock releases it
 * atomically with the park). Its place in the lock order: core/lockrank.h. */
typedef struct { _Atomic uint32_t key; } gr__mutex;
/* Give an unlocked, unused l its rank (enum gr__lockrank). */
static inline void gr__lock_init(gr__mutex *l, int rank)
{
#ifdef GR__LOCKRANK
    atomic_store_explicit(&l->key, GR__LOCKRANK_BITS(rank), memory_order_relaxed);
#else
    (void)l;
    (void)rank;
#endif
}
GR_HIDDEN void gr__lock(gr__mutex *l);
GR_HIDDEN void gr__unlock(gr__mutex *l);
GR_HIDDEN bool gr__trylock(gr__mutex *l);

/* A note: a one-shot event that one thread sleeps on and another wakes.
 * clear before reuse; wakeup at most once per clear. */
typedef struct { _Atomic uint32_t key; } gr__note;
GR_HIDDEN void gr__note_clear(gr__note *n);
GR_HIDDEN void gr__note_wakeup(gr__note *n);
/* Sleep until woken (ns < 0) or for at most ns; true if woken. */
GR_HIDDEN bool gr__note_sleep(gr__note *n, int64_t ns);

/* Raw futex(2) helpers, private futexes. */
GR_HIDDEN int gr__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns);
GR_HIDDEN int gr__futex_wake(_Atomic uint32_t *addr, int n);

/* ---------- time and randomness ---------- */

GR_HIDDEN int64_t gr__nanotime(void);
GR_HIDDEN uint32_t gr__fastrand(void);            /* per-M wyrand; any thread */
GR_HIDDEN uint32_t gr__fastrandn(uint32_t n);     /* uniform in [0, n) */

/* ---------- goroutines ---------- */

enum gr__gstatus {
    GR__GIDLE = 0,     /* just allocated */
    GR__GRUNNABLE,     /* on a run queue */
    GR__GRUNNING,      /* owns an M and a P */
    GR__GSYSCALL,      /* in a bracketed system call: owns an M, not (for sure) a P */
    GR__GWAITING,      /* parked; someone holds a reference to ready it */
    GR__GDEAD,         /* exited, on a free list */
};

/* Why a goroutine waits: shown in dumps as Go shows it. */
enum gr__waitreason {
    GR_WAIT_ZERO = 0,
    GR_WAIT_CHAN_RECV,      /* "chan receive" */
    GR_WAIT_CHAN_SEND,      /* "chan send" */
    GR_WAIT_CHAN_RECV_NIL,  /* "chan receive (nil chan)" */
    GR_WAIT_CHAN_SEND_NIL,  /* "chan send (nil chan)" */
    GR_WAIT_SELECT,         /* "select" */
    GR_WAIT_SELECT_NO_CASES,/* "select (no cases)" */
    GR_WAIT_SLEEP,          /* "sleep" */
    GR_WAIT_SEMACQUIRE,     /* "semacquire" */
    GR_WAIT_MUTEX,          /* "sync.Mutex.Lock" */
    GR_WAIT_RWMUTEX_R,      /* "sync.RWMutex.RLock" */
    GR_WAIT_RWMUTEX_W,      /* "sync.RWMutex.Lock" */
    GR_WAIT_WAITGROUP,      /* "sync.WaitGroup.Wait" */
    GR_WAIT_COND,           /* "sync.Cond.Wait" */
    GR_WAIT_IO,             /* "IO wait" */
    GR_WAIT_FUTEX,          /* "futex wait" */
    GR_WAIT_PREEMPTED,      /* "preempted" */
    GR_WAIT_SYNC_OTHER,     /* "sync wait" */
    GR_WAIT_N
};
GR_HIDDEN const char *gr__waitreason_str(int reason);

/* The G: a goroutine. Fields marked (own) are touched only by the M running
 * it; (sched) under the scheduler's protocol; (park) by parker and readier as
 * described at gr__park. */
struct gr__g {
    void *sp;                       /* (own) saved stack pointer while switched out */
    uintptr_t stack_lo, stack_hi;   /* usable stack [lo, hi) */
    void *stack_base;               /* mapping start (guard page included) */
    size_t stack_map_size;          /* whole mapping */
    uint32_t stack_flags;           /* GR__STACK_* in core/stack.c */
    _Atomic uint32_t status;        /* enum gr__gstatus; acquire/release */
    uint64_t goid;
    G *schedlink;                   /* (sched) link in a run queue or free list */
    M *m;                           /* (own) M running it, or NULL */
    gr_fn fn;
    void *arg;
    _Atomic uint8_t waitreason;     /* set before park, read by dumps */
    _Atomic bool preempt;           /* sysmon asks it to yield at its next runtime call */
    bool yielded;                   /* (own) came through gr_yield */
    void *param;                    /* (park) set by the readier before gr__ready */
    _Atomic uint32_t selectdone;    /* chan: select wake-up claimed */
    void *waiting;                  /* chan: sudogs of the select it is parked in */
    bool (*waitunlockf)(G *gp, void *arg);  /* (own) called on g0 after switching out */
    void *waitlock;
    uintptr_t sp_min;               /* lowest sp seen at a switch (deep-use detection) */
    void *asan_fake_stack;
    unsigned valgrind_id;           /* VALGRIND_STACK_REGISTER id */
    void *tsan_fiber;               /* ThreadSanitizer fiber (TSan builds) */
    G *alllink;                     /* (allglock) all Gs ever allocated */
    char name[32];
};

/* The calling goroutine, or NULL (scheduler stack, or not an M). */
GR_HIDDEN G *gr__getg(void);

/*
 * gr__park: park the calling goroutine (Go's gopark). Sets its state to
 * waiting with reason, switches to the scheduler stack and there calls
 * unlockf(gp, arg) if non-NULL: if it returns false the goroutine is made
 * runnable again at once (the wait was already satisfied). The goroutine
 * resumes when someone calls gr__ready(gp).
 * The waker must be able to find gp only after unlockf ran: publish the
 * waiter under a lock that unlockf releases. Readying a G that is not yet
 * parked is a fatal error ("bad g status in ready").
 */
GR_HIDDEN void gr__park(bool (*unlockf)(G *gp, void *arg), void *arg, int reason);
/* gr__park_unlock: park, releasing runtime lock l once switched away. */
GR_HIDDEN void gr__park_unlock(gr__mutex *l, int reason);
/* gr__ready: make a goroutine parked by gr__park runnable (WAITING ->
 * RUNNABLE by CAS; any other status is a fatal error, so each park is
 * readied once). It goes to the calling M's P's runnext, where it runs next
 * and shares the current time slice, or to the global queue from a thread
 * with no P; then gr__wakep (an idle P started, or a polling P's M broken
 * out of its ring, unless an M is already spinning). Any thread. */
GR_HIDDEN void gr__ready(G *gp);
/* gr__external_waker: delta +1 / -1 as a plain thread that may ready
 * goroutines at any moment appears / goes (chan/signal.c: one per channel
 * that wants a signal). While the count is above 0 the deadlock check
 * stays quiet, as Go's does for a program waiting in <-c after
 * signal.Notify. Not reset by gr_main. Any thread. */
GR_HIDDEN void gr__external_waker(int delta);
/* gr__checkpreempt: if sysmon asked the calling goroutine to yield, yield.
 * Cheap; call it at runtime entry points that do not otherwise block. */
GR_HIDDEN void gr__checkpreempt(void);

/* ---------- fatal errors (core/panic.c) ---------- */

/* Print "goring: fatal error: msg", dump every goroutine, exit(2) (or abort
 * when GOTRACEBACK=crash / GRDEBUG=crash=1). */
GR_HIDDEN _Noreturn void gr__throw(const char *msg);
GR_HIDDEN _Noreturn void gr__throwf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------- runtime timers (core/timer.c) ---------- */

/*
 * A runtime timer. f(arg, now) runs on some M (or sysmon) when `when` has
 * passed, possibly with no P attached and possibly concurrently with
 * goroutines on other Ms. Contract: timer callbacks run with no lock held
 * (the heap lock is dropped before f is called), so f may take any
 * runtime lock and call gr__ready; it must not block or park. A periodic timer
 * (period > 0) fires again at when + k*period (missed periods are skipped).
 * The struct may live on a goroutine's stack: gr__timer_stop waits for a
 * running f to return, so after stop the struct may go away.
 */
struct gr__timer {
    int64_t when;                   /* (heap lock) absolute, gr__nanotime */
    int64_t period;
    void (*f)(void *arg, int64_t now);
    void *arg;
    _Atomic(P *) pp;                /* heap it is in, or NULL */
    int32_t idx;                    /* (heap lock) index in pp's heap */
    _Atomic uint32_t seq;           /* bumped by start/stop: cancels a periodic re-add */
    _Atomic uint32_t running;       /* f calls in progress */
};
GR_HIDDEN void gr__timer_init(struct gr__timer *t, void (*f)(void *, int64_t), void *arg);
/* (Re)arm t to fire at absolute time when; true if it was pending before. */
GR_HIDDEN bool gr__timer_start(struct gr__timer *t, int64_t when, int64_t period);
/* Disarm; true if it was pending (this call stopped a fire). Waits for a
 * concurrent f to finish. */
GR_HIDDEN bool gr__timer_stop(struct gr__timer *t);

/* ---------- misc ---------- */

/* Allocation that aborts with a fatal error on failure (runtime data only). */
GR_HIDDEN void *gr__xcalloc(size_t n, size_t sz);

/* The current P's index in [0, gr__nprocs()), or -1 with no P; and the
 * number of Ps of the running runtime (0 if none). */
GR_HIDDEN int gr__pid(void);
GR_HIDDEN int gr__nprocs(void);

/* Is a runtime running (between gr_main start and teardown)? */
GR_HIDDEN bool gr__running(void);
/* The running runtime's identity: its start time (gr__nanotime), 0 when
 * none. Set once per gr_main before any goroutine runs; io/fd.c uses it to
 * tell a descriptor's records of an earlier runtime from this one's. */
GR_HIDDEN int64_t gr__runtime_epoch(void);

/* Teardown hooks of the layers above core (registered from constructors,
 * so core names none of them). At gr_main's teardown, once every M has
 * stopped and before memory is freed, core calls abandon(gp) for each
 * goroutine left waiting or runnable, then fini(). Up to 8 hooks. */
struct gr__hooks {
    void (*abandon)(G *gp);
    void (*fini)(void);
};
GR_HIDDEN void gr__register_hooks(const struct gr__hooks *h);

/* Counters for gr_stats kept by other layers. */
GR_HIDDEN void gr__stat_add_io(uint64_t sqes, uint64_t cqes, uint64_t enters);

/* Debug knobs (GRDEBUG=name=value,...). Unknown names are ignored. */
struct gr__debug {
    int64_t schedtrace_ms;   /* 0: off */
    int handoff;             /* 1: sysmon retakes Ps from syscalls (default) */
    int64_t retake_ns;       /* P in a syscall this long is retaken (20 us) */
    int64_t sysmon_ns;       /* sysmon's shortest period (20 us) */
    int64_t preempt_ns;      /* time slice before a preempt request (10 ms) */
    int deadlock;            /* 1: detect "all goroutines are asleep" */
    int crash;               /* 1: abort() instead of exit(2) on fatal errors */
    int cq_entries;          /* io: CQ size override (0: default) */
    int sq_entries;          /* io: SQ size override (0: default) */
    int io_direct;           /* io: 1: try a send with send(2) before the ring */
    char poller[16];         /* "uring" (default) */
};
extern GR_HIDDEN struct gr__debug gr__debug;

#endif
