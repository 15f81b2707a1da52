/*
 * io/bufio.c: gr_reader and gr_writer (goring/bufio.h), Go's bufio on the
 * public calls of goring/io.h.
 *
 * Reader: buf[r, w) holds unread bytes. A fill first slides them to the
 * front when the tail has no room, then does one read into buf[w, size).
 * Errors are returned once and not kept (Go's readErr), so a read that hit
 * a deadline may be retried after the deadline moves; end of stream is
 * kept (every later fill sees 0 again without a system call).
 * Writer: buf[0, n) waits to be sent; a failed send's error is sticky.
 */
#include <goring/bufio.h>
#include <goring/io.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GR__BUF_DEFAULT 4096
#define GR__BUF_MIN 16
#define GR__BUF_MAX ((size_t)1 << 30)

struct gr_reader {
    int fd;
    bool sock;   /* gr_recv, else gr_read */
    bool eof;
    size_t size, r, w;
    char *buf;
};

struct gr_writer {
    int fd;
    int err;     /* sticky send error, 0 when none */
    size_t size, n;
    char *buf;
};

static size_t buf_size(size_t size)
{
    if (size == 0)
        return GR__BUF_DEFAULT;
    return size < GR__BUF_MIN ? GR__BUF_MIN : size;
}

gr_reader *gr_reader_new(int fd, size_t size)
{
    if (fd < 0 || size > GR__BUF_MAX) {
        errno = EINVAL;
        return NULL;
    }
    size = buf_size(size);
    gr_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->buf = malloc(size);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    struct stat st;
    r->fd = fd;
    r->sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    r->size = size;
    return r;
}

void gr_reader_free(gr_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

int gr_reader_fd(const gr_reader *r) { return r->fd; }

size_t gr_reader_buffered(const gr_reader *r) { return r->w - r->r; }

static ssize_t raw_read(gr_reader *r, void *buf, size_t n)
{
    if (r->eof)
        return 0;
    ssize_t k = r->sock ? gr_recv(r->fd, buf, n, 0) : gr_read(r->fd, buf, n);
    if (k == 0)
        r->eof = true;
    return k;
}

/* One read into the free tail (sliding unread bytes to the front first
 * when the tail is full). Returns the count read, 0 at end of stream or
 * when the buffer is full, or the read's error. */
static ssize_t fill(gr_reader *r)
{
    if (r->r > 0 && r->w == r->size) {
        memmove(r->buf, r->buf + r->r, r->w - r->r);
        r->w -= r->r;
        r->r = 0;
    } else if (r->r == r->w) {
        r->r = r->w = 0;
    }
    if (r->w == r->size)
        return 0;
    ssize_t k = raw_read(r, r->buf + r->w, r->size - r->w);
    if (k > 0)
        r->w += (size_t)k;
    return k;
}

ssize_t gr_reader_read(gr_reader *r, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (r->r == r->w) {
        if (n >= r->size)   /* large read: skip the copy */
            return raw_read(r, buf, n);
        ssize_t k = fill(r);
        if (k <= 0)
            return k;
    }
    size_t m = r->w - r->r;
    if (m > n)
        m = n;
    memcpy(buf, r->buf + r->r, m);
    r->r += m;
    return (ssize_t)m;
}

ssize_t gr_reader_read_slice(gr_reader *r, int delim, const char **line)
{
    size_t scanned = 0;   /* bytes after r->r already known delimiter-free */
    for (;;) {
        char *s = r->buf + r->r;
        size_t have = r->w - r->r;
        char *d = have > scanned ? memchr(s + scanned, (unsigned char)delim, have - scanned) : NULL;
        if (d) {
            size_t len = (size_t)(d - s) + 1;
            *line = s;
            r->r += len;
            return (ssize_t)len;
        }
        scanned = have;
        if (have == r->size) {
            *line = s;
            return -ENOBUFS;
        }
        ssize_t k = fill(r);
        if (k <= 0) {
            *line = r->buf + r->r;
            return k;
        }
    }
}

ssize_t gr_reader_read_full(gr_reader *r, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = gr_reader_read(r, (char *)buf + got, n - got);
        if (k < 0)
            return k;
        if (k == 0)
            return got == 0 ? 0 : -ENODATA;
        got += (size_t)k;
    }
    return (ssize_t)n;
}

ssize_t gr_reader_peek(gr_reader *r, size_t n, const char **p)
{
    if (n > r->size) {
        *p = r->buf + r->r;
        return -ENOBUFS;
    }
    while (r->w - r->r < n) {
        if (r->size - r->r < n) {   /* not enough room after r: slide */
            memmove(r->buf, r->buf + r->r, r->w - r->r);
            r->w -= r->r;
            r->r = 0;
        }
        ssize_t k = fill(r);
        if (k < 0) {
            *p = r->buf + r->r;
            return k;
        }
        if (k == 0)
            break;
    }
    *p = r->buf + r->r;
    size_t have = r->w - r->r;
    return (ssize_t)(have < n ? have : n);
}

ssize_t gr_reader_discard(gr_reader *r, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (r->r == r->w) {
            ssize_t k = fill(r);
            if (k < 0)
                return done ? (ssize_t)done : k;
            if (k == 0)
                break;
        }
        size_t m = r->w - r->r;
        if (m > n - done)
            m = n - done;
        r->r += m;
        done += m;
    }
    return (ssize_t)done;
}

gr_writer *gr_writer_new(int fd, size_t size)
{
    if (fd < 0 || size > GR__BUF_MAX) {
        errno = EINVAL;
        return NULL;
    }
    size = buf_size(size);
    gr_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->buf = malloc(size);
    if (!w->buf) {
        free(w);
        return NULL;
    }
    w->fd = fd;
    w->size = size;
    return w;
}

void gr_writer_free(gr_writer *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

int gr_writer_fd(const gr_writer *w) { return w->fd; }

size_t gr_writer_buffered(const gr_writer *w) { return w->n; }

size_t gr_writer_available(const gr_writer *w) { return w->size - w->n; }

/* Send n bytes from p until done or an error (gr_write_all reports an
 * error after a partial count on its next call). Returns 0 or the error;
 * *sent: bytes that went out. */
static int send_all(int fd, const char *p, size_t n, size_t *sent)
{
    *sent = 0;
    while (*sent < n) {
        ssize_t k = gr_write_all(fd, p + *sent, n - *sent);
        if (k <= 0)
            return k < 0 ? (int)k : -EIO;
        *sent += (size_t)k;
    }
    return 0;
}

int gr_writer_flush(gr_writer *w)
{
    if (w->err || w->n == 0)
        return w->err;
    size_t sent;
    w->err = send_all(w->fd, w->buf, w->n, &sent);
    if (sent < w->n)   /* keep what was not sent at the front */
        memmove(w->buf, w->buf + sent, w->n - sent);
    w->n -= sent;
    return w->err;
}

ssize_t gr_writer_write(gr_writer *w, const void *buf, size_t n)
{
    const char *p = buf;
    size_t left = n;
    while (left > w->size - w->n) {
        if (w->err)
            return w->err;
        if (w->n == 0) {   /* large write into an empty buffer: straight out */
            size_t sent;
            w->err = send_all(w->fd, p, left, &sent);
            return w->err ? w->err : (ssize_t)n;
        }
        size_t m = w->size - w->n;
        memcpy(w->buf + w->n, p, m);
        w->n += m;
        p += m;
        left -= m;
        int e = gr_writer_flush(w);
        if (e < 0)
            return e;
    }
    if (w->err)
        return w->err;
    memcpy(w->buf + w->n, p, left);
    w->n += left;
    return (ssize_t)n;
}

ssize_t gr_writer_vprintf(gr_writer *w, const char *fmt, va_list ap)
{
    if (w->err)
        return w->err;
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = w->size - w->n;
    int len = vsnprintf(w->buf + w->n, room, fmt, ap2);
    va_end(ap2);
    if (len < 0)
        return -EINVAL;
    if ((size_t)len < room) {   /* fitted (vsnprintf wants room for the NUL) */
        w->n += (size_t)len;
        return len;
    }
    if ((size_t)len < w->size) {   /* fits after a flush */
        int e = gr_writer_flush(w);
        if (e < 0)
            return e;
        va_copy(ap2, ap);
        vsnprintf(w->buf, w->size, fmt, ap2);
        va_end(ap2);
        w->n = (size_t)len;
        return len;
    }
    char *tmp = malloc((size_t)len + 1);
    if (!tmp)
        return -ENOMEM;
    va_copy(ap2, ap);
    vsnprintf(tmp, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    ssize_t k = gr_writer_write(w, tmp, (size_t)len);
    free(tmp);
    return k;
}

ssize_t gr_writer_printf(gr_writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ssize_t k = gr_writer_vprintf(w, fmt, ap);
    va_end(ap);
    return k;
}
