/*
 * core/netpoll.h: the poller's contract, as the scheduler sees it.
 *
 * core/ knows the poller only through these calls; io/netpoll_uring.c is
 * the io_uring backend (a second backend, epoll, would implement the same
 * set). Each P owns one poller instance (its ring).
 *
 * Rules:
 * - gr__netpoll(pp, ...) is called only by the M that holds pp.
 * - gr__netpoll_break(pp) and gr__netpoll_reap_remote(pp, ...) may be called
 *   from any thread, with or without a P.
 * - A P whose poller has requests in flight (gr__netpoll_busy) is never put
 *   on the idle P list: its M blocks in gr__netpoll instead, so some thread
 *   always watches every ring that owes completions.
 * - Completions ready their goroutines through the list returned; the
 *   caller injects them into run queues (Go's injectglist).
 */
#ifndef GR_CORE_NETPOLL_H
#define GR_CORE_NETPOLL_H

#include "core/runtime.h"

struct gr__poller;

/* Create pp's poller. 0 or -errno (the caller reports it). */
GR_HIDDEN int gr__netpoll_init(P *pp);
/* Cancel every request in flight on pp's poller and reap until none is
 * left (the submitting threads must still be alive). Any thread. */
GR_HIDDEN void gr__netpoll_drain(P *pp);
/* Free pp's poller; gr__netpoll_drain must have run. */
GR_HIDDEN void gr__netpoll_destroy(P *pp);
/* Submit queued requests and reap completions; if none were reaped, block
 * up to delay_ns (-1: until woken, 0: not at all) for a completion or a
 * gr__netpoll_break. GR_NETPOLL_LAZY: do not block, and submit only a
 * batch or an old request; GR_NETPOLL_SUBMIT: as LAZY but reap nothing
 * (the run queue is full enough: completions wait in the CQ, in order).
 * Goroutines made runnable are chained through schedlink into *list
 * (head); returns how many. */
#define GR_NETPOLL_LAZY (-2)
#define GR_NETPOLL_SUBMIT (-3)
GR_HIDDEN int gr__netpoll(P *pp, int64_t delay_ns, G **list);
/* Wake an M blocked in gr__netpoll(pp). Any thread; cheap when nobody is
 * blocked; a break sent before the block makes the block return at once. */
GR_HIDDEN void gr__netpoll_break(P *pp);
/* Requests in flight on pp's poller (the internal wake-up read excluded). */
GR_HIDDEN bool gr__netpoll_busy(P *pp);
/* Total requests in flight on all pollers (deadlock detection). */
GR_HIDDEN int64_t gr__netpoll_inflight(void);
/* Reap pp's completions from a thread that does not hold pp (sysmon, an
 * idle M). Does nothing if another thread is reaping it. Returns how many
 * goroutines were chained into *list. */
GR_HIDDEN int gr__netpoll_reap_remote(P *pp, G **list);
/* gr__nanotime() of pp's last reap. */
GR_HIDDEN int64_t gr__netpoll_lastpoll(P *pp);
/* Submit queued requests without reaping (before the M blocks elsewhere). */
GR_HIDDEN void gr__netpoll_flush(P *pp);

#endif
