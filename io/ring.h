/*
 * io/ring.h: how goroutine I/O goes through the current P's ring.
 *
 * An operation is a struct gr__iop on the calling goroutine's stack. The
 * goroutine takes its P's ring with the SQ lock held (gr__io_ring_lock),
 * fills one or more SQEs (gr__io_get_sqe, which sets user_data to the op
 * and a tag, and counts the CQEs the op waits for), releases the lock and
 * parks in gr__io_wait until every counted CQE has arrived. The M that
 * holds the P submits queued SQEs in batches from the scheduler loop; any
 * M or sysmon may reap. The op is finished (and its buffers no longer
 * touched by the kernel) when gr__io_wait returns.
 *
 * Invariants:
 * - An SQE is filled only with its ring's sq lock held; linked SQEs are
 *   filled under one hold, so no other SQE lands between them.
 * - op->pending counts the op's CQEs not yet reaped; the reaper that takes
 *   it to zero sets state DONE and readies the goroutine iff it had parked
 *   (state PARKED). The goroutine parks only by CAS INIT->PARKED on the
 *   scheduler stack, so a completion that beats the park is not lost.
 * - Multishot requests (IORING_CQE_F_MORE) count once, at their last CQE.
 */
#ifndef GR_IO_RING_H
#define GR_IO_RING_H

#include "core/runtime.h"
#include <liburing.h>

struct gr__ring;

enum { GR_IOP_INIT = 0, GR_IOP_PARKED = 1, GR_IOP_DONE = 2 };

struct gr__iop {
    G *g;                         /* the waiting goroutine */
    struct gr__ring *ring;        /* ring its SQEs went to */
    int32_t res;                  /* cqe->res of the tag-0 SQE */
    uint32_t cqe_flags;           /* cqe->flags of the tag-0 SQE */
    int32_t aux_res;              /* cqe->res of the last tag-1 SQE (linked timeout) */
    _Atomic int32_t pending;      /* CQEs still owed */
    _Atomic uint32_t state;       /* GR_IOP_* */
    /* Optional: called by the reaper for every CQE of this op, before the
     * pending count drops (multishot consumers). May not block. */
    void (*on_cqe)(struct gr__iop *op, const struct io_uring_cqe *cqe);
    void *ctx;
};

/* The current P's ring with its sq lock held; NULL (and -EPERM for the
 * caller to return) outside a goroutine. */
GR_HIDDEN struct gr__ring *gr__io_ring_lock(void);
GR_HIDDEN void gr__io_ring_unlock(struct gr__ring *r);
/* An SQE on r for op with tag (0: the op's main request, 1: an auxiliary
 * one such as a linked timeout, 2..7 free for io/). Submits to make room
 * when the SQ is full; never fails. user_data = (uintptr_t)op | tag. */
GR_HIDDEN struct io_uring_sqe *gr__io_get_sqe(struct gr__ring *r, struct gr__iop *op, unsigned tag);
/* An SQE whose CQE is ignored (user_data 0): cancels, etc. */
GR_HIDDEN struct io_uring_sqe *gr__io_get_sqe_nocqe(struct gr__ring *r);
/* Submit now (with the sq lock held). */
GR_HIDDEN void gr__io_ring_submit(struct gr__ring *r);
/* Park until every CQE of op is reaped; returns op->res. */
GR_HIDDEN int32_t gr__io_wait(struct gr__iop *op);
/* Ask the kernel to cancel op (IORING_OP_ASYNC_CANCEL on op's ring, by
 * user_data of tag 0). Any thread; harmless if op already completed. */
GR_HIDDEN void gr__io_cancel(struct gr__iop *op);
/* Probed features of the kernel (set at gr_main). */
struct gr__io_features {
    bool futex;            /* IORING_OP_FUTEX_WAIT/WAKE (6.7+) */
    bool msg_ring;
    bool link_timeout;
    bool submit_all;
    bool nodrop;
    bool multishot_accept;
    bool buf_ring;
    bool cancel_fd;        /* IORING_ASYNC_CANCEL_FD */
    bool ext_arg;
};
extern GR_HIDDEN struct gr__io_features gr__io_features;
/* The ring of P index i (for cancellation across rings), NULL if none. */
GR_HIDDEN struct gr__ring *gr__io_ring_of(int p_index);
GR_HIDDEN int gr__io_nrings(void);

#endif
