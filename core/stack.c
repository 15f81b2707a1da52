/*
 * core/stack.c: goroutine stacks.
 *
 * A stack is mmap'd with MAP_NORESERVE, so only the pages a goroutine
 * touches cost memory; a parked goroutine that used little stack holds one
 * page. Two kinds:
 *
 *   guarded   its own mapping with a PROT_NONE guard page under it. A
 *             fault there is reported as "goroutine N stack overflow"
 *             (core/panic.c). Costs two kernel mappings (VMAs).
 *   canary    carved from 64-stack chunks (one mapping per chunk, and the
 *             kernel merges neighbouring chunks); its lowest 64 bytes must
 *             stay zero (a canary that costs no resident page). Used
 *             once guarded stacks would take more than a quarter of
 *             vm.max_map_count (max_map_count / 8 guarded stacks: 8191
 *             with the default 65530; GR_GUARDED_STACKS overrides), so a
 *             million goroutines fit on a default machine. Overflow is caught at the next switch of
 *             the goroutine (canary clobbered, or sp below the stack):
 *             later than a guard page would, and only if it reached the
 *             canary or the switch; documented in docs/DESIGN.md.
 *
 * Reuse: dead Gs keep their stacks on per-P and global free lists
 * (core/g.c). A stack whose goroutine went deep (lowest sp seen at a
 * switch more than 64 KiB below the top) gives its deep pages back with
 * madvise(MADV_DONTNEED) when its G is freed: one madvise per deep
 * goroutine, none for the shallow common case.
 *
 * Invariants: chunk and free lists under stack_lock (a leaf lock:
 * "stackpool" in core/lockrank.h); the
 * counters are relaxed atomics (statistics and a budget, not a protocol).
 */
#include "core/sched.h"
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#define GR__STACK_GUARDED 1u
#define GR__STACK_CANARY 2u
#define GR__STACK_CHUNK 4u          /* carved from a chunk: not unmapped alone */
#define GR__CHUNK_STACKS 64
#define GR__DEEP_BYTES (64 * 1024)

struct chunk {
    struct chunk *next;
    void *base;
    size_t size;
};

static gr__mutex stack_lock = GR__MUTEX_RANKED(GR__RANK_STACK);
static size_t pagesz;
static int64_t guard_budget;
static _Atomic int64_t nguarded;
static struct chunk *chunks;          /* (stack_lock) */
static void **chunk_free;             /* (stack_lock) free canary stacks (lo addresses) */
static size_t chunk_nfree, chunk_capfree;
static size_t chunk_stack_size;       /* size of stacks in chunks (default size) */

void gr__stack_init(void)
{
    pagesz = (size_t)sysconf(_SC_PAGESIZE);
    size_t def = 256 * 1024;
    const char *e = getenv("GR_STACK_SIZE");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (*end == 'k' || *end == 'K')
            v *= 1024, end++;
        else if (*end == 'm' || *end == 'M')
            v *= 1024 * 1024, end++;
        if (*end == 0 && v >= 16 * 1024 && v <= 64 * 1024 * 1024)
            def = (size_t)v;
        else
            fprintf(stderr, "goring: ignoring GR_STACK_SIZE=%s (want 16k..64m), using 256k\n", e);
    }
    def = (def + pagesz - 1) & ~(pagesz - 1);
    gr__sched.default_stack = (int64_t)def;
    chunk_stack_size = def;
    long maxmap = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &maxmap) != 1)
            maxmap = 65530;
        fclose(f);
    }
    /* A quarter of the mapping budget for guarded stacks (2 VMAs each). */
    guard_budget = maxmap / 8;
    const char *g = getenv("GR_GUARDED_STACKS");   /* tests: force the canary path */
    if (g && *g)
        guard_budget = strtoll(g, NULL, 10);
    atomic_store(&nguarded, 0);
}

/* The canary is the stack's lowest 64 bytes staying zero. A fresh or
 * madvised stack reads as zero without a page being allocated (the kernel
 * maps its shared zero page for reads), so the check costs no memory: a
 * written canary would cost a second resident page per goroutine. */
static void canary_set(G *gp)
{
    (void)gp;
}

static bool canary_ok(G *gp)
{
    const volatile uint64_t *w = (const volatile uint64_t *)gp->stack_lo;
    uint64_t acc = 0;
    for (int i = 0; i < 8; i++)
        acc |= w[i];
    return acc == 0;
}

static int chunk_grow(void)
{
    size_t size = chunk_stack_size * GR__CHUNK_STACKS;
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -1;
    struct chunk *c = malloc(sizeof *c);
    if (!c || (chunk_nfree + GR__CHUNK_STACKS > chunk_capfree &&
               !(chunk_free = realloc(chunk_free, (chunk_capfree = (chunk_capfree + GR__CHUNK_STACKS) * 2) *
                                                      sizeof(void *))))) {
        free(c);
        munmap(base, size);
        return -1;
    }
    c->base = base;
    c->size = size;
    c->next = chunks;
    chunks = c;
    for (int i = GR__CHUNK_STACKS - 1; i >= 0; i--)
        chunk_free[chunk_nfree++] = (char *)base + (size_t)i * chunk_stack_size;
    return 0;
}

int gr__stack_alloc(G *gp, size_t size)
{
    size = (size + pagesz - 1) & ~(pagesz - 1);
    if (atomic_load_explicit(&nguarded, memory_order_relaxed) < guard_budget) {
        size_t total = size + pagesz;
        void *base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (base == MAP_FAILED)
            return -1;
        if (mprotect(base, pagesz, PROT_NONE) != 0) {
            munmap(base, total);
            return -1;
        }
        atomic_fetch_add_explicit(&nguarded, 1, memory_order_relaxed);
        gp->stack_base = base;
        gp->stack_map_size = total;
        gp->stack_lo = (uintptr_t)base + pagesz;
        gp->stack_hi = (uintptr_t)base + total;
        gp->stack_flags = GR__STACK_GUARDED;
    } else if (size == chunk_stack_size) {
        gr__lock(&stack_lock);
        if (chunk_nfree == 0 && chunk_grow() != 0) {
            gr__unlock(&stack_lock);
            return -1;
        }
        void *lo = chunk_free[--chunk_nfree];
        gr__unlock(&stack_lock);
        gp->stack_base = lo;
        gp->stack_map_size = size;
        gp->stack_lo = (uintptr_t)lo;
        gp->stack_hi = (uintptr_t)lo + size;
        gp->stack_flags = GR__STACK_CANARY | GR__STACK_CHUNK;
        canary_set(gp);
        atomic_fetch_add_explicit(&gr__sched.nstacks_unguarded, 1, memory_order_relaxed);
    } else {
        void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (base == MAP_FAILED)
            return -1;
        gp->stack_base = base;
        gp->stack_map_size = size;
        gp->stack_lo = (uintptr_t)base;
        gp->stack_hi = (uintptr_t)base + size;
        gp->stack_flags = GR__STACK_CANARY;
        canary_set(gp);
        atomic_fetch_add_explicit(&gr__sched.nstacks_unguarded, 1, memory_order_relaxed);
    }
    gp->sp_min = gp->stack_hi;
#ifdef HAVE_VALGRIND_VALGRIND_H
    gp->valgrind_id = VALGRIND_STACK_REGISTER(gp->stack_lo, gp->stack_hi);
#endif
    return 0;
}

/* ASan: a goroutine abandoned at gr_main's return never left its frames,
 * whose redzones stay poisoned in the shadow; memory mapped there later
 * (a new stack, a thread's) would report false overflows. Unpoison a
 * range before it is reused or unmapped. */
static void stack_unpoison(void *lo, size_t size)
{
#ifdef GR__ASAN
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#else
    (void)lo; (void)size;
#endif
}

void gr__stack_free(G *gp)
{
    if (!gp->stack_map_size)
        return;
    stack_unpoison(gp->stack_base, gp->stack_map_size);
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(gp->valgrind_id);
#endif
    if ((gp->stack_flags & GR__STACK_CHUNK) && atomic_load(&gr__sched.shutdown)) {
        /* Teardown: the chunks are unmapped whole by gr__stack_shutdown. */
    } else if (gp->stack_flags & GR__STACK_CHUNK) {
        /* Give the pages back but keep the address range for reuse. */
        madvise(gp->stack_base, gp->stack_map_size, MADV_DONTNEED);
        gr__lock(&stack_lock);
        chunk_free[chunk_nfree++] = gp->stack_base;
        gr__unlock(&stack_lock);
    } else {
        munmap(gp->stack_base, gp->stack_map_size);
        if (gp->stack_flags & GR__STACK_GUARDED)
            atomic_fetch_sub_explicit(&nguarded, 1, memory_order_relaxed);
    }
    gp->stack_map_size = 0;
    gp->stack_base = NULL;
    gp->stack_lo = gp->stack_hi = 0;
}

bool gr__stack_is_deep(G *gp)
{
    return gp->sp_min + GR__DEEP_BYTES < gp->stack_hi;
}

void gr__stack_release_deep(G *gp)
{
    uintptr_t keep = gp->stack_hi - GR__DEEP_BYTES / 4;
    uintptr_t lo = gp->stack_lo;
    if (keep > lo)
        madvise((void *)lo, keep - lo, MADV_DONTNEED);
    if (gp->stack_flags & GR__STACK_CANARY)
        canary_set(gp);
    gp->sp_min = gp->stack_hi;
}

void gr__stack_check(G *gp)
{
    uintptr_t sp = (uintptr_t)gp->sp;
    if (gr__unlikely(sp < gp->stack_lo + 256))
        gr__stack_overflow(gp);
    if ((gp->stack_flags & GR__STACK_CANARY) && gr__unlikely(!canary_ok(gp)))
        gr__stack_overflow(gp);
}

void gr__stack_shutdown(void)
{
    gr__lock(&stack_lock);
    while (chunks) {
        struct chunk *c = chunks;
        chunks = c->next;
        stack_unpoison(c->base, c->size);
        munmap(c->base, c->size);
        free(c);
    }
    free(chunk_free);
    chunk_free = NULL;
    chunk_nfree = chunk_capfree = 0;
    gr__unlock(&stack_lock);
}
