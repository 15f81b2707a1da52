/*
 * chan/chan.c: channels (Go's runtime/chan.go).
 *
 * A channel (hchan) is a runtime lock, a ring buffer of dataqsiz elements,
 * and two FIFO queues of waiting goroutines (sudogs): receivers that found
 * nothing to receive and senders that found no room. A send that finds a
 * waiting receiver copies its value straight into the receiver's element
 * (on the receiver's stack) and readies it; a receive that finds a waiting
 * sender does the mirror image. Only when nobody waits does a value go
 * through the buffer.
 *
 * Invariants:
 *
 *  - At least one of c->sendq and c->recvq is empty, except for an
 *    unbuffered channel with a single goroutine blocked in a select that
 *    both sends and receives on it (its two sudogs cannot match each
 *    other; Go has the same exception).
 *  - For a buffered channel: qcount > 0 implies recvq is empty;
 *    qcount < dataqsiz implies sendq is empty.
 *  - closed goes 0 -> 1 once, under c->lock; once set, sendq is empty
 *    (close woke every waiter) and nothing is ever enqueued again.
 *  - Every field of hchan not marked immutable is written only under
 *    c->lock. qcount, closed and the queues' first pointers are also read
 *    without the lock (gr_chan_len, and the "would block" checks of
 *    try_send/try_recv): they are atomics. Under the lock they are
 *    accessed relaxed (the lock orders them); closed is stored with
 *    release and read with acquire by the lock-free receive check, and
 *    that check reads "empty" with acquire before reading closed, as
 *    Go's chanrecv does. Nothing else is decided without the lock.
 *  - A sudog is in at most one queue. Its g, elem, c, isselect are fixed
 *    while it is queued; next/prev are protected by its channel's lock.
 *    Whoever takes a sudog out of a queue with gr__waitq_dequeue owns the
 *    wake-up: it writes sg->success and g->param = sg, and then calls
 *    gr__ready(g) exactly once. Nobody touches the sudog after that
 *    gr__ready: the stack it lives on may be gone.
 *  - A select (and a timed send/recv) has sudogs in many queues; the
 *    waker that wins the CAS 0 -> 1 on g->selectdone owns the wake-up,
 *    others drop the sudog from their queue and look further. The
 *    timeout timer claims the same word. The CAS is acq_rel: the winner's
 *    writes to g->param and to the sudog happen before gr__ready, which
 *    publishes them to the resumed goroutine.
 *  - A goroutine that parks in a channel operation is found by a waker
 *    only after gr__park's unlock step released the lock(s) it enqueued
 *    under, so gr__ready never meets a goroutine that is still running.
 *
 * Lock order (ranks: core/lockrank.h):
 *   gr_timer.mu  ->  hchan.lock (by address, ascending, for several)
 *                ->  core timer heap lock (a select arms its timer while
 *                    holding its channels' locks, as Go 1.23 takes
 *                    timer locks under channel locks)
 *   A timer's f runs without timer locks held and may take one hchan lock.
 *   gr__ready is called with no hchan lock held where it can be avoided
 *   (send, recv, close ready after unlocking).
 */
#include "chan/chan_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---------- wait queues ---------- */

void gr__waitq_enqueue(struct gr__waitq *q, struct gr__sudog *sg)
{
    sg->next = NULL;
    sg->prev = q->last;
    if (q->last)
        q->last->next = sg;
    else
        atomic_store_explicit(&q->first, sg, memory_order_relaxed);
    q->last = sg;
}

/* Pop the first waiter whose wake-up is ours to deliver (Go's dequeue). A
 * select waiter that another case already won is dropped: it leaves every
 * other queue itself once it holds the locks, and it must not be woken
 * twice. */
struct gr__sudog *gr__waitq_dequeue(struct gr__waitq *q)
{
    for (;;) {
        struct gr__sudog *sg = gr__waitq_first(q);
        if (!sg)
            return NULL;
        atomic_store_explicit(&q->first, sg->next, memory_order_relaxed);
        if (sg->next)
            sg->next->prev = NULL;
        else
            q->last = NULL;
        sg->next = sg->prev = NULL;
        if (sg->isselect) {
            uint32_t zero = 0;
            /* acq_rel: see Invariants. */
            if (!atomic_compare_exchange_strong_explicit(&sg->g->selectdone, &zero, 1,
                                                         memory_order_acq_rel,
                                                         memory_order_relaxed))
                continue;
        }
        return sg;
    }
}

/* Remove sg if it is still queued (a waker may have popped it already). */
void gr__waitq_remove(struct gr__waitq *q, struct gr__sudog *sg)
{
    if (sg->prev)
        sg->prev->next = sg->next;
    else if (gr__waitq_first(q) == sg)
        atomic_store_explicit(&q->first, sg->next, memory_order_relaxed);
    else
        return; /* not in q */
    if (sg->next)
        sg->next->prev = sg->prev;
    else
        q->last = sg->prev;
    sg->next = sg->prev = NULL;
}

/* ---------- buffer and hand-off ---------- */

void gr__chan_buf_put(gr_chan *c, const void *elem)
{
    if (c->elemsize)
        gr__elemcpy(gr__chanbuf(c, c->sendx), elem, c->elemsize);
    if (++c->sendx == c->dataqsiz)
        c->sendx = 0;
    atomic_store_explicit(&c->qcount, atomic_load_explicit(&c->qcount, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void gr__chan_buf_take(gr_chan *c, void *elem)
{
    void *qp = gr__chanbuf(c, c->recvx);
    if (elem && c->elemsize)
        gr__elemcpy(elem, qp, c->elemsize);
    if (++c->recvx == c->dataqsiz)
        c->recvx = 0;
    atomic_store_explicit(&c->qcount, atomic_load_explicit(&c->qcount, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

void gr__chan_wake(struct gr__sudog *sg, bool success)
{
    G *gp = sg->g;
    sg->success = success;
    gp->param = sg;
    gr__ready(gp);
}

void gr__chan_send_copy(gr_chan *c, struct gr__sudog *sg, const void *elem)
{
    /* A receiver waits only when the buffer is empty: hand over directly. */
    if (sg->elem && c->elemsize)
        gr__elemcpy(sg->elem, elem, c->elemsize);
}

void gr__chan_recv_copy(gr_chan *c, struct gr__sudog *sg, void *elem)
{
    if (c->dataqsiz == 0) {
        if (elem && c->elemsize)
            gr__elemcpy(elem, sg->elem, c->elemsize);
    } else {
        /* The buffer is full (a sender waits): take its head, and put the
         * sender's value at the tail, which is the same slot. */
        void *qp = gr__chanbuf(c, c->recvx);
        if (c->elemsize) {
            if (elem)
                gr__elemcpy(elem, qp, c->elemsize);
            gr__elemcpy(qp, sg->elem, c->elemsize);
        }
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
}

/* ---------- non-blocking halves, lock held ---------- */

/* Try to send with c locked. 0 or -EPIPE: done, c unlocked.
 * -EAGAIN: would block, c still locked. */
static int send_locked(gr_chan *c, const void *elem)
{
    if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
        gr__unlock(&c->lock);
        return -EPIPE;
    }
    struct gr__sudog *sg = gr__waitq_dequeue(&c->recvq);
    if (sg) {
        gr__chan_send_copy(c, sg, elem);
        gr__unlock(&c->lock);
        gr__chan_wake(sg, true);
        return 0;
    }
    if (atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->dataqsiz) {
        gr__chan_buf_put(c, elem);
        gr__unlock(&c->lock);
        return 0;
    }
    return -EAGAIN;
}

/* Try to receive with c locked; as send_locked. On -EPIPE elem is zeroed. */
static int recv_locked(gr_chan *c, void *elem)
{
    size_t n = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) && n == 0) {
        gr__unlock(&c->lock);
        if (elem && c->elemsize)
            memset(elem, 0, c->elemsize);
        return -EPIPE;
    }
    struct gr__sudog *sg = gr__waitq_dequeue(&c->sendq);
    if (sg) {
        gr__chan_recv_copy(c, sg, elem);
        gr__unlock(&c->lock);
        gr__chan_wake(sg, true);
        return 0;
    }
    if (n > 0) {
        gr__chan_buf_take(c, elem);
        gr__unlock(&c->lock);
        return 0;
    }
    return -EAGAIN;
}

/* Park the caller in q of locked c until a peer or close wakes it. */
static int block_locked(gr_chan *c, G *gp, struct gr__waitq *q, void *elem, int reason)
{
    struct gr__sudog sg = {
        .g = gp, .elem = elem, .c = c, .nset = 1, .isselect = false,
        .issend = q == &c->sendq,
    };
    gp->param = NULL;
    gp->waiting = &sg;
    gr__waitq_enqueue(q, &sg);
    gr__park_unlock(&c->lock, reason);
    if (gr__unlikely(gp->param != &sg))
        gr__throw("G waiting list is corrupted");
    gp->waiting = NULL;
    gp->param = NULL;
    return sg.success ? 0 : -EPIPE;
}

/* ---------- public API ---------- */

void gr__chan_init(gr_chan *c, size_t elemsize, size_t cap, void *buf, uint32_t flags)
{
    memset(c, 0, sizeof *c);
    gr__lock_init(&c->lock, GR__RANK_HCHAN);
    c->elemsize = elemsize;
    c->dataqsiz = cap;
    c->buf = buf;
    c->flags = flags;
}

gr_chan *gr_chan_make(size_t elem_size, size_t cap)
{
    size_t bytes;
    if (elem_size > GR_CHAN_ELEM_MAX || __builtin_mul_overflow(elem_size, cap, &bytes) ||
        bytes > SIZE_MAX / 2 - sizeof(gr_chan)) {
        errno = EINVAL; /* Go: "makechan: size out of range" */
        return NULL;
    }
    gr_chan *c = malloc(sizeof(gr_chan) + bytes);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    gr__chan_init(c, elem_size, cap, (unsigned char *)(c + 1), 0);
    return c;
}

int gr_chan_send(gr_chan *c, const void *elem)
{
    if (gr__unlikely(!c || (!elem && c->elemsize) || (c->flags & GR__CHAN_TIMER)))
        return -EINVAL;
    G *gp = gr__getg();
    if (gr__unlikely(!gp))
        return -EPERM;
    gr__lock(&c->lock);
    int r = send_locked(c, elem);
    if (r != -EAGAIN) {
        gr__maybe_preempt(gp);
        return r;
    }
    return block_locked(c, gp, &c->sendq, (void *)elem, GR_WAIT_CHAN_SEND);
}

int gr_chan_recv(gr_chan *c, void *elem)
{
    if (gr__unlikely(!c))
        return -EINVAL;
    G *gp = gr__getg();
    if (gr__unlikely(!gp))
        return -EPERM;
    gr__lock(&c->lock);
    int r = recv_locked(c, elem);
    if (r != -EAGAIN) {
        gr__maybe_preempt(gp);
        return r;
    }
    return block_locked(c, gp, &c->recvq, elem, GR_WAIT_CHAN_RECV);
}

/*
 * Lock-free "would block" checks for the non-blocking forms (Go's full and
 * empty). They read fields that change under the lock, so they are only
 * snapshots; each answer is one the channel did give at some instant
 * during the call, which is all a non-blocking operation promises.
 */
static inline bool chan_full(gr_chan *c)
{
    if (c->dataqsiz == 0)
        return gr__waitq_first(&c->recvq) == NULL;
    return atomic_load_explicit(&c->qcount, memory_order_relaxed) == c->dataqsiz;
}

/* acquire: the closed check that follows must not be read before it. */
static inline bool chan_empty(gr_chan *c)
{
    if (c->dataqsiz == 0)
        return atomic_load_explicit(&c->sendq.first, memory_order_acquire) == NULL;
    return atomic_load_explicit(&c->qcount, memory_order_acquire) == 0;
}

int gr_chan_try_send(gr_chan *c, const void *elem)
{
    if (gr__unlikely(!c || (!elem && c->elemsize) || (c->flags & GR__CHAN_TIMER)))
        return -EINVAL;
    /* Open and full: it would block. (A close in between only means the
     * answer is the one from before the close.) */
    if (!atomic_load_explicit(&c->closed, memory_order_relaxed) && chan_full(c))
        return -EAGAIN;
    gr__lock(&c->lock);
    int r = send_locked(c, elem);
    if (r == -EAGAIN)
        gr__unlock(&c->lock);
    return r;
}

int gr_chan_try_recv(gr_chan *c, void *elem)
{
    if (gr__unlikely(!c))
        return -EINVAL;
    /* Go's order: empty, then closed. Not closed after being seen empty
     * means it was empty and open at the first read (closed never goes
     * back). Closed and then empty stays so: nothing is sent after a
     * close, and closed (acquire) made earlier buffered values visible. */
    if (chan_empty(c)) {
        if (!atomic_load_explicit(&c->closed, memory_order_acquire))
            return -EAGAIN;
        if (chan_empty(c)) {
            if (elem && c->elemsize)
                memset(elem, 0, c->elemsize);
            return -EPIPE;
        }
    }
    gr__lock(&c->lock);
    int r = recv_locked(c, elem);
    if (r == -EAGAIN)
        gr__unlock(&c->lock);
    return r;
}

int gr_chan_send_timeout(gr_chan *c, const void *elem, int64_t ns)
{
    if (ns < 0)
        return gr_chan_send(c, elem);
    if (ns == 0)
        return gr_chan_try_send(c, elem);
    if (gr__unlikely(!c || (!elem && c->elemsize) || (c->flags & GR__CHAN_TIMER)))
        return -EINVAL;
    if (gr__unlikely(!gr__getg()))
        return -EPERM;
    struct gr_case cs = { .op = GR_SEND, .ch = c, .elem = (void *)elem };
    int r = gr__select(&cs, 1, ns);
    return r == 0 ? cs.result : r;
}

int gr_chan_recv_timeout(gr_chan *c, void *elem, int64_t ns)
{
    if (ns < 0)
        return gr_chan_recv(c, elem);
    if (ns == 0)
        return gr_chan_try_recv(c, elem);
    if (gr__unlikely(!c))
        return -EINVAL;
    if (gr__unlikely(!gr__getg()))
        return -EPERM;
    struct gr_case cs = { .op = GR_RECV, .ch = c, .elem = elem };
    int r = gr__select(&cs, 1, ns);
    return r == 0 ? cs.result : r;
}

int gr_chan_close(gr_chan *c)
{
    if (gr__unlikely(!c || (c->flags & GR__CHAN_TIMER)))
        return -EINVAL;
    gr__lock(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
        gr__unlock(&c->lock);
        return -EPIPE; /* Go: "close of closed channel" */
    }
    /* release: a lock-free reader that sees closed (acquire) also sees
     * every qcount written before it (see chan_empty). */
    atomic_store_explicit(&c->closed, 1, memory_order_release);

    /* Take every waiter out under the lock, wake them after it: a woken
     * goroutine that runs at once would only contend on it. Their stacks
     * stay put until their gr__ready. */
    struct gr__sudog *list = NULL, **tail = &list, *sg;
    while ((sg = gr__waitq_dequeue(&c->recvq))) {
        if (sg->elem && c->elemsize)
            memset(sg->elem, 0, c->elemsize);
        *tail = sg;
        tail = &sg->wakelink;
    }
    while ((sg = gr__waitq_dequeue(&c->sendq))) {
        *tail = sg;
        tail = &sg->wakelink;
    }
    *tail = NULL;
    gr__unlock(&c->lock);
    while (list) {
        sg = list;
        list = sg->wakelink; /* read before the wake lets its stack go */
        gr__chan_wake(sg, false);
    }
    return 0;
}

size_t gr_chan_len(const gr_chan *c)
{
    if (!c || (c->flags & GR__CHAN_TIMER))
        return 0;
    return atomic_load_explicit(&c->qcount, memory_order_relaxed);
}

size_t gr_chan_cap(const gr_chan *c)
{
    if (!c || (c->flags & GR__CHAN_TIMER))
        return 0;
    return c->dataqsiz;
}

size_t gr__chan_drain_locked(gr_chan *c)
{
    size_t n = 0;
    while (atomic_load_explicit(&c->qcount, memory_order_relaxed) > 0) {
        gr__chan_buf_take(c, NULL);
        n++;
    }
    return n;
}

int gr_chan_free(gr_chan *c)
{
    if (!c)
        return 0;
    if (c->flags & GR__CHAN_TIMER)
        return -EINVAL; /* owned by its gr_timer */
    gr__lock(&c->lock);
    bool busy = gr__chan_inuse(c);
    gr__unlock(&c->lock);
    if (busy)
        return -EBUSY;
    free(c);
    return 0;
}

void gr__chan_abandon(G *gp)
{
    struct gr__sudog *set = gp->waiting;
    if (!set)
        return;
    /* A send/recv whose waker already took its sudog out (gp->param points
     * at it; the goroutine was readied but has not run) no longer touches
     * the channel, which its owner may have freed since. A select's
     * channels stay alive until its clean-up (nselect), woken or not. */
    if (!set[0].isselect && gp->param == set) {
        gp->waiting = NULL;
        return;
    }
    for (uint32_t k = 0; k < set[0].nset; k++) {
        struct gr__sudog *sg = &set[k];
        gr_chan *c = sg->c;
        if (!c)
            continue;
        gr__lock(&c->lock);
        gr__waitq_remove(sg->issend ? &c->sendq : &c->recvq, sg);
        if (sg->isselect)
            c->nselect--;
        gr__unlock(&c->lock);
    }
    gp->waiting = NULL;
}

/* Core calls this for every goroutine abandoned at gr_main's return
 * (core/runtime.h, struct gr__hooks). */
static const struct gr__hooks chan_hooks = {.abandon = gr__chan_abandon, .fini = NULL};
__attribute__((constructor)) static void chan_register_hooks(void)
{
    gr__register_hooks(&chan_hooks);
}
