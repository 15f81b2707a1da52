/*
 * core/sched.h: M, P and the global scheduler state. Private to core/ (no
 * poller backend includes it: they see core through core/netpoll.h).
 *
 * Protection of every field is written beside it:
 *   (own)    only the M that holds this P (or, for M fields, the M itself)
 *   (sched)  under sched.lock
 *   (atomic) C11 atomics, order as written at the use
 *   (tlock)  under the P's timer lock
 * The protocol is described at the top of each file: core/sched.c (the
 * loop), core/runq.c, core/proc.c, core/g.c, core/syscall.c, core/main.c.
 */
#ifndef GR__CORE_SCHED_H
#define GR__CORE_SCHED_H

#include "core/runtime.h"
#include <pthread.h>
#include <signal.h>

#define GR_RUNQ_SIZE 256            /* power of two; Go's size */
#define GR__MAX_MS 10000             /* Go's default max threads */
#define GR__MAX_PROCS 256
#define GR__GFREE_LOCAL_MAX 64       /* dead Gs cached per P before spilling */

enum gr__pstatus {
    GR__PIDLE = 0,     /* on the idle list, or being handed over */
    GR__PRUNNING,      /* owned by an M running Gs or the scheduler */
    GR__PSYSCALL,      /* its M is in a bracketed system call; retakeable */
};

/* The ops a goroutine asks of its M's scheduler stack when it switches out. */
enum gr__swop {
    GR__SW_NONE = 0,
    GR__SW_PARK,       /* park: call waitunlockf, maybe resume */
    GR__SW_YIELD,      /* Gosched: to the global queue */
    GR__SW_PREEMPT,    /* yield because sysmon asked */
    GR__SW_EXIT,       /* the G ended */
    GR__SW_SYSEXIT,    /* exitsyscall found no P: queue the G, stop the M */
    GR__SW_SHUTDOWN,   /* runtime is stopping: abandon the G */
};

struct gr__m {
    int64_t id;
    void *g0sp;                     /* (own) scheduler stack pointer while a G runs */
    G *curg;                        /* (own) G running on this M, or NULL */
    P *p;                           /* (own) attached P */
    P *nextp;                       /* (sched) P handed to it by startm */
    P *oldp;                        /* (own) P it held when it entered a syscall */
    int swop;                       /* (own) enum gr__swop for the G switching out */
    G *prevg;                       /* (own) G that switched straight to curg (not via
                                     * g0) and whose swop the resumed G carries out */
    bool spinning;                  /* (own) counted in sched.nmspinning */
    bool after_yield;               /* (own) the last G switched out by gr_yield */
    bool inherit;                   /* (own) next G came from runnext: same time slice */
    bool stopped;                   /* (sched) parked for shutdown */
    _Atomic bool insyscall;         /* (atomic) its G is in a bracketed syscall */
    gr__note park;                  /* stopm sleeps here */
    M *schedlink;                   /* (sched) idle M list */
    M *alllink;                     /* (sched) all Ms */
    pthread_t thread;
    uint64_t syscall_gen;           /* (own) runtime generation at entersyscall */
    void *altstack;                 /* sigaltstack for stack overflow reports */
    void *asan_fake;                /* ASan fake stack of g0 */
    void *tsan_g0;                  /* ThreadSanitizer fiber of g0 (TSan builds) */
    const void *g0_stack_bottom;
    size_t g0_stack_size;
};

struct gr__timers {
    gr__mutex lock;
    struct gr__timer **heap;        /* (tlock) min-heap on when */
    int32_t len, cap;               /* (tlock) */
    _Atomic int64_t timer0when;     /* (atomic) when of heap[0], 0 if empty; relaxed hint */
};

struct gr__p {
    int32_t id;
    _Atomic uint32_t status;        /* (atomic) enum gr__pstatus; CAS by owner/sysmon */
    M *m;                           /* (own) back link */
    uint32_t schedtick;             /* (own) incremented on every new time slice */
    uint32_t fairtick;              /* (own) scheduler passes, for the 61-pass global check */
    uint32_t timercheck;            /* (own) passes, to read the clock on every 4th */
    _Atomic uint32_t syscalltick;   /* (atomic) incremented on every syscall */
    _Atomic int64_t syscallwhen;    /* (atomic, relaxed) when the current syscall began */
    P *link;                        /* (sched) idle P list */
    /* Local run queue: the owner puts at tail (store-release), anyone takes
     * from head (CAS acq-rel). runnext is a one-G slot the owner fills;
     * stealers may CAS it away. */
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    _Atomic(G *) runq[GR_RUNQ_SIZE];
    _Atomic(G *) runnext;
    /* Dead Gs with default-size stacks, for reuse (own). */
    G *gfree;
    int32_t ngfree;
    struct gr__timers timers;
    struct gr__poller *poller;      /* io: this P's ring */
    /* 0: not polling; 1: its M is blocked in gr__netpoll; 2: a waker
     * claimed it and sent a break. (atomic, seq_cst: pairs with wakep) */
    _Atomic uint32_t polling;
    /* sysmon's view (sysmon only) */
    _Atomic uint32_t slice_expired; /* (atomic) sysmon: the current time slice ran out */
    uint32_t sm_schedtick, sm_syscalltick;
    int64_t sm_schedwhen, sm_syscallwhen;
    /* counters (relaxed) */
    _Atomic uint64_t steals;
};

struct gr__sched {
    gr__mutex lock;
    /* global run queue (sched) */
    G *runqhead, *runqtail;
    _Atomic int32_t runqsize;       /* written under lock, read racily as a hint */
    /* idle Ps and Ms (sched) */
    P *pidle;
    _Atomic int32_t npidle;
    M *midle;
    int32_t nmidle;
    _Atomic int32_t nmspinning;     /* (atomic) seq_cst: pairs with wakep */
    int32_t mcount;                 /* (sched) Ms created, sysmon excluded */
    M *allm;                        /* (sched) */
    int64_t mnext;
    /* Gs */
    gr__mutex glock;                /* global dead-G list and allgs */
    G *gfree;
    int32_t ngfree;
    G *allg;
    _Atomic uint64_t goidgen;
    _Atomic int64_t ngoroutines;
    _Atomic int32_t nsyscall;       /* Gs in bracketed syscalls */
    /* Ps */
    int32_t nprocs;
    P **allp;
    /* lifecycle */
    _Atomic int running;
    _Atomic int shutdown;
    _Atomic uint32_t exitgen;       /* futex word Ms wait on at shutdown */
    _Atomic int32_t nmstopped;
    gr__note main_done;             /* goroutine 1 ended */
    gr__note sysmon_note;
    int64_t start_time;
    int64_t default_stack;          /* bytes */
    /* counters (relaxed) */
    _Atomic uint64_t ngcreated, nmcreated, nhandoffs, nretakes, nsyscalls;
    _Atomic uint64_t nsqes, ncqes, nenters, ntimers_fired, npreempt;
    _Atomic uint64_t nstacks_unguarded;
};

extern GR_HIDDEN struct gr__sched gr__sched;

/* Plain fields that other threads read as hints (sysmon reads a P's
 * schedtick, m and its M's curg; gfget peeks at the global free count):
 * relaxed atomic accesses, so the races are deliberate and TSan-clean. */
#define GR__RLX_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define GR__RLX_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ThreadSanitizer and AddressSanitizer builds: each G is a fiber; each
 * M's scheduler stack is the thread's own. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define GR__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define GR__TSAN 1
#endif

/* TSan: switch annotations go right before gr__swtch. */
static inline void gr__tsan_to(void *fiber)
{
#ifdef GR__TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
}

/* ASan: announce a switch to the stack [bottom, bottom+size); finish it
 * on the other side. */
static inline void gr__san_start(void **fake, const void *bottom, size_t size)
{
#ifdef GR__ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake; (void)bottom; (void)size;
#endif
}

static inline void gr__san_finish(void *fake)
{
#ifdef GR__ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)fake;
#endif
}

/* core/proc.c: the M of this thread (NULL on a thread that is not an M). */
extern __thread M *gr__tls_m __attribute__((visibility("hidden"), tls_model("initial-exec")));

/* The M of this thread. The read must never be cached across a switch (a
 * goroutine may resume on another thread): on x86-64 it is one volatile
 * %fs-relative load; elsewhere a call the optimizer cannot see through. */
#if defined(__x86_64__)
static inline M *gr__getm(void)
{
    M *mp;
    __asm__ volatile("movq gr__tls_m@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0"
                     : "=r"(mp)
                     :
                     : "memory");
    return mp;
}
#else
__attribute__((noinline, noipa)) static inline M *gr__getm(void)
{
    M *mp;
    __asm__ volatile("" ::: "memory");
    mp = gr__tls_m;
    return mp;
}
#endif

/* core/proc.c: attach pp to mp (pp RUNNING) / detach mp's P. Inline: on
 * exitsyscall's fast path. */
static inline void gr__acquirep(M *mp, P *pp)
{
    mp->p = pp;
    GR__RLX_STORE(pp->m, mp);
    atomic_store_explicit(&pp->status, GR__PRUNNING, memory_order_release);
}

static inline P *gr__releasep(M *mp)
{
    P *pp = mp->p;
    mp->p = NULL;
    GR__RLX_STORE(pp->m, NULL);
    return pp;
}

/* core/runq.c (its fast paths: core/runq.h, below) */
GR_HIDDEN void gr__runqput(P *pp, G *gp, bool next);
GR_HIDDEN G *gr__runqget(P *pp);                       /* owner only */
/* Steal half of victim's queue into pp's; return one G to run. */
GR_HIDDEN G *gr__runqsteal(P *pp, P *victim, bool stealnext);
/* A batch (at most max if max > 0) from the global queue into pp; one G
 * returned to run. sched.lock held. */
GR_HIDDEN G *gr__globrunqget(P *pp, int32_t max);
GR_HIDDEN void gr__injectglist(G *list);

/* core/proc.c */
GR_HIDDEN void gr__pidleput(P *pp);                    /* sched.lock held */
GR_HIDDEN P *gr__pidleget(void);                       /* sched.lock held */
GR_HIDDEN bool gr__pidle_take(P *pp);   /* off the idle list if still on it */
GR_HIDDEN M *gr__allocm(void);
GR_HIDDEN int gr__newm_thread(M *mp);                  /* -errno */
GR_HIDDEN void gr__stopm(M *mp);
GR_HIDDEN _Noreturn void gr__m_shutdown_park(M *mp);
GR_HIDDEN void gr__wakep(void);
GR_HIDDEN void gr__handoffp(P *pp);
GR_HIDDEN bool gr__break_polling(P *pp); /* break pp's M out of its ring wait */

/* core/sched.c */
GR_HIDDEN _Noreturn void gr__schedule(M *mp);
GR_HIDDEN void gr__drop_spinning(M *mp);
/* The direct switch (Go's gogo from one G to the next, no pass through
 * g0): on the G switching out with op, a G of this P to switch to, already
 * made mp's curg and RUNNING, or NULL when g0 must run (see sched.c). */
GR_HIDDEN G *gr__direct_next(M *mp, int op);
/* On the G just switched to: carry out mp->swop for mp->prevg, as g0's
 * after_switch would. */
GR_HIDDEN void gr__finish_prevg(M *mp);

/* core/g.c */
GR_HIDDEN G *gr__newg(P *pp, gr_fn fn, void *arg, size_t stack_size, const char *name);
GR_HIDDEN void gr__gfput(P *pp, G *gp);
/* Switch from the running G to its M's scheduler stack with op (enum
 * gr__swop); returns when the G is resumed, perhaps on another M. */
GR_HIDDEN void gr__mcall(int op);
/* WAITING -> RUNNABLE and push on *list (netpoll completions). */
GR_HIDDEN void gr__ready_list_add(G *gp, G **list);

/* core/syscall.c */
/* On g0: a G back from a syscall with no P; returns it if it got one. */
GR_HIDDEN G *gr__exitsyscall0(M *mp, G *gp);

/* core/main.c */
extern GR_HIDDEN _Atomic uint64_t gr__runtime_gen;
/* A thread that is not an M (gr__getm() NULL) brackets its use of the
 * runtime's scheduler state (Ps, queues, Gs, timer heaps) with these:
 * enter returns false, counting nothing, when no runtime runs or its
 * teardown began (the caller then touches none of it: -EPERM, or nothing
 * to do); with wait, a teardown in progress is first waited out (only for
 * callers holding no lock a teardown hook takes). Teardown waits for
 * every thread that entered to exit before it walks or frees that state.
 * Calls must pair and not nest. */
GR_HIDDEN bool gr__foreign_enter(bool wait);
GR_HIDDEN void gr__foreign_exit(void);

/* core/timer.c */
GR_HIDDEN void gr__timers_init(P *pp);
GR_HIDDEN void gr__timers_destroy(P *pp);
/* Run pp's timers due at now; returns the next when (0: none). Any thread. */
GR_HIDDEN int64_t gr__timers_run(P *pp, int64_t now);
GR_HIDDEN int64_t gr__timers_next(P *pp);
GR_HIDDEN int64_t gr__timers_count(void);

/* core/stack.c */
GR_HIDDEN void gr__stack_init(void);
GR_HIDDEN int gr__stack_alloc(G *gp, size_t size);
GR_HIDDEN void gr__stack_free(G *gp);
GR_HIDDEN void gr__stack_check(G *gp);          /* canary/sp check at switch */
GR_HIDDEN void gr__stack_release_deep(G *gp);   /* madvise the deep part */
GR_HIDDEN bool gr__stack_is_deep(G *gp);
GR_HIDDEN void gr__stack_shutdown(void);

/* core/switch_*.S: save callee-saved state on the current stack, store sp
 * in *save, switch to new_sp, restore, return there. */
GR_HIDDEN void gr__swtch(void **save, void *new_sp);
/* Build an initial frame at the top of [lo, hi) that starts entry(). */
GR_HIDDEN void *gr__ctx_init(uintptr_t hi, void (*entry)(void));

/* core/sysmon.c */
GR_HIDDEN int gr__sysmon_start(void);
GR_HIDDEN void gr__sysmon_stop(void);
GR_HIDDEN void gr__sysmon_wake(void);

/* core/panic.c */
GR_HIDDEN void gr__signals_init(void);
GR_HIDDEN void gr__signals_fini(void);
GR_HIDDEN void gr__m_altstack(M *mp);
GR_HIDDEN void gr__m_altstack_free(M *mp);
GR_HIDDEN void gr__m_altstack_disable(M *mp);
GR_HIDDEN void gr__dump_goroutines(int fd);
GR_HIDDEN _Noreturn void gr__stack_overflow(G *gp);

/* core/runtime.c */
GR_HIDDEN void gr__debug_parse(void);
GR_HIDDEN int gr__default_procs(void);
GR_HIDDEN int gr__env_procs(bool warn);
GR_HIDDEN void gr__stats_snapshot(void);

#include "core/runq.h"

#endif
