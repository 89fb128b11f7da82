/* helper_http_server: see helper_http_server.h. */
#include "helper_http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define THS_MAX_HEAD  (64 * 1024)
#define THS_MAX_BODY  (16 * 1024 * 1024)
#define THS_CHUNK     8192

typedef struct {
    ths_action action;
    int status;
    unsigned char *body;    /* owned */
    size_t body_len;
    char *location;         /* owned */
    char *content_type;     /* owned */
    int delay_ms;
} reply;

typedef struct {
    char *prefix;
    reply r;
} route;

typedef struct conn {
    ths_server *s;
    int fd;
    int id;
    pthread_t tid;
    struct conn *next;
} conn;

struct ths_server {
    int lfd;
    int stop_pipe[2];       /* written once by ths_stop; polled by all */
    int port;
    char base[64];
    pthread_t acceptor;
    pthread_mutex_t mu;
    /* under mu: */
    reply deflt;
    route *routes;
    int nroutes;
    reply *queue;
    int nqueue;
    ths_request **reqs;
    int nreqs, capreqs;
    conn *conns;
    int nconns;
};

/* ---- replies --------------------------------------------------------- */

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void reply_copy(reply *dst, const ths_reply *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->action = src->action;
    dst->status = src->status;
    dst->delay_ms = src->delay_ms;
    dst->location = dupstr(src->location);
    dst->content_type = dupstr(src->content_type);
    if (src->body) {
        dst->body = malloc(src->body_len ? src->body_len : 1);
        memcpy(dst->body, src->body, src->body_len);
        dst->body_len = src->body_len;
    }
    else if (src->fill_len) {
        dst->body = malloc(src->fill_len);
        memset(dst->body, 'x', src->fill_len);
        dst->body_len = src->fill_len;
    }
}

static void reply_free(reply *r)
{
    free(r->body);
    free(r->location);
    free(r->content_type);
    memset(r, 0, sizeof(*r));
}

static void request_free(ths_request *q)
{
    if (!q)
        return;
    free(q->target);
    free(q->path);
    free(q->content_type);
    free(q->head);
    free(q->body);
    free(q->raw);
    free(q);
}

void ths_set_default(ths_server *s, const ths_reply *r)
{
    pthread_mutex_lock(&s->mu);
    reply_free(&s->deflt);
    reply_copy(&s->deflt, r);
    pthread_mutex_unlock(&s->mu);
}

void ths_route(ths_server *s, const char *path_prefix, const ths_reply *r)
{
    int i;

    pthread_mutex_lock(&s->mu);
    for (i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].prefix, path_prefix) == 0)
            break;
    }
    if (i == s->nroutes) {
        s->routes = realloc(s->routes, sizeof(route) * (s->nroutes + 1));
        s->routes[i].prefix = strdup(path_prefix);
        memset(&s->routes[i].r, 0, sizeof(reply));
        s->nroutes++;
    }
    reply_free(&s->routes[i].r);
    reply_copy(&s->routes[i].r, r);
    pthread_mutex_unlock(&s->mu);
}

void ths_push(ths_server *s, const ths_reply *r)
{
    pthread_mutex_lock(&s->mu);
    s->queue = realloc(s->queue, sizeof(reply) * (s->nqueue + 1));
    reply_copy(&s->queue[s->nqueue], r);
    s->nqueue++;
    pthread_mutex_unlock(&s->mu);
}

/* Copies the reply for this path out of the server (caller frees). */
static void pick_reply(ths_server *s, const char *path, reply *out)
{
    ths_reply tmp;
    const reply *src = &s->deflt;
    int i;

    pthread_mutex_lock(&s->mu);
    if (s->nqueue > 0) {
        *out = s->queue[0];
        memmove(s->queue, s->queue + 1, sizeof(reply) * (s->nqueue - 1));
        s->nqueue--;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    for (i = 0; i < s->nroutes; i++) {
        if (strncmp(path, s->routes[i].prefix,
                    strlen(s->routes[i].prefix)) == 0) {
            src = &s->routes[i].r;
            break;
        }
    }
    memset(&tmp, 0, sizeof(tmp));
    tmp.action = src->action;
    tmp.status = src->status;
    tmp.body = src->body;
    tmp.body_len = src->body_len;
    tmp.location = src->location;
    tmp.content_type = src->content_type;
    tmp.delay_ms = src->delay_ms;
    reply_copy(out, &tmp);
    pthread_mutex_unlock(&s->mu);
}

/* ---- records --------------------------------------------------------- */

int ths_request_count(ths_server *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->nreqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const ths_request *ths_request_at(ths_server *s, int i)
{
    const ths_request *q = NULL;
    pthread_mutex_lock(&s->mu);
    if (i >= 0 && i < s->nreqs)
        q = s->reqs[i];
    pthread_mutex_unlock(&s->mu);
    return q;
}

void ths_clear_requests(ths_server *s)
{
    int i;
    pthread_mutex_lock(&s->mu);
    for (i = 0; i < s->nreqs; i++)
        request_free(s->reqs[i]);
    s->nreqs = 0;
    pthread_mutex_unlock(&s->mu);
}

int ths_connection_count(ths_server *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void record(ths_server *s, ths_request *q)
{
    pthread_mutex_lock(&s->mu);
    if (s->nreqs == s->capreqs) {
        s->capreqs = s->capreqs ? s->capreqs * 2 : 16;
        s->reqs = realloc(s->reqs, sizeof(*s->reqs) * s->capreqs);
    }
    s->reqs[s->nreqs++] = q;
    pthread_mutex_unlock(&s->mu);
}

/* Finds header name in a NUL-terminated head; returns its value (not
 * terminated) and length via *len, or NULL. */
static const char *find_header(const char *head, const char *name,
                               size_t *len)
{
    size_t nl = strlen(name);
    const char *line = strstr(head, "\r\n");

    while (line && line[2] != '\0' && line[2] != '\r') {
        const char *start = line + 2;
        const char *end = strstr(start, "\r\n");

        if (!end)
            break;
        if ((size_t)(end - start) > nl && start[nl] == ':'
            && strncasecmp(start, name, nl) == 0) {
            const char *v = start + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            *len = (size_t)(end - v);
            while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
                (*len)--;
            return v;
        }
        line = end;
    }
    return NULL;
}

int ths_header(const ths_request *r, const char *name, char *out,
               size_t outlen)
{
    size_t len;
    const char *v = r && r->head ? find_header(r->head, name, &len) : NULL;

    if (!v)
        return 0;
    if (out && outlen > 0) {
        if (len >= outlen)
            len = outlen - 1;
        memcpy(out, v, len);
        out[len] = '\0';
    }
    return 1;
}

/* ---- socket I/O ------------------------------------------------------ */

/* Waits until fd has events (or until stop); returns 1 ready, 0 timeout,
 * -1 stopped or error. fd < 0: just sleeps on the stop pipe. */
static int wait_fd(ths_server *s, int fd, short events, int timeout_ms)
{
    struct pollfd p[2];
    int n = 1, rc;

    p[0].fd = s->stop_pipe[0];
    p[0].events = POLLIN;
    if (fd >= 0) {
        p[1].fd = fd;
        p[1].events = events;
        n = 2;
    }
    for (;;) {
        p[0].revents = 0;
        if (n == 2)
            p[1].revents = 0;
        rc = poll(p, n, timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || (p[0].revents & POLLIN))
            return -1;
        if (rc == 0)
            return 0;
        return 1;
    }
}

static int send_all(ths_server *s, int fd, const void *data, size_t len)
{
    const char *d = data;

    while (len > 0) {
        ssize_t n = send(fd, d, len, MSG_NOSIGNAL);
        if (n > 0) {
            d += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK
                      || errno == EINTR)) {
            if (wait_fd(s, fd, POLLOUT, -1) != 1)
                return -1;
            continue;
        }
        return -1;           /* the client went away */
    }
    return 0;
}

typedef struct {
    char *data;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const void *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *nd;
        while (cap < b->len + n + 1)
            cap *= 2;
        nd = realloc(b->data, cap);
        if (!nd)
            return -1;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void buf_consume(buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    if (b->data)
        b->data[b->len] = '\0';
}

/* Reads more into b; 1 got data, 0 EOF, -1 error/stop. */
static int read_more(ths_server *s, int fd, buf *b)
{
    char tmp[16384];

    for (;;) {
        ssize_t n;
        int w = wait_fd(s, fd, POLLIN, -1);
        if (w != 1)
            return -1;
        n = recv(fd, tmp, sizeof(tmp), 0);
        if (n > 0)
            return buf_add(b, tmp, (size_t)n) == 0 ? 1 : -1;
        if (n == 0)
            return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default:  return "Whatever";
    }
}

/* Sends the answer; returns 1 to keep the connection, 0 to close it. */
static int answer(ths_server *s, int fd, const reply *r)
{
    char head[1024];
    const char *ct = r->content_type ? r->content_type
                                     : "application/ocsp-response";
    int status, n;

    switch (r->action) {
    case THS_HANG:
        /* until stopped or until the client closes */
        for (;;) {
            char tmp[512];
            ssize_t got;
            if (wait_fd(s, fd, POLLIN, -1) != 1)
                return 0;
            got = recv(fd, tmp, sizeof(tmp), 0);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
                return 0;
        }
    case THS_CLOSE:
        return 0;
    case THS_REDIRECT:
        status = r->status ? r->status : 302;
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nLocation: %s\r\n"
                     "Content-Length: 0\r\n\r\n",
                     status, reason(status),
                     r->location ? r->location : "/");
        return send_all(s, fd, head, (size_t)n) == 0;
    case THS_CHUNKED: {
        size_t off = 0;
        status = r->status ? r->status : 200;
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
                     status, reason(status), ct);
        if (send_all(s, fd, head, (size_t)n) != 0)
            return 0;
        while (off < r->body_len) {
            size_t c = r->body_len - off;
            if (c > THS_CHUNK)
                c = THS_CHUNK;
            n = snprintf(head, sizeof(head), "%zx\r\n", c);
            if (send_all(s, fd, head, (size_t)n) != 0
                || send_all(s, fd, r->body + off, c) != 0
                || send_all(s, fd, "\r\n", 2) != 0)
                return 0;
            off += c;
        }
        return send_all(s, fd, "0\r\n\r\n", 5) == 0;
    }
    case THS_REPLY:
    default:
        status = r->status ? r->status : 200;
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     status, reason(status), ct, r->body_len);
        if (send_all(s, fd, head, (size_t)n) != 0)
            return 0;
        if (r->body_len && send_all(s, fd, r->body, r->body_len) != 0)
            return 0;
        return 1;
    }
}

/* Serves one request from c; returns 1 to go on with the connection. */
static int serve_one(conn *c, buf *in)
{
    ths_server *s = c->s;
    char *end, *sp1, *sp2;
    size_t headlen, bodylen = 0, vlen;
    const char *v;
    ths_request *q;
    reply r;
    int keep = 1, rc;

    while (!(end = strstr(in->data ? in->data : "", "\r\n\r\n"))) {
        if (in->len > THS_MAX_HEAD)
            return 0;
        if (read_more(s, c->fd, in) != 1)
            return 0;
    }
    headlen = (size_t)(end - in->data) + 4;

    q = calloc(1, sizeof(*q));
    q->conn_id = c->id;
    q->head = malloc(headlen + 1);
    memcpy(q->head, in->data, headlen);
    q->head[headlen] = '\0';

    /* request line: METHOD SP target SP version */
    sp1 = strchr(q->head, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp2 > strstr(q->head, "\r\n")) {
        request_free(q);
        return 0;
    }
    snprintf(q->method, sizeof(q->method), "%.*s", (int)(sp1 - q->head),
             q->head);
    q->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    if (strncmp(q->target, "http://", 7) == 0
        || strncmp(q->target, "https://", 8) == 0) {
        const char *slash = strchr(strstr(q->target, "://") + 3, '/');
        q->path = strdup(slash ? slash : "/");
    }
    else {
        q->path = strdup(q->target);
    }
    if (strncmp(sp2 + 1, "HTTP/1.0", 8) == 0)
        keep = 0;

    if ((v = find_header(q->head, "Content-Type", &vlen)))
        q->content_type = strndup(v, vlen);
    if ((v = find_header(q->head, "Connection", &vlen))
        && vlen == 5 && strncasecmp(v, "close", 5) == 0)
        keep = 0;
    if ((v = find_header(q->head, "Content-Length", &vlen)))
        bodylen = strtoul(v, NULL, 10);
    if (bodylen > THS_MAX_BODY) {
        request_free(q);
        return 0;
    }
    if ((v = find_header(q->head, "Expect", &vlen))
        && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0
        && send_all(s, c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) {
        request_free(q);
        return 0;
    }

    while (in->len < headlen + bodylen) {
        if (read_more(s, c->fd, in) != 1) {
            request_free(q);
            return 0;
        }
    }
    q->body = malloc(bodylen + 1);
    memcpy(q->body, in->data + headlen, bodylen);
    q->body[bodylen] = '\0';
    q->body_len = bodylen;
    q->raw_len = headlen + bodylen;
    q->raw = malloc(q->raw_len + 1);
    memcpy(q->raw, in->data, q->raw_len);
    q->raw[q->raw_len] = '\0';
    buf_consume(in, headlen + bodylen);

    pick_reply(s, q->path, &r);
    record(s, q);            /* q belongs to the server from here */

    rc = 1;
    if (r.delay_ms > 0 && wait_fd(s, -1, 0, r.delay_ms) != 0)
        rc = 0;              /* stopped while waiting */
    if (rc)
        rc = answer(s, c->fd, &r);
    reply_free(&r);
    return rc && keep;
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    buf in = { NULL, 0, 0 };

    while (serve_one(c, &in))
        ;
    free(in.data);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    c->fd = -1;
    return NULL;
}

static void *accept_main(void *arg)
{
    ths_server *s = arg;

    for (;;) {
        conn *c;
        int fd;

        if (wait_fd(s, s->lfd, POLLIN, -1) != 1)
            break;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        c = calloc(1, sizeof(*c));
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        c->id = ++s->nconns;
        if (pthread_create(&c->tid, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            free(c);
            continue;
        }
        c->next = s->conns;
        s->conns = c;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------- */

static ths_server *start(int family)
{
    ths_server *s = calloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1;

    if (!s)
        return NULL;
    s->lfd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->deflt.status = 404;

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof(*a);
    }
    else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*a);
    }
    s->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        goto fail;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->lfd, (struct sockaddr *)&ss, sl) != 0
        || listen(s->lfd, 128) != 0
        || getsockname(s->lfd, (struct sockaddr *)&ss, &sl) != 0)
        goto fail;
    s->port = ntohs(family == AF_INET6
                    ? ((struct sockaddr_in6 *)&ss)->sin6_port
                    : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(s->base, sizeof(s->base),
             family == AF_INET6 ? "http://[::1]:%d" : "http://127.0.0.1:%d",
             s->port);
    if (pipe(s->stop_pipe) != 0)
        goto fail;
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0)
        goto fail;
    return s;

fail:
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->stop_pipe[0] >= 0) {
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

ths_server *ths_start(void)
{
    return start(AF_INET);
}

ths_server *ths_start_ipv6(void)
{
    return start(AF_INET6);
}

void ths_stop(ths_server *s)
{
    conn *c, *next;
    int i;

    if (!s)
        return;
    /* One byte wakes every poll for good: the pipe stays readable. */
    if (write(s->stop_pipe[1], "x", 1) != 1)
        perror("ths_stop: write");
    pthread_join(s->acceptor, NULL);
    /* The acceptor is gone, so the list no longer changes. */
    for (c = s->conns; c; c = next) {
        next = c->next;
        pthread_join(c->tid, NULL);
        free(c);
    }
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);

    reply_free(&s->deflt);
    for (i = 0; i < s->nroutes; i++) {
        free(s->routes[i].prefix);
        reply_free(&s->routes[i].r);
    }
    free(s->routes);
    for (i = 0; i < s->nqueue; i++)
        reply_free(&s->queue[i]);
    free(s->queue);
    for (i = 0; i < s->nreqs; i++)
        request_free(s->reqs[i]);
    free(s->reqs);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int ths_port(const ths_server *s)
{
    return s->port;
}

const char *ths_base(const ths_server *s)
{
    return s->base;
}

int ths_dead_port(void)
{
    struct sockaddr_in a;
    socklen_t sl = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = 0;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0
        && getsockname(fd, (struct sockaddr *)&a, &sl) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}
