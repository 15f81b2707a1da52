/* tests/resp_proto.c: examples/resp.c (the protocol of examples/resp-server)
 * on real loopback sockets, driven by a client written here: multibulk and
 * inline requests, pipelining, fragments, every command the server names
 * with its replies and errors as Redis words them, expiry, protocol errors
 * (an error reply, the connection closes, nothing else is lost), QUIT, and
 * many clients on one key. Replies are compared byte for byte; every client
 * read has a deadline, so nothing here can hang. */
#include "harness.h"

#include "examples/resp.h"

static int srv_listener = -1;
static char srv_addr[64];

static void serve_main(void *arg)
{
    (void)arg;
    resp_serve(srv_listener);
}

/* A connection with 5 s read and write deadlines. */
static int cl_dial(void)
{
    int fd = io_dial_bounded(srv_addr, 5 * GR_S);
    CHECK(fd >= 0);
    return fd;
}

/* Start the server with an empty map and return a client connection. */
static int srv_start(void)
{
    resp_init();
    srv_listener = io_listen(256, srv_addr, sizeof srv_addr);
    CHECK(srv_listener >= 0);
    GO(serve_main, NULL);
    int fd = cl_dial();
    CHECK_EQ(gr_write_all(fd, "FLUSHALL\r\n", 10), 10);
    char b[5];
    CHECK_EQ(io_read_full(fd, b, 5), 5);
    return fd;
}

static void send_str(int fd, const char *s) { CHECK_EQ(gr_write_all(fd, s, strlen(s)), strlen(s)); }

/* Read exactly strlen(want) bytes and compare them with want. */
static void expect_at(int line, int fd, const char *want)
{
    size_t n = strlen(want);
    char *got = calloc(1, n + 1);
    ssize_t k = io_read_full(fd, got, n);
    if (k != (ssize_t)n || memcmp(got, want, n) != 0) {
        char note[256];
        snprintf(note, sizeof note, "line %d: got %zd '%.80s', want '%.80s'", line, k,
                 k > 0 ? got : "", want);
        chk_fail(__FILE__, line, note);
    }
    free(got);
}
#define EXPECT(fd, want) expect_at(__LINE__, (fd), (want))
/* Send req, expect reply. */
#define CMD(fd, req, want) do { send_str((fd), (req)); EXPECT((fd), (want)); } while (0)

/* The server closed the connection with nothing more to read (a reset
 * when it closed with request bytes of ours unread). */
static bool at_eof(int fd)
{
    char b[64];
    ssize_t k = gr_recv(fd, b, sizeof b, 0);
    return k == 0 || k == -ECONNRESET;
}

/* ---------- commands ---------- */

static void commands_main(void *arg)
{
    (void)arg;
    int fd = srv_start();
    CMD(fd, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n");
    CMD(fd, "*2\r\n$4\r\nping\r\n$2\r\nhi\r\n", "$2\r\nhi\r\n");
    CMD(fd, "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "$0\r\n\r\n");
    CMD(fd, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$4\r\nx\r\ny\r\n", "+OK\r\n");   /* binary-safe value */
    CMD(fd, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", "$4\r\nx\r\ny\r\n");
    CMD(fd, "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n", "$-1\r\n");
    CMD(fd, "*4\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n2\r\n$2\r\nNX\r\n", "$-1\r\n");
    CMD(fd, "*4\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n$2\r\nXX\r\n", "$-1\r\n");
    CMD(fd, "*4\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n$2\r\nnx\r\n", "+OK\r\n");
    CMD(fd, "*4\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n5\r\n$2\r\nXX\r\n", "+OK\r\n");
    CMD(fd, "*2\r\n$4\r\nINCR\r\n$1\r\na\r\n", ":6\r\n");
    CMD(fd, "*2\r\n$4\r\nDECR\r\n$1\r\na\r\n", ":5\r\n");
    CMD(fd, "*3\r\n$6\r\nINCRBY\r\n$1\r\na\r\n$3\r\n-10\r\n", ":-5\r\n");
    CMD(fd, "*2\r\n$4\r\nINCR\r\n$3\r\nnew\r\n", ":1\r\n");
    CMD(fd, "*5\r\n$4\r\nMSET\r\n$2\r\nk1\r\n$2\r\nv1\r\n$2\r\nk2\r\n$2\r\nv2\r\n", "+OK\r\n");
    CMD(fd, "*4\r\n$4\r\nMGET\r\n$2\r\nk1\r\n$4\r\nnone\r\n$2\r\nk2\r\n",
        "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv2\r\n");
    CMD(fd, "*4\r\n$6\r\nEXISTS\r\n$2\r\nk1\r\n$2\r\nk1\r\n$4\r\nnone\r\n", ":2\r\n");
    CMD(fd, "*1\r\n$6\r\nDBSIZE\r\n", ":5\r\n");   /* a b new k1 k2 */
    CMD(fd, "*3\r\n$3\r\nDEL\r\n$2\r\nk1\r\n$4\r\nnone\r\n", ":1\r\n");
    CMD(fd, "*2\r\n$3\r\nTTL\r\n$2\r\nk2\r\n", ":-1\r\n");
    CMD(fd, "*2\r\n$3\r\nTTL\r\n$4\r\nnone\r\n", ":-2\r\n");
    CMD(fd, "*3\r\n$6\r\nEXPIRE\r\n$2\r\nk2\r\n$3\r\n100\r\n", ":1\r\n");
    CMD(fd, "*2\r\n$3\r\nTTL\r\n$2\r\nk2\r\n", ":100\r\n");
    CMD(fd, "*3\r\n$6\r\nEXPIRE\r\n$4\r\nnone\r\n$3\r\n100\r\n", ":0\r\n");
    CMD(fd, "*5\r\n$3\r\nSET\r\n$1\r\ne\r\n$1\r\nv\r\n$2\r\nEX\r\n$2\r\n50\r\n", "+OK\r\n");
    CMD(fd, "*2\r\n$3\r\nTTL\r\n$1\r\ne\r\n", ":50\r\n");
    CMD(fd, "*1\r\n$8\r\nFLUSHALL\r\n", "+OK\r\n");
    CMD(fd, "*1\r\n$6\r\nDBSIZE\r\n", ":0\r\n");
    /* what redis-cli and redis-benchmark ask at start */
    CMD(fd, "*1\r\n$7\r\nCOMMAND\r\n", "*0\r\n");
    CMD(fd, "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    CMD(fd, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
        "-ERR unknown command 'HELLO', with args beginning with: '3' \r\n");
    CMD(fd, "*1\r\n$4\r\nQUIT\r\n", "+OK\r\n");
    CHECK(at_eof(fd));
    gr_close(fd);
    gr_close(srv_listener);
}

Test(resp_proto, commands, .timeout = 30) { RUN_PROCS(commands_main, NULL); }

static void errors_main(void *arg)
{
    (void)arg;
    int fd = srv_start();
    CMD(fd, "*2\r\n$3\r\nFOO\r\n$3\r\nbar\r\n",
        "-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n");
    CMD(fd, "*1\r\n$3\r\nGET\r\n", "-ERR wrong number of arguments for 'get' command\r\n");
    CMD(fd, "*2\r\n$3\r\nSET\r\n$1\r\na\r\n", "-ERR wrong number of arguments for 'set' command\r\n");
    CMD(fd, "*2\r\n$4\r\nMSET\r\n$1\r\na\r\n", "-ERR wrong number of arguments for 'mset' command\r\n");
    CMD(fd, "*3\r\n$3\r\nSET\r\n$1\r\ns\r\n$3\r\nabc\r\n", "+OK\r\n");
    CMD(fd, "*2\r\n$4\r\nINCR\r\n$1\r\ns\r\n", "-ERR value is not an integer or out of range\r\n");
    CMD(fd, "*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\nxy\r\n", "-ERR value is not an integer or out of range\r\n");
    CMD(fd, "*3\r\n$3\r\nSET\r\n$1\r\nm\r\n$19\r\n9223372036854775807\r\n", "+OK\r\n");
    CMD(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nm\r\n", "-ERR increment or decrement would overflow\r\n");
    CMD(fd, "*4\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n$3\r\nBAD\r\n", "-ERR syntax error\r\n");
    CMD(fd, "*5\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nNX\r\n$2\r\nXX\r\n", "-ERR syntax error\r\n");
    CMD(fd, "*5\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nEX\r\n$1\r\n0\r\n",
        "-ERR invalid expire time in 'set' command\r\n");
    CMD(fd, "*5\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nPX\r\n$2\r\nzz\r\n",
        "-ERR value is not an integer or out of range\r\n");
    /* errors never end the connection */
    CMD(fd, "PING\r\n", "+PONG\r\n");
    gr_close(fd);
    gr_close(srv_listener);
}

Test(resp_proto, errors, .timeout = 30) { RUN_PROCS(errors_main, NULL); }

/* ---------- inline, pipelining, fragments ---------- */

static void framing_main(void *arg)
{
    (void)arg;
    int fd = srv_start();
    /* inline commands, CRLF or bare LF, extra blanks */
    CMD(fd, "PING\r\n", "+PONG\r\n");
    CMD(fd, "set  k   hello\n", "+OK\r\n");
    CMD(fd, "GET k\r\n", "$5\r\nhello\r\n");
    CMD(fd, "\r\nPING\r\n", "+PONG\r\n");   /* an empty line is no command */
    /* 200 pipelined commands in one send, answered in order */
    char *batch = malloc(200 * 64), *want = malloc(200 * 32);
    size_t n = 0, w = 0;
    for (int i = 0; i < 200; i++) {
        if (i % 2) {
            n += (size_t)sprintf(batch + n, "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n");
            w += (size_t)sprintf(want + w, ":%d\r\n", (i + 1) / 2);
        } else {
            n += (size_t)sprintf(batch + n, "PING\r\n");
            w += (size_t)sprintf(want + w, "+PONG\r\n");
        }
    }
    CHECK_EQ(gr_write_all(fd, batch, n), n);
    EXPECT(fd, want);
    /* a multibulk request byte by byte */
    const char *req = "*3\r\n$3\r\nSET\r\n$4\r\nfrag\r\n$5\r\nbytes\r\n";
    for (const char *p = req; *p; p++) {
        CHECK_EQ(gr_write_all(fd, p, 1), 1);
        if ((p - req) % 5 == 0)
            gr_sleep(MS);
    }
    EXPECT(fd, "+OK\r\n");
    CMD(fd, "GET frag\r\n", "$5\r\nbytes\r\n");
    /* a 1 MiB value (the bulk limit): more than the reader's buffer */
    size_t big = 1 << 20;
    char *v = malloc(big + 64);
    int h = sprintf(v, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%zu\r\n", big);
    memset(v + h, 'v', big);
    memcpy(v + h + big, "\r\n", 2);
    CHECK_EQ(gr_write_all(fd, v, (size_t)h + big + 2), (size_t)h + big + 2);
    EXPECT(fd, "+OK\r\n");
    send_str(fd, "GET big\r\n");
    char *got = malloc(big + 32);
    int hl = sprintf(v, "$%zu\r\n", big);
    CHECK_EQ(io_read_full(fd, got, (size_t)hl + big + 2), (size_t)hl + big + 2);
    CHECK(memcmp(got, v, (size_t)hl) == 0);
    bool all_v = true;
    for (size_t i = 0; i < big; i++)
        all_v &= got[hl + i] == 'v';
    CHECK(all_v);
    free(got);
    free(v);
    free(batch);
    free(want);
    gr_close(fd);
    gr_close(srv_listener);
}

Test(resp_proto, inline_pipelined_fragmented, .timeout = 30) { RUN_PROCS(framing_main, NULL); }

/* ---------- expiry ---------- */

static void expiry_main(void *arg)
{
    (void)arg;
    int fd = srv_start();
    CMD(fd, "SET a v PX 100\r\n", "+OK\r\n");
    CMD(fd, "SET b v\r\n", "+OK\r\n");
    CMD(fd, "EXPIRE b 0\r\n", ":1\r\n");   /* a non-positive expire deletes */
    CMD(fd, "GET b\r\n", "$-1\r\n");
    CMD(fd, "GET a\r\n", "$1\r\nv\r\n");
    gr_sleep(250 * MS);
    CMD(fd, "GET a\r\n", "$-1\r\n");
    CMD(fd, "TTL a\r\n", ":-2\r\n");
    CMD(fd, "EXISTS a\r\n", ":0\r\n");
    /* SET without EX clears an expiry, SET NX sees an expired key as absent */
    CMD(fd, "SET c v PX 100\r\n", "+OK\r\n");
    CMD(fd, "SET c w\r\n", "+OK\r\n");
    CMD(fd, "SET d v PX 50\r\n", "+OK\r\n");
    gr_sleep(150 * MS);
    CMD(fd, "GET c\r\n", "$1\r\nw\r\n");
    CMD(fd, "SET d x NX\r\n", "+OK\r\n");
    CMD(fd, "GET d\r\n", "$1\r\nx\r\n");
    gr_close(fd);
    gr_close(srv_listener);
}

Test(resp_proto, expiry, .timeout = 30) { RUN_PROCS(expiry_main, NULL); }

/* ---------- protocol errors ---------- */

struct bad {
    const char *req, *reply;
};

static const struct bad bads[] = {
    {"*1\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*1\r\n$2000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
    {"*5000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
    {"*1\r\n:3\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
};

static void proto_errors_main(void *arg)
{
    (void)arg;
    int keep = srv_start();   /* another connection, with data, that must survive */
    CMD(keep, "SET safe 1\r\n", "+OK\r\n");
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        int fd = cl_dial();
        send_str(fd, bads[i].req);
        EXPECT(fd, bads[i].reply);
        CHECKF(at_eof(fd), "request %zu: no EOF after the error", i);
        gr_close(fd);
    }
    /* an inline line over 64 KiB */
    int fd = cl_dial();
    size_t big = 70 * 1024;
    char *line = malloc(big);
    memset(line, 'a', big);
    CHECK_EQ(gr_write_all(fd, line, big), big);
    EXPECT(fd, "-ERR Protocol error: too big inline request\r\n");
    CHECK(at_eof(fd));
    gr_close(fd);
    free(line);
    CHECK(resp_stats().proto_errs >= 8);
    CMD(keep, "GET safe\r\n", "$1\r\n1\r\n");
    gr_close(keep);
    gr_close(srv_listener);
}

Test(resp_proto, protocol_errors, .timeout = 30) { RUN_PROCS(proto_errors_main, NULL); }

/* ---------- many clients on shared keys ---------- */

struct cl_arg {
    gr_chan *done;
    int id;
};

enum { CLIENTS = 32, INCRS = 250 };

static void incr_client(void *arg)
{
    struct cl_arg *a = arg;
    int fd = cl_dial();
    char req[64];
    for (int i = 0; i < INCRS; i += 10) {
        /* ten pipelined INCRs on the shared key, one SET of its own */
        for (int j = 0; j < 10; j++)
            send_str(fd, "*2\r\n$4\r\nINCR\r\n$6\r\nshared\r\n");
        char got[10 * 16];
        size_t n = 0;
        for (;;) {   /* until ten replies (lines) came */
            ssize_t k = gr_recv(fd, got + n, sizeof got - n, 0);
            CHECK(k > 0);
            if (k <= 0)
                break;
            n += (size_t)k;
            int crlf = 0;
            for (size_t x = 0; x < n; x++)
                crlf += got[x] == '\n';
            if (crlf == 10)
                break;
        }
        snprintf(req, sizeof req, "SET own%d %d\r\n", a->id, i);
        CMD(fd, req, "+OK\r\n");
    }
    gr_close(fd);
    done_signal(a->done);
}

static void many_main(void *arg)
{
    (void)arg;
    int fd = srv_start();
    gr_chan *done = done_make(CLIENTS);
    static struct cl_arg args[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (struct cl_arg){done, i};
        GO(incr_client, &args[i]);
    }
    done_wait(done, CLIENTS);
    gr_chan_free(done);
    char want[32];
    snprintf(want, sizeof want, "$%d\r\n%d\r\n", (int)strlen("8000"), CLIENTS * INCRS);
    CMD(fd, "GET shared\r\n", want);
    snprintf(want, sizeof want, ":%d\r\n", CLIENTS + 1);
    CMD(fd, "DBSIZE\r\n", want);
    gr_close(fd);
    gr_close(srv_listener);
}

Test(resp_proto, many_clients_one_key, .timeout = 60) { RUN_PROCS(many_main, NULL); }
