/*
 * core/clock.c: the runtime's clock: CLOCK_MONOTONIC in nanoseconds (Go's
 * nanotime), and its public face gr_nanotime.
 *
 * Invariants: none shared; any thread, no lock, no state.
 */
#include "core/runtime.h"
#include <time.h>

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
