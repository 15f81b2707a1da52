/*
 * goring/chan.h: channels, select, and timers as channels.
 *
 * A gr_chan carries fixed-size values (elem_size bytes, copied in and out
 * with memcpy) between goroutines, with the rules of the Go specification
 * ("Channel types", "Send statements", "Receive operator", "Close",
 * "Select statements") and of Go's runtime (chan.go, select.go). Values
 * are handed straight from a sender to a waiting receiver; waiters are
 * served first come, first served.
 *
 * Blocking forms (send, recv, their timed forms with a timeout != 0, and
 * gr_select with a timeout != 0) may be called only from a goroutine and
 * return -EPERM elsewhere. The non-blocking forms (try_send, try_recv,
 * timeout 0, close, len, cap) may be called from any thread, goroutine or
 * not. Time is int64_t nanoseconds on CLOCK_MONOTONIC.
 */
#ifndef GORING_CHAN_H
#define GORING_CHAN_H
#include <goring/core.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct gr_chan gr_chan;

/*
 * gr_chan_make: a channel of elem_size-byte values with a buffer of cap
 * values (cap 0: unbuffered, a send completes only when a receiver takes
 * the value). elem_size 0 is allowed (signals only; elem pointers may then
 * be NULL).
 * Returns the channel, or NULL with errno ENOMEM, or EINVAL when
 * elem_size > GR_CHAN_ELEM_MAX (Go's compiler refuses channel elements of
 * 64 KiB and more: "channel element type too large"; pass a pointer to a
 * bigger value) or elem_size*cap overflows (Go: "makechan: size out of
 * range").
 * Source: Go spec "Making slices, maps and channels"; runtime makechan.
 */
#define GR_CHAN_ELEM_MAX 65535
GR_API gr_chan *gr_chan_make(size_t elem_size, size_t cap);

/*
 * gr_chan_send: send *elem (elem_size bytes copied), blocking the calling
 * goroutine until a receiver takes it or buffer room frees up.
 * Returns 0; -EPIPE if the channel is closed, or is closed while the
 * sender waits (Go panics: "send on closed channel"); -EINVAL for a NULL
 * channel (Go would block forever), a NULL elem with elem_size > 0, or a
 * timer's channel; -EPERM outside a goroutine.
 * Source: Go spec "Send statements"; runtime chansend.
 */
GR_API int gr_chan_send(gr_chan *ch, const void *elem);

/*
 * gr_chan_recv: receive into *elem (NULL: discard the value), blocking
 * the calling goroutine until a value is there or the channel is closed.
 * Values buffered before a close are still received, in order.
 * Returns 0; -EPIPE once the channel is closed and drained, with *elem
 * zero-filled (Go's zero value, ok == false); -EINVAL for a NULL channel;
 * -EPERM outside a goroutine.
 * Source: Go spec "Receive operator"; runtime chanrecv.
 */
GR_API int gr_chan_recv(gr_chan *ch, void *elem);

/*
 * gr_chan_try_send: send *elem only if it needs no wait (a receiver is
 * waiting or the buffer has room). Never blocks; any thread.
 * Returns 0; -EAGAIN if it would block; -EPIPE if closed; -EINVAL as
 * gr_chan_send.
 * Source: Go spec "Select statements" (select with a default case).
 */
GR_API int gr_chan_try_send(gr_chan *ch, const void *elem);

/*
 * gr_chan_try_recv: receive into *elem (NULL: discard) only if a value is
 * there. Never blocks; any thread.
 * Returns 0; -EAGAIN if it would block; -EPIPE if closed and drained
 * (*elem zero-filled); -EINVAL for a NULL channel.
 * Source: Go spec "Select statements" (select with a default case).
 */
GR_API int gr_chan_try_recv(gr_chan *ch, void *elem);

/*
 * gr_chan_send_timeout: gr_chan_send that gives up after ns nanoseconds.
 * ns < 0 waits forever (gr_chan_send); ns == 0 is gr_chan_try_send.
 * Returns 0; -ETIMEDOUT when ns passed with the value not taken (it was
 * not sent); -EAGAIN (ns == 0); -EPIPE; -EINVAL; -EPERM outside a
 * goroutine (ns != 0).
 * Source: Go's select over the send and a time.After channel.
 */
GR_API int gr_chan_send_timeout(gr_chan *ch, const void *elem, int64_t ns);

/*
 * gr_chan_recv_timeout: gr_chan_recv that gives up after ns nanoseconds.
 * ns < 0 waits forever; ns == 0 is gr_chan_try_recv.
 * Returns 0; -ETIMEDOUT (*elem untouched); -EAGAIN (ns == 0); -EPIPE
 * (closed and drained, *elem zero-filled); -EINVAL; -EPERM outside a
 * goroutine (ns != 0).
 * Source: Go's select over the receive and a time.After channel.
 */
GR_API int gr_chan_recv_timeout(gr_chan *ch, void *elem, int64_t ns);

/*
 * gr_chan_close: close the channel: no more values will be sent. Every
 * blocked receiver returns -EPIPE with a zeroed element, every blocked
 * sender -EPIPE; values already buffered are still received. Any thread.
 * Returns 0; -EPIPE if it was already closed (Go panics: "close of closed
 * channel"); -EINVAL for a NULL channel (Go: "close of nil channel") or a
 * timer's channel.
 * Source: Go spec "Close"; runtime closechan.
 */
GR_API int gr_chan_close(gr_chan *ch);

/*
 * gr_chan_len: values buffered now (a snapshot); 0 for NULL and for a
 * timer's channel. Any thread.
 * Source: Go spec "Length and capacity".
 */
GR_API size_t gr_chan_len(const gr_chan *ch);

/*
 * gr_chan_cap: the buffer size given to gr_chan_make; 0 for NULL and for a
 * timer's channel (as Go 1.23 reports). Any thread.
 * Source: Go spec "Length and capacity".
 */
GR_API size_t gr_chan_cap(const gr_chan *ch);

/*
 * gr_chan_free: release the channel and any values still buffered. The
 * channel may be closed or not.
 * Returns 0 (NULL is a no-op); -EBUSY while goroutines wait on it, which
 * includes a select woken by it (by a value or by its close) that has not
 * returned yet, since it will still lock the channel (nothing is freed);
 * -EINVAL for a timer's channel (gr_timer_free owns it).
 * Freeing a channel that another goroutine may still use is the caller's
 * bug, as with free(3).
 */
GR_API int gr_chan_free(gr_chan *ch);

enum { GR_RECV = 1, GR_SEND = 2 };

/*
 * One case of a select: op GR_RECV (receive into elem, NULL discards) or
 * GR_SEND (send *elem) on ch. A case with ch == NULL is never chosen (Go's
 * nil channel). result is set on the chosen case only: 0, or -EPIPE (a
 * receive from a closed, drained channel, elem zero-filled; a send on a
 * closed channel).
 */
struct gr_case { int op; gr_chan *ch; void *elem; int result; };

/*
 * gr_select: wait until one of n cases can proceed, run it, and return
 * its index. When several can proceed, one is chosen uniformly at random.
 * Elements of cases not chosen are left untouched. timeout_ns < 0 waits
 * forever; 0 only polls (Go's default case); > 0 waits at most that long.
 * With no cases, or only NULL channels, it returns -EAGAIN (timeout 0),
 * -ETIMEDOUT after the timeout, or blocks forever (deadlock detection
 * applies) with a negative timeout. A select that sends and one that
 * receives on the same unbuffered channel pair with each other.
 * Returns the index (>= 0); -EAGAIN; -ETIMEDOUT; -EINVAL (cases NULL with
 * n > 0, an op other than GR_RECV/GR_SEND, a send with a NULL elem and
 * elem_size > 0, a send on a timer's channel); -ENOMEM (more than 8 cases
 * need scratch memory); -EPERM outside a goroutine with timeout_ns != 0.
 * Source: Go spec "Select statements"; runtime selectgo.
 */
GR_API int gr_select(struct gr_case *cases, size_t n, int64_t timeout_ns);

typedef struct gr_timer gr_timer;

/*
 * gr_timer_new: a timer (time.NewTimer) or ticker (time.NewTicker) whose
 * channel receives the gr_nanotime() of each firing as an int64_t. It
 * first fires ns nanoseconds from now (ns <= 0: at once), then, if
 * period_ns > 0, every period_ns after (missed periods are skipped). The
 * channel holds at most one undelivered value: a slow reader of a ticker
 * loses ticks, it does not queue them.
 * Returns the timer; NULL with errno EINVAL (period_ns < 0), EPERM (no
 * runtime running), ENOMEM.
 * Source: Go 1.23 time.NewTimer, time.NewTicker.
 */
GR_API gr_timer *gr_timer_new(int64_t ns, int64_t period_ns);

/*
 * gr_timer_chan: the timer's channel (receive-only: sending on it or
 * closing it returns -EINVAL; len and cap read 0 as in Go 1.23). Owned by
 * t, valid until gr_timer_free(t). NULL for a NULL t.
 * Source: time.Timer.C.
 */
GR_API gr_chan *gr_timer_chan(gr_timer *t);

/*
 * gr_timer_reset: stop t, drop any undelivered value, and arm it to fire
 * ns nanoseconds from now (ns <= 0: at once). For a ticker ns is also the
 * new period. After it returns no value from before the reset can be
 * received (Go 1.23).
 * Returns 1 if t was pending (armed, or fired with the value not yet
 * received), 0 if not; -EINVAL (NULL t, or ns <= 0 for a ticker: Go's
 * "non-positive interval for Ticker.Reset"); -EPERM (no runtime running).
 * Source: Go 1.23 time.Timer.Reset, time.Ticker.Reset.
 */
GR_API int gr_timer_reset(gr_timer *t, int64_t ns);

/*
 * gr_timer_stop: stop t and drop any undelivered value; after it returns
 * nothing more is received from its channel until a reset (Go 1.23).
 * Returns 1 if it stopped a pending fire (armed, or fired with the value
 * not yet received), 0 if t had already fired and been received, or was
 * stopped; -EINVAL for NULL; -EPERM (no runtime running).
 * Source: Go 1.23 time.Timer.Stop, time.Ticker.Stop.
 */
GR_API int gr_timer_stop(gr_timer *t);

/*
 * gr_timer_free: stop t and release it and its channel. NULL is a no-op.
 * Fatal ("timer: free of a timer whose channel goroutines are waiting
 * on") if goroutines still wait on its channel.
 */
GR_API void gr_timer_free(gr_timer *t);

#ifdef __cplusplus
}
#endif
#endif
