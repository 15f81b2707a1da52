/*
 * examples/resp.c: RESP2 on goring (see resp.h), one goroutine per
 * connection, strings only, in a map of 64 shards each under a gr_rwmutex.
 *
 * Requests: multibulk (*N / $len) and inline, pipelined (replies to a
 * pipelined batch leave in one send). Commands: PING ECHO SET (EX PX NX
 * XX) GET DEL EXISTS INCR DECR INCRBY MSET MGET EXPIRE TTL DBSIZE FLUSHALL
 * QUIT; COMMAND answers an empty array, CONFIG GET p the pair (p, ""), and
 * HELLO an unknown command error (RESP2 only), which redis-cli and
 * redis-benchmark accept. Errors are worded as Redis words them. Every
 * value is a string, so WRONGTYPE cannot arise. Expiry is lazy: an expired
 * key is removed by the first access that sees it. Bounds: a line of
 * 64 KiB, 1024 arguments, a bulk of 1 MiB; a request beyond them gets
 * "-ERR Protocol error" and the connection closes (other connections and
 * the data are untouched).
 */
#include "examples/resp.h"

#include <goring.h>
#include <goring/bufio.h>

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 65536
#define MAX_ARGS 1024
#define MAX_BULK (1 << 20)
#define NSHARDS 64
#define NBUCKETS 4096
#define MAX_FDS 65536

/* ---------- the sharded map ---------- */

struct entry {
    struct entry *next;
    uint64_t hash;
    int64_t expire;   /* gr_nanotime() deadline; 0: none */
    size_t klen, vlen;
    char *val;
    char key[];
};

struct shard {
    gr_rwmutex mu;
    size_t n;
    struct entry *b[NBUCKETS];
};

static struct shard shards[NSHARDS];

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
}

static struct shard *shard_of(uint64_t h) { return &shards[h % NSHARDS]; }

/* The entry's link in its bucket, or where it would go. Under sh->mu. */
static struct entry **find(struct shard *sh, uint64_t h, const char *k, size_t n)
{
    struct entry **pp = &sh->b[(h / NSHARDS) % NBUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == n && memcmp((*pp)->key, k, n) == 0)
            break;
    return pp;
}

static bool expired(const struct entry *e, int64_t now) { return e->expire && e->expire <= now; }

static void unlink_free(struct shard *sh, struct entry **pp)
{
    struct entry *e = *pp;
    *pp = e->next;
    sh->n--;
    free(e->val);
    free(e);
}

/* ---------- replies ---------- */

static void reply_raw(gr_writer *w, const char *s) { gr_writer_write(w, s, strlen(s)); }

static void reply_bulk(gr_writer *w, const char *p, size_t n)
{
    gr_writer_printf(w, "$%zu\r\n", n);
    gr_writer_write(w, p, n);
    gr_writer_write(w, "\r\n", 2);
}

static void reply_int(gr_writer *w, long long v) { gr_writer_printf(w, ":%lld\r\n", v); }

static void reply_arity(gr_writer *w, const char *cmd)
{
    gr_writer_printf(w, "-ERR wrong number of arguments for '%s' command\r\n", cmd);
}

/* ---------- commands ---------- */

struct req {
    int argc;
    char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
};

static bool arg_is(const struct req *q, int i, const char *s)
{
    return q->len[i] == strlen(s) && strncasecmp(q->argv[i], s, q->len[i]) == 0;
}

/* A whole decimal long long, as Redis's string2ll. */
static bool parse_ll(const char *p, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return false;
    char buf[24];
    memcpy(buf, p, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || buf[0] == ' ' || buf[0] == '+' || (buf[0] == '0' && n > 1))
        return false;
    *out = v;
    return true;
}

static _Atomic uint64_t n_conns, n_cmds, n_proto_errs;

/* SET k v with options; returns false on a syntax error already replied. */
static void cmd_set(gr_writer *w, struct req *q)
{
    int64_t expire = 0;
    bool nx = false, xx = false;
    int64_t now = gr_nanotime();
    for (int i = 3; i < q->argc; i++) {
        if (arg_is(q, i, "NX"))
            nx = true;
        else if (arg_is(q, i, "XX"))
            xx = true;
        else if ((arg_is(q, i, "EX") || arg_is(q, i, "PX")) && i + 1 < q->argc && !expire) {
            long long v;
            if (!parse_ll(q->argv[i + 1], q->len[i + 1], &v)) {
                reply_raw(w, "-ERR value is not an integer or out of range\r\n");
                return;
            }
            long long unit = arg_is(q, i, "EX") ? 1000000000LL : 1000000LL;
            if (v <= 0 || v > (INT64_MAX - now) / unit) {
                reply_raw(w, "-ERR invalid expire time in 'set' command\r\n");
                return;
            }
            expire = now + v * unit;
            i++;
        } else {
            reply_raw(w, "-ERR syntax error\r\n");
            return;
        }
    }
    if (nx && xx) {
        reply_raw(w, "-ERR syntax error\r\n");
        return;
    }
    uint64_t h = hash_key(q->argv[1], q->len[1]);
    struct shard *sh = shard_of(h);
    char *val = malloc(q->len[2] ? q->len[2] : 1);
    memcpy(val, q->argv[2], q->len[2]);
    gr_rwmutex_lock(&sh->mu);
    struct entry **pp = find(sh, h, q->argv[1], q->len[1]);
    if (*pp && expired(*pp, now))
        unlink_free(sh, pp);
    bool exists = *pp != NULL;
    if ((nx && exists) || (xx && !exists)) {
        gr_rwmutex_unlock(&sh->mu);
        free(val);
        reply_raw(w, "$-1\r\n");
        return;
    }
    if (exists) {
        free((*pp)->val);
        (*pp)->val = val;
        (*pp)->vlen = q->len[2];
        (*pp)->expire = expire;
    } else {
        struct entry *e = malloc(sizeof *e + q->len[1]);
        e->next = NULL;
        e->hash = h;
        e->expire = expire;
        e->klen = q->len[1];
        memcpy(e->key, q->argv[1], q->len[1]);
        e->val = val;
        e->vlen = q->len[2];
        *pp = e;
        sh->n++;
    }
    gr_rwmutex_unlock(&sh->mu);
    reply_raw(w, "+OK\r\n");
}

static void cmd_get(gr_writer *w, const char *k, size_t n)
{
    uint64_t h = hash_key(k, n);
    struct shard *sh = shard_of(h);
    int64_t now = gr_nanotime();
    gr_rwmutex_rlock(&sh->mu);
    struct entry **pp = find(sh, h, k, n);
    if (*pp && !expired(*pp, now)) {
        reply_bulk(w, (*pp)->val, (*pp)->vlen);   /* copied into w under the lock */
        gr_rwmutex_runlock(&sh->mu);
        return;
    }
    bool stale = *pp != NULL;
    gr_rwmutex_runlock(&sh->mu);
    if (stale) {   /* lazy expiry: remove it under the write lock */
        gr_rwmutex_lock(&sh->mu);
        pp = find(sh, h, k, n);
        if (*pp && expired(*pp, now))
            unlink_free(sh, pp);
        gr_rwmutex_unlock(&sh->mu);
    }
    reply_raw(w, "$-1\r\n");
}

/* DEL (del) or EXISTS: count of keys found (live). */
static long long count_keys(struct req *q, bool del)
{
    long long c = 0;
    int64_t now = gr_nanotime();
    for (int i = 1; i < q->argc; i++) {
        uint64_t h = hash_key(q->argv[i], q->len[i]);
        struct shard *sh = shard_of(h);
        gr_rwmutex_lock(&sh->mu);
        struct entry **pp = find(sh, h, q->argv[i], q->len[i]);
        if (*pp) {
            bool live = !expired(*pp, now);
            c += live;
            if (del || !live)
                unlink_free(sh, pp);
        }
        gr_rwmutex_unlock(&sh->mu);
    }
    return c;
}

static void cmd_incrby(gr_writer *w, const char *k, size_t n, long long by)
{
    uint64_t h = hash_key(k, n);
    struct shard *sh = shard_of(h);
    int64_t now = gr_nanotime();
    gr_rwmutex_lock(&sh->mu);
    struct entry **pp = find(sh, h, k, n);
    if (*pp && expired(*pp, now))
        unlink_free(sh, pp);
    long long v = 0;
    if (*pp && !parse_ll((*pp)->val, (*pp)->vlen, &v)) {
        gr_rwmutex_unlock(&sh->mu);
        reply_raw(w, "-ERR value is not an integer or out of range\r\n");
        return;
    }
    if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)) {
        gr_rwmutex_unlock(&sh->mu);
        reply_raw(w, "-ERR increment or decrement would overflow\r\n");
        return;
    }
    v += by;
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%lld", v);
    if (!*pp) {
        struct entry *e = malloc(sizeof *e + n);
        e->next = NULL;
        e->hash = h;
        e->expire = 0;
        e->klen = n;
        memcpy(e->key, k, n);
        e->val = NULL;
        *pp = e;
        sh->n++;
    }
    free((*pp)->val);
    (*pp)->val = malloc((size_t)len);
    memcpy((*pp)->val, buf, (size_t)len);
    (*pp)->vlen = (size_t)len;
    gr_rwmutex_unlock(&sh->mu);
    reply_int(w, v);
}

static void cmd_expire(gr_writer *w, struct req *q)
{
    long long s;
    if (!parse_ll(q->argv[2], q->len[2], &s)) {
        reply_raw(w, "-ERR value is not an integer or out of range\r\n");
        return;
    }
    uint64_t h = hash_key(q->argv[1], q->len[1]);
    struct shard *sh = shard_of(h);
    int64_t now = gr_nanotime();
    gr_rwmutex_lock(&sh->mu);
    struct entry **pp = find(sh, h, q->argv[1], q->len[1]);
    if (*pp && expired(*pp, now))
        unlink_free(sh, pp);
    int r = 0;
    if (*pp) {
        r = 1;
        if (s <= 0)
            unlink_free(sh, pp);   /* Redis deletes on a non-positive expire */
        else
            (*pp)->expire = s > (INT64_MAX - now) / 1000000000LL ? INT64_MAX : now + s * 1000000000LL;
    }
    gr_rwmutex_unlock(&sh->mu);
    reply_int(w, r);
}

static void cmd_ttl(gr_writer *w, const char *k, size_t n)
{
    uint64_t h = hash_key(k, n);
    struct shard *sh = shard_of(h);
    int64_t now = gr_nanotime();
    long long t = -2;
    gr_rwmutex_rlock(&sh->mu);
    struct entry **pp = find(sh, h, k, n);
    if (*pp && !expired(*pp, now))
        t = (*pp)->expire ? ((*pp)->expire - now + 500000000LL) / 1000000000LL : -1;
    gr_rwmutex_runlock(&sh->mu);
    reply_int(w, t);
}

static void flushall(void)
{
    for (int i = 0; i < NSHARDS; i++) {
        gr_rwmutex_lock(&shards[i].mu);
        for (int b = 0; b < NBUCKETS; b++)
            while (shards[i].b[b])
                unlink_free(&shards[i], &shards[i].b[b]);
        gr_rwmutex_unlock(&shards[i].mu);
    }
}

/* Execute q. Returns false when the connection should close (QUIT). */
static bool execute(gr_writer *w, struct req *q)
{
    if (q->argc == 0)
        return true;
    atomic_fetch_add_explicit(&n_cmds, 1, memory_order_relaxed);
    const char *c = q->argv[0];
    size_t cl = q->len[0];
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(cl < 31 ? cl : 31), c);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    int argc = q->argc;
#define ARITY(cond) do { if (!(cond)) { reply_arity(w, name); return true; } } while (0)
    if (!strcmp(name, "ping")) {
        ARITY(argc <= 2);
        if (argc == 2)
            reply_bulk(w, q->argv[1], q->len[1]);
        else
            reply_raw(w, "+PONG\r\n");
    } else if (!strcmp(name, "echo")) {
        ARITY(argc == 2);
        reply_bulk(w, q->argv[1], q->len[1]);
    } else if (!strcmp(name, "set")) {
        ARITY(argc >= 3);
        cmd_set(w, q);
    } else if (!strcmp(name, "get")) {
        ARITY(argc == 2);
        cmd_get(w, q->argv[1], q->len[1]);
    } else if (!strcmp(name, "del") || !strcmp(name, "exists")) {
        ARITY(argc >= 2);
        reply_int(w, count_keys(q, name[0] == 'd'));
    } else if (!strcmp(name, "incr") || !strcmp(name, "decr")) {
        ARITY(argc == 2);
        cmd_incrby(w, q->argv[1], q->len[1], name[0] == 'i' ? 1 : -1);
    } else if (!strcmp(name, "incrby")) {
        ARITY(argc == 3);
        long long by;
        if (!parse_ll(q->argv[2], q->len[2], &by))
            reply_raw(w, "-ERR value is not an integer or out of range\r\n");
        else
            cmd_incrby(w, q->argv[1], q->len[1], by);
    } else if (!strcmp(name, "mset")) {
        ARITY(argc >= 3 && argc % 2 == 1);
        struct req one;
        one.argc = 3;
        for (int i = 1; i < argc; i += 2) {
            one.argv[1] = q->argv[i], one.len[1] = q->len[i];
            one.argv[2] = q->argv[i + 1], one.len[2] = q->len[i + 1];
            /* each pair is a plain SET without options */
            uint64_t h = hash_key(one.argv[1], one.len[1]);
            struct shard *sh = shard_of(h);
            char *val = malloc(one.len[2] ? one.len[2] : 1);
            memcpy(val, one.argv[2], one.len[2]);
            gr_rwmutex_lock(&sh->mu);
            struct entry **pp = find(sh, h, one.argv[1], one.len[1]);
            if (!*pp) {
                struct entry *e = malloc(sizeof *e + one.len[1]);
                e->next = NULL;
                e->hash = h;
                e->klen = one.len[1];
                memcpy(e->key, one.argv[1], one.len[1]);
                e->val = NULL;
                *pp = e;
                sh->n++;
            }
            free((*pp)->val);
            (*pp)->val = val;
            (*pp)->vlen = one.len[2];
            (*pp)->expire = 0;
            gr_rwmutex_unlock(&sh->mu);
        }
        reply_raw(w, "+OK\r\n");
    } else if (!strcmp(name, "mget")) {
        ARITY(argc >= 2);
        gr_writer_printf(w, "*%d\r\n", argc - 1);
        for (int i = 1; i < argc; i++)
            cmd_get(w, q->argv[i], q->len[i]);
    } else if (!strcmp(name, "expire")) {
        ARITY(argc == 3);
        cmd_expire(w, q);
    } else if (!strcmp(name, "ttl")) {
        ARITY(argc == 2);
        cmd_ttl(w, q->argv[1], q->len[1]);
    } else if (!strcmp(name, "dbsize")) {
        ARITY(argc == 1);
        long long n = 0;
        for (int i = 0; i < NSHARDS; i++) {
            gr_rwmutex_rlock(&shards[i].mu);
            n += (long long)shards[i].n;
            gr_rwmutex_runlock(&shards[i].mu);
        }
        reply_int(w, n);
    } else if (!strcmp(name, "flushall") || !strcmp(name, "flushdb")) {
        flushall();
        reply_raw(w, "+OK\r\n");
    } else if (!strcmp(name, "quit")) {
        reply_raw(w, "+OK\r\n");
        return false;
    } else if (!strcmp(name, "config") && argc == 3 && arg_is(q, 1, "GET")) {
        reply_raw(w, "*2\r\n");   /* the parameter, with an empty value */
        reply_bulk(w, q->argv[2], q->len[2]);
        reply_bulk(w, "", 0);
    } else if (!strcmp(name, "command")) {
        reply_raw(w, "*0\r\n");
    } else {
        gr_writer_printf(w, "-ERR unknown command '%.*s', with args beginning with: ",
                         (int)(cl < 128 ? cl : 128), c);
        for (int i = 1; i < argc && i < 8; i++)
            gr_writer_printf(w, "'%.*s' ", (int)(q->len[i] < 64 ? q->len[i] : 64), q->argv[i]);
        reply_raw(w, "\r\n");
    }
    return true;
}

/* ---------- connections ---------- */

/* Read one request into q (argv point into bufs it allocates, freed by
 * the caller with free_req). Returns 1, 0 at end of stream, -1 on a
 * protocol error (replied), -2 on an I/O error. */
static void free_req(struct req *q, char **owned, int nowned)
{
    (void)q;
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
}

static int read_req(gr_reader *r, gr_writer *w, struct req *q, char **owned, int *nowned)
{
    const char *line;
    q->argc = 0;
    *nowned = 0;
    ssize_t n = gr_reader_read_slice(r, '\n', &line);
    if (n == -ENOBUFS) {
        reply_raw(w, "-ERR Protocol error: too big inline request\r\n");
        return -1;
    }
    if (n <= 0)
        return n == 0 ? 0 : -2;
    if (line[0] != '*') {   /* inline: words split by spaces */
        char *copy = malloc((size_t)n);
        memcpy(copy, line, (size_t)n);
        owned[(*nowned)++] = copy;
        size_t len = (size_t)n;
        while (len && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
            len--;
        size_t i = 0;
        while (i < len) {
            while (i < len && (copy[i] == ' ' || copy[i] == '\t'))
                i++;
            if (i == len)
                break;
            if (q->argc == MAX_ARGS) {
                reply_raw(w, "-ERR Protocol error: too many arguments\r\n");
                return -1;
            }
            size_t st = i;
            while (i < len && copy[i] != ' ' && copy[i] != '\t')
                i++;
            q->argv[q->argc] = copy + st;
            q->len[q->argc++] = i - st;
        }
        return 1;
    }
    long long count;
    size_t len = (size_t)n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (!parse_ll(line + 1, len - 1, &count) || count > MAX_ARGS) {
        reply_raw(w, "-ERR Protocol error: invalid multibulk length\r\n");
        return -1;
    }
    for (long long i = 0; i < count; i++) {
        n = gr_reader_read_slice(r, '\n', &line);
        if (n == -ENOBUFS) {
            reply_raw(w, "-ERR Protocol error: invalid bulk length\r\n");
            return -1;
        }
        if (n <= 0)
            return n == 0 ? 0 : -2;
        len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        long long blen;
        if (line[0] != '$') {
            gr_writer_printf(w, "-ERR Protocol error: expected '$', got '%c'\r\n", line[0]);
            return -1;
        }
        if (!parse_ll(line + 1, len - 1, &blen) || blen < 0 || blen > MAX_BULK) {
            reply_raw(w, "-ERR Protocol error: invalid bulk length\r\n");
            return -1;
        }
        char *b = malloc((size_t)blen + 2);
        owned[(*nowned)++] = b;
        ssize_t k = gr_reader_read_full(r, b, (size_t)blen + 2);
        if (k != blen + 2)
            return k == 0 || k == -ENODATA ? 0 : -2;
        q->argv[q->argc] = b;
        q->len[q->argc++] = (size_t)blen;
    }
    return 1;
}

static _Atomic uint64_t n_live;
static _Atomic unsigned char live[MAX_FDS];

static void conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    gr_reader *r = gr_reader_new(fd, LINE_MAX_BYTES);
    gr_writer *w = gr_writer_new(fd, 65536);
    struct req *q = malloc(sizeof *q);
    char **owned = malloc(sizeof(char *) * (MAX_ARGS + 1));
    if (r && w && q && owned) {
        for (;;) {
            int nowned = 0;
            int k = read_req(r, w, q, owned, &nowned);
            bool keep = k == 1 && execute(w, q);
            free_req(q, owned, nowned);
            if (k == -1)
                atomic_fetch_add_explicit(&n_proto_errs, 1, memory_order_relaxed);
            if (!keep || gr_reader_buffered(r) == 0)
                if (gr_writer_flush(w) < 0)
                    break;
            if (!keep)
                break;
        }
    }
    free(owned);
    free(q);
    gr_reader_free(r);
    gr_writer_free(w);
    if (fd < MAX_FDS)
        atomic_store(&live[fd], 0);
    gr_close(fd);
    atomic_fetch_sub(&n_live, 1);
}

void resp_serve(int listener)
{
    for (;;) {
        int fd = gr_accept(listener, NULL, NULL, 0);
        if (fd < 0) {
            if (fd == -ECANCELED || fd == -EBADF)
                return;
            continue;
        }
        atomic_fetch_add(&n_conns, 1);
        atomic_fetch_add(&n_live, 1);
        if (fd < MAX_FDS)
            atomic_store(&live[fd], 1);
        if (gr_go(conn_main, (void *)(intptr_t)fd) < 0) {
            if (fd < MAX_FDS)
                atomic_store(&live[fd], 0);
            atomic_fetch_sub(&n_live, 1);
            gr_close(fd);
        }
    }
}

void resp_init(void)
{
    for (int i = 0; i < NSHARDS; i++)
        shards[i].mu = (gr_rwmutex)GR_RWMUTEX_INIT;
}

void resp_close_all(void)
{
    /* A past read deadline wakes idle readers. */
    for (int fd = 0; fd < MAX_FDS; fd++)
        if (atomic_load(&live[fd]))
            gr_set_deadline(fd, GR_READ, 0);
    while (atomic_load(&n_live) > 0)
        gr_sleep(10 * 1000 * 1000);
}

struct resp_stats resp_stats(void)
{
    return (struct resp_stats){atomic_load(&n_conns), atomic_load(&n_live), atomic_load(&n_cmds),
                               atomic_load(&n_proto_errs)};
}
