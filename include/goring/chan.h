/* goring/chan.h: channels, select, timers as channels. (draft: chan layer fills in docs) */
#ifndef GORING_CHAN_H
#define GORING_CHAN_H
#include <goring/core.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct gr_chan gr_chan;
GR_API gr_chan *gr_chan_make(size_t elem_size, size_t cap);
GR_API int gr_chan_send(gr_chan *ch, const void *elem);
GR_API int gr_chan_recv(gr_chan *ch, void *elem);
GR_API int gr_chan_try_send(gr_chan *ch, const void *elem);
GR_API int gr_chan_try_recv(gr_chan *ch, void *elem);
GR_API int gr_chan_send_timeout(gr_chan *ch, const void *elem, int64_t ns);
GR_API int gr_chan_recv_timeout(gr_chan *ch, void *elem, int64_t ns);
GR_API int gr_chan_close(gr_chan *ch);
GR_API size_t gr_chan_len(const gr_chan *ch);
GR_API size_t gr_chan_cap(const gr_chan *ch);
GR_API int gr_chan_free(gr_chan *ch);
enum { GR_RECV = 1, GR_SEND = 2 };
struct gr_case { int op; gr_chan *ch; void *elem; int result; };
GR_API int gr_select(struct gr_case *cases, size_t n, int64_t timeout_ns);
typedef struct gr_timer gr_timer;
GR_API gr_timer *gr_timer_new(int64_t ns, int64_t period_ns);
GR_API gr_chan *gr_timer_chan(gr_timer *t);
GR_API int gr_timer_reset(gr_timer *t, int64_t ns);
GR_API int gr_timer_stop(gr_timer *t);
GR_API void gr_timer_free(gr_timer *t);
#ifdef __cplusplus
}
#endif
#endif
