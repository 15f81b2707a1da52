/*
 * core/lockrank.c: the run-time lock-order check of --enable-lockrank
 * builds (Go's lockrank_on.go); the order itself is core/lockrank.h.
 *
 * Invariants:
 * - Each thread keeps the stack of ranked runtime locks it holds (an M is
 *   a thread, and no runtime lock is held across a switch except the one
 *   gr__park_unlock releases on the same thread's g0). Only that thread
 *   reads or writes it: no lock, no atomics.
 * - Taking lock l of rank r is in order when r is above the rank of the
 *   last ranked lock taken and still held, or equal to it for the ranks
 *   that nest (hchan at a higher address, ctx). A try-lock that succeeds
 *   is recorded without the check (it cannot deadlock), as in Go.
 * - On an inversion the held locks are printed and the runtime throws
 *   "lock ordering problem"; checks stop once a throw is under way.
 */
#include "core/sched.h"

#ifdef GR__LOCKRANK
#include <stdio.h>

#define MAX_HELD 32

/* One entry per lock, or per run of locks of a rank that nests (a select's
 * channels, a chain of contexts): count locks, l the last one taken. */
struct held {
    void *l;
    uint32_t rank;
    uint32_t count;
};

static __thread struct held held[MAX_HELD];
static __thread int nheld;
static _Atomic int throwing;

static const char *const rank_names[GR__RANK_N] = {
    [GR__RANK_NONE] = "none",         [GR__RANK_CHANTIMER] = "chanTimer",
    [GR__RANK_CTX] = "ctx",           [GR__RANK_WEIGHTED] = "weighted",
    [GR__RANK_FDSET] = "fdSet",       [GR__RANK_FD] = "fd",
    [GR__RANK_HCHAN] = "hchan",       [GR__RANK_SEMROOT] = "semaRoot",
    [GR__RANK_POOL] = "pool",         [GR__RANK_STATS] = "stats",
    [GR__RANK_TIMERS] = "timers",     [GR__RANK_RINGSQ] = "ringSQ",
    [GR__RANK_RINGCQ] = "ringCQ",     [GR__RANK_GLOCK] = "allg",
    [GR__RANK_SCHED] = "sched",       [GR__RANK_STACK] = "stackpool",
};

static const char *rank_name(uint32_t r)
{
    return r < GR__RANK_N && rank_names[r] ? rank_names[r] : "?";
}

static bool nests(uint32_t rank)
{
    return rank == GR__RANK_HCHAN || rank == GR__RANK_CTX;
}

static _Noreturn void rank_fatal(const char *msg, void *l, uint32_t rank)
{
    atomic_store(&throwing, 1);
    M *mp = gr__getm();
    fprintf(stderr, "%lld ======\n", mp ? (long long)mp->id : -1LL);
    for (int i = 0; i < nheld; i++)
        fprintf(stderr, "%d : %s %u %p (x%u)\n", i, rank_name(held[i].rank), held[i].rank, held[i].l,
                held[i].count);
    fprintf(stderr, "lock: %s %u %p\n", rank_name(rank), rank, l);
    gr__throw(msg);
}

static void push(void *l, uint32_t rank)
{
    if (nheld > 0 && held[nheld - 1].rank == rank && nests(rank)) {
        held[nheld - 1].l = l;
        held[nheld - 1].count++;
        return;
    }
    if (nheld == MAX_HELD)
        rank_fatal("too many locks held concurrently for rank checking", l, rank);
    held[nheld].l = l;
    held[nheld].rank = rank;
    held[nheld].count = 1;
    nheld++;
}

void gr__lockrank_acquire(void *l, uint32_t rank)
{
    if (rank == GR__RANK_NONE || atomic_load_explicit(&throwing, memory_order_relaxed))
        return;
    if (nheld > 0) {
        const struct held *top = &held[nheld - 1];
        bool ok = rank > top->rank ||
                  (rank == top->rank && ((rank == GR__RANK_HCHAN && (uintptr_t)l > (uintptr_t)top->l) ||
                                         rank == GR__RANK_CTX));
        if (!ok)
            rank_fatal("lock ordering problem", l, rank);
    }
    push(l, rank);
}

void gr__lockrank_acquire_try(void *l, uint32_t rank)
{
    if (rank == GR__RANK_NONE || atomic_load_explicit(&throwing, memory_order_relaxed))
        return;
    push(l, rank);
}

/* Locks may be released in any order (Go allows it too). */
void gr__lockrank_release(void *l, uint32_t rank)
{
    if (rank == GR__RANK_NONE || atomic_load_explicit(&throwing, memory_order_relaxed))
        return;
    for (int i = nheld - 1; i >= 0; i--) {
        if (held[i].rank == rank && (held[i].l == l || nests(rank))) {
            if (--held[i].count > 0)
                return;
            for (int j = i; j < nheld - 1; j++)
                held[j] = held[j + 1];
            nheld--;
            return;
        }
    }
    rank_fatal("lockRank release without matching lockRank acquire", l, rank);
}
#endif
