/*
 * core/sched.h: M, P and the global scheduler state. Private to core/ and
 * io/netpoll_uring.c (the poller's scheduler side).
 *
 * Protection of every field is written beside it:
 *   (own)    only the M that holds this P (or, for M fields, the M itself)
 *   (sched)  under sched.lock
 *   (atomic) C11 atomics, order as written at the use
 *   (tlock)  under the P's timer lock
 * The protocol itself is described at the top of core/sched.c.
 */
#ifndef GR_CORE_SCHED_H
#define GR_CORE_SCHED_H

#include "core/runtime.h"
#include <pthread.h>
#include <signal.h>

#define GR_RUNQ_SIZE 256            /* power of two; Go's size */
#define GR_MAX_MS 10000             /* Go's default max threads */
#define GR_MAX_PROCS 256
#define GR_GFREE_LOCAL_MAX 64       /* dead Gs cached per P before spilling */

enum gr__pstatus {
    GR_PIDLE = 0,     /* on the idle list, or being handed over */
    GR_PRUNNING,      /* owned by an M running Gs or the scheduler */
    GR_PSYSCALL,      /* its M is in a bracketed system call; retakeable */
    GR_PDEAD,
};

/* The ops a goroutine asks of its M's scheduler stack when it switches out. */
enum gr__swop {
    GR_SW_NONE = 0,
    GR_SW_PARK,       /* park: call waitunlockf, maybe resume */
    GR_SW_YIELD,      /* Gosched: to the global queue */
    GR_SW_PREEMPT,    /* yield because sysmon asked */
    GR_SW_EXIT,       /* the G ended */
    GR_SW_SYSEXIT,    /* exitsyscall found no P: queue the G, stop the M */
    GR_SW_SHUTDOWN,   /* runtime is stopping: abandon the G */
};

struct gr_m {
    int64_t id;
    void *g0sp;                     /* (own) scheduler stack pointer while a G runs */
    G *curg;                        /* (own) G running on this M, or NULL */
    P *p;                           /* (own) attached P */
    P *nextp;                       /* (sched) P handed to it by startm */
    P *oldp;                        /* (own) P it held when it entered a syscall */
    int swop;                       /* (own) enum gr__swop for the G switching out */
    bool spinning;                  /* (own) counted in sched.nmspinning */
    bool after_yield;               /* (own) the last G switched out by gr_yield */
    bool inherit;                   /* (own) next G came from runnext: same time slice */
    bool stopped;                   /* (sched) parked for shutdown */
    _Atomic bool insyscall;         /* (atomic) its G is in a bracketed syscall */
    bool is_sysmon;
    gr__note park;                  /* stopm sleeps here */
    M *schedlink;                   /* (sched) idle M list */
    M *alllink;                     /* (sched) all Ms */
    pthread_t thread;
    uint64_t rand[2];               /* (own) fastrand state */
    int64_t syscallwhen;            /* (own) for handoff latency experiments */
    uint32_t syscalltick;           /* (own) copy of p->syscalltick at entersyscall */
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

struct gr_p {
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
    int32_t ndeep;                  /* cached Gs whose stacks were used deeply */
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
    M *sysmon;
    gr__note sysmon_note;
    _Atomic bool sysmon_wait;
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
#define GR_RLX_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define GR_RLX_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* core/sched.c */
GR_HIDDEN M *gr__getm(void);
GR_HIDDEN void gr__runqput(P *pp, G *gp, bool next);
GR_HIDDEN void gr__globrunqput(G *gp);
GR_HIDDEN void gr__injectglist(G *list);
/* WAITING -> RUNNABLE and push on *list (netpoll completions). */
GR_HIDDEN void gr__ready_list_add(G *gp, G **list);
GR_HIDDEN void gr__wakep(void);
GR_HIDDEN void gr__handoffp(P *pp);
GR_HIDDEN bool gr__pidle_take(P *pp);   /* off the idle list if still on it */
GR_HIDDEN bool gr__break_polling(P *pp); /* break pp's M out of its ring wait */
GR_HIDDEN bool gr__runqempty(P *pp);
GR_HIDDEN uint32_t gr__runqlen(P *pp);
GR_HIDDEN int gr__pid(void);
GR_HIDDEN int gr__nprocs(void);

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

#endif
