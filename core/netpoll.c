/*
 * core/netpoll.c: the scheduler's side of the poller contract
 * (core/netpoll.h): which backend runs, and the calls core makes on a P's
 * poller, each forwarded to the backend with that P's instance.
 *
 * Invariants:
 * - gr__netpoll_be is written only by gr__netpoll_init for P 0, before any
 *   M runs, and read afterwards by every thread (the thread start orders it).
 * - pp->poller is written at init/destroy only, with no M running.
 */
#include "core/netpoll.h"
#include "core/sched.h"

const struct gr__netpoll_backend *gr__netpoll_be = &gr__netpoll_uring;

int gr__netpoll_init(P *pp)
{
    if (pp->id == 0)
        gr__netpoll_be = &gr__netpoll_uring;
    return gr__netpoll_be->init(pp->id, &pp->poller);
}

void gr__netpoll_drain(P *pp)
{
    if (pp->poller)
        gr__netpoll_be->drain(pp->poller);
}

void gr__netpoll_destroy(P *pp)
{
    struct gr__poller *pl = pp->poller;
    pp->poller = NULL;
    if (pl)
        gr__netpoll_be->destroy(pl);
}

int gr__netpoll(P *pp, unsigned budget, int64_t timeout_ns, unsigned flags, G **list)
{
    *list = NULL;
    return pp->poller ? gr__netpoll_be->poll(pp->poller, budget, timeout_ns, flags, list) : 0;
}

void gr__netpoll_break(P *pp)
{
    if (pp->poller)
        gr__netpoll_be->brk(pp->poller);
}

bool gr__netpoll_busy(P *pp)
{
    return pp->poller && gr__netpoll_be->busy(pp->poller);
}

int64_t gr__netpoll_inflight(void)
{
    return gr__netpoll_be->inflight();
}

int gr__netpoll_reap_remote(P *pp, G **list)
{
    *list = NULL;
    return pp->poller ? gr__netpoll_be->reap_remote(pp->poller, list) : 0;
}

int64_t gr__netpoll_lastpoll(P *pp)
{
    return pp->poller ? gr__netpoll_be->lastpoll(pp->poller) : 0;
}

/* ---------- what core gives a backend ---------- */

struct gr__poller *gr__netpoll_current(void)
{
    M *mp = gr__getm();
    if (!mp || !mp->curg || !mp->p)
        return NULL;
    return mp->p->poller;
}

void gr__netpoll_ready_add(G *gp, G **list)
{
    gr__ready_list_add(gp, list);
}

bool gr__netpoll_shutting_down(void)
{
    return atomic_load_explicit(&gr__sched.shutdown, memory_order_acquire);
}
