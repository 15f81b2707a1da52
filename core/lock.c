/*
 * core/lock.c: thread-level blocking: runtime locks and notes on futex(2).
 *
 * Invariants:
 * - gr__mutex.key: 0 unlocked, 1 locked, 2 locked and maybe waiters
 *   (Drepper's "Futexes are tricky", mutex 2). Acquire on lock, release on
 *   unlock; the futex wake happens only when the key was 2. In
 *   --enable-lockrank builds the upper 16 bits hold the lock's rank, set
 *   once by gr__lock_init and kept by every store here (core/lockrank.c
 *   checks the order).
 * - gr__note.key: 0 clear, 1 woken. Wake is a release store then a futex
 *   wake; sleep re-reads with acquire, so the sleeper sees what the waker
 *   wrote before waking it.
 * - Neither is ever held across a goroutine park except through
 *   gr__park_unlock, which releases it on the scheduler stack.
 * - The order in which runtime locks may be taken is core/lockrank.h.
 */
#include "core/sched.h"
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int gr__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts, *tsp = NULL;
    if (ns >= 0) {
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
    return r < 0 ? -errno : 0;
}

int gr__futex_wake(_Atomic uint32_t *addr, int n)
{
    long r = syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
    return r < 0 ? -errno : (int)r;
}

/* The lock word's state (0, 1, 2) and rank bits (core/lockrank.h). Without
 * --enable-lockrank the rank bits are always 0 and the mask keeps every
 * bit, so the code below is exactly the plain futex lock. */
#ifdef GR__LOCKRANK
#define STATE_MASK 0xffffu
static inline uint32_t rank_bits(gr__mutex *l)
{
    return atomic_load_explicit(&l->key, memory_order_relaxed) & ~STATE_MASK;
}
#else
#define STATE_MASK 0xffffffffu
static inline uint32_t rank_bits(gr__mutex *l)
{
    (void)l;
    return 0;
}
#endif

/* Go's lock2 (lock_futex.go): an exchange to 1; if it was held, a few
 * rounds of spinning (CAS only while the word reads 0), one round of
 * sched_yield, then sleep on the futex as "locked with waiters" (2). After
 * a sleep the lock is always taken as 2, so its unlock wakes the next. */
void gr__lock(gr__mutex *l)
{
    uint32_t rb = rank_bits(l);
#ifdef GR__LOCKRANK
    gr__lockrank_acquire(l, rb >> 16);   /* before blocking: an inversion is reported, not hung */
#endif
    uint32_t v = atomic_exchange_explicit(&l->key, rb | 1, memory_order_acquire) & STATE_MASK;
    if (v == 0)
        return;
    uint32_t wait = v;   /* 1, or 2 if someone may sleep: keep that state */
    for (;;) {
        for (int i = 0; i < 4; i++) {
            while ((atomic_load_explicit(&l->key, memory_order_relaxed) & STATE_MASK) == 0) {
                uint32_t z = rb;
                if (atomic_compare_exchange_weak_explicit(&l->key, &z, rb | wait, memory_order_acquire,
                                                          memory_order_relaxed))
                    return;
            }
            for (int k = 0; k < 30; k++)
                gr__cpu_relax();
        }
        while ((atomic_load_explicit(&l->key, memory_order_relaxed) & STATE_MASK) == 0) {
            uint32_t z = rb;
            if (atomic_compare_exchange_weak_explicit(&l->key, &z, rb | wait, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        }
        sched_yield();
        v = atomic_exchange_explicit(&l->key, rb | 2, memory_order_acquire) & STATE_MASK;
        if (v == 0)
            return;
        wait = 2;
        gr__futex_wait(&l->key, rb | 2, -1);
    }
}

bool gr__trylock(gr__mutex *l)
{
    uint32_t rb = rank_bits(l);
    uint32_t c = rb;
    bool ok = atomic_compare_exchange_strong_explicit(&l->key, &c, rb | 1, memory_order_acquire,
                                                      memory_order_relaxed);
#ifdef GR__LOCKRANK
    if (ok)
        gr__lockrank_acquire_try(l, rb >> 16);
#endif
    return ok;
}

void gr__unlock(gr__mutex *l)
{
    uint32_t rb = rank_bits(l);
#ifdef GR__LOCKRANK
    gr__lockrank_release(l, rb >> 16);
#endif
    if ((atomic_exchange_explicit(&l->key, rb, memory_order_release) & STATE_MASK) == 2)
        gr__futex_wake(&l->key, 1);
}

void gr__note_clear(gr__note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void gr__note_wakeup(gr__note *n)
{
    atomic_store_explicit(&n->key, 1, memory_order_release);
    gr__futex_wake(&n->key, 1);
}

bool gr__note_sleep(gr__note *n, int64_t ns)
{
    int64_t deadline = -1;
    if (ns >= 0) {
        int64_t now = gr__nanotime();
        deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    }
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        int64_t left = -1;
        if (deadline >= 0) {
            left = deadline - gr__nanotime();
            if (left <= 0)
                return false;
        }
        gr__futex_wait(&n->key, 0, left);
    }
    return true;
}
