/*
 * core/lock.c: thread-level blocking: runtime locks and notes on futex(2),
 * the clock, per-M random numbers, allocation that cannot fail.
 *
 * Invariants:
 * - gr__mutex.key: 0 unlocked, 1 locked, 2 locked and maybe waiters
 *   (Drepper's "Futexes are tricky", mutex 2). Acquire on lock, release on
 *   unlock; the futex wake happens only when the key was 2.
 * - gr__note.key: 0 clear, 1 woken. Wake is a release store then a futex
 *   wake; sleep re-reads with acquire, so the sleeper sees what the waker
 *   wrote before waking it.
 * - Neither is ever held across a goroutine park except through
 *   gr__park_unlock, which releases it on the scheduler stack.
 */
#include "core/sched.h"
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Go's lock2 (lock_futex.go): an exchange to 1; if it was held, a few
 * rounds of spinning (CAS only while the word reads 0), one round of
 * sched_yield, then sleep on the futex as "locked with waiters" (2). After
 * a sleep the lock is always taken as 2, so its unlock wakes the next. */
void gr__lock(gr__mutex *l)
{
    uint32_t v = atomic_exchange_explicit(&l->key, 1, memory_order_acquire);
    if (v == 0)
        return;
    uint32_t wait = v;   /* 1, or 2 if someone may sleep: keep that state */
    for (;;) {
        for (int i = 0; i < 4; i++) {
            while (atomic_load_explicit(&l->key, memory_order_relaxed) == 0) {
                uint32_t z = 0;
                if (atomic_compare_exchange_weak_explicit(&l->key, &z, wait, memory_order_acquire,
                                                          memory_order_relaxed))
                    return;
            }
            for (int k = 0; k < 30; k++)
                gr__cpu_relax();
        }
        while (atomic_load_explicit(&l->key, memory_order_relaxed) == 0) {
            uint32_t z = 0;
            if (atomic_compare_exchange_weak_explicit(&l->key, &z, wait, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        }
        sched_yield();
        v = atomic_exchange_explicit(&l->key, 2, memory_order_acquire);
        if (v == 0)
            return;
        wait = 2;
        gr__futex_wait(&l->key, 2, -1);
    }
}

bool gr__trylock(gr__mutex *l)
{
    uint32_t c = 0;
    return atomic_compare_exchange_strong_explicit(&l->key, &c, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

void gr__unlock(gr__mutex *l)
{
    if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
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
    int64_t deadline = ns >= 0 ? gr__nanotime() + ns : -1;
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

int64_t gr__nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gr_nanotime(void)
{
    return gr__nanotime();
}

/* wyrand, per thread: cheap and good enough for scheduling decisions. */
static __thread uint64_t gr__randstate __attribute__((tls_model("initial-exec")));

uint32_t gr__fastrand(void)
{
    if (gr__unlikely(gr__randstate == 0))
        gr__randstate = (uint64_t)gr__nanotime() ^ ((uint64_t)(uintptr_t)&gr__randstate << 17) ^ 0x9e3779b97f4a7c15ULL;
    gr__randstate += 0xa0761d6478bd642fULL;
    __uint128_t t = (__uint128_t)gr__randstate * (gr__randstate ^ 0xe7037ed1a0b428dbULL);
    return (uint32_t)((uint64_t)(t >> 64) ^ (uint64_t)t);
}

uint32_t gr__fastrandn(uint32_t n)
{
    /* Lemire's multiply-shift: bias below 2^-32, fine for scheduling. */
    return (uint32_t)(((uint64_t)gr__fastrand() * n) >> 32);
}

void *gr__xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        gr__throw("out of memory");
    return p;
}

void *gr__xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        gr__throw("out of memory");
    return p;
}
