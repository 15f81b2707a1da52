/*
 * examples/resp-server.c: a Redis-protocol (RESP2) server on goring, one
 * goroutine per connection (the protocol and the map are examples/resp.c).
 *
 *   resp-server [--addr HOST:PORT] [--procs N]
 *
 * Prints "listening on HOST:PORT" once accepting; SIGINT/SIGTERM (through
 * gr_signal_notify): stop accepting, close connections, print stats, exit 0.
 */
#include "examples/resp.h"

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

static int listener = -1;

static void accept_main(void *arg)
{
    (void)arg;
    resp_serve(listener);
}

struct opts { int rc; const char *addr; };

static void server_main(void *arg)
{
    struct opts *o = arg;
    int *rc = &o->rc;
    const char *addr = o->addr;
    resp_init();
    gr_chan *sigch = gr_chan_make(sizeof(int), 1);
    int sigs[] = {SIGINT, SIGTERM};
    gr_signal_notify(sigch, sigs, 2);
    listener = gr_listen_tcp(addr, 4096);
    if (listener < 0) {
        fprintf(stderr, "resp-server: listen %s: %s\n", addr, strerror(-listener));
        *rc = 1;
        return;
    }
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(listener, (struct sockaddr *)&a, &al);
    char host[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    printf("listening on %s:%d\n", host, ntohs(a.sin_port));
    fflush(stdout);
    gr_go(accept_main, NULL);
    int sig = 0;
    gr_chan_recv(sigch, &sig);
    gr_signal_stop(sigch);
    gr_close(listener);
    resp_close_all();   /* connections end at once */
    struct resp_stats st = resp_stats();
    printf("resp-server: signal %d: %llu connections, %llu commands, %llu protocol errors\n", sig,
           (unsigned long long)st.conns, (unsigned long long)st.cmds,
           (unsigned long long)st.proto_errs);
    gr_chan_free(sigch);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"addr", required_argument, 0, 'a'},
                                         {"procs", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct opts st = {0, "127.0.0.1:6380"};
    int c;
    while ((c = getopt_long(argc, argv, "a:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': st.addr = optarg; break;
        case 'p': setenv("GR_MAXPROCS", optarg, 1); break;
        case 'h': printf("usage: resp-server [--addr HOST:PORT] [--procs N]\n"); return 0;
        default: fprintf(stderr, "usage: resp-server [--addr HOST:PORT] [--procs N]\n"); return 2;
        }
    }
    int e = gr_main(server_main, &st);
    if (e < 0) {
        fprintf(stderr, "resp-server: gr_main: %s\n", strerror(-e));
        return 1;
    }
    return st.rc;
}
