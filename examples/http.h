/*
 * examples/http.h: the HTTP/1.1 part of examples/http-server, a small
 * library that the server and tests/http_proto.c both link: an accept loop
 * serving each connection in its own goroutine, and a graceful shutdown.
 * What the protocol does (routes, limits, errors, deadlines) is written at
 * the top of examples/http.c.
 */
#ifndef GR_EXAMPLES_HTTP_H
#define GR_EXAMPLES_HTTP_H
#include <stdint.h>

/* Deadlines, ns: idle between requests (60 s) and to read the rest of a
 * request once it began (10 s). Set before http_serve (tests shorten them). */
extern int64_t http_idle_ns, http_read_ns;

/* Accept on listener and serve each connection in a goroutine, until the
 * listener is closed (then return). In a goroutine. */
void http_serve(int listener);

/* After the listener was closed: end idle keep-alive connections now, let
 * the ones inside a request answer it (with Connection: close) for up to
 * grace_ns, then end the rest with a past deadline and wait for them.
 * Returns how many the grace deadline ended. In a goroutine. */
uint64_t http_shutdown(int64_t grace_ns);

struct http_stats {
    uint64_t conns, live, requests, errors;   /* errors: 4xx/5xx replies that close */
};
struct http_stats http_stats(void);

#endif
