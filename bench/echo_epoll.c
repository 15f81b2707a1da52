/*
 * echo_epoll: hand-written epoll echo server (issue 3's epoll baseline).
 *
 *   echo_epoll --addr HOST:PORT [--procs N] [--bufsize B]
 *
 * --procs N threads (default 1), each with its own epoll instance and its
 * own SO_REUSEPORT listener (see echo_common.h). Level-triggered;
 * non-blocking sockets; each connection owns one --bufsize buffer. On
 * readable: one read; write it back at once; what the socket does not take
 * waits for EPOLLOUT, and the connection is not read again until it is
 * flushed (so it never buffers more than one read).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <fcntl.h>
#include <sys/epoll.h>

#include "echo_common.h"

struct conn {
    int fd;
    unsigned len, off; /* bytes in buf not yet fully written: off..len */
    char buf[];
};

struct worker {
    int id, lfd, ep;
    size_t bufsize;
    pthread_t thr;
};

static void conn_close(struct worker *w, struct conn *c)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void set_events(struct worker *w, struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void accept_all(struct worker *w)
{
    for (;;) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE and friends: level-triggered, retried */
        struct conn *c = malloc(sizeof *c + w->bufsize);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->len = c->off = 0;
        echo_nodelay(fd);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e);
        echo_count(&echo_stats[w->id].accepted);
    }
}

/* Writes buf[off..len); 1 when all is out, 0 when the socket is full, -1 on error. */
static int flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->off += (unsigned)n;
    }
    return 1;
}

static void on_readable(struct worker *w, struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf, w->bufsize, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(w, c);
        return;
    }
    echo_count(&echo_stats[w->id].reads);
    c->len = (unsigned)n;
    c->off = 0;
    int r = flush(c);
    if (r < 0)
        conn_close(w, c);
    else if (r == 0)
        set_events(w, c, EPOLLOUT);
}

static void on_writable(struct worker *w, struct conn *c)
{
    int r = flush(c);
    if (r < 0)
        conn_close(w, c);
    else if (r == 1)
        set_events(w, c, EPOLLIN);
}

static void *worker_loop(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(w->ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c)
                accept_all(w);
            else if (evs[i].events & EPOLLOUT)
                on_writable(w, c);
            else
                on_readable(w, c); /* EPOLLIN, EPOLLHUP, EPOLLERR: recv tells */
        }
    }
    return NULL;
}

static struct echo_opts opts;

static void start_workers(void *arg)
{
    (void)arg;
    struct worker *ws = calloc((size_t)opts.procs, sizeof *ws);
    for (int i = 0; i < opts.procs; i++) {
        struct worker *w = &ws[i];
        w->id = i;
        w->bufsize = opts.bufsize;
        w->lfd = echo_listen(opts.addr, SOCK_NONBLOCK);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
        if (w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &e) < 0) {
            perror("epoll");
            exit(1);
        }
    }
    for (int i = 0; i < opts.procs; i++)
        if (pthread_create(&ws[i].thr, NULL, worker_loop, &ws[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
}

int main(int argc, char **argv)
{
    echo_parse(argc, argv, &opts);
    echo_run(opts.addr, start_workers, NULL);
    return 0;
}
