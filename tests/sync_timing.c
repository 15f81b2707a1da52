/* tests/sync_timing.c: timing-sensitive sync tests (their own binary, run
 * with one job). No test asserts a speed: only that nobody waits far longer
 * than the mechanism promises, with generous slack for a shared machine. */
#include "harness.h"

/*
 * Mutex starvation. A hog re-locks in a tight loop, holding the mutex for
 * 20-100 us each time and re-taking it at once after each unlock. Without
 * starvation mode a woken waiter nearly always loses that race and can
 * wait for the hog's whole run (1.5 s here); with it, a waiter that waited
 * over 1 ms gets the mutex handed over at the next unlock. On one P the
 * waiter also needs the hog to be preempted (10 ms time slice, cooperative:
 * the mutex's slow paths are preemption points).
 * Bound: 250 ms, far over the 1 ms threshold and the 10 ms slice, far under
 * the hog's run.
 */
#define HOG_NS (1500 * MS)
#define BOUND_NS (250 * MS)

struct starve {
    gr_mutex m;
    gr_waitgroup wg;
    bool sleep_inside;      /* park while holding it (Go's TestMutexFairness) */
    _Atomic bool stop;
    _Atomic int64_t max_wait;
    _Atomic int acquired;
    volatile uint64_t sink;
};

static void hog(void *arg)
{
    struct starve *s = arg;
    int64_t end = gr_nanotime() + HOG_NS;
    while (gr_nanotime() < end) {
        gr_mutex_lock(&s->m);
        if (s->sleep_inside) {
            gr_sleep(100 * 1000);
        } else {
            int64_t t = gr_nanotime() + 20 * 1000;
            while (gr_nanotime() < t)
                s->sink++;
        }
        gr_mutex_unlock(&s->m);
    }
    atomic_store(&s->stop, true);
    gr_waitgroup_done(&s->wg);
}

static void victim(void *arg)
{
    struct starve *s = arg;
    gr_sleep(5 * MS);   /* let the hog get going */
    while (!atomic_load(&s->stop)) {
        int64_t t0 = gr_nanotime();
        gr_mutex_lock(&s->m);
        int64_t w = gr_nanotime() - t0;
        gr_mutex_unlock(&s->m);
        atomic_fetch_add(&s->acquired, 1);
        int64_t m = atomic_load(&s->max_wait);
        while (w > m && !atomic_compare_exchange_weak(&s->max_wait, &m, w))
            ;
        gr_sleep(2 * MS);
    }
    gr_waitgroup_done(&s->wg);
}

static void starve_main(void *arg)
{
    struct starve *s = arg;
    gr_waitgroup_add(&s->wg, 3);
    GO(hog, s);
    GO(victim, s);
    GO(victim, s);
    gr_waitgroup_wait(&s->wg);
}

static void starve_on(int procs, bool sleep_inside)
{
    struct starve s = { .m = GR_MUTEX_INIT, .wg = GR_WAITGROUP_INIT,
                        .sleep_inside = sleep_inside };
    RUN(procs, starve_main, &s);
    int64_t mw = atomic_load(&s.max_wait);
    cr_log_info("procs=%d %s: %d acquisitions by victims, longest wait %.2f ms",
                procs, sleep_inside ? "sleeping hog" : "spinning hog",
                atomic_load(&s.acquired), mw / 1e6);
    cr_assert(atomic_load(&s.acquired) >= 4, "the victims got the mutex repeatedly");
    cr_assert(mw < BOUND_NS, "longest wait %.1f ms, bound %.0f ms", mw / 1e6, BOUND_NS / 1e6);
}

/* The hog parks while holding the mutex, so it is never preempted: only
 * starvation mode gets the victims in (without it they wait the whole run). */
Test(sync_timing, mutex_no_starvation_sleeping_hog_1p, .timeout = 30) { starve_on(1, true); }
Test(sync_timing, mutex_no_starvation_sleeping_hog_2p, .timeout = 30) { starve_on(2, true); }
Test(sync_timing, mutex_no_starvation_sleeping_hog_4p, .timeout = 30) { starve_on(4, true); }
/* The hog spins while holding it: the mutex's preemption points matter too. */
Test(sync_timing, mutex_no_starvation_spinning_hog_1p, .timeout = 30) { starve_on(1, false); }
Test(sync_timing, mutex_no_starvation_spinning_hog_2p, .timeout = 30) { starve_on(2, false); }
Test(sync_timing, mutex_no_starvation_spinning_hog_4p, .timeout = 30) { starve_on(4, false); }

/*
 * RWMutex: a writer among readers that keep the lock read-held all the
 * time waits only for the readers already inside (each holds it 1 ms).
 */
struct rws {
    gr_rwmutex rw;
    gr_waitgroup wg;
    _Atomic bool stop;
    _Atomic int64_t max_wait;
};

static void rd(void *arg)
{
    struct rws *s = arg;
    while (!atomic_load(&s->stop)) {
        gr_rwmutex_rlock(&s->rw);
        gr_sleep(1 * MS);
        gr_rwmutex_runlock(&s->rw);
    }
    gr_waitgroup_done(&s->wg);
}

static void rws_main(void *arg)
{
    struct rws *s = arg;
    gr_waitgroup_add(&s->wg, 16);
    for (int i = 0; i < 16; i++)
        GO(rd, s);
    gr_sleep(5 * MS);
    for (int i = 0; i < 30; i++) {
        int64_t t0 = gr_nanotime();
        gr_rwmutex_lock(&s->rw);
        int64_t w = gr_nanotime() - t0;
        gr_rwmutex_unlock(&s->rw);
        if (w > atomic_load(&s->max_wait))
            atomic_store(&s->max_wait, w);
        gr_sleep(3 * MS);
    }
    atomic_store(&s->stop, true);
    gr_waitgroup_wait(&s->wg);
}

Test(sync_timing, rwmutex_writer_waits_for_readers_inside_only_2p, .timeout = 30)
{
    struct rws s = { .rw = GR_RWMUTEX_INIT, .wg = GR_WAITGROUP_INIT };
    RUN(2, rws_main, &s);
    int64_t mw = atomic_load(&s.max_wait);
    cr_log_info("longest writer wait %.2f ms", mw / 1e6);
    cr_assert(mw < BOUND_NS, "longest writer wait %.1f ms", mw / 1e6);
}
