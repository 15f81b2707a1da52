/* tests/http_proto.c: examples/http.c (the protocol of examples/http-server)
 * on real loopback sockets, driven by a client written here: routes and
 * headers, HEAD, keep-alive, pipelining, fragmented requests, Content-Length
 * bodies, malformed input (400), limits (413, 414, 431), Transfer-Encoding
 * (501), Connection: close and HTTP/1.0, idle and read deadlines, many
 * clients at once, and the graceful shutdown. Every client read has a
 * deadline, so nothing here can hang. */
#include "harness.h"

#include "examples/http.h"

/* ---------- the server under test ---------- */

static int srv_listener = -1;
static char srv_addr[64];

static void serve_main(void *arg)
{
    (void)arg;
    http_serve(srv_listener);
}

static void srv_start(void)
{
    srv_listener = io_listen(256, srv_addr, sizeof srv_addr);
    CHECK(srv_listener >= 0);
    GO(serve_main, NULL);
}

static void srv_stop(void)
{
    gr_close(srv_listener);
}

/* ---------- the client ---------- */

/* A connection with 5 s read and write deadlines. */
static int cl_dial(void)
{
    int fd = io_dial_bounded(srv_addr, 5 * GR_S);
    CHECK(fd >= 0);
    return fd;
}

static void cl_send(int fd, const char *s, size_t n)
{
    CHECK_EQ(gr_write_all(fd, s, n), n);
}
#define SEND(fd, s) cl_send((fd), (s), strlen(s))

struct resp {
    int status;
    char head[2048];   /* status line and headers */
    char body[256];
    long long clen;
};

struct conn {
    int fd;
    char buf[65536];
    size_t n;
    bool eof;
};

static bool fill(struct conn *c)
{
    if (c->eof || c->n == sizeof c->buf)
        return false;
    ssize_t k = gr_recv(c->fd, c->buf + c->n, sizeof c->buf - c->n, 0);
    if (k <= 0) {
        c->eof = true;
        return false;
    }
    c->n += (size_t)k;
    return true;
}

/* Read one response (no body when head). Returns false at EOF or on a
 * malformed response. */
static bool cl_response(struct conn *c, struct resp *r, bool head)
{
    char *end;
    while (!(end = memmem(c->buf, c->n, "\r\n\r\n", 4)))
        if (!fill(c))
            return false;
    size_t hlen = (size_t)(end + 4 - c->buf);
    snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, c->buf);
    r->status = 0;
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return false;
    r->clen = -1;
    const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    if (cl)
        r->clen = atoll(cl + 18);
    size_t blen = head || r->clen < 0 ? 0 : (size_t)r->clen;
    while (c->n < hlen + blen)
        if (!fill(c))
            return false;
    snprintf(r->body, sizeof r->body, "%.*s", (int)blen, c->buf + hlen);
    memmove(c->buf, c->buf + hlen + blen, c->n - hlen - blen);
    c->n -= hlen + blen;
    return true;
}

/* True when the server closed the connection (EOF) with nothing more sent. */
static bool cl_eof(struct conn *c)
{
    while (fill(c))
        ;
    return c->eof && c->n == 0;
}

static bool has_header(const struct resp *r, const char *line)
{
    char want[256];
    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    return strstr(r->head, want) != NULL;
}

/* One request on a fresh connection; the response's status (0: none). */
static int one_shot(const char *req, size_t n, struct resp *r, bool *closed)
{
    struct conn *c = calloc(1, sizeof *c);
    c->fd = cl_dial();
    cl_send(c->fd, req, n);
    int st = cl_response(c, r, false) ? r->status : 0;
    *closed = cl_eof(c);
    gr_close(c->fd);
    free(c);
    return st;
}

/* ---------- routes and headers ---------- */

static void routes_main(void *arg)
{
    (void)arg;
    srv_start();
    struct conn *c = calloc(1, sizeof *c);
    c->fd = cl_dial();
    struct resp r;
    SEND(c->fd, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    CHECKF(strcmp(r.body, "Hello, World!") == 0, "body '%.100s'", r.body);
    CHECK(has_header(&r, "Content-Type: text/plain"));
    CHECK(has_header(&r, "Content-Length: 13"));
    CHECK(has_header(&r, "Server: goring"));
    CHECK(strstr(r.head, "\r\nDate: ") && strstr(r.head, " GMT\r\n"));
    SEND(c->fd, "GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    CHECKF(strcmp(r.body, "{\"message\":\"Hello, World!\"}") == 0, "body '%.100s'", r.body);
    CHECK(has_header(&r, "Content-Type: application/json"));
    SEND(c->fd, "GET / HTTP/1.1\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "/plaintext") != NULL);
    SEND(c->fd, "GET /nope HTTP/1.1\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 404);
    /* HEAD: the GET's headers, no body; the next response follows at once */
    SEND(c->fd, "HEAD /plaintext HTTP/1.1\r\n\r\nGET /plaintext HTTP/1.1\r\n\r\n");
    CHECK(cl_response(c, &r, true));
    CHECK_EQ(r.status, 200);
    CHECK(has_header(&r, "Content-Length: 13"));
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    CHECKF(strcmp(r.body, "Hello, World!") == 0, "body after HEAD '%.100s'", r.body);
    /* another method: 405, and the connection closes */
    SEND(c->fd, "DELETE /plaintext HTTP/1.1\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 405);
    CHECK(has_header(&r, "Connection: close"));
    CHECK(cl_eof(c));
    gr_close(c->fd);
    free(c);
    srv_stop();
}

Test(http_proto, routes, .timeout = 30) { RUN_PROCS(routes_main, NULL); }

/* ---------- keep-alive, pipelining, fragments, bodies ---------- */

static void keepalive_main(void *arg)
{
    (void)arg;
    srv_start();
    uint64_t conns0 = http_stats().conns;
    struct conn *c = calloc(1, sizeof *c);
    c->fd = cl_dial();
    struct resp r;
    for (int i = 0; i < 200; i++) {
        SEND(c->fd, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(cl_response(c, &r, false));
        CHECK_EQ(r.status, 200);
    }
    CHECK_EQ(http_stats().conns - conns0, 1);   /* all on one connection */
    /* 64 pipelined requests in one send, answered in order */
    char batch[64 * 40];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(batch + n, sizeof batch - n, "GET /%s HTTP/1.1\r\n\r\n",
                              i % 2 ? "json" : "plaintext");
    cl_send(c->fd, batch, n);
    for (int i = 0; i < 64; i++) {
        CHECK(cl_response(c, &r, false));
        CHECK_EQ(r.status, 200);
        CHECK_EQ(r.clen, i % 2 ? 27 : 13);
    }
    /* byte by byte, headers and a Content-Length body included */
    const char *frag = "GET /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    for (const char *p = frag; *p; p++) {
        cl_send(c->fd, p, 1);
        if ((p - frag) % 7 == 0)
            gr_sleep(MS);
    }
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    /* a body spread over sends, then a pipelined request right after it */
    SEND(c->fd, "GET /json HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
    gr_sleep(5 * MS);
    SEND(c->fd, "56789GET /plaintext HTTP/1.1\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.clen, 27);
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.clen, 13);
    /* bare LF line ends are accepted */
    SEND(c->fd, "GET /plaintext HTTP/1.1\nHost: x\n\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    /* Connection: close: answered with it, then EOF */
    SEND(c->fd, "GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    CHECK(has_header(&r, "Connection: close"));
    CHECK(cl_eof(c));
    gr_close(c->fd);
    free(c);
    srv_stop();
}

Test(http_proto, keepalive_pipelining_fragments, .timeout = 30) { RUN_PROCS(keepalive_main, NULL); }

static void http10_main(void *arg)
{
    (void)arg;
    srv_start();
    struct resp r;
    bool closed;
    /* HTTP/1.0 closes by default */
    const char *q = "GET /plaintext HTTP/1.0\r\n\r\n";
    CHECK_EQ(one_shot(q, strlen(q), &r, &closed), 200);
    CHECK(closed);
    /* ... and keeps the connection with Connection: keep-alive */
    struct conn *c = calloc(1, sizeof *c);
    c->fd = cl_dial();
    for (int i = 0; i < 3; i++) {
        SEND(c->fd, "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(cl_response(c, &r, false));
        CHECK_EQ(r.status, 200);
        CHECK(!has_header(&r, "Connection: close"));
    }
    gr_close(c->fd);
    free(c);
    srv_stop();
}

Test(http_proto, http10, .timeout = 30) { RUN_PROCS(http10_main, NULL); }

/* ---------- malformed and oversized requests ---------- */

struct bad {
    const char *req;
    int status;
};

static const struct bad bads[] = {
    {"garbage\r\n\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\n\r\n", 400},
    {"GET / HTTP/1.1x\r\n\r\n", 400},
    {"GET  / HTTP/1.1\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\n\r\n", 400},
    {"GET / FTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413},
    {"GET / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
};

static void malformed_main(void *arg)
{
    (void)arg;
    srv_start();
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        struct resp r;
        bool closed = false;
        int st = one_shot(bads[i].req, strlen(bads[i].req), &r, &closed);
        CHECKF(st == bads[i].status && closed, "request %zu (%.20s...): status %d closed %d", i,
               bads[i].req, st, closed);
        if (st)
            CHECK(has_header(&r, "Connection: close"));
    }
    /* the server still serves */
    struct resp r;
    bool closed;
    const char *q = "GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n";
    CHECK_EQ(one_shot(q, strlen(q), &r, &closed), 200);
    srv_stop();
}

Test(http_proto, malformed, .timeout = 30) { RUN_PROCS(malformed_main, NULL); }

static void limits_main(void *arg)
{
    (void)arg;
    srv_start();
    size_t cap = 64 * 1024;
    char *req = malloc(cap);
    struct resp r;
    bool closed;
    /* a request line over 8 KiB: 414 */
    int n = snprintf(req, cap, "GET /%09000d HTTP/1.1\r\n\r\n", 0);
    CHECK_EQ(one_shot(req, (size_t)n, &r, &closed), 414);
    CHECK(closed);
    /* one just under the limit is a plain 404 */
    n = snprintf(req, cap, "GET /%08000d HTTP/1.1\r\nConnection: close\r\n\r\n", 0);
    CHECK_EQ(one_shot(req, (size_t)n, &r, &closed), 404);
    /* a header line over 8 KiB: 431 */
    n = snprintf(req, cap, "GET / HTTP/1.1\r\nX-Long: %09000d\r\n\r\n", 0);
    CHECK_EQ(one_shot(req, (size_t)n, &r, &closed), 431);
    CHECK(closed);
    /* more than 100 header lines: 431 */
    n = snprintf(req, cap, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 120; i++)
        n += snprintf(req + n, cap - (size_t)n, "X-H%d: v\r\n", i);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    CHECK_EQ(one_shot(req, (size_t)n, &r, &closed), 431);
    CHECK(closed);
    /* 100 headers are fine */
    n = snprintf(req, cap, "GET / HTTP/1.1\r\nConnection: close\r\n");
    for (int i = 0; i < 99; i++)
        n += snprintf(req + n, cap - (size_t)n, "X-H%d: v\r\n", i);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    CHECK_EQ(one_shot(req, (size_t)n, &r, &closed), 200);
    /* a body of exactly 1 MiB is read and discarded */
    size_t big = (1 << 20) + 128;
    char *body = calloc(1, big);
    n = snprintf(body, big, "GET /plaintext HTTP/1.1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
                 1 << 20);
    memset(body + n, 'b', 1 << 20);
    CHECK_EQ(one_shot(body, (size_t)n + (1 << 20), &r, &closed), 200);
    free(body);
    free(req);
    srv_stop();
}

Test(http_proto, limits, .timeout = 30) { RUN_PROCS(limits_main, NULL); }

/* ---------- deadlines ---------- */

static void deadlines_main(void *arg)
{
    (void)arg;
    http_idle_ns = 200 * MS;
    http_read_ns = 200 * MS;
    srv_start();
    struct resp r;
    /* idle after a request: the server ends the connection */
    struct conn *c = calloc(1, sizeof *c);
    c->fd = cl_dial();
    SEND(c->fd, "GET /plaintext HTTP/1.1\r\n\r\n");
    CHECK(cl_response(c, &r, false));
    int64_t t0 = gr_nanotime();
    CHECK(cl_eof(c));
    int64_t took = gr_nanotime() - t0;
    CHECKF(took < 4 * GR_S, "idle close after %lld ms", (long long)(took / MS));
    gr_close(c->fd);
    /* a request that stops half-way: closed by the read deadline, no reply */
    memset(c, 0, sizeof *c);
    c->fd = cl_dial();
    SEND(c->fd, "GET /plaintext HTTP/1.1\r\nHost: x\r\n");
    CHECK(cl_eof(c));
    gr_close(c->fd);
    /* a connection that never sends */
    memset(c, 0, sizeof *c);
    c->fd = cl_dial();
    CHECK(cl_eof(c));
    gr_close(c->fd);
    free(c);
    srv_stop();
}

Test(http_proto, deadlines, .timeout = 30) { RUN_PROCS(deadlines_main, NULL); }

/* ---------- many clients ---------- */

struct cl_arg {
    gr_chan *done;
    int id;
};

static void many_client(void *arg)
{
    struct cl_arg *a = arg;
    struct conn *c = calloc(1, sizeof *c);
    c->fd = cl_dial();
    struct resp r;
    for (int i = 0; i < 20; i++) {
        /* pipeline a few, read them back */
        SEND(c->fd, "GET /plaintext HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\n");
        CHECK(cl_response(c, &r, false) && r.status == 200 && r.clen == 13);
        CHECK(cl_response(c, &r, false) && r.status == 200 && r.clen == 27);
    }
    gr_close(c->fd);
    free(c);
    done_signal(a->done);
}

static void many_main(void *arg)
{
    (void)arg;
    srv_start();
    enum { N = 64 };
    gr_chan *done = done_make(N);
    static struct cl_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct cl_arg){done, i};
        GO(many_client, &args[i]);
    }
    done_wait(done, N);
    gr_chan_free(done);
    srv_stop();
}

Test(http_proto, many_clients, .timeout = 60) { RUN_PROCS(many_main, NULL); }

/* ---------- graceful shutdown ---------- */

static void shutdown_main(void *arg)
{
    (void)arg;
    srv_start();
    struct resp r;
    /* one idle keep-alive connection, one stuck inside a request */
    struct conn *idle = calloc(1, sizeof *idle), *busy = calloc(1, sizeof *busy);
    idle->fd = cl_dial();
    SEND(idle->fd, "GET /plaintext HTTP/1.1\r\n\r\n");
    CHECK(cl_response(idle, &r, false));
    busy->fd = cl_dial();
    SEND(busy->fd, "GET /plaintext HTTP/1.1\r\n");
    gr_sleep(20 * MS);   /* let the server read the request line */
    srv_stop();
    int64_t t0 = gr_nanotime();
    /* the grace period outlasts the idle one's lingering close (500 ms) */
    uint64_t forced = http_shutdown(1000 * MS);
    int64_t took = gr_nanotime() - t0;
    CHECK_EQ(forced, 1);   /* the one inside a request */
    CHECKF(took >= 900 * MS && took < 4 * GR_S, "shutdown took %lld ms", (long long)(took / MS));
    CHECK_EQ(http_stats().live, 0);
    CHECK(cl_eof(idle));
    CHECK(cl_eof(busy));
    /* no one accepts any more */
    int fd = gr_dial_tcp(srv_addr, GR_S);
    CHECK(fd < 0);
    if (fd >= 0)
        gr_close(fd);
    gr_close(idle->fd);
    gr_close(busy->fd);
    free(idle);
    free(busy);
}

Test(http_proto, shutdown, .timeout = 30) { RUN(2, shutdown_main, NULL); }
