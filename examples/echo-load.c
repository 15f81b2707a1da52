/*
 * examples/echo-load.c: a load client for echo servers, built on goring.
 *
 *   echo-load [--addr HOST:PORT] [--conns C] [--size S] [--duration SECONDS]
 *             [--depth P] [--procs N]
 *
 * C connections, one goroutine each, keep P messages of S bytes in flight
 * (P = 1: ping-pong). Every echoed byte is checked against what was sent
 * (message k of connection c carries bytes (c*31 + k + i) mod 251). After
 * the duration each connection stops sending, drains what is in flight and
 * closes. Prints one line: msgs, msgs/s, MB/s and the p50/p99/p999 latency
 * of a message (send of its first byte to receipt of its last), then exits
 * 0, or 1 if any byte was wrong or a connection failed.
 *
 * Keep P*S under the loopback socket buffers (a few hundred KiB): one
 * goroutine per connection writes a message only after reading one.
 */
#include <goring.h>

#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *opt_addr = "127.0.0.1:7000";
static long opt_conns = 64, opt_size = 64, opt_depth = 1;
static double opt_duration = 5.0;

static int64_t t_end;
static _Atomic uint64_t n_msgs, n_errors, n_bad_bytes;
static gr_waitgroup wg = GR_WAITGROUP_INIT;

/* Latency histogram: 64 linear sub-buckets per power of two of ns. */
#define SUB 64
#define HBUCKETS (64 * SUB)
static _Atomic uint64_t hist[HBUCKETS];

static int bucket_of(uint64_t ns)
{
    if (ns < SUB)
        return (int)ns;
    int lz = __builtin_clzll(ns);
    int exp = 63 - lz;                       /* ns in [2^exp, 2^(exp+1)) */
    int sub = (int)((ns >> (exp - 6)) & (SUB - 1));
    int b = (exp - 5) * SUB + sub;
    return b < HBUCKETS ? b : HBUCKETS - 1;
}

static uint64_t bucket_value(int b)
{
    if (b < SUB)
        return (uint64_t)b;
    int exp = b / SUB + 5;
    int sub = b % SUB;
    return ((uint64_t)1 << exp) + ((uint64_t)sub << (exp - 6));
}

static double percentile(uint64_t total, double q)
{
    uint64_t want = (uint64_t)(q * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t seen = 0;
    for (int b = 0; b < HBUCKETS; b++) {
        seen += atomic_load_explicit(&hist[b], memory_order_relaxed);
        if (seen > want)
            return (double)bucket_value(b) / 1000.0;
    }
    return 0;
}

static void fill(unsigned char *p, long size, long conn, uint64_t k)
{
    unsigned base = (unsigned)((conn * 31 + (long)(k % 251)) % 251);
    for (long i = 0; i < size; i++)
        p[i] = (unsigned char)((base + (unsigned long)i) % 251);
}

static long check(const unsigned char *p, long size, long conn, uint64_t k)
{
    unsigned base = (unsigned)((conn * 31 + (long)(k % 251)) % 251);
    long bad = 0;
    for (long i = 0; i < size; i++)
        bad += p[i] != (unsigned char)((base + (unsigned long)i) % 251);
    return bad;
}

static void conn_main(void *arg)
{
    long c = (long)(intptr_t)arg;
    unsigned char *out = malloc((size_t)opt_size), *in = malloc((size_t)opt_size);
    int64_t *sent_at = calloc((size_t)opt_depth, sizeof *sent_at);
    int fd = -1;
    if (!out || !in || !sent_at)
        goto fail;
    fd = gr_dial_tcp(opt_addr, 10LL * 1000000000);
    if (fd < 0) {
        fprintf(stderr, "echo-load: dial %s: %s\n", opt_addr, strerror(-fd));
        goto fail;
    }
    uint64_t next_send = 0, next_recv = 0;
    for (;;) {
        /* Fill the window. */
        while (next_send - next_recv < (uint64_t)opt_depth && gr_nanotime() < t_end) {
            fill(out, opt_size, c, next_send);
            sent_at[next_send % (uint64_t)opt_depth] = gr_nanotime();
            if (gr_write_all(fd, out, (size_t)opt_size) != opt_size)
                goto fail;
            next_send++;
        }
        if (next_recv == next_send)
            break;    /* the duration is over and everything came back */
        long got = 0;
        while (got < opt_size) {
            ssize_t n = gr_read(fd, in + got, (size_t)(opt_size - got));
            if (n <= 0)
                goto fail;
            got += n;
        }
        int64_t lat = gr_nanotime() - sent_at[next_recv % (uint64_t)opt_depth];
        long bad = check(in, opt_size, c, next_recv);
        if (bad) {
            atomic_fetch_add(&n_bad_bytes, (uint64_t)bad);
            goto fail;
        }
        atomic_fetch_add_explicit(&hist[bucket_of((uint64_t)lat)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n_msgs, 1, memory_order_relaxed);
        next_recv++;
    }
    goto out;
fail:
    atomic_fetch_add(&n_errors, 1);
out:
    if (fd >= 0)
        gr_close(fd);
    free(out);
    free(in);
    free(sent_at);
    gr_waitgroup_done(&wg);
}

static void load_main(void *arg)
{
    int *rc = arg;
    int64_t start = gr_nanotime();
    t_end = start + (int64_t)(opt_duration * 1e9);
    gr_waitgroup_add(&wg, (int)opt_conns);
    for (long c = 0; c < opt_conns; c++) {
        if (gr_go(conn_main, (void *)(intptr_t)c) < 0) {
            atomic_fetch_add(&n_errors, 1);
            gr_waitgroup_done(&wg);
        }
    }
    gr_waitgroup_wait(&wg);
    double secs = (double)(gr_nanotime() - start) / 1e9;
    uint64_t msgs = atomic_load(&n_msgs);
    printf("echo-load: addr=%s conns=%ld size=%ld depth=%ld duration=%.2fs msgs=%llu "
           "msgs/s=%.0f MB/s=%.2f",
           opt_addr, opt_conns, opt_size, opt_depth, secs, (unsigned long long)msgs,
           (double)msgs / secs, (double)msgs * (double)opt_size * 2 / secs / 1e6);
    if (msgs > 0)
        printf(" p50=%.1fus p99=%.1fus p999=%.1fus", percentile(msgs, 0.50),
               percentile(msgs, 0.99), percentile(msgs, 0.999));
    printf(" errors=%llu bad_bytes=%llu\n", (unsigned long long)n_errors,
           (unsigned long long)n_bad_bytes);
    fflush(stdout);
    *rc = (n_errors == 0 && n_bad_bytes == 0 && msgs > 0) ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo-load [--addr HOST:PORT] [--conns C] [--size S] [--duration SECONDS] "
               "[--depth P] [--procs N]\n");
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
        { "conns", required_argument, NULL, 'c' },
        { "size", required_argument, NULL, 's' },
        { "duration", required_argument, NULL, 'd' },
        { "depth", required_argument, NULL, 'D' },
        { "procs", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a': opt_addr = optarg; break;
        case 'c': if (parse_long(optarg, 1, 1000000, &opt_conns) < 0) goto bad; break;
        case 's': if (parse_long(optarg, 1, 64 << 20, &opt_size) < 0) goto bad; break;
        case 'D': if (parse_long(optarg, 1, 65536, &opt_depth) < 0) goto bad; break;
        case 'p':
            if (parse_long(optarg, 1, 1024, &v) < 0)
                goto bad;
            setenv("GR_MAXPROCS", optarg, 1);
            break;
        case 'd': {
            char *end;
            opt_duration = strtod(optarg, &end);
            if (*end || !(opt_duration > 0))
                goto bad;
            break;
        }
        case 'h':
            usage(stdout);
            printf("\nA goring load client for echo servers; checks every echoed byte.\n"
                   "  --addr HOST:PORT     server (default 127.0.0.1:7000)\n"
                   "  --conns C            connections, one goroutine each (default 64)\n"
                   "  --size S             message size in bytes (default 64)\n"
                   "  --duration SECONDS   how long to send (default 5)\n"
                   "  --depth P            messages in flight per connection (default 1)\n"
                   "  --procs N            Ps (GR_MAXPROCS)\n"
                   "Prints msgs/s and p50/p99/p999 latency; exits 1 on any error.\n");
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;
    int rc = 1;
    int err = gr_main(load_main, &rc);
    if (err < 0) {
        fprintf(stderr, "echo-load: runtime: %s\n", strerror(-err));
        return 1;
    }
    return rc;
bad:
    usage(stderr);
    return 2;
}
