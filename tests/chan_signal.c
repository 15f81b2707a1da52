/* tests/chan_signal.c: gr_signal_notify / gr_signal_stop (goring/signal.h):
 * delivery to channels, drops on a full channel, several channels and
 * signals, the disposition put back on stop, SIGQUIT taken over from the
 * runtime's dump and given back, use outside gr_main, and stop racing a
 * stream of signals. */
#include "harness.h"

#include <goring/signal.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <time.h>

static int64_t ms(int64_t n) { return n * MS; }

/* Wait (up to 5 s) until gr_signal_received(sig) reaches n. */
static bool wait_received(int sig, uint64_t n)
{
    for (int i = 0; i < 5000 && gr_signal_received(sig) < n; i++)
        gr_sleep(ms(1));
    return gr_signal_received(sig) >= n;
}

static void (*handler_of(int sig))(int)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return sa.sa_handler;
}

static void t_deliver(void *arg)
{
    (void)arg;
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGUSR1};
    CHECK_EQ(gr_signal_notify(ch, sigs, 1), 0);
    CHECK_EQ(gr_signal_notify(ch, sigs, 1), 0);   /* again: no-op */
    for (int round = 0; round < 20; round++) {
        CHECK_EQ(kill(getpid(), SIGUSR1), 0);
        int got = 0;
        CHECK_EQ(gr_chan_recv_timeout(ch, &got, ms(5000)), 0);
        CHECK_EQ(got, SIGUSR1);
    }
    CHECK_EQ(gr_signal_stop(ch), 0);
    gr_chan_free(ch);
}

Test(chan_signal, deliver, .timeout = 30) { RUN(2, t_deliver, NULL); }

static void *raise_later(void *arg)
{
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    kill(getpid(), (int)(intptr_t)arg);
    return NULL;
}

/* A goroutine parked in an untimed receive on an idle one-P runtime is
 * woken by the delivery thread (a plain thread readying a goroutine). */
static void t_wakes_parked(void *arg)
{
    (void)arg;
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGUSR2};
    CHECK_EQ(gr_signal_notify(ch, sigs, 1), 0);
    for (int round = 0; round < 10; round++) {
        pthread_t th;
        pthread_create(&th, NULL, raise_later, (void *)(intptr_t)SIGUSR2);
        int got = 0;
        CHECK_EQ(gr_chan_recv(ch, &got), 0);
        CHECK_EQ(got, SIGUSR2);
        pthread_join(th, NULL);
    }
    CHECK_EQ(gr_signal_stop(ch), 0);
    gr_chan_free(ch);
}

Test(chan_signal, wakes_parked_receiver, .timeout = 30) { RUN(1, t_wakes_parked, NULL); }

/* A full channel drops the signal (Go's non-blocking send): the buffer
 * never holds more than its capacity, and nothing arrives later. */
static void t_full_drops(void *arg)
{
    (void)arg;
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGHUP};
    CHECK_EQ(gr_signal_notify(ch, sigs, 1), 0);
    uint64_t base = gr_signal_received(SIGHUP);
    CHECK_EQ(kill(getpid(), SIGHUP), 0);
    for (int i = 0; i < 5000 && gr_chan_len(ch) == 0; i++)
        gr_sleep(ms(1));
    CHECK_EQ(gr_chan_len(ch), 1);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(kill(getpid(), SIGHUP), 0);
        CHECKF(wait_received(SIGHUP, base + 2 + (uint64_t)i), "caught");
    }
    gr_sleep(ms(50));   /* let the delivery thread try */
    CHECK_EQ(gr_chan_len(ch), 1);
    int got = 0;
    CHECK_EQ(gr_chan_try_recv(ch, &got), 0);
    CHECK_EQ(got, SIGHUP);
    gr_sleep(ms(20));
    CHECK_EQ(gr_chan_try_recv(ch, &got), -EAGAIN);   /* the drops stay dropped */
    CHECK_EQ(gr_signal_stop(ch), 0);
    gr_chan_free(ch);
}

Test(chan_signal, full_channel_drops, .timeout = 30) { RUN(2, t_full_drops, NULL); }

/* Two channels want SIGUSR1 (each gets it); one wants SIGUSR1 and SIGHUP
 * (it gets both). Stopping one channel leaves the other subscribed. */
static void t_many(void *arg)
{
    (void)arg;
    gr_chan *a = gr_chan_make(sizeof(int), 4), *b = gr_chan_make(sizeof(int), 4);
    int s1[] = {SIGUSR1}, s2[] = {SIGUSR1, SIGHUP};
    CHECK_EQ(gr_signal_notify(a, s1, 1), 0);
    CHECK_EQ(gr_signal_notify(b, s2, 2), 0);
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    int got = 0;
    CHECK_EQ(gr_chan_recv_timeout(a, &got, ms(5000)), 0);
    CHECK_EQ(got, SIGUSR1);
    CHECK_EQ(gr_chan_recv_timeout(b, &got, ms(5000)), 0);
    CHECK_EQ(got, SIGUSR1);
    CHECK_EQ(kill(getpid(), SIGHUP), 0);
    CHECK_EQ(gr_chan_recv_timeout(b, &got, ms(5000)), 0);
    CHECK_EQ(got, SIGHUP);
    CHECK_EQ(gr_chan_try_recv(a, &got), -EAGAIN);   /* a does not want SIGHUP */
    CHECK_EQ(gr_signal_stop(b), 0);
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);   /* a's subscription keeps the handler */
    CHECK_EQ(gr_chan_recv_timeout(a, &got, ms(5000)), 0);
    CHECK_EQ(got, SIGUSR1);
    gr_sleep(ms(20));
    CHECK_EQ(gr_chan_try_recv(b, &got), -EAGAIN);
    CHECK_EQ(gr_signal_stop(a), 0);
    gr_chan_free(a);
    gr_chan_free(b);
}

Test(chan_signal, many_channels_and_signals, .timeout = 30) { RUN(2, t_many, NULL); }

static _Atomic int old_hits;
static void old_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&old_hits, 1);
}

/* Stop puts back the disposition from before the first notify: a
 * program's own handler, or SIG_DFL. */
static void t_stop_restores(void *arg)
{
    (void)arg;
    struct sigaction sa, prev;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = old_handler;
    sigaction(SIGUSR1, &sa, &prev);
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGUSR1, SIGTERM};
    CHECKF(handler_of(SIGTERM) == SIG_DFL, "SIGTERM default at start");
    CHECK_EQ(gr_signal_notify(ch, sigs, 2), 0);
    CHECKF(handler_of(SIGUSR1) != old_handler, "goring's handler installed");
    CHECKF(handler_of(SIGTERM) != SIG_DFL, "goring's handler installed");
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    int got = 0;
    CHECK_EQ(gr_chan_recv_timeout(ch, &got, ms(5000)), 0);
    CHECK_EQ(atomic_load(&old_hits), 0);
    CHECK_EQ(gr_signal_stop(ch), 0);
    CHECKF(handler_of(SIGUSR1) == old_handler, "old handler back");
    CHECKF(handler_of(SIGTERM) == SIG_DFL, "SIG_DFL back");
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 5000 && atomic_load(&old_hits) == 0; i++)
        gr_sleep(ms(1));
    CHECK_EQ(atomic_load(&old_hits), 1);
    CHECK_EQ(gr_chan_try_recv(ch, &got), -EAGAIN);
    CHECK_EQ(gr_signal_stop(ch), -ENOENT);   /* a second stop */
    sigaction(SIGUSR1, &prev, NULL);
    gr_chan_free(ch);
}

Test(chan_signal, stop_restores_disposition, .timeout = 30) { RUN(2, t_stop_restores, NULL); }

static void t_bad_args(void *arg)
{
    (void)arg;
    gr_chan *ch = gr_chan_make(sizeof(int), 1), *wide = gr_chan_make(sizeof(long long), 1);
    int ok[] = {SIGUSR1};
    static const int bad[] = {0, -1, 65, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(gr_signal_notify(ch, &bad[i], 1), -EINVAL);
    int mixed[] = {SIGUSR1, SIGKILL};
    CHECK_EQ(gr_signal_notify(ch, mixed, 2), -EINVAL);   /* nothing changed */
    CHECK_EQ(gr_signal_stop(ch), -ENOENT);
    CHECK_EQ(gr_signal_notify(NULL, ok, 1), -EINVAL);
    CHECK_EQ(gr_signal_notify(wide, ok, 1), -EINVAL);
    CHECK_EQ(gr_signal_notify(ch, NULL, 1), -EINVAL);
    CHECK_EQ(gr_signal_notify(ch, ok, 0), -EINVAL);
    CHECK_EQ(gr_signal_stop(NULL), -EINVAL);
    CHECK_EQ(gr_signal_received(0), 0);
    CHECK_EQ(gr_signal_received(65), 0);
    gr_chan_free(ch);
    gr_chan_free(wide);
}

Test(chan_signal, bad_args, .timeout = 10) { RUN(1, t_bad_args, NULL); }

/* SIGQUIT: while notified it arrives on the channel instead of the
 * runtime's goroutine dump; stop gives the dump handler back. */
static void t_sigquit(void *arg)
{
    (void)arg;
    void (*dump)(int) = handler_of(SIGQUIT);
    CHECKF(dump != SIG_DFL && dump != SIG_IGN, "runtime's SIGQUIT handler in gr_main");
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGQUIT};
    CHECK_EQ(gr_signal_notify(ch, sigs, 1), 0);
    CHECK_EQ(kill(getpid(), SIGQUIT), 0);
    int got = 0;
    CHECK_EQ(gr_chan_recv_timeout(ch, &got, ms(5000)), 0);
    CHECK_EQ(got, SIGQUIT);
    CHECK_EQ(gr_signal_stop(ch), 0);
    CHECKF(handler_of(SIGQUIT) == dump, "dump handler back");
    gr_chan_free(ch);
}

Test(chan_signal, sigquit_notified_then_dump_back, .timeout = 30) { RUN(2, t_sigquit, NULL); }

/* After stop, SIGQUIT is the runtime's dump again: the process prints
 * "SIGQUIT: quit" and the goroutines, and exits with status 2 as Go. */
static void t_sigquit_dump(void *arg)
{
    (void)arg;
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGQUIT};
    gr_signal_notify(ch, sigs, 1);
    gr_signal_stop(ch);
    kill(getpid(), SIGQUIT);
    for (;;)
        gr_sleep(ms(100));
}

Test(chan_signal, sigquit_dump_after_stop, .timeout = 30, .exit_code = 2)
{
    cr_redirect_stderr();
    gr_test_run(2, t_sigquit_dump, NULL);
}

/* Outside gr_main: notify from a plain thread, delivery to the buffer with
 * no runtime running, received with try_recv. */
Test(chan_signal, outside_runtime, .timeout = 30)
{
    gr_chan *ch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGUSR2};
    cr_assert_eq(gr_signal_notify(ch, sigs, 1), 0);
    cr_assert_eq(kill(getpid(), SIGUSR2), 0);
    int got = 0, r = -EAGAIN;
    for (int i = 0; i < 5000 && r == -EAGAIN; i++) {
        r = gr_chan_try_recv(ch, &got);
        if (r == -EAGAIN)
            usleep(1000);
    }
    cr_assert_eq(r, 0);
    cr_assert_eq(got, SIGUSR2);
    cr_assert_eq(gr_signal_stop(ch), 0);
    cr_assert(handler_of(SIGUSR2) == SIG_DFL);
    gr_chan_free(ch);
}

/* ---------- stop racing a stream of signals ---------- */

static _Atomic int raising;
static void *raiser(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 200 * 1000};
    while (atomic_load(&raising)) {
        kill(getpid(), SIGUSR1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Each round: notify, take a few, stop while signals keep coming, drain;
 * after stop returned nothing more is sent to the channel. SIGUSR1 is
 * ignored outside notify, so the restored disposition keeps the process
 * alive. Repeated because the window is small. */
static void t_stop_race(void *arg)
{
    (void)arg;
    signal(SIGUSR1, SIG_IGN);
    atomic_store(&raising, 1);
    pthread_t th;
    pthread_create(&th, NULL, raiser, NULL);
    for (int round = 0; round < 50; round++) {
        gr_chan *ch = gr_chan_make(sizeof(int), 8);
        int sigs[] = {SIGUSR1};
        CHECK_EQ(gr_signal_notify(ch, sigs, 1), 0);
        int got = 0;
        CHECK_EQ(gr_chan_recv_timeout(ch, &got, ms(5000)), 0);
        CHECK_EQ(got, SIGUSR1);
        CHECK_EQ(gr_signal_stop(ch), 0);
        while (gr_chan_try_recv(ch, &got) == 0)
            ;
        gr_sleep(ms(2));
        CHECK_EQ(gr_chan_try_recv(ch, &got), -EAGAIN);
        CHECKF(handler_of(SIGUSR1) == SIG_IGN, "SIG_IGN back");
        gr_chan_free(ch);
    }
    atomic_store(&raising, 0);
    pthread_join(th, NULL);
    signal(SIGUSR1, SIG_DFL);
}

Test(chan_signal, stop_races_signals, .timeout = 60) { RUN(2, t_stop_race, NULL); }
