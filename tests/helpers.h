/* tests/helpers.h: shared by the Criterion tests. */
#ifndef GR_TESTS_HELPERS_H
#define GR_TESTS_HELPERS_H
#include <criterion/criterion.h>
#include <goring.h>
#include <stdio.h>
#include <stdlib.h>

/* Run fn as goroutine 1 of a fresh runtime with GR_MAXPROCS=procs. */
static inline int gr_test_run(int procs, gr_fn fn, void *arg)
{
    if (procs > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", procs);
        setenv("GR_MAXPROCS", buf, 1);
    }
    return gr_main(fn, arg);
}
#endif
