/*
 * examples/http.c: HTTP/1.1 on goring (see http.h), one goroutine per
 * connection, goring/bufio.h for parsing.
 *
 * Routes: GET /plaintext ("Hello, World!", text/plain), GET /json
 * ({"message":"Hello, World!"}), GET / (a short index), 404 otherwise;
 * HEAD for each; another method 405. Every response carries Server and
 * Date and is composed per request. Keep-alive (HTTP/1.1 default;
 * HTTP/1.0 with "Connection: keep-alive"), pipelining (responses to a
 * pipelined batch leave in one send: the writer is flushed when the reader
 * has nothing buffered), Content-Length bodies (read and discarded, at
 * most 1 MiB: 413), Transfer-Encoding answered 501, request line over
 * 8 KiB 414, a header line over 8 KiB or more than 100 headers 431,
 * malformed input 400; each error response closes the connection.
 * Deadlines (http_idle_ns, http_read_ns): 60 s idle between requests,
 * 10 s to read the rest of a request once it began.
 */
#include "examples/http.h"

#include <goring.h>
#include <goring/bufio.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define LINE_MAX_BYTES 8192
#define MAX_HEADERS 100
#define MAX_BODY (1 << 20)
#define MAX_FDS 65536

int64_t http_idle_ns = 60LL * 1000000000, http_read_ns = 10LL * 1000000000;

static atomic_int stopping;
static _Atomic uint64_t n_conns, n_live, n_requests, n_errors;
/* live[fd]: 0 unused, 1 idle between requests, 2 inside a request */
static _Atomic unsigned char live[MAX_FDS];

static void set_state(int fd, unsigned char st)
{
    if (fd < MAX_FDS)
        atomic_store_explicit(&live[fd], st, memory_order_seq_cst);
}

/* "Mon, 07 Dec 2026 21:05:28 GMT" for now (IMF-fixdate, RFC 9110 5.6.7). */
static void http_date(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Status line, Server, Date, Content-Type/Length, Connection; the body
 * unless head. */
static void respond(gr_writer *w, int code, const char *reason, const char *type,
                    const char *body, bool head, bool close)
{
    char date[32];
    http_date(date);
    size_t len = strlen(body);
    gr_writer_printf(w,
                     "HTTP/1.1 %d %s\r\nServer: goring\r\nDate: %s\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                     code, reason, date, type, len, close ? "Connection: close\r\n" : "");
    if (!head)
        gr_writer_write(w, body, len);
}

static void error_reply(gr_writer *w, int code, const char *reason)
{
    char body[64];
    snprintf(body, sizeof body, "%d %s\n", code, reason);
    respond(w, code, reason, "text/plain; charset=utf-8", body, false, true);
    atomic_fetch_add_explicit(&n_errors, 1, memory_order_relaxed);
}

/* Strip a trailing "\r\n" or "\n"; returns the length left. */
static size_t chomp(const char *line, size_t n)
{
    if (n && line[n - 1] == '\n')
        n--;
    if (n && line[n - 1] == '\r')
        n--;
    return n;
}

static bool token_eq(const char *p, size_t n, const char *s)
{
    return n == strlen(s) && strncasecmp(p, s, n) == 0;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Serve one request. Returns true to keep the connection. */
static bool serve_one(gr_reader *r, gr_writer *w, int fd)
{
    const char *line;
    set_state(fd, 1);
    if (atomic_load_explicit(&stopping, memory_order_seq_cst) && gr_reader_buffered(r) == 0)
        return false;
    gr_set_deadline(fd, GR_READ, gr_nanotime() + http_idle_ns);
    ssize_t n = gr_reader_read_slice(r, '\n', &line);
    set_state(fd, 2);
    if (n == -ENOBUFS) {
        error_reply(w, 414, "URI Too Long");
        return false;
    }
    if (n <= 0)
        return false;   /* closed, idle timeout, shutdown */
    gr_set_deadline(fd, GR_READ, gr_nanotime() + http_read_ns);
    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    size_t len = chomp(line, (size_t)n);
    char method[16], target[LINE_MAX_BYTES];
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
    if (!sp1 || !sp2 || sp1 == line || (size_t)(sp1 - line) >= sizeof method || sp2 == sp1 + 1 ||
        line + len - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1')) {
        error_reply(w, 400, "Bad Request");
        return false;
    }
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar(*p)) {
            error_reply(w, 400, "Bad Request");
            return false;
        }
    memcpy(method, line, (size_t)(sp1 - line));
    method[sp1 - line] = 0;
    size_t tlen = (size_t)(sp2 - sp1 - 1);
    memcpy(target, sp1 + 1, tlen);
    target[tlen] = 0;
    bool http11 = sp2[8] == '1';
    bool keep = http11;
    long long clen = 0;
    bool have_clen = false;
    /* Headers */
    for (int nh = 0;; nh++) {
        n = gr_reader_read_slice(r, '\n', &line);
        if (n == -ENOBUFS || nh > MAX_HEADERS) {
            error_reply(w, 431, "Request Header Fields Too Large");
            return false;
        }
        if (n <= 0)
            return false;
        len = chomp(line, (size_t)n);
        if (len == 0)
            break;
        const char *colon = memchr(line, ':', len);
        if (!colon || colon == line) {
            error_reply(w, 400, "Bad Request");
            return false;
        }
        for (const char *p = line; p < colon; p++)
            if (!is_tchar(*p)) {
                error_reply(w, 400, "Bad Request");
                return false;
            }
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1, *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t vlen = (size_t)(end - v);
        if (token_eq(line, nlen, "content-length")) {
            long long x = 0;
            if (vlen == 0 || vlen > 18) {
                error_reply(w, vlen > 18 ? 413 : 400, vlen > 18 ? "Content Too Large" : "Bad Request");
                return false;
            }
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') {
                    error_reply(w, 400, "Bad Request");
                    return false;
                }
                x = x * 10 + (v[i] - '0');
            }
            if (have_clen && x != clen) {
                error_reply(w, 400, "Bad Request");
                return false;
            }
            clen = x;
            have_clen = true;
        } else if (token_eq(line, nlen, "transfer-encoding")) {
            error_reply(w, 501, "Not Implemented");
            return false;
        } else if (token_eq(line, nlen, "connection")) {
            if (token_eq(v, vlen, "close"))
                keep = false;
            else if (token_eq(v, vlen, "keep-alive"))
                keep = true;
        }
    }
    if (clen > MAX_BODY) {
        error_reply(w, 413, "Content Too Large");
        return false;
    }
    if (clen > 0 && gr_reader_discard(r, (size_t)clen) != clen)
        return false;
    if (atomic_load_explicit(&stopping, memory_order_relaxed))
        keep = false;
    atomic_fetch_add_explicit(&n_requests, 1, memory_order_relaxed);
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        error_reply(w, 405, "Method Not Allowed");
        return false;
    }
    if (strcmp(target, "/plaintext") == 0)
        respond(w, 200, "OK", "text/plain", "Hello, World!", head, !keep);
    else if (strcmp(target, "/json") == 0) {
        char body[64];
        snprintf(body, sizeof body, "{\"message\":\"%s\"}", "Hello, World!");
        respond(w, 200, "OK", "application/json", body, head, !keep);
    } else if (strcmp(target, "/") == 0)
        respond(w, 200, "OK", "text/html; charset=utf-8",
                "<!doctype html><title>goring http-server</title>\n"
                "<p><a href=\"/plaintext\">/plaintext</a> <a href=\"/json\">/json</a></p>\n",
                head, !keep);
    else
        respond(w, 404, "Not Found", "text/plain; charset=utf-8", "404 Not Found\n", head, !keep);
    return keep;
}

static void conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    gr_reader *r = gr_reader_new(fd, LINE_MAX_BYTES);
    gr_writer *w = gr_writer_new(fd, 16384);
    if (r && w) {
        for (;;) {
            bool keep = serve_one(r, w, fd);
            if (!keep || gr_reader_buffered(r) == 0)
                if (gr_writer_flush(w) < 0)
                    break;
            if (!keep)
                break;
        }
        /* Lingering close (net/http's closeWriteAndWait): send FIN, then
         * read what the client still sends, for at most 500 ms, so unread
         * request bytes do not make the kernel reset the connection and
         * drop the response (a 414 or 431 is sent before the rest of an
         * oversized request was read). */
        shutdown(fd, SHUT_WR);
        gr_set_deadline(fd, GR_READ, gr_nanotime() + 500LL * 1000000);
        char sink[4096];
        for (int i = 0; i < 64 && gr_reader_read(r, sink, sizeof sink) > 0; i++)
            ;
    }
    gr_reader_free(r);
    gr_writer_free(w);
    set_state(fd, 0);
    gr_close(fd);
    atomic_fetch_sub_explicit(&n_live, 1, memory_order_release);
}

void http_serve(int listener)
{
    for (;;) {
        int fd = gr_accept(listener, NULL, NULL, 0);
        if (fd < 0) {
            if (fd == -ECANCELED || fd == -EBADF)
                return;   /* the listener was closed: shutting down */
            continue;
        }
        atomic_fetch_add_explicit(&n_conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n_live, 1, memory_order_relaxed);
        set_state(fd, 2);
        if (gr_go(conn_main, (void *)(intptr_t)fd) < 0) {
            set_state(fd, 0);
            atomic_fetch_sub(&n_live, 1);
            gr_close(fd);
        }
    }
}

uint64_t http_shutdown(int64_t grace_ns)
{
    atomic_store(&stopping, 1);
    /* Idle keep-alive connections end now (a past read deadline); one
     * inside a request answers it with Connection: close, within the
     * grace period (net/http's Shutdown). */
    int64_t now = gr_nanotime();
    int64_t grace_end = now + grace_ns;
    for (int fd = 0; fd < MAX_FDS; fd++)
        if (atomic_load_explicit(&live[fd], memory_order_seq_cst) == 1)
            gr_set_deadline(fd, GR_READ, now);
    while (atomic_load_explicit(&n_live, memory_order_acquire) > 0 && gr_nanotime() < grace_end)
        gr_sleep(10 * 1000 * 1000);
    uint64_t forced = atomic_load(&n_live);
    for (int fd = 0; fd < MAX_FDS && forced; fd++)
        if (atomic_load_explicit(&live[fd], memory_order_relaxed))
            gr_set_deadline(fd, GR_READ | GR_WRITE, 0);
    while (atomic_load_explicit(&n_live, memory_order_acquire) > 0)
        gr_sleep(10 * 1000 * 1000);
    return forced;
}

struct http_stats http_stats(void)
{
    return (struct http_stats){atomic_load(&n_conns), atomic_load(&n_live), atomic_load(&n_requests),
                               atomic_load(&n_errors)};
}
