/*
 * goring/signal.h: signals delivered as values on channels, as Go's
 * os/signal Notify and Stop.
 *
 * gr_signal_notify(ch, sigs, n) makes each listed signal arrive on ch as
 * an int (the signal number) instead of running its default action.
 * Delivery is a non-blocking send: when ch's buffer is full the signal is
 * dropped for ch, as Go does, so give ch a buffer (1 is enough to learn
 * that a signal came). Several channels may want one signal (each gets
 * it); one channel may want several. Signals of one kind that arrive
 * before the earlier one was delivered are merged into one delivery, as
 * in Go's runtime (sigsend keeps a pending mask).
 *
 * How it is delivered: the handler goring installs only sets the signal's
 * bit in an atomic pending mask and write(2)s one byte to a non-blocking
 * self-pipe (both async-signal-safe; it takes no lock, so it may interrupt
 * a thread that holds any runtime or channel lock). A plain thread, started
 * by the first notify and blocked in read(2) on the pipe, drains the mask
 * and does gr_chan_try_send to each channel wanting the signal. A thread
 * rather than a goroutine: it needs no P, works before and between gr_main
 * runs (a runtime stopped and started again loses nothing), and whichever
 * poller backend the runtime uses. signalfd(2) is not used: it sees a
 * signal only when every thread blocks it, and the runtime's threads and
 * the user's do not.
 *
 * The runtime's own signals: SIGSEGV and SIGBUS (stack overflow, faults)
 * cannot be notified (-EINVAL). SIGQUIT may be: while notified, it is
 * delivered instead of the goroutine dump (Go's rule), and stop puts the
 * dump handler back. gr_main installs the dump handler when it starts and
 * puts back the earlier disposition when it returns, so notify SIGQUIT
 * from inside gr_main. SIGKILL and SIGSTOP cannot be caught (-EINVAL).
 *
 * While any channel wants a signal the runtime does not report "all
 * goroutines are asleep - deadlock!": a signal may still wake them, as in
 * Go, where a program blocked in <-c after signal.Notify waits.
 *
 * Callable from any thread, goroutine or not.
 */
#ifndef GORING_SIGNAL_H
#define GORING_SIGNAL_H
#include <goring/core.h>
#include <goring/chan.h>
#ifdef __cplusplus
extern "C" {
#endif

/*
 * gr_signal_notify: deliver each of the n signals in sigs to ch (whose
 * elem_size must be sizeof(int)); n == 0 is not Go's "all signals" and is
 * rejected. Notifying a signal ch already wants is a no-op. The first
 * channel to want a signal installs goring's handler for it (sigaction(2),
 * SA_RESTART | SA_ONSTACK) and saves the previous disposition.
 * Returns 0; -EINVAL (ch NULL, elem_size != sizeof(int), sigs NULL, n <= 0,
 * a signal out of 1..64, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS); -ENOMEM;
 * -EAGAIN (the delivery thread could not be started); -EMFILE (no fd for
 * the self-pipe). On an error nothing was changed.
 * Source: Go's signal.Notify.
 */
GR_API int gr_signal_notify(gr_chan *ch, const int *sigs, int n);

/*
 * gr_signal_stop: stop delivering any signal to ch. When it returns no
 * further value is sent to ch by goring (ch may then be freed). A signal no
 * channel wants any longer gets back the disposition it had before the
 * first notify (for SIGINT/SIGTERM usually the default: the process dies).
 * Returns 0; -EINVAL (ch NULL); -ENOENT (ch wanted no signal).
 * Source: Go's signal.Stop.
 */
GR_API int gr_signal_stop(gr_chan *ch);

/*
 * gr_signal_received: how many signals of number sig the handler caught
 * since the process started (counted before merging and dropping); 0 for
 * a sig out of 1..64. For tests and stats.
 */
GR_API uint64_t gr_signal_received(int sig);

#ifdef __cplusplus
}
#endif
#endif
