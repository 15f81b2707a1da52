/*
 * examples/resp.h: the Redis-protocol part of examples/resp-server, a small
 * library that the server and tests/resp_proto.c both link: the sharded
 * map, the commands, an accept loop serving each connection in its own
 * goroutine, and closing them all. What the protocol does (commands,
 * bounds, errors) is written at the top of examples/resp.c.
 */
#ifndef GR_EXAMPLES_RESP_H
#define GR_EXAMPLES_RESP_H
#include <stdint.h>

/* Ready the map (its locks); once before resp_serve, in a goroutine. */
void resp_init(void);

/* Accept on listener and serve each connection in a goroutine, until the
 * listener is closed (then return). In a goroutine. */
void resp_serve(int listener);

/* After the listener was closed: end every connection (a past read
 * deadline) and wait until all have. In a goroutine. */
void resp_close_all(void);

struct resp_stats {
    uint64_t conns, live, cmds, proto_errs;
};
struct resp_stats resp_stats(void);

#endif
