/*
 * examples/http-server.c: an HTTP/1.1 server on goring, one goroutine per
 * connection (the protocol is examples/http.c), with goring/signal.h for
 * graceful shutdown.
 *
 *   http-server [--addr HOST:PORT] [--procs N] [--grace SECONDS]
 *
 * Prints "listening on HOST:PORT" once accepting. SIGINT/SIGTERM (through
 * gr_signal_notify): stop accepting, let live connections finish for up to
 * the grace period (default 5 s), then end the rest with a past deadline,
 * print stats, exit 0.
 */
#include "examples/http.h"

#include <goring.h>
#include <goring/signal.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *opt_addr = "127.0.0.1:8080";
static double opt_grace = 5.0;
static int listener = -1;

static void usage(FILE *f)
{
    fprintf(f, "usage: http-server [--addr HOST:PORT] [--procs N] [--grace SECONDS]\n");
}

static void accept_main(void *arg)
{
    (void)arg;
    http_serve(listener);
}

static void print_addr(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            printf("listening on [%s]:%d\n", host, ntohs(a->sin6_port));
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            printf("listening on %s:%d\n", host, ntohs(a->sin_port));
        }
    }
    fflush(stdout);
}

static void server_main(void *arg)
{
    int *rc = arg;
    gr_chan *sigch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGINT, SIGTERM};
    if (gr_signal_notify(sigch, sigs, 2) < 0) {
        fprintf(stderr, "http-server: signal notify failed\n");
        *rc = 1;
        return;
    }
    listener = gr_listen_tcp(opt_addr, 4096);
    if (listener < 0) {
        fprintf(stderr, "http-server: listen %s: %s\n", opt_addr, strerror(-listener));
        *rc = 1;
        return;
    }
    print_addr(listener);
    int64_t start = gr_nanotime();
    gr_go(accept_main, NULL);
    int sig = 0;
    gr_chan_recv(sigch, &sig);
    gr_signal_stop(sigch);   /* a second ^C kills at once */
    gr_close(listener);
    uint64_t forced = http_shutdown((int64_t)(opt_grace * 1e9));
    double secs = (double)(gr_nanotime() - start) / 1e9;
    struct http_stats st = http_stats();
    printf("http-server: signal %d: %llu connections, %llu requests, %llu error replies, "
           "%llu ended by the grace deadline, %.1f s\n",
           sig, (unsigned long long)st.conns, (unsigned long long)st.requests,
           (unsigned long long)st.errors, (unsigned long long)forced, secs);
    gr_chan_free(sigch);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"addr", required_argument, 0, 'a'},
                                         {"procs", required_argument, 0, 'p'},
                                         {"grace", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "a:p:g:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': opt_addr = optarg; break;
        case 'p': setenv("GR_MAXPROCS", optarg, 1); break;
        case 'g': opt_grace = atof(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int rc = 0;
    int e = gr_main(server_main, &rc);
    if (e < 0) {
        fprintf(stderr, "http-server: gr_main: %s\n", strerror(-e));
        return 1;
    }
    return rc;
}
