/* tests/io_semantics.c: the I/O contract of API.md on real loopback
 * sockets: close wakes blocked calls with -ECANCELED and the peer sees EOF;
 * deadlines (past, firing, moved while blocked, set in a tight loop);
 * peer reset; short writes and write_all; EMFILE backoff in accept; a
 * 64 MiB write to a slow reader; SIGPIPE never fires; listen/dial forms.
 * No assertion here is about time (those are in io_timing.c). */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#define SEC 1000000000LL

/* ---------- close wakes blocked calls ---------- */

struct blocked {
    int fd;
    int what;          /* 0 recv, 1 accept, 2 poll, 3 connect, 4 read, 5 send */
    _Atomic int started;
    _Atomic long res;
    _Atomic int done;
    struct sockaddr_in to;
};

static void blocker(void *arg)
{
    struct blocked *b = arg;
    char buf[64];
    long r = 0;
    atomic_store(&b->started, 1);
    switch (b->what) {
    case 0: r = gr_recv(b->fd, buf, sizeof buf, 0); break;
    case 1: r = gr_accept(b->fd, NULL, NULL, 0); break;
    case 2: r = gr_poll(b->fd, POLLIN, -1); break;
    case 3: r = gr_connect(b->fd, (struct sockaddr *)&b->to, sizeof b->to); break;
    case 4: r = gr_read(b->fd, buf, sizeof buf); break;
    }
    atomic_store(&b->res, r);
    atomic_store(&b->done, 1);
}

static void wait_done(struct blocked *b)
{
    for (int i = 0; i < 5000 && !atomic_load(&b->done); i++)
        gr_sleep(((1) * MS));
}

static void close_wakes_recv_and_peer_sees_eof(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    struct blocked b = { .fd = s, .what = (int)(intptr_t)arg };
    gr_go(blocker, &b);
    gr_sleep(((50) * MS));
    CHECK_EQ(atomic_load(&b.done), 0);
    CHECK_EQ(gr_close(s), 0);
    wait_done(&b);
    CHECK_EQ(atomic_load(&b.done), 1);
    CHECK_EQ(atomic_load(&b.res), -ECANCELED);
    char buf[8];
    gr_set_deadline(c, GR_READ, gr_nanotime() + 5 * SEC);
    CHECK_EQ(gr_recv(c, buf, sizeof buf, 0), 0);     /* EOF: the socket really closed */
    CHECK_EQ(gr_close(s), -EBADF);                    /* second close */
    CHECK_EQ(gr_close(c), 0);
}

Test(io_semantics, close_wakes_recv, .timeout = 30)
{
    RUN(2, close_wakes_recv_and_peer_sees_eof, (void *)0);
}

Test(io_semantics, close_wakes_read, .timeout = 30)
{
    RUN(2, close_wakes_recv_and_peer_sees_eof, (void *)4);
}

Test(io_semantics, close_wakes_poll, .timeout = 30)
{
    RUN(2, close_wakes_recv_and_peer_sees_eof, (void *)2);
}

static void close_wakes_accept(void *arg)
{
    int l = io_listen(16, NULL, 0);
    CHECKF(l >= 0, "listen: %d", l);
    struct blocked b = { .fd = l, .what = 1 };
    gr_go(blocker, &b);
    gr_sleep(((50) * MS));
    CHECK_EQ(atomic_load(&b.done), 0);
    CHECK_EQ(gr_close(l), 0);
    wait_done(&b);
    CHECK_EQ(atomic_load(&b.res), -ECANCELED);
}

Test(io_semantics, close_wakes_accept, .timeout = 30)
{
    RUN(2, close_wakes_accept, NULL);
}

/* A connect that blocks: the listener's accept queue is full, so the SYN
 * is dropped and the client retransmits. Fill it, then find a connect that
 * does not finish. Returns the blocked connect's record, or NULL. */
static int fillers[32];
static int nfillers;

static struct blocked *blocked_connect(int l, struct blocked *slots, int nslots)
{
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)io_port(l)),
                              .sin_addr = { htonl(INADDR_LOOPBACK) } };
    for (int i = 0; i < nslots; i++) {
        struct blocked *b = &slots[i];
        b->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        b->what = 3;
        b->to = to;
        gr_go(blocker, b);
        for (int k = 0; k < 150 && !atomic_load(&b->done); k++)
            gr_sleep(((1) * MS));
        if (!atomic_load(&b->done)) {
            /* a dropped SYN is retried after 1 s: still pending 300 ms
             * later means blocked, not merely slow on a loaded machine */
            gr_sleep(((300) * MS));
            if (!atomic_load(&b->done))
                return b;
        }
        fillers[nfillers++] = b->fd;
    }
    return NULL;
}

static void close_wakes_connect(void *arg)
{
    int l = io_listen(1, NULL, 0);
    CHECKF(l >= 0, "listen: %d", l);
    struct blocked slots[16];
    memset(slots, 0, sizeof slots);
    nfillers = 0;
    struct blocked *b = blocked_connect(l, slots, 16);
    CHECKF(b != NULL, "no connect blocked on a full backlog of 1");
    CHECKF(nfillers <= 4, "backlog 1 let %d connections in", nfillers);   /* honours the backlog */
    if (b) {
        CHECK_EQ(gr_close(b->fd), 0);
        wait_done(b);
        CHECK_EQ(atomic_load(&b->res), -ECANCELED);
    }
    for (int i = 0; i < nfillers; i++)
        gr_close(fillers[i]);
    gr_close(l);
}

Test(io_semantics, close_wakes_connect_and_backlog_is_honoured, .timeout = 30)
{
    RUN(2, close_wakes_connect, NULL);
}

static void dial_timeout(void *arg)
{
    char addr[64];
    int l = io_listen(1, addr, sizeof addr);
    struct blocked slots[16];
    memset(slots, 0, sizeof slots);
    nfillers = 0;
    struct blocked *b = blocked_connect(l, slots, 16);
    CHECKF(b != NULL, "no connect blocked");
    CHECK_EQ(gr_dial_tcp(addr, ((100) * MS)), -ETIMEDOUT);
    CHECK_EQ(gr_dial_tcp(addr, 0), -ETIMEDOUT);
    if (b) {
        /* a connect with a write deadline */
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        gr_set_deadline(s, GR_WRITE, gr_nanotime() + ((100) * MS));
        CHECK_EQ(gr_connect(s, (struct sockaddr *)&b->to, sizeof b->to), -ETIMEDOUT);
        gr_close(s);
        gr_close(b->fd);
        wait_done(b);
    }
    for (int i = 0; i < nfillers; i++)
        gr_close(fillers[i]);
    gr_close(l);
}

Test(io_semantics, dial_and_connect_time_out, .timeout = 30)
{
    RUN(2, dial_timeout, NULL);
}

/* gr_close from a plain thread wakes a goroutine blocked in recv. */
static int thread_close_fd;
static void *closer_thread(void *arg)
{
    usleep(50 * 1000);
    *(int *)arg = gr_close(thread_close_fd);
    return NULL;
}

static void close_from_thread(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    thread_close_fd = s;
    int rc = 1;
    pthread_t th;
    pthread_create(&th, NULL, closer_thread, &rc);
    char buf[8];
    CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), -ECANCELED);
    gr_syscall_enter();
    pthread_join(th, NULL);
    gr_syscall_exit();
    CHECK_EQ(rc, 0);
    CHECK_EQ(gr_recv(c, buf, sizeof buf, 0), 0);
    gr_close(c);
}

Test(io_semantics, close_from_plain_thread, .timeout = 30)
{
    RUN(2, close_from_thread, NULL);
}

/* Many goroutines blocked on one fd, all woken by one close. */
static void close_wakes_many(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    struct blocked b[20];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 20; i++) {
        b[i].fd = s;
        b[i].what = i % 3 == 0 ? 2 : 0;   /* polls and recvs */
        gr_go(blocker, &b[i]);
    }
    gr_sleep(((50) * MS));
    CHECK_EQ(gr_close(s), 0);
    for (int i = 0; i < 20; i++) {
        wait_done(&b[i]);
        CHECK_EQ(atomic_load(&b[i].res), -ECANCELED);
    }
    gr_close(c);
}

Test(io_semantics, close_wakes_every_waiter, .timeout = 30)
{
    RUN(2, close_wakes_many, NULL);
}

/* ---------- deadlines ---------- */

static void deadline_basic(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    char buf[16];
    memset(buf, 'x', sizeof buf);
    /* past: fails at once, nothing consumed */
    CHECK_EQ(gr_send(c, "ab", 2, 0), 2);
    CHECK_EQ(gr_set_deadline(s, GR_READ, gr_nanotime() - 1), 0);
    CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), -ETIMEDOUT);
    CHECK_EQ(gr_read(s, buf, sizeof buf), -ETIMEDOUT);
    CHECK_EQ(gr_accept(s, NULL, NULL, 0), -ETIMEDOUT);   /* read deadline applies to accept too */
    CHECK_EQ(gr_set_deadline(s, GR_READ, -1), 0);
    CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), 2);

    /* firing while blocked: the buffer is not written after the return */
    CHECK_EQ(gr_set_deadline(s, GR_READ, gr_nanotime() + ((50) * MS)), 0);
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), -ETIMEDOUT);
    CHECK_EQ(gr_send(c, "late", 4, 0), 4);
    gr_sleep(((30) * MS));
    for (size_t i = 0; i < sizeof buf; i++)
        CHECKF(buf[i] == 'x', "buffer written after the call returned");
    /* the data was not lost: a read with the deadline cleared gets it */
    CHECK_EQ(gr_set_deadline(s, GR_READ | GR_WRITE, -1), 0);
    CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), 4);
    CHECKF(memcmp(buf, "late", 4) == 0, "data after a timeout");

    /* write deadline in the past */
    CHECK_EQ(gr_set_deadline(c, GR_WRITE, gr_nanotime() - 1), 0);
    CHECK_EQ(gr_send(c, "z", 1, 0), -ETIMEDOUT);
    CHECK_EQ(gr_write(c, "z", 1), -ETIMEDOUT);
    CHECK_EQ(gr_write_all(c, "z", 1), -ETIMEDOUT);
    /* reads are unaffected by a write deadline */
    CHECK_EQ(gr_send(s, "r", 1, 0), 1);
    CHECK_EQ(gr_recv(c, buf, 1, 0), 1);

    CHECK_EQ(gr_set_deadline(c, 0, -1), -EINVAL);
    CHECK_EQ(gr_set_deadline(c, 4, -1), -EINVAL);
    CHECK_EQ(gr_set_deadline(-1, GR_READ, -1), -EBADF);
    gr_close(c);
    gr_close(s);
    CHECK_EQ(gr_set_deadline(c, GR_READ, -1), -EBADF);
}

Test(io_semantics, deadline_past_and_firing, .timeout = 30)
{
    RUN(2, deadline_basic, NULL);
}

struct mover {
    int fd;
    int mode;     /* 0: earlier (future), 1: into the past, 2: later, 3: clear */
    int peer;
};

static void move_deadline(void *arg)
{
    struct mover *m = arg;
    gr_sleep(((50) * MS));
    switch (m->mode) {
    case 0: gr_set_deadline(m->fd, GR_READ, gr_nanotime() + ((50) * MS)); break;
    case 1: gr_set_deadline(m->fd, GR_READ, gr_nanotime() - 1); break;
    case 2: gr_set_deadline(m->fd, GR_READ, gr_nanotime() + 60 * SEC); break;
    case 3: gr_set_deadline(m->fd, GR_READ, -1); break;
    }
    if (m->mode >= 2) {
        gr_sleep(((800) * MS));   /* past the first deadline: the reader must still wait */
        gr_send(m->peer, "ok", 2, 0);
    }
}

static void deadline_moved(void *arg)
{
    int mode = (int)(intptr_t)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    /* modes 0/1 start with no deadline; 2/3 with one at +500 ms, moved at
     * +50 ms (slack for a loaded machine), data at +850 ms */
    if (mode >= 2)
        gr_set_deadline(s, GR_READ, gr_nanotime() + ((500) * MS));
    struct mover m = { .fd = s, .mode = mode, .peer = c };
    gr_go(move_deadline, &m);
    char buf[8];
    ssize_t r = gr_recv(s, buf, sizeof buf, 0);
    if (mode < 2)
        CHECK_EQ(r, -ETIMEDOUT);
    else
        CHECK_EQ(r, 2);
    gr_close(c);
    gr_close(s);
}

Test(io_semantics, deadline_moved_earlier_while_blocked, .timeout = 30)
{
    RUN(2, deadline_moved, (void *)0);
}

Test(io_semantics, deadline_moved_into_past_while_blocked, .timeout = 30)
{
    RUN(2, deadline_moved, (void *)1);
}

Test(io_semantics, deadline_moved_later_while_blocked, .timeout = 30)
{
    RUN(2, deadline_moved, (void *)2);
}

Test(io_semantics, deadline_cleared_while_blocked, .timeout = 30)
{
    RUN(2, deadline_moved, (void *)3);
}

/* Setting deadlines in a tight loop while another goroutine reads. */
#define TIGHT_MSGS 2000
static _Atomic int tight_stop;

static void tight_setter(void *arg)
{
    int fd = *(int *)arg;
    long i = 0;
    while (!atomic_load(&tight_stop) && i < 2000000) {
        /* alternate near and far deadlines: the near ones fire, cancel,
         * and the reader resubmits or times out */
        int64_t dl = gr_nanotime() + ((i & 1) ? ((1) * MS) : 10 * SEC);
        int r = gr_set_deadline(fd, GR_READ, dl);
        CHECKF(r == 0 || atomic_load(&tight_stop), "set_deadline: %d", r);
        if ((++i & 255) == 0)
            gr_yield();
    }
}

static void tight_writer(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < TIGHT_MSGS; i++) {
        uint32_t v = (uint32_t)i;
        CHECK_EQ(gr_write_all(fd, &v, sizeof v), sizeof v);
        if (i % 16 == 0)
            gr_sleep(100000);
    }
}

static void deadline_tight_loop(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    atomic_store(&tight_stop, 0);
    gr_go(tight_setter, &s);
    gr_go(tight_setter, &s);
    gr_go(tight_writer, &c);
    uint32_t expect = 0;
    unsigned char acc[4];
    size_t have = 0;
    long timeouts = 0;
    while (expect < TIGHT_MSGS) {
        ssize_t r = gr_recv(s, acc + have, sizeof acc - have, 0);
        if (r == -ETIMEDOUT) {
            timeouts++;
            continue;
        }
        CHECKF(r > 0, "recv: %zd", r);
        if (r <= 0)
            break;
        have += (size_t)r;
        if (have == 4) {
            uint32_t v;
            memcpy(&v, acc, 4);
            CHECK_EQ(v, expect);
            expect++;
            have = 0;
        }
    }
    atomic_store(&tight_stop, 1);
    gr_sleep(((10) * MS));
    cr_log_info("tight loop: %ld timeouts over %d messages", timeouts, TIGHT_MSGS);
    gr_close(c);
    gr_close(s);
}

Test(io_semantics, deadline_set_in_tight_loop_while_reading, .timeout = 60)
{
    RUN(2, deadline_tight_loop, NULL);
}

/* ---------- reset, short writes, write_all, SIGPIPE ---------- */

static void reset_by_peer(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    CHECK_EQ(gr_close(c), 0);    /* sends RST */
    gr_sleep(((50) * MS));
    char buf[8];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), -ECONNRESET);
    CHECK_EQ(gr_read(s, buf, sizeof buf), -ECONNRESET);
    struct iovec iov = { buf, sizeof buf };
    CHECK_EQ(gr_readv(s, &iov, 1), -ECONNRESET);
    ssize_t w = gr_send(s, "x", 1, 0);
    CHECKF(w == -EPIPE || w == -ECONNRESET, "send after reset: %zd", w);
    w = gr_write(s, "x", 1);
    CHECKF(w == -EPIPE || w == -ECONNRESET, "write after reset: %zd", w);
    gr_close(s);
}

Test(io_semantics, peer_reset_sticks_on_reads, .timeout = 30)
{
    RUN(2, reset_by_peer, NULL);
}

/* The kernel reports the reset once: when a write takes it, later reads
 * would see EOF; goring keeps them at -ECONNRESET. */
static void reset_seen_by_write_first(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    CHECK_EQ(gr_close(c), 0);
    gr_sleep(((50) * MS));
    ssize_t w = gr_send(s, "x", 1, 0);
    CHECKF(w == -ECONNRESET || w == -EPIPE, "send after reset: %zd", w);
    char buf[8];
    if (w == -ECONNRESET) {
        CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), -ECONNRESET);
        CHECK_EQ(gr_read(s, buf, sizeof buf), -ECONNRESET);
    }
    gr_close(s);
}

Test(io_semantics, peer_reset_taken_by_a_write_still_fails_reads, .timeout = 30)
{
    RUN(2, reset_seen_by_write_first, NULL);
}

/* O_NONBLOCK fds still block the goroutine (io_uring says EAGAIN for
 * them; goring waits for readiness and retries). */
static void late_send(void *arg)
{
    int fd = *(int *)arg;
    gr_sleep(((50) * MS));
    CHECK_EQ(gr_send(fd, "nb", 2, 0), 2);
}

static void late_dial(void *arg)
{
    gr_sleep(((50) * MS));
    int c = gr_dial_tcp((const char *)arg, 5LL * 1000000000);
    CHECKF(c >= 0, "dial: %d", c);
    gr_sleep(((50) * MS));
    gr_close(c);
}

static void nonblocking_fds(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    gr_go(late_send, &c);
    char buf[8];
    CHECK_EQ(gr_recv(s, buf, sizeof buf, 0), 2);
    CHECK_EQ(gr_recv(s, buf, sizeof buf, MSG_DONTWAIT), -EAGAIN);  /* asked not to wait */
    gr_close(c);
    gr_close(s);

    static char addr[64];
    int l = io_listen(8, addr, sizeof addr);
    fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);
    gr_go(late_dial, addr);
    int a = gr_accept(l, NULL, NULL, SOCK_NONBLOCK);
    CHECKF(a >= 0, "accept on an O_NONBLOCK listener: %d", a);
    CHECKF(fcntl(a, F_GETFL) & O_NONBLOCK, "SOCK_NONBLOCK not applied");
    CHECK_EQ(gr_recv(a, buf, sizeof buf, 0), 0);   /* blocks until the dialer closes */
    gr_close(a);
    gr_close(l);
}

Test(io_semantics, nonblocking_fds_still_block_the_goroutine, .timeout = 30)
{
    RUN(2, nonblocking_fds, NULL);
}

/* 16 KiB (the kernel doubles it): far under the defaults, and above the
 * sizes where TCP's silly-window avoidance makes the sender wait for
 * 200 ms persist-timer probes (4 KiB: 1 MiB took 20 s). */
static void small_buffers(int c, int s)
{
    int sz = 16384;
    setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

struct drain {
    int fd;
    size_t n;
};

static void drain_some(void *arg)
{
    struct drain *d = arg;
    char buf[16384];
    gr_sleep(((50) * MS));
    size_t got = 0;
    while (got < d->n) {
        ssize_t r = gr_recv(d->fd, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
}

static void short_writes(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    small_buffers(c, s);
    size_t n = 8 << 20;
    char *big = calloc(1, n);
    ssize_t w = gr_send(c, big, n, 0);
    CHECKF(w > 0 && (size_t)w < n, "send of 8 MiB to a peer not reading: %zd", w);
    /* write_all cut short by a deadline returns the count that went out:
     * the peer reads 256 KiB at +50 ms, so some bytes go out for sure,
     * and far fewer than 8 MiB */
    struct drain d = { .fd = s, .n = 256 << 10 };
    gr_go(drain_some, &d);
    gr_set_deadline(c, GR_WRITE, gr_nanotime() + ((400) * MS));
    w = gr_write_all(c, big, n);
    CHECKF(w > 0 && (size_t)w < n, "write_all cut by a deadline: %zd", w);
    CHECK_EQ(gr_write_all(c, big, n), -ETIMEDOUT);
    free(big);
    gr_close(c);
    gr_close(s);
}

Test(io_semantics, short_send_and_write_all_cut_by_deadline, .timeout = 30)
{
    RUN(2, short_writes, NULL);
}

struct slow {
    int fd;
    size_t n;
    _Atomic size_t got;
    _Atomic long bad;
};

static void slow_reader(void *arg)
{
    struct slow *sr = arg;
    unsigned char buf[8192];
    size_t got = 0;
    long reads = 0;
    while (got < sr->n) {
        ssize_t r = gr_recv(sr->fd, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) % 251))
                atomic_fetch_add(&sr->bad, 1);
        got += (size_t)r;
        if (++reads % 512 == 0)
            gr_sleep(((1) * MS));     /* slow */
    }
    atomic_store(&sr->got, got);
}

static void write_64m_slow_reader(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    small_buffers(c, s);
    size_t n = 64 << 20;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i % 251);
    struct slow sr = { .fd = s, .n = n };
    gr_go(slow_reader, &sr);
    CHECK_EQ(gr_write_all(c, big, n), n);
    for (int i = 0; i < 30000 && atomic_load(&sr.got) < n; i++)
        gr_sleep(((1) * MS));
    CHECK_EQ(atomic_load(&sr.got), n);
    CHECK_EQ(atomic_load(&sr.bad), 0);
    free(big);
    gr_close(c);
    gr_close(s);
}

Test(io_semantics, write_64mib_to_slow_reader, .timeout = 120)
{
    RUN(2, write_64m_slow_reader, NULL);
}

static void sigpipe_socket(void *arg)
{
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    CHECK_EQ(gr_close(s), 0);
    gr_sleep(((20) * MS));
    char buf[4096] = { 0 };
    struct iovec iov = { buf, sizeof buf };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    int pipes = 0;
    for (int i = 0; i < 20; i++) {
        ssize_t r;
        switch (i % 4) {
        case 0: r = gr_send(c, buf, sizeof buf, 0); break;
        case 1: r = gr_write(c, buf, sizeof buf); break;
        case 2: r = gr_writev(c, &iov, 1); break;
        default: r = gr_sendmsg(c, &msg, 0); break;
        }
        CHECKF(r > 0 || r == -EPIPE || r == -ECONNRESET, "write to a closed peer: %zd", r);
        pipes += r == -EPIPE;
    }
    CHECKF(pipes > 0, "no -EPIPE seen");
    gr_close(c);
}

Test(io_semantics, sigpipe_never_fires_on_sockets, .timeout = 30)
{
    /* SIGPIPE at its default: if it fired, the test process would die. */
    signal(SIGPIPE, SIG_DFL);
    RUN(2, sigpipe_socket, NULL);
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    cr_expect(sa.sa_handler == SIG_DFL, "socket writes alone need no SIGPIPE change");
}

static void sigpipe_pipe(void *arg)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(gr_close(p[0]), 0);
    CHECK_EQ(gr_write(p[1], "x", 1), -EPIPE);
    CHECK_EQ(gr_write_all(p[1], "xy", 2), -EPIPE);
    gr_close(p[1]);
}

Test(io_semantics, sigpipe_never_fires_on_pipes, .timeout = 30)
{
    signal(SIGPIPE, SIG_DFL);
    RUN(2, sigpipe_pipe, NULL);
}

/* ---------- accept backs off on EMFILE ---------- */

#define EMF_CLIENTS 8
static _Atomic int emf_accepted, emf_release;
static int emf_held[EMF_CLIENTS];

static void emf_acceptor(void *arg)
{
    int l = *(int *)arg;
    while (atomic_load(&emf_accepted) < EMF_CLIENTS) {
        int fd = gr_accept(l, NULL, NULL, 0);
        if (fd < 0) {
            CHECKF(fd == -ECANCELED, "accept: %d", fd);
            return;
        }
        int k = atomic_fetch_add(&emf_accepted, 1);
        if (atomic_load(&emf_release))
            gr_close(fd);
        else
            emf_held[k] = fd;
    }
}

static void emfile_backoff(void *arg)
{
    int l = io_listen(64, NULL, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)io_port(l)),
                              .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int cl[EMF_CLIENTS];
    for (int i = 0; i < EMF_CLIENTS; i++)
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    /* room for two accepted fds, then EMFILE */
    low = old;
    low.rlim_cur = (rlim_t)(io_count_fds() + 2);
    /* fds above the new limit make the count meaningless: find the highest */
    int maxfd = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            maxfd = fd;
    if (low.rlim_cur < (rlim_t)maxfd + 3)
        low.rlim_cur = (rlim_t)maxfd + 3;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    gr_go(emf_acceptor, &l);
    for (int i = 0; i < EMF_CLIENTS; i++)
        CHECK_EQ(gr_connect(cl[i], (struct sockaddr *)&to, sizeof to), 0);
    struct gr_stats st0, st1;
    gr_sleep(((50) * MS));
    gr_stats(&st0);
    gr_sleep(((300) * MS));
    gr_stats(&st1);
    int stuck = atomic_load(&emf_accepted);
    CHECKF(stuck < EMF_CLIENTS, "accepted all %d under a limit of %d fds", stuck,
             (int)low.rlim_cur);
    /* backing off, not spinning: 1 ms doubling to 100 ms is ~10 attempts in
     * 300 ms; a spinning accept would submit thousands */
    if (st1.sqes_submitted > 0)
        CHECKF(st1.sqes_submitted - st0.sqes_submitted < 2000,
                 "%llu SQEs in 300 ms of EMFILE", (unsigned long long)(st1.sqes_submitted - st0.sqes_submitted));
    /* free fds: accept picks up the rest */
    atomic_store(&emf_release, 1);
    for (int i = 0; i < stuck; i++)
        gr_close(emf_held[i]);
    for (int i = 0; i < 5000 && atomic_load(&emf_accepted) < EMF_CLIENTS; i++)
        gr_sleep(((1) * MS));
    CHECK_EQ(atomic_load(&emf_accepted), EMF_CLIENTS);
    setrlimit(RLIMIT_NOFILE, &old);
    for (int i = 0; i < EMF_CLIENTS; i++)
        gr_close(cl[i]);
    gr_close(l);
}

Test(io_semantics, accept_backs_off_on_emfile, .timeout = 30)
{
    RUN(2, emfile_backoff, NULL);
}

/* ---------- listen and dial ---------- */

static void addr_forms(void *arg)
{
    int l = gr_listen_tcp("127.0.0.1:0", 8);
    CHECKF(l >= 0, "listen 127.0.0.1:0: %d", l);
    int port = io_port(l);
    CHECKF(port > 0, "port 0 picked %d", port);
    CHECKF(fcntl(l, F_GETFD) & FD_CLOEXEC, "listener not close-on-exec");
    int one = 0;
    socklen_t len = sizeof one;
    getsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, &len);
    CHECKF(one != 0, "SO_REUSEADDR not set");
    char a[64];
    snprintf(a, sizeof a, "localhost:%d", port);
    int c = gr_dial_tcp(a, 5 * SEC);
    /* localhost may resolve to ::1 first: that connect is refused, 127.0.0.1 follows */
    CHECKF(c >= 0, "dial %s: %d", a, c);
    int s = gr_accept(l, NULL, NULL, 0);
    CHECKF(s >= 0, "accept: %d", s);
    CHECKF(fcntl(s, F_GETFD) & FD_CLOEXEC, "accepted fd not close-on-exec");
    int nd = 0;
    len = sizeof nd;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, &len);
    CHECKF(nd != 0, "dialed socket without TCP_NODELAY");
    gr_close(c);
    gr_close(s);
    gr_close(l);

    l = gr_listen_tcp(":0", 8);
    CHECKF(l >= 0, "listen :0: %d", l);
    snprintf(a, sizeof a, "127.0.0.1:%d", io_port(l));
    c = gr_dial_tcp(a, 5 * SEC);
    CHECKF(c >= 0, "dial %s to a :port listener: %d", a, c);
    gr_close(c);
    gr_close(l);

    l = gr_listen_tcp("[::1]:0", 8);
    if (l >= 0) {
        snprintf(a, sizeof a, "[::1]:%d", io_port(l));
        c = gr_dial_tcp(a, 5 * SEC);
        CHECKF(c >= 0, "dial %s: %d", a, c);
        s = gr_accept(l, NULL, NULL, 0);
        CHECKF(s >= 0, "accept v6: %d", s);
        CHECK_EQ(gr_write_all(c, "v6", 2), 2);
        char b[2];
        CHECK_EQ(io_read_full(s, b, 2), 2);
        gr_close(c);
        gr_close(s);
        gr_close(l);
    } else {
        cr_log_warn("no IPv6 loopback here: %s", strerror(-l));
    }

    CHECK_EQ(gr_listen_tcp("127.0.0.1", 8), -EINVAL);
    CHECK_EQ(gr_listen_tcp("[::1]", 8), -EINVAL);
    CHECK_EQ(gr_listen_tcp("::1:80", 8), -EINVAL);
    CHECK_EQ(gr_listen_tcp(":99999", 8), -EINVAL);
    CHECK_EQ(gr_listen_tcp(NULL, 8), -EINVAL);
    CHECK_EQ(gr_dial_tcp("nonsense", 5 * SEC), -EINVAL);
    int r = gr_dial_tcp("no-such-host.invalid:80", 5 * SEC);
    CHECKF(r == -ENOENT || r == -EAGAIN, "unresolvable: %d", r);

    /* refused */
    l = gr_listen_tcp("127.0.0.1:0", 8);
    snprintf(a, sizeof a, "127.0.0.1:%d", io_port(l));
    gr_close(l);
    CHECK_EQ(gr_dial_tcp(a, 5 * SEC), -ECONNREFUSED);
}

Test(io_semantics, listen_and_dial_address_forms, .timeout = 30)
{
    RUN(2, addr_forms, NULL);
}

/* ---------- a later runtime after goroutines were abandoned in I/O ---------- */

static int ab_c = -1, ab_s = -1, ab_c2 = -1, ab_s2 = -1;
static struct blocked ab_b1, ab_b2;

static void abandon_run1(void *arg)
{
    CHECK_EQ(io_pair(&ab_c, &ab_s), 0);
    CHECK_EQ(io_pair(&ab_c2, &ab_s2), 0);
    gr_set_deadline(ab_s, GR_READ, gr_nanotime() + 60 * SEC);
    ab_b1 = (struct blocked){ .fd = ab_s, .what = 0 };
    ab_b2 = (struct blocked){ .fd = ab_s2, .what = 0 };
    gr_go(blocker, &ab_b1);
    gr_go(blocker, &ab_b2);
    gr_sleep(((30) * MS));
    /* return: both blockers are abandoned in gr_recv, as Go abandons them */
}

static void abandon_run2(void *arg)
{
    char buf[8];
    /* ab_s was closed between the runtimes: its peer sees EOF */
    CHECK_EQ(gr_set_deadline(ab_c, GR_READ, gr_nanotime() + 5 * SEC), 0);
    CHECK_EQ(gr_recv(ab_c, buf, sizeof buf, 0), 0);
    /* ab_s2 still has the first runtime's op record: it must be forgotten */
    CHECK_EQ(gr_set_deadline(ab_s2, GR_READ, gr_nanotime() - 1), 0);
    CHECK_EQ(gr_recv(ab_s2, buf, sizeof buf, 0), -ETIMEDOUT);
    CHECK_EQ(gr_set_deadline(ab_s2, GR_READ, -1), 0);
    CHECK_EQ(gr_send(ab_c2, "r2", 2, 0), 2);
    CHECK_EQ(gr_recv(ab_s2, buf, sizeof buf, 0), 2);
    CHECK_EQ(gr_close(ab_s2), 0);
    CHECK_EQ(gr_close(ab_c2), 0);
    CHECK_EQ(gr_close(ab_c), 0);
}

Test(io_semantics, later_runtime_forgets_abandoned_ops, .timeout = 30)
{
    RUN(2, abandon_run1, NULL);
    cr_assert_eq(atomic_load(&ab_b1.done), 0, "the blocker was abandoned, not woken");
    /* no runtime: nothing is in flight, close must not wait for the records */
    cr_assert_eq(gr_close(ab_s), 0);
    RUN(2, abandon_run2, NULL);
}

/* ---------- vectors, messages, poll ---------- */

static void late_write(void *arg)
{
    int fd = *(int *)arg;
    gr_sleep(((30) * MS));
    CHECK_EQ(gr_write(fd, "w", 1), 1);
}

static void msg_vec_poll(void *arg)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* writev on a socket (a sendmsg), readv */
    struct iovec wv[3] = { { "ab", 2 }, { "cde", 3 }, { "f", 1 } };
    CHECK_EQ(gr_writev(sv[0], wv, 3), 6);
    char x[4] = { 0 }, y[4] = { 0 };
    struct iovec rv[2] = { { x, 4 }, { y, 2 } };
    CHECK_EQ(gr_readv(sv[1], rv, 2), 6);
    CHECKF(memcmp(x, "abcd", 4) == 0 && memcmp(y, "ef", 2) == 0, "readv");

    /* sendmsg with an fd (SCM_RIGHTS), recvmsg */
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = { "m", 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                          .msg_controllen = sizeof u.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
    CHECK_EQ(gr_sendmsg(sv[0], &msg, 0), 1);
    char m = 0;
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u2;
    memset(&u2, 0, sizeof u2);
    struct iovec riov = { &m, 1 };
    struct msghdr rmsg = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = u2.buf,
                           .msg_controllen = sizeof u2.buf };
    CHECK_EQ(gr_recvmsg(sv[1], &rmsg, MSG_CMSG_CLOEXEC), 1);
    CHECKF(m == 'm', "recvmsg data");
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rmsg);
    CHECKF(rc && rc->cmsg_type == SCM_RIGHTS, "no fd received");
    if (rc && rc->cmsg_type == SCM_RIGHTS) {
        int passed;
        memcpy(&passed, CMSG_DATA(rc), sizeof passed);
        CHECK_EQ(gr_write(passed, "z", 1), 1);          /* the passed pipe end works */
        char z = 0;
        CHECK_EQ(gr_read(p[0], &z, 1), 1);
        CHECKF(z == 'z', "pipe through a passed fd");
        gr_close(passed);
    }
    CHECK_EQ(gr_recvmsg(sv[1], NULL, 0), -EFAULT);

    /* poll: writable at once; readable when the peer writes; HUP after close */
    CHECK_EQ(gr_poll(sv[0], POLLOUT, -1) & POLLOUT, POLLOUT);
    CHECK_EQ(gr_poll(sv[1], POLLIN, 0), 0);
    gr_go(late_write, &sv[0]);
    int r = gr_poll(sv[1], POLLIN, -1);
    CHECKF(r & POLLIN, "poll revents %#x", r);
    char w;
    CHECK_EQ(gr_read(sv[1], &w, 1), 1);
    CHECK_EQ(gr_close(sv[0]), 0);
    r = gr_poll(sv[1], POLLIN, -1);
    CHECKF(r & (POLLIN | POLLHUP), "poll after the peer closed: %#x", r);
    CHECK_EQ(gr_read(sv[1], &w, 1), 0);
    CHECK_EQ(gr_poll(-1, POLLIN, -1), -EBADF);
    gr_close(sv[1]);
    gr_close(p[0]);
    gr_close(p[1]);
}

Test(io_semantics, vectors_messages_fd_passing_and_poll, .timeout = 30)
{
    RUN(2, msg_vec_poll, NULL);
}

/* The hand-off rule under COOP_TASKRUN: a recv submitted by an M that then
 * blocks in a bracketed call (a pipe read) still completes while that M
 * sleeps: the kernel wakes an interruptible sleeper to run the task work,
 * and the call resumes. The plain thread writes the data, waits for the
 * receiver to report, and only then releases the blocked call. */
struct handoff_case {
    int c, s, pipefd[2];
    _Atomic int received;
    int seen_before_release;
};

static void handoff_receiver(void *arg)
{
    struct handoff_case *h = arg;
    char b[4];
    if (gr_recv(h->s, b, sizeof b, 0) == 1)
        atomic_store(&h->received, 1);
}

static void *handoff_writer(void *arg)
{
    struct handoff_case *h = arg;
    usleep(20000);
    if (send(h->c, "x", 1, MSG_NOSIGNAL) != 1)
        return NULL;
    for (int i = 0; i < 500 && !atomic_load(&h->received); i++)
        usleep(10000);
    h->seen_before_release = atomic_load(&h->received);
    char one = 1;
    if (write(h->pipefd[1], &one, 1) != 1)
        return NULL;
    return NULL;
}

static void handoff_completes(void *arg)
{
    struct handoff_case h;
    memset(&h, 0, sizeof h);
    CHECK_EQ(io_pair(&h.c, &h.s), 0);
    CHECK_EQ(pipe(h.pipefd), 0);
    gr_go(handoff_receiver, &h);
    gr_sleep(((5) * MS));   /* the receiver's SQE goes to the kernel from this M */
    pthread_t th;
    pthread_create(&th, NULL, handoff_writer, &h);
    char b;
    gr_syscall_enter();
    ssize_t r = read(h.pipefd[0], &b, 1);   /* this M sleeps here */
    gr_syscall_exit();
    pthread_join(th, NULL);
    CHECK_EQ(r, 1);
    CHECK_EQ(h.seen_before_release, 1);
    for (int i = 0; i < 100 && !atomic_load(&h.received); i++)
        gr_sleep(((1) * MS));
    close(h.pipefd[0]);
    close(h.pipefd[1]);
    gr_close(h.c);
    gr_close(h.s);
}

Test(io_semantics, completion_owed_by_blocked_m_arrives, .timeout = 30)
{
    for (int i = 0; i < 5; i++) {
        RUN(1, handoff_completes, NULL);
        RUN(2, handoff_completes, NULL);
    }
}
