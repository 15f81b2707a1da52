/*
 * io/net.c: TCP listen and dial with Go's address syntax.
 *
 * "host:port", "[v6]:port", ":port" (every address: dual-stack [::] with
 * IPV6_V6ONLY off, else 0.0.0.0, as Go's net.Listen("tcp", ":port")).
 * Numeric hosts are parsed without I/O (getaddrinfo with AI_NUMERICHOST);
 * names are resolved by getaddrinfo bracketed by
 * gr_syscall_enter_blocking/gr_syscall_exit, so the P is handed to another
 * thread at once while the resolver blocks (Go runs cgo lookups the same way).
 */
#include "io/fd.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Split "host:port" / "[host]:port" / ":port". 0 or -EINVAL (also for a
 * numeric port outside 0..65535). */
static int split_hostport(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
    if (!addr)
        return -EINVAL;
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        h = addr + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - addr);
        if (memchr(addr, ':', hlen))       /* "::1:80": Go says "too many colons" */
            return -EINVAL;
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (hlen >= hl || plen == 0 || plen >= pl)
        return -EINVAL;
    /* A number must be a port, 0..65535 (getaddrinfo takes it modulo
     * 2^16: "70000" would be 4464); anything else is a service name
     * (Go's parsePort / LookupPort). */
    if ((p[0] >= '0' && p[0] <= '9') || p[0] == '-' || p[0] == '+') {
        long v = 0;
        for (const char *q = p; *q; q++) {
            if (*q < '0' || *q > '9')
                return -EINVAL;
            v = v * 10 + (*q - '0');
            if (v > 65535)
                return -EINVAL;
        }
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

static int gai_errno(int rc, int err)
{
    switch (rc) {
    case 0: return 0;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SYSTEM: return err ? -err : -EIO;
    case EAI_SERVICE:
    case EAI_BADFLAGS: return -EINVAL;
    case EAI_FAMILY: return -EAFNOSUPPORT;
    default: return -ENOENT;    /* EAI_NONAME, EAI_NODATA, EAI_FAIL: no such host */
    }
}

/* Resolve host/port for TCP; numeric without I/O, names through the
 * handoff path. 0 or -errno; *res freed by the caller. */
static int resolve(const char *host, const char *port, bool passive, struct addrinfo **res)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(host, port, &hints, res);
    if (rc != EAI_NONAME)
        return gai_errno(rc, errno);
    hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_ADDRCONFIG;
    bool in_g = gr__getg() != NULL;
    if (in_g)
        gr_syscall_enter_blocking();
    rc = getaddrinfo(host, port, &hints, res);
    int err = errno;
    if (in_g)
        gr_syscall_exit();
    return gai_errno(rc, err);
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int family, bool dual, int backlog)
{
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (s < 0)
        return -errno;
    int one = 1, zero = 0;
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (dual && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) ||
        bind(s, sa, len) < 0 || listen(s, backlog) < 0) {
        int err = errno;
        close(s);
        return -err;
    }
    gr__fd_fresh(s, GR__KIND_SOCKET);
    return s;
}

static int gr_listen_tcp_impl(const char *addr, int backlog)
{
    char host[256], port[32];
    int rc = split_hostport(addr, host, sizeof host, port, sizeof port);
    if (rc < 0)
        return rc;
    if (backlog <= 0)
        backlog = SOMAXCONN;
    if (host[0] == '\0') {
        /* Every address: dual-stack first, IPv4 where IPv6 is missing. */
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || p < 0 || p > 65535)
            return -EINVAL;
        struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p),
                                   .sin6_addr = IN6ADDR_ANY_INIT };
        int s = listen_on((struct sockaddr *)&a6, sizeof a6, AF_INET6, true, backlog);
        if (s != -EAFNOSUPPORT && s != -EADDRNOTAVAIL)
            return s;
        struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
                                  .sin_addr = { htonl(INADDR_ANY) } };
        return listen_on((struct sockaddr *)&a4, sizeof a4, AF_INET, false, backlog);
    }
    struct addrinfo *res = NULL;
    rc = resolve(host, port, true, &res);
    if (rc < 0)
        return rc;
    int s = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        s = listen_on(ai->ai_addr, ai->ai_addrlen, ai->ai_family, false, backlog);
        if (s >= 0)
            break;
    }
    freeaddrinfo(res);
    return s;
}

static int gr_dial_tcp_impl(const char *addr, int64_t timeout_ns)
{
    if (!gr__getg())
        return -EPERM;
    int64_t deadline = gr__deadline_in(timeout_ns);
    char host[256], port[32];
    int rc = split_hostport(addr, host, sizeof host, port, sizeof port);
    if (rc < 0)
        return rc;
    if (host[0] == '\0')            /* Go dials the local system for ":port" */
        strcpy(host, "localhost");
    struct addrinfo *res = NULL;
    rc = resolve(host, port, false, &res);
    if (rc < 0)
        return rc;
    int result = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
        if (s < 0) {
            result = -errno;
            if (result == -EMFILE || result == -ENFILE)
                break;
            continue;
        }
        gr__fd_fresh(s, GR__KIND_SOCKET);
        int r = gr__connect(s, ai->ai_addr, ai->ai_addrlen, deadline);
        if (r == 0) {
            int one = 1;   /* as Go: TCP connections start with Nagle off */
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            result = s;
            break;
        }
        gr_close(s);
        result = r == -ETIME ? -ETIMEDOUT : r;
        if (result == -ETIMEDOUT || result == -EPERM)
            break;
    }
    freeaddrinfo(res);
    return result;
}

/* ---------- errno is never touched (API.md): libc calls above may set it ---------- */

int gr_listen_tcp(const char *addr, int backlog)
{
    int saved = *gr__errno_loc();
    int r = gr_listen_tcp_impl(addr, backlog);
    *gr__errno_loc() = saved;
    return r;
}

int gr_dial_tcp(const char *addr, int64_t timeout_ns)
{
    int saved = *gr__errno_loc();
    int r = gr_dial_tcp_impl(addr, timeout_ns);
    *gr__errno_loc() = saved;
    return r;
}

int gr_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return -EAFNOSUPPORT;
}
