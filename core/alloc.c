/*
 * core/alloc.c: allocation of runtime data that cannot fail: out of
 * memory is a fatal error, as in Go's runtime.
 *
 * Invariants: none shared; malloc(3)'s own locking only.
 */
#include "core/runtime.h"
#include <stdlib.h>

void *gr__xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        gr__throw("out of memory");
    return p;
}
