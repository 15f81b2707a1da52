/*
 * core/runq.h: the run queues' fast paths, inline because every scheduler
 * pass and every yield takes them (core/runq.c has the rest and the
 * invariants).
 */
#ifndef GR__CORE_RUNQ_H
#define GR__CORE_RUNQ_H

/* Is pp's local queue (runnext included) empty? Any thread. */
static inline bool gr__runqempty(P *pp)
{
    /* Read head, tail, runnext, then tail again: a consistent snapshot
     * even when runnext moves into the queue between the loads. */
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        G *next = atomic_load_explicit(&pp->runnext, memory_order_acquire);
        if (tail == atomic_load_explicit(&pp->runqtail, memory_order_acquire))
            return head == tail && next == NULL;
    }
}

/* Gs on pp's local queue, runnext included; a racy count. Any thread. */
static inline uint32_t gr__runqlen(P *pp)
{
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
    return tail - head + (atomic_load_explicit(&pp->runnext, memory_order_relaxed) != NULL);
}

/* Append gp to the global queue; sched.lock held. */
static inline void gr__globrunqput_locked(G *gp)
{
    gp->schedlink = NULL;
    if (gr__sched.runqtail)
        gr__sched.runqtail->schedlink = gp;
    else
        gr__sched.runqhead = gp;
    gr__sched.runqtail = gp;
    atomic_fetch_add_explicit(&gr__sched.runqsize, 1, memory_order_relaxed);
}

static inline void gr__globrunqput(G *gp)
{
    gr__lock(&gr__sched.lock);
    gr__globrunqput_locked(gp);
    gr__unlock(&gr__sched.lock);
}

#endif
