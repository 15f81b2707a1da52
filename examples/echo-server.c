/*
 * examples/echo-server.c: a TCP echo server, one goroutine per connection.
 *
 *   echo-server [--addr HOST:PORT] [--procs N] [--bufsize B] [--grace SECONDS]
 *
 * Prints "listening on HOST:PORT" (the bound address; port 0 shows the one
 * the kernel picked) once it accepts. SIGINT/SIGTERM: stop accepting, let
 * live connections finish for up to the grace period (default 5 s), then
 * end the rest with a past deadline, print stats, exit 0.
 *
 * Signals are taken by a plain thread in sigwait(2) (they are blocked in
 * every other thread, the runtime's included, since those inherit the mask
 * set before gr_main); it closes the listener with gr_close, which is safe
 * from any thread and wakes the goroutine blocked in gr_accept.
 */
#include <goring.h>

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *opt_addr = "127.0.0.1:7000";
static size_t opt_bufsize = 16384;
static double opt_grace = 5.0;

static atomic_int listener = -1;
static atomic_int stopping;
static _Atomic uint64_t n_conns, n_live, n_bytes, n_reads, n_accept_errs;
static _Atomic unsigned char *live;    /* live[fd] != 0 while a connection uses fd */
static size_t live_cap;

static void usage(FILE *f)
{
    fprintf(f, "usage: echo-server [--addr HOST:PORT] [--procs N] [--bufsize B] [--grace SECONDS]\n");
}

static void help(void)
{
    usage(stdout);
    printf("\nA TCP echo server on goring: one goroutine per connection.\n"
           "  --addr HOST:PORT   address to listen on (default 127.0.0.1:7000; :PORT for all)\n"
           "  --procs N          Ps (GR_MAXPROCS; default: the CPUs)\n"
           "  --bufsize B        read buffer per connection in bytes (default 16384)\n"
           "  --grace SECONDS    on SIGINT/SIGTERM, time live connections get (default 5)\n"
           "Prints 'listening on HOST:PORT' once accepting; on SIGINT/SIGTERM prints stats, exits 0.\n");
}

static void conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(opt_bufsize);
    if (buf) {
        for (;;) {
            ssize_t n = gr_recv(fd, buf, opt_bufsize, 0);
            if (n <= 0)
                break;
            atomic_fetch_add_explicit(&n_reads, 1, memory_order_relaxed);
            ssize_t w = gr_write_all(fd, buf, (size_t)n);
            if (w < n)
                break;
            atomic_fetch_add_explicit(&n_bytes, (uint64_t)n, memory_order_relaxed);
        }
        free(buf);
    }
    if ((size_t)fd < live_cap)
        atomic_store_explicit(&live[fd], 0, memory_order_relaxed);
    gr_close(fd);
    atomic_fetch_sub_explicit(&n_live, 1, memory_order_release);
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    while (sigwait(set, &sig) != 0)
        ;
    atomic_store(&stopping, 1);
    gr_close(listener);   /* wakes gr_accept with -ECANCELED */
    return NULL;
}

static void print_addr(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
            printf("listening on [%s]:%d\n", host, port);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
            printf("listening on %s:%d\n", host, port);
        }
    }
    fflush(stdout);
}

static void server_main(void *arg)
{
    int *rc = arg;
    listener = gr_listen_tcp(opt_addr, 4096);
    if (listener < 0) {
        fprintf(stderr, "echo-server: listen %s: %s\n", opt_addr, strerror(-listener));
        *rc = 1;
        return;
    }
    print_addr(listener);
    int64_t start = gr_nanotime();
    while (!atomic_load(&stopping)) {
        int fd = gr_accept(listener, NULL, NULL, 0);
        if (fd < 0) {
            if (fd == -ECANCELED || fd == -EBADF)
                break;    /* the signal thread closed the listener */
            atomic_fetch_add(&n_accept_errs, 1);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add_explicit(&n_conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n_live, 1, memory_order_relaxed);
        if ((size_t)fd < live_cap)
            atomic_store_explicit(&live[fd], 1, memory_order_relaxed);
        if (gr_go(conn_main, (void *)(intptr_t)fd) < 0) {
            atomic_fetch_sub(&n_live, 1);
            gr_close(fd);
        }
    }
    /* Drain: live connections get the grace period, then a past deadline. */
    int64_t grace_end = gr_nanotime() + (int64_t)(opt_grace * 1e9);
    while (atomic_load_explicit(&n_live, memory_order_acquire) > 0 && gr_nanotime() < grace_end)
        gr_sleep(10 * 1000 * 1000);
    uint64_t forced = atomic_load(&n_live);
    if (forced > 0) {
        for (size_t fd = 0; fd < live_cap; fd++)
            if (atomic_load_explicit(&live[fd], memory_order_relaxed))
                gr_set_deadline((int)fd, GR_READ | GR_WRITE, 0);
        int64_t hard = gr_nanotime() + 1000000000;
        while (atomic_load_explicit(&n_live, memory_order_acquire) > 0 && gr_nanotime() < hard)
            gr_sleep(5 * 1000 * 1000);
    }
    double secs = (double)(gr_nanotime() - start) / 1e9;
    struct gr_stats st;
    gr_stats(&st);
    printf("stats: uptime=%.3fs connections=%llu forced=%llu bytes=%llu reads=%llu "
           "accept_errors=%llu goroutines_created=%llu ms=%u sqes=%llu cqes=%llu enters=%llu "
           "handoffs=%llu steals=%llu\n",
           secs, (unsigned long long)n_conns, (unsigned long long)forced,
           (unsigned long long)n_bytes, (unsigned long long)n_reads,
           (unsigned long long)n_accept_errs, (unsigned long long)st.goroutines_created,
           st.ms, (unsigned long long)st.sqes_submitted, (unsigned long long)st.cqes_reaped,
           (unsigned long long)st.enter_calls, (unsigned long long)st.handoffs,
           (unsigned long long)st.steals);
    fflush(stdout);
    *rc = 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "addr", required_argument, NULL, 'a' },
        { "procs", required_argument, NULL, 'p' },
        { "bufsize", required_argument, NULL, 'b' },
        { "grace", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            opt_addr = optarg;
            break;
        case 'p':
            if (parse_long(optarg, 1, 1024, &v) < 0)
                goto bad;
            setenv("GR_MAXPROCS", optarg, 1);
            break;
        case 'b':
            if (parse_long(optarg, 1, 64 << 20, &v) < 0)
                goto bad;
            opt_bufsize = (size_t)v;
            break;
        case 'g': {
            char *end;
            opt_grace = strtod(optarg, &end);
            if (*end || opt_grace < 0)
                goto bad;
            break;
        }
        case 'h':
            help();
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;

    struct rlimit rl;
    live_cap = 1 << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < live_cap)
        live_cap = (size_t)rl.rlim_max;
    live = calloc(live_cap, 1);
    if (!live)
        return 1;

    /* Block the signals in every thread, then wait for them in one. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, signal_thread, &set) != 0)
        return 1;
    pthread_detach(th);

    int rc = 1;
    int err = gr_main(server_main, &rc);
    if (err < 0) {
        fprintf(stderr, "echo-server: runtime: %s\n", strerror(-err));
        return 1;
    }
    return rc;
bad:
    usage(stderr);
    return 2;
}
