/*
 * core/rand.c: random numbers for scheduling decisions (victim order,
 * wakep's start): wyrand with per-thread state (Go's cheaprand).
 *
 * Invariants: the state is thread-local (initial-exec TLS), seeded on a
 * thread's first call; no lock, no sharing.
 */
#include "core/runtime.h"

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
