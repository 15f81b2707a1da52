/*
 * sync/ctx.h: context internals shared inside layer 3 (sync/context.c,
 * sync/weighted.c, sync/group.c). Nothing in core/, chan/, io/ or the
 * layer-2 files of sync/ includes this.
 *
 * A watch is a callback run once when a context is cancelled, so a waiter
 * parked on something other than the done channel (gr_sem_acquire) can be
 * woken without a channel and a select per wait (Go's context.AfterFunc,
 * minus the goroutine).
 */
#ifndef GR_SYNC_CTX_H
#define GR_SYNC_CTX_H

#include <goring/sync.h>

#include "core/runtime.h"

struct gr__ctx_watch {
    /* Runs with the context's lock held, on whatever thread cancels (a timer
     * callback included): must not block or take a lock that is held while
     * calling into context.c. Must not touch w after waking its owner. */
    void (*fn)(struct gr__ctx_watch *w);
    struct gr__ctx_watch *next, *prev;   /* (ctx lock) */
};

/*
 * gr__ctx_watch: arrange for w->fn(w) to run when ctx is cancelled.
 * Returns false, without registering, if ctx is already done. ctx must be
 * cancellable (not NULL nor background).
 */
GR_HIDDEN bool gr__ctx_watch(gr_ctx *ctx, struct gr__ctx_watch *w);

/*
 * gr__ctx_unwatch: undo gr__ctx_watch. After it returns w->fn is not running
 * and will not run, so w may go away. Harmless after the watch fired.
 */
GR_HIDDEN void gr__ctx_unwatch(gr_ctx *ctx, struct gr__ctx_watch *w);

/* Can ctx ever be cancelled? (false for NULL and background) */
GR_HIDDEN bool gr__ctx_cancellable(gr_ctx *ctx);

#endif
