/*
 * bench/echo_common.h: what the hand-written echo servers of bench/ share:
 * the command line of examples/echo-server, the listening socket, the
 * shutdown on SIGINT/SIGTERM. Header-only (each server is one .c file).
 *
 *   SERVER --addr HOST:PORT [--procs N] [--bufsize B]
 *
 * Prints "listening on HOST:PORT" (flushed) once every worker's listener
 * accepts; on SIGINT/SIGTERM prints one stats line and exits 0. Workers
 * are threads; the main thread only waits for the signal, so it costs no
 * CPU. With N workers each opens its own SO_REUSEPORT listener on the
 * address (the kernel spreads connections by hash) and serves its
 * connections alone: no locks, no hand-off between threads.
 */
#ifndef GR_BENCH_ECHO_COMMON_H
#define GR_BENCH_ECHO_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct echo_opts {
    const char *addr;
    int procs;
    size_t bufsize;
    const char *setup; /* echo_uring_*: ring setup flags, see there */
};

static void echo_usage(const char *prog, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s --addr HOST:PORT [--procs N] [--bufsize B] [--setup plain|coop|defer]\n",
            prog);
    exit(code);
}

static void echo_parse(int argc, char **argv, struct echo_opts *o)
{
    o->addr = "127.0.0.1:7000";
    o->procs = 1;
    o->bufsize = 16384;
    o->setup = "defer";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            echo_usage(argv[0], 0);
        if (i + 1 >= argc)
            echo_usage(argv[0], 2);
        const char *v = argv[++i];
        if (!strcmp(a, "--addr"))
            o->addr = v;
        else if (!strcmp(a, "--procs"))
            o->procs = atoi(v);
        else if (!strcmp(a, "--bufsize"))
            o->bufsize = (size_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--setup"))
            o->setup = v;
        else
            echo_usage(argv[0], 2);
    }
    if (o->procs < 1 || o->procs > 256 || o->bufsize < 1 || o->bufsize > (64u << 20))
        echo_usage(argv[0], 2);
}

/* Parses "A.B.C.D:PORT" (IPv4 only: the benchmarks run on 127.0.0.1). */
static int echo_sockaddr(const char *addr, struct sockaddr_in *sin)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)atoi(colon + 1));
    if (host[0] == 0)
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -EINVAL;
    return 0;
}

/* A listening socket on addr with SO_REUSEADDR and SO_REUSEPORT; exits on error. */
static int echo_listen(const char *addr, int flags)
{
    struct sockaddr_in sin;
    int one = 1, fd;
    if (echo_sockaddr(addr, &sin) < 0) {
        fprintf(stderr, "bad address %s\n", addr);
        exit(2);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 4096) < 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

/* Go sets TCP_NODELAY on every TCP connection; so do these servers. */
static void echo_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void echo_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Per-worker counters: each worker bumps its own with a relaxed load and
 * store (no locked instruction); the main thread sums them at exit. */
static struct {
    _Alignas(64) _Atomic uint64_t accepted;
    _Atomic uint64_t reads;
} echo_stats[256];

static inline void echo_count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/*
 * Blocks SIGINT/SIGTERM (threads created later inherit the mask), runs
 * start(arg) to create the workers, prints the listening line, waits for
 * the signal, prints stats and exits 0.
 */
static void echo_run(const char *addr, void (*start)(void *), void *arg)
{
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    echo_raise_nofile();
    start(arg);
    printf("listening on %s\n", addr);
    fflush(stdout);
    sigwait(&set, &sig);
    uint64_t acc = 0, reads = 0;
    for (int i = 0; i < 256; i++) {
        acc += atomic_load_explicit(&echo_stats[i].accepted, memory_order_relaxed);
        reads += atomic_load_explicit(&echo_stats[i].reads, memory_order_relaxed);
    }
    printf("connections=%llu reads=%llu\n", (unsigned long long)acc, (unsigned long long)reads);
    fflush(stdout);
    _exit(0);
}

#endif
