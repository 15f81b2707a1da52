/*
 * core/g.c: the G lifecycle: allocation and the dead-G caches (malg,
 * gfput/gfget), creation (newproc, gr_go), switching out to the M's
 * scheduler stack (mcall: park, yield, exit, preempt), and readying.
 *
 * A G switches out by storing an op in m->swop and switching to g0 (Go's
 * mcall); g0 carries the op out once the G is fully off its stack
 * (core/sched.c, after_switch). When the next G is known and g0 has
 * nothing due (gr__direct_next), the G switches straight to it instead
 * (Go's gogo) and leaves itself in m->prevg: the G resumed (in mcall, or
 * gstart for a new one) carries the op out on its own stack before
 * anything else (gr__finish_prevg), the same after_switch code, so a
 * parking G is still findable only once it is off its stack.
 *
 * Invariants:
 * - Status changes: IDLE/DEAD->RUNNABLE by newproc before the G is
 *   queued; RUNNING->WAITING on g0 before waitunlockf runs;
 *   WAITING->RUNNABLE only by gr__ready / gr__ready_list_add (CAS,
 *   acq-rel), so a G is readied once per park.
 * - A G is on at most one free list (a P's gfree, owned by the P; or
 *   sched.gfree under sched.glock), and only while GDEAD. allg grows only,
 *   under sched.glock; goroutine 1 is never cached (teardown frees it).
 * - errno is saved across a switch (a G may resume on another thread).
 * - Lock order (core/lockrank.h): sched.glock ("allg"), with nothing
 *   taken under it. No lock is held across gr__swtch except the one a parking G
 *   hands to gr__park_unlock, released on g0.
 */
#include "core/sched.h"
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline, noipa)) static int errno_get(void) { return errno; }
__attribute__((noinline, noipa)) static void errno_set(int e) { errno = e; }

G *gr__getg(void)
{
    M *mp = gr__getm();
    return mp ? mp->curg : NULL;
}

/* ---------- G allocation ---------- */

void gr__gfput(P *pp, G *gp)
{
    if (gp->stack_map_size == 0 || (uint64_t)(gp->stack_hi - gp->stack_lo) != (uint64_t)gr__sched.default_stack) {
        gr__stack_free(gp);
    } else if (gr__stack_is_deep(gp)) {
        gr__stack_release_deep(gp);
    }
    if (pp) {
        gp->schedlink = pp->gfree;
        pp->gfree = gp;
        if (++pp->ngfree < GR__GFREE_LOCAL_MAX)
            return;
        /* spill half to the global list */
        gr__lock(&gr__sched.glock);
        while (pp->ngfree > GR__GFREE_LOCAL_MAX / 2) {
            G *g2 = pp->gfree;
            pp->gfree = g2->schedlink;
            pp->ngfree--;
            g2->schedlink = gr__sched.gfree;
            gr__sched.gfree = g2;
            GR__RLX_STORE(gr__sched.ngfree, gr__sched.ngfree + 1);
        }
        gr__unlock(&gr__sched.glock);
        return;
    }
    gr__lock(&gr__sched.glock);
    gp->schedlink = gr__sched.gfree;
    gr__sched.gfree = gp;
    GR__RLX_STORE(gr__sched.ngfree, gr__sched.ngfree + 1);
    gr__unlock(&gr__sched.glock);
}

__attribute__((always_inline)) static inline G *gfget(P *pp)
{
    if (pp && !pp->gfree && GR__RLX_LOAD(gr__sched.ngfree) > 0) {
        gr__lock(&gr__sched.glock);
        while (pp->ngfree < GR__GFREE_LOCAL_MAX / 2 && gr__sched.gfree) {
            G *g2 = gr__sched.gfree;
            gr__sched.gfree = g2->schedlink;
            GR__RLX_STORE(gr__sched.ngfree, gr__sched.ngfree - 1);
            g2->schedlink = pp->gfree;
            pp->gfree = g2;
            pp->ngfree++;
        }
        gr__unlock(&gr__sched.glock);
    }
    G *gp = NULL;
    if (pp && pp->gfree) {
        gp = pp->gfree;
        pp->gfree = gp->schedlink;
        pp->ngfree--;
    } else if (!pp) {
        gr__lock(&gr__sched.glock);
        gp = gr__sched.gfree;
        if (gp) {
            gr__sched.gfree = gp->schedlink;
            GR__RLX_STORE(gr__sched.ngfree, gr__sched.ngfree - 1);
        }
        gr__unlock(&gr__sched.glock);
    }
    return gp;
}

static G *malg(size_t stack_size)
{
    G *gp = calloc(1, sizeof *gp);
    if (!gp)
        return NULL;
    if (gr__stack_alloc(gp, stack_size) != 0) {
        free(gp);
        return NULL;
    }
#ifdef GR__TSAN
    gp->tsan_fiber = __tsan_create_fiber(0);
#endif
    gr__lock(&gr__sched.glock);
    gp->alllink = gr__sched.allg;
    gr__sched.allg = gp;
    gr__unlock(&gr__sched.glock);
    return gp;
}

/* ---------- switching ---------- */

static _Noreturn void gstart(void);

/* From a G to its M's scheduler stack with op; returns when the G is
 * resumed (perhaps on another M). */
void gr__mcall(int op)
{
    M *mp = gr__getm();
    G *gp = mp->curg;
    int saved = errno_get();
    mp->swop = op;
    void **fake = op == GR__SW_EXIT ? NULL : &gp->asan_fake_stack;
    G *next = gr__direct_next(mp, op);
    if (next) {
        /* Straight to next; it finishes our op (gr__finish_prevg). */
        mp->prevg = gp;
        gr__san_start(fake, (const void *)next->stack_lo, next->stack_hi - next->stack_lo);
        gr__tsan_to(next->tsan_fiber);
        gr__swtch(&gp->sp, next->sp);
    } else {
        gr__san_start(fake, mp->g0_stack_bottom, mp->g0_stack_size);
        gr__tsan_to(mp->tsan_g0);
        gr__swtch(&gp->sp, mp->g0sp);
    }
    /* Resumed, perhaps on another M, by g0 or straight from another G. */
    mp = gr__getm();
    gr__san_finish(mp->curg->asan_fake_stack);
    if (mp->prevg)
        gr__finish_prevg(mp);
    errno_set(saved);
}

static _Noreturn void gstart(void)
{
    gr__san_finish(NULL);
    M *mp = gr__getm();
    if (mp->prevg)
        gr__finish_prevg(mp);
    G *gp = mp->curg;
    gp->fn(gp->arg);
    gr_exit();
}

/* ---------- park / ready ---------- */

void gr__park(bool (*unlockf)(G *gp, void *arg), void *arg, int reason)
{
    G *gp = gr__getg();
    if (!gp)
        gr__throw("gr__park called outside a goroutine");
    gp->waitunlockf = unlockf;
    gp->waitlock = arg;
    gp->waitreason = (uint8_t)reason;
    gr__mcall(GR__SW_PARK);
}

static bool unlock_runtime_lock(G *gp, void *arg)
{
    (void)gp;
    gr__unlock((gr__mutex *)arg);
    return true;
}

void gr__park_unlock(gr__mutex *l, int reason)
{
    gr__park(unlock_runtime_lock, l, reason);
}

void gr__ready(G *gp)
{
    uint32_t st = GR__GWAITING;
    if (!atomic_compare_exchange_strong_explicit(&gp->status, &st, GR__GRUNNABLE, memory_order_acq_rel,
                                                 memory_order_acquire))
        gr__throwf("bad g status in ready: goroutine %llu status %u", (unsigned long long)gp->goid, st);
    M *mp = gr__getm();
    P *pp = mp ? mp->p : NULL;
    if (pp) {
        gr__runqput(pp, gp, true);
        gr__wakep();
    } else if (mp || gr__foreign_enter(false)) {
        gr__globrunqput(gp);
        gr__wakep();
        if (!mp)
            gr__foreign_exit();
    }
    /* else: a plain thread woke a goroutine of a runtime being torn down;
     * it stays abandoned with the rest */
}

void gr__checkpreempt(void)
{
    G *gp = gr__getg();
    if (gp && atomic_load_explicit(&gp->preempt, memory_order_relaxed)) {
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
        gp->yielded = true;
        gr__mcall(GR__SW_PREEMPT);
    }
}

/* ---------- public goroutine API ---------- */

/* A runnable G that runs fn(arg) on a stack of stack_size bytes (a cached
 * one when that is the default size), not yet on any queue; NULL when out
 * of memory. pp: the caller's P (its dead-G cache), or NULL. Used by
 * newproc (inlined there: gr_go's path) and for goroutine 1. */
__attribute__((always_inline)) inline G *gr__newg(P *pp, gr_fn fn, void *arg, size_t stack_size,
                                                  const char *name)
{
    G *gp = NULL;
    if (stack_size == (size_t)gr__sched.default_stack) {
        gp = gfget(pp);
        /* A cached G whose odd-sized stack was freed gets a default one. */
        if (gp && gp->stack_map_size == 0 && gr__stack_alloc(gp, stack_size) != 0) {
            gr__gfput(pp, gp);
            return NULL;
        }
    }
    if (!gp) {
        gp = malg(stack_size);
        if (!gp)
            return NULL;
    }
    gp->sp = gr__ctx_init(gp->stack_hi, gstart);
    gp->sp_min = gp->stack_hi;
    gp->fn = fn;
    gp->arg = arg;
    gp->goid = atomic_fetch_add_explicit(&gr__sched.goidgen, 1, memory_order_relaxed) + 1;
    gp->preempt = false;
    gp->yielded = false;
    gp->param = NULL;
    gp->waiting = NULL;
    gp->waitreason = GR_WAIT_ZERO;
    if (name) {
        strncpy(gp->name, name, sizeof gp->name - 1);
        gp->name[sizeof gp->name - 1] = 0;
    } else {
        gp->name[0] = 0;
    }
    atomic_fetch_add_explicit(&gr__sched.ngoroutines, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&gr__sched.ngcreated, 1, memory_order_relaxed);
    atomic_store_explicit(&gp->status, GR__GRUNNABLE, memory_order_release);
    return gp;
}

/* Is a runtime running? (Here, beside newproc, its hottest caller.) */
bool gr__running(void)
{
    return atomic_load_explicit(&gr__sched.running, memory_order_acquire) != 0;
}

/* Go's newproc: a new G on the caller's runnext (the global queue from a
 * thread with no P), and an idle P woken for it. stack_size 0: the
 * runtime's default (read here, once a runtime is known to run). */
static int newproc(gr_fn fn, void *arg, size_t stack_size, const char *name)
{
    if (!fn)
        return -EINVAL;
    M *mp = gr__getm();
    if (!mp) {
        /* A plain thread: racing gr_main's end, it must not take a G from
         * a free list that teardown is freeing. */
        if (!gr__foreign_enter(true))
            return -EPERM;
        if (!stack_size)
            stack_size = (size_t)gr__sched.default_stack;
        G *gp = gr__newg(NULL, fn, arg, stack_size, name);
        if (gp) {
            gr__globrunqput(gp);
            gr__wakep();
        }
        gr__foreign_exit();
        return gp ? 0 : -ENOMEM;
    }
    if (!gr__running() || atomic_load_explicit(&gr__sched.shutdown, memory_order_relaxed))
        return -EPERM;
    if (!stack_size)
        stack_size = (size_t)gr__sched.default_stack;
    P *pp = mp->p;
    G *gp = gr__newg(pp, fn, arg, stack_size, name);
    if (!gp)
        return -ENOMEM;
    if (pp)
        gr__runqput(pp, gp, true);
    else
        gr__globrunqput(gp);
    gr__wakep();
    return 0;
}

int gr_go(gr_fn fn, void *arg)
{
    int r = newproc(fn, arg, 0, NULL);
    gr__checkpreempt();
    return r;
}

int gr_go_opts(gr_fn fn, void *arg, const struct gr_go_opts *opts)
{
    size_t size = 0;
    const char *name = NULL;
    if (opts) {
        if (opts->stack_size) {
            if (opts->stack_size < 16 * 1024 || opts->stack_size > 64 * 1024 * 1024)
                return -EINVAL;
            long pg = sysconf(_SC_PAGESIZE);
            size = (opts->stack_size + (size_t)pg - 1) & ~((size_t)pg - 1);
        }
        name = opts->name;
    }
    return newproc(fn, arg, size, name);
}

void gr_yield(void)
{
    G *gp = gr__getg();
    if (!gp) {
        sched_yield();
        return;
    }
    atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    gp->yielded = true;
    gr__mcall(GR__SW_YIELD);
}

_Noreturn void gr_exit(void)
{
    G *gp = gr__getg();
    if (!gp)
        gr__throw("gr_exit called outside a goroutine");
    gr__mcall(GR__SW_EXIT);
    __builtin_unreachable();
}

uint64_t gr_id(void)
{
    G *gp = gr__getg();
    return gp ? gp->goid : 0;
}

size_t gr_num_goroutine(void)
{
    if (!gr__running())
        return 0;
    int64_t n = atomic_load_explicit(&gr__sched.ngoroutines, memory_order_relaxed);
    return n > 0 ? (size_t)n : 0;
}

void gr__ready_list_add(G *gp, G **list)
{
    uint32_t st = GR__GWAITING;
    if (!atomic_compare_exchange_strong_explicit(&gp->status, &st, GR__GRUNNABLE, memory_order_acq_rel,
                                                 memory_order_acquire))
        gr__throwf("bad g status in netpoll ready: goroutine %llu status %u",
                   (unsigned long long)gp->goid, st);
    gp->schedlink = *list;
    *list = gp;
}
