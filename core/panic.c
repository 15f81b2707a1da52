/*
 * core/panic.c: fatal errors, goroutine dumps, SIGQUIT and stack overflow.
 *
 * A fatal error prints "goring: fatal error: <cause>" and then every
 * goroutine as Go does ("goroutine N [state]:" and a backtrace), and exits
 * with status 2 (Go's), or aborts when GRDEBUG=crash=1 so a core dump can
 * be taken. Parked goroutines are walked through their frame pointers from
 * the frame gr__swtch saved (the library is built with
 * -fno-omit-frame-pointer); goroutines running on other threads are listed
 * without a stack, as Go lists them when it cannot stop them.
 *
 * Everything here may run in a signal handler or with runtime locks held:
 * it writes with write(2), takes no lock it could already hold (allg is
 * walked under a trylock, else without it), and allocates nothing after
 * gr__signals_init warmed up backtrace(). Lock order: only try-locks
 * (core/lockrank.h).
 */
#include "core/sched.h"
#include <execinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define GR__ALTSTACK_SIZE (64 * 1024)
#define GR__MAX_FRAMES 32

static _Atomic int throwing;
static struct sigaction old_segv, old_bus, old_quit;
static bool handlers_installed;

static const char *const waitreasons[GR_WAIT_N] = {
    [GR_WAIT_ZERO] = "",
    [GR_WAIT_CHAN_RECV] = "chan receive",
    [GR_WAIT_CHAN_SEND] = "chan send",
    [GR_WAIT_CHAN_RECV_NIL] = "chan receive (nil chan)",
    [GR_WAIT_CHAN_SEND_NIL] = "chan send (nil chan)",
    [GR_WAIT_SELECT] = "select",
    [GR_WAIT_SELECT_NO_CASES] = "select (no cases)",
    [GR_WAIT_SLEEP] = "sleep",
    [GR_WAIT_SEMACQUIRE] = "semacquire",
    [GR_WAIT_MUTEX] = "sync.Mutex.Lock",
    [GR_WAIT_RWMUTEX_R] = "sync.RWMutex.RLock",
    [GR_WAIT_RWMUTEX_W] = "sync.RWMutex.Lock",
    [GR_WAIT_WAITGROUP] = "sync.WaitGroup.Wait",
    [GR_WAIT_COND] = "sync.Cond.Wait",
    [GR_WAIT_IO] = "IO wait",
    [GR_WAIT_FUTEX] = "futex wait",
    [GR_WAIT_PREEMPTED] = "preempted",
    [GR_WAIT_SYNC_OTHER] = "sync wait",
};

const char *gr__waitreason_str(int reason)
{
    if (reason <= 0 || reason >= GR_WAIT_N || !waitreasons[reason])
        return "waiting";
    return waitreasons[reason];
}

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void putu(int fd, uint64_t v)
{
    char buf[24];
    int i = sizeof buf - 1;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(fd, buf + i);
}

/* Collect return addresses of a switched-out G from its saved frame. */
static int walk_parked(G *gp, void **pcs, int max)
{
    uintptr_t sp = (uintptr_t)gp->sp;
    if (sp < gp->stack_lo || sp >= gp->stack_hi)
        return 0;
#if defined(__x86_64__)
    uintptr_t fp = ((uintptr_t *)sp)[6];
    uintptr_t pc = ((uintptr_t *)sp)[7];
#else
    uintptr_t fp = ((uintptr_t *)sp)[10];
    uintptr_t pc = ((uintptr_t *)sp)[11];
#endif
    int n = 0;
    while (n < max && pc) {
        pcs[n++] = (void *)pc;
        if (fp < sp || fp + 16 > gp->stack_hi || (fp & 7))
            break;
        sp = fp;
        pc = ((uintptr_t *)fp)[1];
        fp = ((uintptr_t *)fp)[0];
    }
    return n;
}

static const char *gstate(G *gp, uint32_t st)
{
    switch (st) {
    case GR__GRUNNABLE: return "runnable";
    case GR__GRUNNING: return "running";
    case GR__GSYSCALL: return "syscall";
    case GR__GWAITING: return gr__waitreason_str(gp->waitreason);
    case GR__GIDLE: return "idle";
    default: return "dead";
    }
}

static void dump_one(int fd, G *gp, G *self)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (st == GR__GDEAD || st == GR__GIDLE)
        return;
    put(fd, "goroutine ");
    putu(fd, gp->goid);
    put(fd, " [");
    put(fd, gstate(gp, st));
    put(fd, "]");
    if (gp->name[0]) {
        put(fd, " (");
        put(fd, gp->name);
        put(fd, ")");
    }
    put(fd, ":\n");
    void *pcs[GR__MAX_FRAMES];
    int n = 0;
    if (gp == self) {
        n = backtrace(pcs, GR__MAX_FRAMES);
    } else if (st == GR__GWAITING || st == GR__GRUNNABLE) {
        n = walk_parked(gp, pcs, GR__MAX_FRAMES);
    } else {
        put(fd, "\tgoroutine running on other thread; stack unavailable\n\n");
        return;
    }
    if (n > 0)
        backtrace_symbols_fd(pcs, n, fd);
    put(fd, "\n");
}

void gr__dump_goroutines(int fd)
{
    G *self = gr__getg();
    bool locked = gr__trylock(&gr__sched.glock);
    if (self)
        dump_one(fd, self, self);
    int shown = 0;
    for (G *gp = gr__sched.allg; gp && shown < 10000; gp = gp->alllink) {
        if (gp == self)
            continue;
        dump_one(fd, gp, self);
        shown++;
    }
    if (locked)
        gr__unlock(&gr__sched.glock);
    put(fd, "(frames read object(+offset) [address]: addr2line -f -i -e OBJECT OFFSET names the function and "
            "file:line of each, where the object has debug info)\n");
}

static _Noreturn void die(void)
{
    if (gr__debug.crash) {
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    _exit(2);
}

_Noreturn void gr__throw(const char *msg)
{
    if (atomic_fetch_add(&throwing, 1) != 0) {
        /* Another thread is already dying: let it finish the dump. */
        for (;;)
            pause();
    }
    put(2, "goring: fatal error: ");
    put(2, msg);
    put(2, "\n\n");
    gr__dump_goroutines(2);
    die();
}

_Noreturn void gr__throwf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    gr__throw(buf);
}

_Noreturn void gr__stack_overflow(G *gp)
{
    if (atomic_fetch_add(&throwing, 1) != 0)
        for (;;)
            pause();
    put(2, "goring: goroutine ");
    putu(2, gp->goid);
    put(2, " stack overflow (its stack: ");
    putu(2, (uint64_t)((gp->stack_hi - gp->stack_lo) / 1024));
    put(2, " KiB; give it more with GR_STACK_SIZE, or per goroutine with gr_go_opts' stack_size)\n");
    die();
}

/* A fault in the guard page under the current goroutine's stack is a
 * stack overflow; anything else goes to the previous handler (or the
 * default action, so the program still dies of SIGSEGV). */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
    M *mp = gr__getm();
    G *gp = mp ? mp->curg : NULL;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (gp && gp->stack_base && a >= (uintptr_t)gp->stack_base && a < gp->stack_lo)
        gr__stack_overflow(gp);
    if (gp && a < gp->stack_lo && a + 65536 >= gp->stack_lo)
        gr__stack_overflow(gp);
    /* Canary stacks have no guard page: a goroutine whose stack pointer
     * is below its stack when it faults has overflowed. */
    if (gp && uc) {
        ucontext_t *u = uc;
#if defined(__x86_64__)
        uintptr_t sp = (uintptr_t)u->uc_mcontext.gregs[REG_RSP];
#else
        uintptr_t sp = (uintptr_t)u->uc_mcontext.sp;
#endif
        if (sp < gp->stack_lo + 256 && sp + (64u << 20) > gp->stack_lo)
            gr__stack_overflow(gp);
    }
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* No handler of the program's: report it as Go does, then die. */
    if (atomic_fetch_add(&throwing, 1) == 0) {
        char line[160];
        snprintf(line, sizeof line, "goring: fatal error: unexpected signal: %s addr=%p goroutine %llu\n\n",
                 sig == SIGSEGV ? "SIGSEGV: segmentation violation" : "SIGBUS: bus error",
                 si->si_addr, (unsigned long long)(gp ? gp->goid : 0));
        put(2, line);
        gr__dump_goroutines(2);
    }
    signal(sig, SIG_DFL);   /* re-fault with the default action */
}

static void on_quit(int sig)
{
    (void)sig;
    if (atomic_fetch_add(&throwing, 1) != 0)
        for (;;)
            pause();
    put(2, "SIGQUIT: quit\n\n");
    gr__dump_goroutines(2);
    die();
}

void gr__signals_init(void)
{
    void *warm[2];
    backtrace(warm, 2);   /* loads the unwinder now, not in a handler */
    atomic_store(&throwing, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, &old_quit);
    handlers_installed = true;
}

void gr__signals_fini(void)
{
    if (!handlers_installed)
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    handlers_installed = false;
}

void gr__m_altstack(M *mp)
{
    stack_t ss, old;
    /* Keep one that is already there (ASan installs its own per thread). */
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return;
    mp->altstack = malloc(GR__ALTSTACK_SIZE);
    if (!mp->altstack)
        return;
    ss.ss_sp = mp->altstack;
    ss.ss_size = GR__ALTSTACK_SIZE;
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
}

/* On the M's own thread, before it exits. */
void gr__m_altstack_disable(M *mp)
{
    if (!mp->altstack)
        return;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
}

void gr__m_altstack_free(M *mp)
{
    free(mp->altstack);
    mp->altstack = NULL;
}
