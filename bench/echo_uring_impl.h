/*
 * bench/echo_uring_impl.h: the hand-written liburing echo server, the
 * baseline goring's echo server is measured against (issue 3). Included
 * by echo_uring_single.c (one worker) and echo_uring_mt.c (--procs workers,
 * one ring each). Plain liburing, no goring.
 *
 * Each worker: its own ring and its own SO_REUSEPORT listener with a
 * multishot accept (re-armed when the kernel ends it; a one-shot accept
 * where multishot is refused). Each connection owns one buffer of
 * --bufsize bytes and has exactly one request in flight: recv into the
 * buffer; on n > 0 bytes, send them (again for the rest after a short
 * send); then recv again; on EOF or error, close. The loop submits what
 * the last batch of completions queued and waits for at least one
 * completion in one io_uring_submit_and_wait call, then handles every
 * completion ready: one system call serves many connections.
 *
 * --setup picks the ring flags: plain (none), coop (COOP_TASKRUN |
 * TASKRUN_FLAG: no IPI to run completion work), defer (SINGLE_ISSUER |
 * DEFER_TASKRUN: completion work runs only when this thread waits, the
 * fastest mode for a thread that owns its ring; the default). A flag the
 * kernel refuses falls back to plain, with a line on stderr.
 */
#ifndef GR_BENCH_ECHO_URING_IMPL_H
#define GR_BENCH_ECHO_URING_IMPL_H

#include <liburing.h>

#include "echo_common.h"

#define RING_ENTRIES 4096

enum { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2 };

struct conn {
    int fd;
    unsigned len, off; /* bytes in buf; bytes of them sent */
    char buf[];
};

struct worker {
    int id, lfd;
    size_t bufsize;
    unsigned setup_flags;
    struct io_uring ring;
    pthread_t thr;
};

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(ring)))
        io_uring_submit(ring); /* SQ full: flush and retry */
    return sqe;
}

static inline uint64_t ud(void *p, int op) { return (uint64_t)(uintptr_t)p | (uint64_t)op; }

static int multishot_ok = 1;

static void arm_accept(struct worker *w)
{
    struct io_uring_sqe *sqe = get_sqe(&w->ring);
    if (multishot_ok)
        io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud(NULL, OP_ACCEPT));
}

static void arm_recv(struct worker *w, struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(&w->ring);
    io_uring_prep_recv(sqe, c->fd, c->buf, w->bufsize, 0);
    io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
}

static void arm_send(struct worker *w, struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(&w->ring);
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c);
}

static void on_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)3);
    int res = cqe->res;

    switch ((int)(data & 3)) {
    case OP_ACCEPT:
        if (res >= 0) {
            struct conn *nc = malloc(sizeof *nc + w->bufsize);
            if (!nc) {
                close(res);
            } else {
                nc->fd = res;
                echo_nodelay(res);
                echo_count(&echo_stats[w->id].accepted);
                arm_recv(w, nc);
            }
        } else if (res == -EINVAL && multishot_ok) {
            multishot_ok = 0; /* kernel without multishot accept */
        }
        if (!(cqe->flags & IORING_CQE_F_MORE))
            arm_accept(w);
        break;
    case OP_RECV:
        if (res <= 0) {
            conn_close(c);
            break;
        }
        echo_count(&echo_stats[w->id].reads);
        c->len = (unsigned)res;
        c->off = 0;
        arm_send(w, c);
        break;
    case OP_SEND:
        if (res < 0) {
            conn_close(c);
            break;
        }
        c->off += (unsigned)res;
        if (c->off < c->len)
            arm_send(w, c);
        else
            arm_recv(w, c);
        break;
    }
}

static void *worker_loop(void *arg)
{
    struct worker *w = arg;
    /* SINGLE_ISSUER binds the ring to the thread that first submits: set
     * the ring up here, in the thread that will use it. */
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = w->setup_flags | IORING_SETUP_CQSIZE;
    p.cq_entries = RING_ENTRIES * 2;
    int rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
    if (rc == -EINVAL && w->setup_flags) {
        fprintf(stderr, "echo_uring: setup flags %#x refused, using none\n", w->setup_flags);
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = RING_ENTRIES * 2;
        rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
    }
    if (rc < 0) {
        fprintf(stderr, "echo_uring: io_uring_queue_init: %s\n", strerror(-rc));
        exit(1);
    }
    arm_accept(w);
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        rc = io_uring_submit_and_wait(&w->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "echo_uring: submit_and_wait: %s\n", strerror(-rc));
            exit(1);
        }
        io_uring_for_each_cqe(&w->ring, head, cqe) {
            on_cqe(w, cqe);
            n++;
        }
        io_uring_cq_advance(&w->ring, n);
    }
    return NULL;
}

static struct echo_opts opts;
static struct worker *workers;

static void start_workers(void *arg)
{
    int n = *(int *)arg;
    unsigned flags = 0;
    if (!strcmp(opts.setup, "coop"))
        flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    else if (!strcmp(opts.setup, "defer"))
        flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    else if (strcmp(opts.setup, "plain")) {
        fprintf(stderr, "--setup: plain, coop or defer\n");
        exit(2);
    }
    workers = calloc((size_t)n, sizeof *workers);
    for (int i = 0; i < n; i++) {
        /* every listener exists before "listening on" is printed */
        workers[i].id = i;
        workers[i].lfd = echo_listen(opts.addr, 0);
        workers[i].bufsize = opts.bufsize;
        workers[i].setup_flags = flags;
    }
    for (int i = 0; i < n; i++)
        if (pthread_create(&workers[i].thr, NULL, worker_loop, &workers[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
}

static int echo_uring_main(int argc, char **argv, int single)
{
    echo_parse(argc, argv, &opts);
    int n = single ? 1 : opts.procs;
    echo_run(opts.addr, start_workers, &n);
    return 0;
}

#endif
