/*
 * goring/bufio.h: buffered reads and writes on a goroutine's fd, as Go's
 * bufio.Reader and bufio.Writer.
 *
 * A gr_reader fills its buffer with one gr_recv (sockets) or gr_read (any
 * other fd) at a time and hands out bytes from it; a gr_writer collects
 * bytes and sends them with gr_write_all when it is full or on
 * gr_writer_flush. Both are built on goring/io.h alone, so the fd's
 * deadlines (gr_set_deadline) and gr_close behave as on the raw fd: a
 * blocked fill or flush returns -ETIMEDOUT or -ECANCELED, and buffered
 * bytes stay where they were. Neither closes or owns the fd.
 *
 * Pipelining: the writer sends only when full or flushed, so a server that
 * answers requests while the reader still holds buffered ones, and flushes
 * when gr_reader_buffered(r) == 0, sends a pipelined batch's responses in
 * one send:
 *
 *     while ((n = gr_reader_read_slice(r, '\n', &line)) > 0) {
 *         answer(w, line, n);
 *         if (gr_reader_buffered(r) == 0 && gr_writer_flush(w) < 0)
 *             break;
 *     }
 *
 * A reader or writer is used by one goroutine at a time (as Go's). Calls
 * that fill or flush may block and return -EPERM outside a goroutine; the
 * errors named "the fd errors" are those of goring/io.h (-EPERM, -EBADF,
 * -ECANCELED, -ETIMEDOUT), plus -ECONNRESET for reads and -EPIPE /
 * -ECONNRESET for writes.
 */
#ifndef GORING_BUFIO_H
#define GORING_BUFIO_H
#include <goring/core.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct gr_reader gr_reader;
typedef struct gr_writer gr_writer;

/*
 * gr_reader_new: a reader on fd with a size-byte buffer (0: 4096, Go's
 * default; at least 16). The longest line read_slice can return and the
 * most peek can show is size bytes. Returns NULL with errno EINVAL
 * (fd < 0, or size above 1 GiB) or ENOMEM.
 * Source: Go's bufio.NewReaderSize.
 */
GR_API gr_reader *gr_reader_new(int fd, size_t size);

/* gr_reader_free: release r (NULL: no-op); the fd stays open. */
GR_API void gr_reader_free(gr_reader *r);

/* gr_reader_fd: the fd r reads. */
GR_API int gr_reader_fd(const gr_reader *r);

/*
 * gr_reader_buffered: bytes buffered now, readable without a system call.
 * Source: Go's (*bufio.Reader).Buffered.
 */
GR_API size_t gr_reader_buffered(const gr_reader *r);

/*
 * gr_reader_read: read up to n bytes into buf: buffered bytes if any,
 * else at most one fill (a request of at least the buffer's size reads
 * straight into buf). Returns the count (> 0 when n > 0), 0 at end of
 * stream (or n == 0). Errors: the fd errors.
 * Source: Go's (*bufio.Reader).Read.
 */
GR_API ssize_t gr_reader_read(gr_reader *r, void *buf, size_t n);

/*
 * gr_reader_read_slice: read through the first delim byte. *line points
 * into r's buffer at the line (delimiter included) and the return value is
 * its length; the view is valid until the next call on r.
 * Returns the length (> 0); 0 at end of stream before a delimiter (bytes
 * of an unterminated last line, if any, stay buffered: see
 * gr_reader_buffered, peek, read); -ENOBUFS when the buffer filled up
 * without a delimiter (Go's ErrBufferFull): *line then points at the
 * whole buffer, nothing is consumed, and gr_reader_discard can skip it;
 * the fd errors (buffered bytes are kept; a later call continues).
 * Source: Go's (*bufio.Reader).ReadSlice.
 */
GR_API ssize_t gr_reader_read_slice(gr_reader *r, int delim, const char **line);

/*
 * gr_reader_read_full: read exactly n bytes into buf, filling as often as
 * needed. Returns n; 0 when the stream ended before the first byte;
 * -ENODATA when it ended after some but fewer than n (Go's
 * io.ErrUnexpectedEOF; those bytes were consumed into buf); the fd errors
 * (bytes read so far stay in buf; they are consumed).
 * Source: Go's io.ReadFull on a bufio.Reader.
 */
GR_API ssize_t gr_reader_read_full(gr_reader *r, void *buf, size_t n);

/*
 * gr_reader_peek: make n bytes visible at *p without consuming them,
 * filling as needed. Returns n; fewer (possibly 0) when the stream ended
 * first; -ENOBUFS when n exceeds the buffer's size (*p: what is
 * buffered); the fd errors. The view is valid until the next call on r.
 * Source: Go's (*bufio.Reader).Peek.
 */
GR_API ssize_t gr_reader_peek(gr_reader *r, size_t n, const char **p);

/*
 * gr_reader_discard: skip the next n bytes, filling as needed. Returns n,
 * or fewer when the stream ended first; the fd errors when a fill failed
 * before any byte was skipped (a later fill error after some bytes returns
 * the count skipped).
 * Source: Go's (*bufio.Reader).Discard.
 */
GR_API ssize_t gr_reader_discard(gr_reader *r, size_t n);

/*
 * gr_writer_new: a writer on fd with a size-byte buffer (0: 4096, Go's
 * default; at least 16). Returns NULL with errno EINVAL (fd < 0, or size
 * above 1 GiB) or ENOMEM.
 * Source: Go's bufio.NewWriterSize.
 */
GR_API gr_writer *gr_writer_new(int fd, size_t size);

/* gr_writer_free: release w (NULL: no-op) without flushing; the fd stays
 * open. Unflushed bytes are dropped (flush first). */
GR_API void gr_writer_free(gr_writer *w);

/* gr_writer_fd: the fd w writes. */
GR_API int gr_writer_fd(const gr_writer *w);

/* gr_writer_buffered: bytes waiting for a flush. Go's Buffered. */
GR_API size_t gr_writer_buffered(const gr_writer *w);

/* gr_writer_available: room left in the buffer. Go's Available. */
GR_API size_t gr_writer_available(const gr_writer *w);

/*
 * gr_writer_write: append n bytes from buf, sending the buffer when it is
 * full (a write of at least the buffer's size into an empty buffer goes
 * straight to the fd). Returns n; or the error of a failed send, which is
 * sticky (as Go's): every later write and flush returns it; bytes not yet
 * sent stay buffered.
 * Errors: the fd errors (-EPIPE, -ECONNRESET, -ETIMEDOUT, -ECANCELED...).
 * Source: Go's (*bufio.Writer).Write.
 */
GR_API ssize_t gr_writer_write(gr_writer *w, const void *buf, size_t n);

/*
 * gr_writer_printf: append printf-formatted text (vsnprintf(3) formats),
 * formatted straight into the buffer when it fits, else after a flush, or
 * through a temporary allocation when longer than the buffer.
 * Returns the byte count appended; -EINVAL for a bad format (vsnprintf
 * failed); -ENOMEM; the sticky send error as gr_writer_write.
 * Source: Go's fmt.Fprintf on a bufio.Writer.
 */
GR_API ssize_t gr_writer_printf(gr_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
GR_API ssize_t gr_writer_vprintf(gr_writer *w, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * gr_writer_flush: send every buffered byte (one gr_write_all). Returns 0;
 * the sticky error of this or an earlier failed send (what was not sent
 * stays buffered, at the front).
 * Source: Go's (*bufio.Writer).Flush.
 */
GR_API int gr_writer_flush(gr_writer *w);

#ifdef __cplusplus
}
#endif
#endif
