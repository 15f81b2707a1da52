/*
 * chan/signal.c: gr_signal_notify / gr_signal_stop (goring/signal.h).
 *
 * Invariants:
 * - on_signal (the handler) touches only `pending`, `caught` (atomics) and
 *   write(2)s to the self-pipe: no lock, no allocation, errno saved.
 * - `mu` (a pthread mutex: the delivery thread is not a goroutine) guards
 *   subs, nsubs, refs and saved. It is held while the delivery thread
 *   sends, so after gr_signal_stop returns nothing is sent to the channel.
 *   gr_chan_try_send never blocks, so holding mu across it is short.
 * - refs[s] counts subscriptions to s; the handler is installed while
 *   refs[s] > 0 and saved[s] holds the disposition to put back.
 * - pending: bit s-1 set by the handler (release), cleared by the delivery
 *   thread with an exchange (acquire) before it sends.
 * - Each entry of subs counts once in gr__external_waker, so a program
 *   whose goroutines all wait for signals is not reported as deadlocked.
 */
#include <goring/signal.h>
#include "chan/chan_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GR__NSIG 64

struct sub {
    gr_chan *ch;
    uint64_t mask;   /* bit s-1: ch wants signal s */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sub *subs;
static size_t nsubs, capsubs;
static int refs[GR__NSIG + 1];
static struct sigaction saved[GR__NSIG + 1];
static bool started;
static int pipe_rd = -1;
static atomic_int pipe_wr = -1;
static _Atomic uint64_t pending;
static _Atomic uint64_t caught[GR__NSIG + 1];

static void on_signal(int sig)
{
    int e = errno;
    if (sig >= 1 && sig <= GR__NSIG) {
        atomic_fetch_add_explicit(&caught[sig], 1, memory_order_relaxed);
        atomic_fetch_or_explicit(&pending, (uint64_t)1 << (sig - 1), memory_order_release);
        int fd = atomic_load_explicit(&pipe_wr, memory_order_relaxed);
        char b = 0;
        if (fd >= 0)
            (void)!write(fd, &b, 1);   /* a full pipe already has a wakeup queued */
    }
    errno = e;
}

static void *deliver_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);   /* signals go to other threads */
    char drain[64];
    for (;;) {
        ssize_t k = read(pipe_rd, drain, sizeof drain);
        if (k < 0 && errno != EINTR)
            return NULL;
        uint64_t m = atomic_exchange_explicit(&pending, 0, memory_order_acquire);
        if (!m)
            continue;
        pthread_mutex_lock(&mu);
        for (int s = 1; s <= GR__NSIG; s++) {
            uint64_t bit = (uint64_t)1 << (s - 1);
            if (!(m & bit))
                continue;
            for (size_t i = 0; i < nsubs; i++)
                if (subs[i].mask & bit)
                    (void)gr_chan_try_send(subs[i].ch, &s);   /* full: dropped, as Go */
        }
        pthread_mutex_unlock(&mu);
    }
}

/* Start the pipe and the delivery thread once per process. Under mu. */
static int start_locked(void)
{
    if (started)
        return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    pipe_rd = p[0];
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 64 * 1024);
    int e = pthread_create(&th, &at, deliver_main, NULL);
    pthread_attr_destroy(&at);
    if (e != 0) {
        close(p[0]);
        close(p[1]);
        pipe_rd = -1;
        return -EAGAIN;
    }
    atomic_store(&pipe_wr, p[1]);
    started = true;
    return 0;
}

static bool catchable(int s)
{
    return s >= 1 && s <= GR__NSIG && s != SIGKILL && s != SIGSTOP && s != SIGSEGV &&
           s != SIGBUS;
}

int gr_signal_notify(gr_chan *ch, const int *sigs, int n)
{
    if (!ch || ch->elemsize != sizeof(int) || !sigs || n <= 0)
        return -EINVAL;
    uint64_t want = 0;
    for (int i = 0; i < n; i++) {
        if (!catchable(sigs[i]))
            return -EINVAL;
        want |= (uint64_t)1 << (sigs[i] - 1);
    }
    pthread_mutex_lock(&mu);
    int e = start_locked();
    if (e < 0)
        goto out;
    struct sub *sb = NULL;
    for (size_t i = 0; i < nsubs; i++)
        if (subs[i].ch == ch)
            sb = &subs[i];
    if (!sb) {
        if (nsubs == capsubs) {
            size_t nc = capsubs ? capsubs * 2 : 8;
            struct sub *ns = realloc(subs, nc * sizeof *ns);
            if (!ns) {
                e = -ENOMEM;
                goto out;
            }
            subs = ns;
            capsubs = nc;
        }
        sb = &subs[nsubs++];
        sb->ch = ch;
        sb->mask = 0;
        gr__external_waker(1);
    }
    uint64_t add = want & ~sb->mask;
    for (int s = 1; s <= GR__NSIG; s++) {
        if (!(add & ((uint64_t)1 << (s - 1))))
            continue;
        if (refs[s]++ == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART | SA_ONSTACK;
            sigfillset(&sa.sa_mask);
            sigaction(s, &sa, &saved[s]);
        }
    }
    sb->mask |= want;
out:
    pthread_mutex_unlock(&mu);
    return e;
}

int gr_signal_stop(gr_chan *ch)
{
    if (!ch)
        return -EINVAL;
    pthread_mutex_lock(&mu);
    int e = -ENOENT;
    for (size_t i = 0; i < nsubs; i++) {
        if (subs[i].ch != ch)
            continue;
        for (int s = 1; s <= GR__NSIG; s++)
            if ((subs[i].mask & ((uint64_t)1 << (s - 1))) && --refs[s] == 0)
                sigaction(s, &saved[s], NULL);
        subs[i] = subs[--nsubs];
        gr__external_waker(-1);
        e = 0;
        break;
    }
    pthread_mutex_unlock(&mu);
    return e;
}

uint64_t gr_signal_received(int sig)
{
    if (sig < 1 || sig > GR__NSIG)
        return 0;
    return atomic_load_explicit(&caught[sig], memory_order_relaxed);
}
