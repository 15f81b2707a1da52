/* tests/io_bufio.c: gr_reader / gr_writer (goring/bufio.h) on loopback
 * sockets and pipes: fragmented and oversized input, every reader call,
 * the writer's buffering, flush, printf and sticky errors, and deadlines
 * and close behaving as on the raw fd. */
#include "harness.h"

#include <fcntl.h>
#include <goring/bufio.h>

static int64_t ms(int64_t n) { return n * MS; }

/* ---------- a peer that sends a script of fragments ---------- */

struct frag {
    const char *p;
    size_t n;        /* 0: strlen(p) */
    int64_t gap_ms;  /* sleep before sending */
};

struct script {
    int fd;
    const struct frag *f;
    int nf;
    bool close_after;
    gr_waitgroup *wg;
};

static void sender(void *arg)
{
    struct script *s = arg;
    for (int i = 0; i < s->nf; i++) {
        if (s->f[i].gap_ms)
            gr_sleep(ms(s->f[i].gap_ms));
        size_t n = s->f[i].n ? s->f[i].n : strlen(s->f[i].p);
        CHECK_EQ(gr_write_all(s->fd, s->f[i].p, n), n);
    }
    if (s->close_after)
        shutdown(s->fd, SHUT_WR);
    gr_waitgroup_done(s->wg);
}

/* Send each byte of str separately, 1 ms apart. */
static void send_bytewise(int fd, const char *str)
{
    for (; *str; str++) {
        CHECK_EQ(gr_write_all(fd, str, 1), 1);
        gr_sleep(ms(1));
    }
}

#define LINE_EQ(n, line, want)                                                       \
    do {                                                                             \
        ssize_t len_ = (n);                                                            \
        CHECKF(len_ == (ssize_t)strlen(want) && memcmp(line, want, strlen(want)) == 0, \
                 "got %zd '%.*s', want '%s'", len_, len_ > 0 ? (int)len_ : 0,             \
                 len_ > 0 ? line : "", want);                                          \
    } while (0)

/* ---------- reader ---------- */

static void t_fragmented_lines(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    static const struct frag f[] = {
        {"hel", 0, 0}, {"lo\nwor", 0, 5}, {"ld", 0, 5}, {"\n\nlast", 0, 5}};
    struct script sc = {c, f, 4, true, &wg};
    gr_waitgroup_add(&wg, 1);
    gr_go(sender, &sc);
    gr_reader *r = gr_reader_new(s, 16);
    CHECKF(r != NULL, "reader");
    const char *line;
    ssize_t n = gr_reader_read_slice(r, '\n', &line);
    LINE_EQ(n, line, "hello\n");
    n = gr_reader_read_slice(r, '\n', &line);
    LINE_EQ(n, line, "world\n");
    n = gr_reader_read_slice(r, '\n', &line);
    LINE_EQ(n, line, "\n");
    /* "last" has no delimiter: end of stream leaves it buffered. */
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), 0);
    CHECK_EQ(gr_reader_buffered(r), 4);
    char buf[8];
    CHECK_EQ(gr_reader_read(r, buf, sizeof buf), 4);
    CHECKF(memcmp(buf, "last", 4) == 0, "tail");
    CHECK_EQ(gr_reader_read(r, buf, sizeof buf), 0);
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), 0);
    gr_waitgroup_wait(&wg);
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, fragmented_lines, .timeout = 20) { RUN(2, t_fragmented_lines, NULL); }

/* Bytes one at a time, 1 ms apart: every line still comes out whole. */
struct bytewise { int fd; const char *str; gr_waitgroup *wg; };
static void bytewise_sender(void *arg)
{
    struct bytewise *b = arg;
    send_bytewise(b->fd, b->str);
    shutdown(b->fd, SHUT_WR);
    gr_waitgroup_done(b->wg);
}

static void t_bytewise(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    struct bytewise b = {c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &wg};
    gr_waitgroup_add(&wg, 1);
    gr_go(bytewise_sender, &b);
    gr_reader *r = gr_reader_new(s, 0);
    const char *line;
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "GET / HTTP/1.1\r\n");
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "Host: x\r\n");
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "\r\n");
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), 0);
    CHECK_EQ(gr_reader_buffered(r), 0);
    gr_waitgroup_wait(&wg);
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, bytewise_fragments, .timeout = 20) { RUN(2, t_bytewise, NULL); }

/* A line longer than the buffer: -ENOBUFS with a view of the full buffer,
 * nothing consumed (the same answer again), discard skips it; the line's
 * end is then read normally. */
static void t_oversized_line(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    char big[41];
    for (int i = 0; i < 40; i++)
        big[i] = (char)('a' + i % 26);
    big[40] = 0;
    CHECK_EQ(gr_write_all(c, big, 40), 40);
    CHECK_EQ(gr_write_all(c, "\nok\n", 4), 4);
    gr_reader *r = gr_reader_new(s, 16);
    const char *line;
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), -ENOBUFS);
    CHECKF(memcmp(line, big, 16) == 0, "view is the buffer's start");
    CHECK_EQ(gr_reader_buffered(r), 16);
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), -ENOBUFS);
    CHECKF(memcmp(line, big, 16) == 0, "nothing consumed");
    CHECK_EQ(gr_reader_discard(r, 16), 16);
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), -ENOBUFS);
    CHECKF(memcmp(line, big + 16, 16) == 0, "second chunk");
    CHECK_EQ(gr_reader_discard(r, 16), 16);
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "ghijklmn\n");
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "ok\n");
    /* A line of exactly the buffer's size (delimiter included) fits. */
    CHECK_EQ(gr_write_all(c, "0123456789abcde\n", 16), 16);
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "0123456789abcde\n");
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, oversized_line, .timeout = 20) { RUN(1, t_oversized_line, NULL); }

/* read_full across many small fragments into a small buffer; a stream
 * that ends inside the request gives -ENODATA, at a boundary 0. */
static void t_read_full(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    enum { N = 10000 };
    static char src[N], dst[N];
    for (int i = 0; i < N; i++)
        src[i] = (char)(i * 7 + 3);
    struct frag f[40];
    for (int i = 0; i < 40; i++)
        f[i] = (struct frag){src + i * 250, 250, i % 4 == 0};
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    struct script sc = {c, f, 40, false, &wg};
    gr_waitgroup_add(&wg, 1);
    gr_go(sender, &sc);
    gr_reader *r = gr_reader_new(s, 64);
    CHECK_EQ(gr_reader_read_full(r, dst, 10), 10);
    CHECK_EQ(gr_reader_read_full(r, dst + 10, N - 10), N - 10);
    CHECKF(memcmp(src, dst, N) == 0, "content");
    gr_waitgroup_wait(&wg);
    CHECK_EQ(gr_write_all(c, "abcde", 5), 5);
    shutdown(c, SHUT_WR);
    char buf[16];
    CHECK_EQ(gr_reader_read_full(r, buf, 3), 3);
    CHECK_EQ(gr_reader_read_full(r, buf, 10), -ENODATA);
    CHECKF(memcmp(buf, "de", 2) == 0, "partial bytes are in buf");
    CHECK_EQ(gr_reader_read_full(r, buf, 10), 0);
    CHECK_EQ(gr_reader_read_full(r, buf, 0), 0);
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, read_full, .timeout = 20) { RUN(2, t_read_full, NULL); }

static void t_peek_discard_buffered(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    static const struct frag f[] = {{"ab", 0, 0}, {"cd", 0, 5}, {"efghijklmnopqrstuvwxyz", 0, 5}};
    struct script sc = {c, f, 3, true, &wg};
    gr_waitgroup_add(&wg, 1);
    gr_go(sender, &sc);
    gr_reader *r = gr_reader_new(s, 16);
    const char *p;
    CHECK_EQ(gr_reader_peek(r, 4, &p), 4);   /* waits for the second fragment */
    CHECKF(memcmp(p, "abcd", 4) == 0, "peek");
    CHECKF(gr_reader_buffered(r) >= 4, "buffered %zu", gr_reader_buffered(r));
    CHECK_EQ(gr_reader_peek(r, 2, &p), 2);   /* not consumed */
    CHECKF(memcmp(p, "ab", 2) == 0, "peek again");
    CHECK_EQ(gr_reader_peek(r, 17, &p), -ENOBUFS);
    CHECK_EQ(gr_reader_discard(r, 3), 3);
    char ch;
    CHECK_EQ(gr_reader_read(r, &ch, 1), 1);
    CHECK_EQ(ch, 'd');
    /* peek of the whole buffer's size slides the unread bytes to the front */
    CHECK_EQ(gr_reader_peek(r, 16, &p), 16);
    CHECKF(memcmp(p, "efghijklmnopqrst", 16) == 0, "peek 16");
    CHECK_EQ(gr_reader_buffered(r), 16);
    CHECK_EQ(gr_reader_discard(r, 5), 5);
    CHECK_EQ(gr_reader_buffered(r), 11);
    CHECK_EQ(gr_reader_read(r, &ch, 1), 1);
    CHECK_EQ(ch, 'j');
    /* 16 left in the stream ("klmnopqrstuvwxyz"): peek more shows fewer
     * at end of stream, discard more skips what is there. */
    CHECK_EQ(gr_reader_peek(r, 16, &p), 16);
    CHECK_EQ(gr_reader_discard(r, 10), 10);
    CHECK_EQ(gr_reader_peek(r, 10, &p), 6);
    CHECKF(memcmp(p, "uvwxyz", 6) == 0, "peek at end");
    CHECK_EQ(gr_reader_discard(r, 100), 6);
    CHECK_EQ(gr_reader_discard(r, 1), 0);
    CHECK_EQ(gr_reader_peek(r, 1, &p), 0);
    gr_waitgroup_wait(&wg);
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, peek_discard_buffered, .timeout = 20) { RUN(2, t_peek_discard_buffered, NULL); }

/* A read of at least the buffer's size on an empty buffer goes straight
 * to the fd; a smaller one is served from one fill. */
static void t_read_sizes(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    char out[100], in[100];
    for (int i = 0; i < 100; i++)
        out[i] = (char)i;
    CHECK_EQ(gr_write_all(c, out, 100), 100);
    gr_sleep(ms(10));
    gr_reader *r = gr_reader_new(s, 32);
    CHECK_EQ(gr_reader_read(r, in, 100), 100);   /* direct: all 100 */
    CHECK_EQ(gr_reader_buffered(r), 0);
    CHECKF(memcmp(in, out, 100) == 0, "direct");
    CHECK_EQ(gr_write_all(c, out, 100), 100);
    gr_sleep(ms(10));
    CHECK_EQ(gr_reader_read(r, in, 10), 10);      /* one fill of 32 */
    CHECK_EQ(gr_reader_buffered(r), 22);
    CHECK_EQ(gr_reader_read(r, in, 100), 22);     /* buffered bytes only */
    CHECK_EQ(gr_reader_read(r, in, 0), 0);
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, read_sizes, .timeout = 20) { RUN(1, t_read_sizes, NULL); }

/* A pipe: the reader uses gr_read. */
static void t_pipe(void *arg)
{
    (void)arg;
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    static const struct frag f[] = {{"one\ntw", 0, 0}, {"o\n", 0, 5}};
    struct script sc = {p[1], f, 2, false, &wg};
    gr_waitgroup_add(&wg, 1);
    gr_go(sender, &sc);
    gr_reader *r = gr_reader_new(p[0], 0);
    const char *line;
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "one\n");
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "two\n");
    gr_waitgroup_wait(&wg);
    gr_close(p[1]);
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), 0);
    gr_reader_free(r);
    gr_close(p[0]);
}

Test(io_bufio, pipe, .timeout = 20) { RUN(2, t_pipe, NULL); }

/* The fd's read deadline ends a blocked fill with -ETIMEDOUT; the partial
 * line stays buffered and a later call, with the deadline cleared,
 * returns it whole. */
static void t_read_deadline(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_reader *r = gr_reader_new(s, 0);
    CHECK_EQ(gr_write_all(c, "par", 3), 3);
    CHECK_EQ(gr_set_deadline(s, GR_READ, gr_nanotime() + ms(30)), 0);
    const char *line;
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), -ETIMEDOUT);
    CHECK_EQ(gr_reader_buffered(r), 3);
    const char *p;
    CHECK_EQ(gr_reader_peek(r, 4, &p), -ETIMEDOUT);   /* past: fails at once */
    char buf[8];
    CHECK_EQ(gr_reader_read_full(r, buf, 8), -ETIMEDOUT);
    CHECK_EQ(gr_reader_buffered(r), 0);   /* read_full consumed "par" into buf */
    CHECKF(memcmp(buf, "par", 3) == 0, "read_full kept bytes");
    CHECK_EQ(gr_write_all(c, "tial\n", 5), 5);
    CHECK_EQ(gr_set_deadline(s, GR_READ, -1), 0);
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "tial\n");
    /* again for read_slice keeping its bytes */
    CHECK_EQ(gr_write_all(c, "ab", 2), 2);
    gr_sleep(ms(5));
    CHECK_EQ(gr_set_deadline(s, GR_READ, gr_nanotime() + ms(20)), 0);
    CHECK_EQ(gr_reader_read_slice(r, '\n', &line), -ETIMEDOUT);
    CHECK_EQ(gr_set_deadline(s, GR_READ, -1), 0);
    CHECK_EQ(gr_write_all(c, "c\n", 2), 2);
    LINE_EQ(gr_reader_read_slice(r, '\n', &line), line, "abc\n");
    gr_reader_free(r);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, read_deadline, .timeout = 20) { RUN(1, t_read_deadline, NULL); }

struct closer { int fd; gr_waitgroup *wg; };
static void closer_main(void *arg)
{
    struct closer *cl = arg;
    gr_sleep(ms(20));
    CHECK_EQ(gr_close(cl->fd), 0);
    gr_waitgroup_done(cl->wg);
}

/* gr_close of the fd wakes a reader blocked in a fill with -ECANCELED. */
static void t_close_wakes_reader(void *arg)
{
    (void)arg;
    for (int round = 0; round < 5; round++) {
        int c = -1, s = -1;
        CHECK_EQ(io_pair(&c, &s), 0);
        gr_reader *r = gr_reader_new(s, 0);
        gr_waitgroup wg = GR_WAITGROUP_INIT;
        struct closer cl = {s, &wg};
        gr_waitgroup_add(&wg, 1);
        gr_go(closer_main, &cl);
        const char *line;
        CHECK_EQ(gr_reader_read_slice(r, '\n', &line), -ECANCELED);
        gr_waitgroup_wait(&wg);
        gr_reader_free(r);
        gr_close(c);
    }
}

Test(io_bufio, close_wakes_reader, .timeout = 20) { RUN(2, t_close_wakes_reader, NULL); }

static void t_bad_args(void *arg)
{
    (void)arg;
    errno = 0;
    CHECKF(gr_reader_new(-1, 0) == NULL && errno == EINVAL, "reader fd -1");
    errno = 0;
    CHECKF(gr_reader_new(0, ((size_t)1 << 30) + 1) == NULL && errno == EINVAL, "reader size");
    errno = 0;
    CHECKF(gr_writer_new(-1, 0) == NULL && errno == EINVAL, "writer fd -1");
    errno = 0;
    CHECKF(gr_writer_new(0, ((size_t)1 << 30) + 1) == NULL && errno == EINVAL, "writer size");
    gr_reader *r = gr_reader_new(0, 1);   /* raised to the 16-byte minimum */
    const char *p;
    CHECK_EQ(gr_reader_peek(r, 17, &p), -ENOBUFS);
    CHECK_EQ(gr_reader_fd(r), 0);
    gr_reader_free(r);
    gr_writer *w = gr_writer_new(1, 1);
    CHECK_EQ(gr_writer_available(w), 16);
    CHECK_EQ(gr_writer_fd(w), 1);
    gr_writer_free(w);
    gr_reader_free(NULL);
    gr_writer_free(NULL);
}

Test(io_bufio, bad_args, .timeout = 10) { RUN(1, t_bad_args, NULL); }

/* ---------- writer ---------- */

/* Nothing leaves before a flush (or a full buffer); a flush sends it all. */
static void t_writer_buffers(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_writer *w = gr_writer_new(s, 64);
    CHECK_EQ(gr_writer_write(w, "HTTP/1.1 200 OK\r\n", 17), 17);
    CHECK_EQ(gr_writer_printf(w, "Content-Length: %d\r\n\r\n", 13), 22);
    CHECK_EQ(gr_writer_write(w, "Hello, World!", 13), 13);
    CHECK_EQ(gr_writer_buffered(w), 52);
    CHECK_EQ(gr_writer_available(w), 12);
    gr_sleep(ms(5));
    char buf[128];
    CHECK_EQ(recv(c, buf, sizeof buf, MSG_DONTWAIT), -1);   /* nothing sent yet */
    CHECK_EQ(gr_writer_flush(w), 0);
    CHECK_EQ(gr_writer_buffered(w), 0);
    CHECK_EQ(gr_writer_flush(w), 0);   /* empty flush */
    CHECK_EQ(io_read_full(c, buf, 52), 52);
    CHECKF(memcmp(buf, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!", 52) == 0,
             "content");
    gr_writer_free(w);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, writer_buffers, .timeout = 20) { RUN(1, t_writer_buffers, NULL); }

struct drain { int fd; size_t n; char *buf; gr_waitgroup *wg; };
static void drain_main(void *arg)
{
    struct drain *d = arg;
    CHECK_EQ(io_read_full(d->fd, d->buf, d->n), d->n);
    gr_waitgroup_done(d->wg);
}

/* Writes of every size (below, at, above the buffer) arrive in order. */
static void t_writer_sizes(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    enum { N = 300000 };
    char *src = malloc(N), *dst = malloc(N);
    for (int i = 0; i < N; i++)
        src[i] = (char)(i * 13 + i / 256);
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    struct drain d = {c, N, dst, &wg};
    gr_waitgroup_add(&wg, 1);
    gr_go(drain_main, &d);
    gr_writer *w = gr_writer_new(s, 100);
    static const size_t sizes[] = {1, 7, 99, 100, 101, 250, 3, 5000, 64, 36, 100, 17};
    size_t off = 0;
    for (int i = 0; off < N; i++) {
        size_t k = sizes[i % 12];
        if (k > N - off)
            k = N - off;
        CHECK_EQ(gr_writer_write(w, src + off, k), k);
        off += k;
        CHECKF(gr_writer_buffered(w) <= 100, "buffered %zu", gr_writer_buffered(w));
    }
    CHECK_EQ(gr_writer_flush(w), 0);
    gr_waitgroup_wait(&wg);
    CHECKF(memcmp(src, dst, N) == 0, "content");
    gr_writer_free(w);
    free(src);
    free(dst);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, writer_sizes, .timeout = 30) { RUN(2, t_writer_sizes, NULL); }

/* printf: into the buffer, after a flush, and longer than the buffer. */
static void t_writer_printf(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_writer *w = gr_writer_new(s, 32);
    CHECK_EQ(gr_writer_printf(w, "%s-%d;", "abc", 42), 7);
    CHECK_EQ(gr_writer_buffered(w), 7);
    CHECK_EQ(gr_writer_printf(w, "%030d", 7), 30);   /* does not fit: flush first */
    CHECK_EQ(gr_writer_buffered(w), 30);
    char big[200];
    memset(big, 'x', 199);
    big[199] = 0;
    CHECK_EQ(gr_writer_printf(w, "[%s]", big), 201);   /* longer than the buffer */
    CHECK_EQ(gr_writer_printf(w, "%s", ""), 0);
    CHECK_EQ(gr_writer_flush(w), 0);
    char buf[256];
    CHECK_EQ(io_read_full(c, buf, 238), 238);
    CHECKF(memcmp(buf, "abc-42;000000000000000000000000000007[x", 39) == 0, "head");
    CHECKF(buf[237] == ']' && buf[236] == 'x', "tail");
    gr_writer_free(w);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, writer_printf, .timeout = 20) { RUN(1, t_writer_printf, NULL); }

/* A send to a peer that closed fails; the error is sticky for writes,
 * printf and flush. */
static void t_writer_sticky_error(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    gr_close(c);
    gr_writer *w = gr_writer_new(s, 64);
    char chunk[1000];
    memset(chunk, 'z', sizeof chunk);
    ssize_t k = 0;
    for (int i = 0; i < 10000 && k >= 0; i++) {
        k = gr_writer_write(w, chunk, sizeof chunk);
        if (k >= 0)
            gr_sleep(ms(1));
    }
    CHECKF(k == -EPIPE || k == -ECONNRESET, "write error %zd", k);
    CHECK_EQ(gr_writer_write(w, "a", 1), k);
    CHECK_EQ(gr_writer_printf(w, "%d", 1), k);
    CHECK_EQ(gr_writer_flush(w), k);
    gr_writer_free(w);
    gr_close(s);
}

Test(io_bufio, writer_sticky_error, .timeout = 30) { RUN(1, t_writer_sticky_error, NULL); }

/* The fd's write deadline ends a flush blocked on a peer that does not
 * read: -ETIMEDOUT, sticky. */
static void t_writer_deadline(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    int small = 4096;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    gr_writer *w = gr_writer_new(s, 4096);
    CHECK_EQ(gr_set_deadline(s, GR_WRITE, gr_nanotime() + ms(50)), 0);
    char chunk[4096];
    memset(chunk, 'q', sizeof chunk);
    ssize_t k = 0;
    for (int i = 0; i < 100000 && k >= 0; i++)
        k = gr_writer_write(w, chunk, sizeof chunk);
    CHECK_EQ(k, -ETIMEDOUT);
    CHECK_EQ(gr_writer_flush(w), -ETIMEDOUT);
    gr_writer_free(w);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, writer_deadline, .timeout = 30) { RUN(1, t_writer_deadline, NULL); }

/* The pipelining pattern of bufio.h: three requests in one segment are
 * answered and the answers flushed once, when the reader has nothing
 * buffered; the peer gets all three in one read. */
static void t_pipelined_batch(void *arg)
{
    (void)arg;
    int c = -1, s = -1;
    CHECK_EQ(io_pair(&c, &s), 0);
    CHECK_EQ(gr_write_all(c, "PING\nPING\nPING\n", 15), 15);
    gr_reader *r = gr_reader_new(s, 0);
    gr_writer *w = gr_writer_new(s, 0);
    const char *line;
    int answered = 0, flushes = 0;
    ssize_t n;
    while (answered < 3 && (n = gr_reader_read_slice(r, '\n', &line)) > 0) {
        CHECK_EQ(gr_writer_write(w, "PONG\n", 5), 5);
        answered++;
        if (gr_reader_buffered(r) == 0) {
            CHECK_EQ(gr_writer_flush(w), 0);
            flushes++;
        }
    }
    CHECK_EQ(answered, 3);
    CHECK_EQ(flushes, 1);
    char buf[64];
    gr_sleep(ms(5));
    CHECK_EQ(gr_recv(c, buf, sizeof buf, 0), 15);
    gr_reader_free(r);
    gr_writer_free(w);
    gr_close(c);
    gr_close(s);
}

Test(io_bufio, pipelined_batch, .timeout = 20) { RUN(1, t_pipelined_batch, NULL); }
