/*
 * chan/chan_impl.h: the channel layer's private types, shared by
 * chan/chan.c (hchan, send, recv, close), chan/select.c and chan/timer.c.
 *
 * The rules every file here follows are in the Invariants block at the top
 * of chan/chan.c.
 */
#ifndef GR_CHAN_IMPL_H
#define GR_CHAN_IMPL_H

#include "core/runtime.h"
#include <goring/chan.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A sudog: one goroutine waiting in one channel's queue (Go's sudog).
 * It lives on the stack of the goroutine that waits (a parked goroutine's
 * stack does not move), or in a select's scratch array.
 */
struct gr__sudog {
    G *g;                       /* (immutable while queued) the waiter */
    struct gr__sudog *next;     /* (c->lock) link in c's queue */
    struct gr__sudog *prev;     /* (c->lock) */
    void *elem;                 /* (immutable while queued) value to send, or
                                   where to receive (NULL: discard) */
    gr_chan *c;                 /* (immutable while queued) channel it waits on */
    struct gr__sudog *wakelink; /* (close) list of waiters to ready after unlock */
    uint32_t caseidx;           /* select: index of its case */
    uint32_t nset;              /* on the first sudog of g->waiting: how many
                                   sudogs the set has (1 for send/recv; a
                                   select's n, NULL-channel cases have c NULL) */
    bool isselect;              /* (immutable) g->selectdone arbitrates the wake */
    bool issend;                /* (immutable) queued in c->sendq, else c->recvq */
    bool success;               /* (waker, before gr__ready) false: woken by close */
};

/* A FIFO of sudogs. */
struct gr__waitq {
    _Atomic(struct gr__sudog *) first; /* written under c->lock (relaxed); read
                                          racily by the lock-free "not ready"
                                          checks of the non-blocking forms */
    struct gr__sudog *last;     /* (c->lock) */
};

static inline struct gr__sudog *gr__waitq_first(struct gr__waitq *q)
{
    return atomic_load_explicit(&q->first, memory_order_relaxed);
}

enum {
    GR__CHAN_TIMER = 1u << 0,   /* owned by a gr_timer: len/cap read 0, not freeable */
};

/* hchan (Go's name). Allocated with its ring buffer right after it. */
struct gr_chan {
    gr__mutex lock;             /* protects every field below not marked otherwise */
    _Atomic uint32_t closed;    /* set once under lock; read under lock or racily (relaxed) */
    uint32_t flags;             /* (immutable) GR__CHAN_* */
    _Atomic size_t qcount;      /* values in buf; written under lock, read racily by len (relaxed) */
    size_t dataqsiz;            /* (immutable) capacity in elements */
    size_t elemsize;            /* (immutable) */
    size_t sendx;               /* next slot to fill */
    size_t recvx;               /* next slot to drain */
    struct gr__waitq recvq;     /* blocked receivers */
    struct gr__waitq sendq;     /* blocked senders */
    uint32_t nselect;           /* select cases registered on this channel whose
                                   select has not finished its clean-up: a
                                   woken select re-locks every channel of its
                                   cases, even one whose sudog a waker or a
                                   close already took out, so until then the
                                   channel must not be freed */
    unsigned char *buf;         /* (immutable) dataqsiz*elemsize bytes */
};

/* Goroutines wait on c, or a select will still lock it. c->lock held. */
static inline bool gr__chan_inuse(gr_chan *c)
{
    return atomic_load_explicit(&c->recvq.first, memory_order_relaxed) ||
           atomic_load_explicit(&c->sendq.first, memory_order_relaxed) || c->nselect;
}

/* Pointer to buffer slot i. */
static inline void *gr__chanbuf(gr_chan *c, size_t i)
{
    return c->buf + i * c->elemsize;
}

/* Copy one element. Word-sized elements, the common case, skip the call
 * into memcpy. */
static inline void gr__elemcpy(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 8: __builtin_memcpy(dst, src, 8); break;
    case 4: __builtin_memcpy(dst, src, 4); break;
    case 16: __builtin_memcpy(dst, src, 16); break;
    default: __builtin_memcpy(dst, src, n); break;
    }
}

/* Yield if sysmon asked gp (the caller) to: the check inline, the yield
 * out of line. For operations that complete without parking. */
static inline void gr__maybe_preempt(G *gp)
{
    if (gr__unlikely(atomic_load_explicit(&gp->preempt, memory_order_relaxed)))
        gr__checkpreempt();
}

/* Queue operations; c->lock held. */
GR_HIDDEN void gr__waitq_enqueue(struct gr__waitq *q, struct gr__sudog *sg);
GR_HIDDEN struct gr__sudog *gr__waitq_dequeue(struct gr__waitq *q);
GR_HIDDEN void gr__waitq_remove(struct gr__waitq *q, struct gr__sudog *sg);

/*
 * A transfer with a waiter that gr__waitq_dequeue handed over: the copy,
 * with c->lock held, then (after unlocking) the wake-up. After
 * gr__chan_wake the sudog, and the stack it is on, must not be touched.
 */
GR_HIDDEN void gr__chan_send_copy(gr_chan *c, struct gr__sudog *sg, const void *elem);
GR_HIDDEN void gr__chan_recv_copy(gr_chan *c, struct gr__sudog *sg, void *elem);
GR_HIDDEN void gr__chan_wake(struct gr__sudog *sg, bool success);

/* Buffer halves; c->lock held, room / a value known to be there. */
GR_HIDDEN void gr__chan_buf_put(gr_chan *c, const void *elem);
GR_HIDDEN void gr__chan_buf_take(gr_chan *c, void *elem);

/* Initialise an hchan whose buffer the caller provides (timers embed one). */
GR_HIDDEN void gr__chan_init(gr_chan *c, size_t elemsize, size_t cap, void *buf, uint32_t flags);

/* Drop every buffered value; returns how many. c->lock held. */
GR_HIDDEN size_t gr__chan_drain_locked(gr_chan *c);

/*
 * Teardown hook for core: take gp's sudogs (g->waiting) out of every
 * channel queue. Core calls it for each goroutine it abandons when
 * gr_main returns, before their stacks are unmapped, with no goroutine
 * running; without it a channel that outlives the runtime would keep
 * pointers into freed stacks. A no-op for goroutines not in a channel
 * operation.
 */
GR_HIDDEN void gr__chan_abandon(G *gp);

/* The select engine behind gr_select and the timed send/recv forms. */
GR_HIDDEN int gr__select(struct gr_case *cases, size_t n, int64_t timeout_ns);

#endif
