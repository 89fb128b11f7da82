/* helper_http_server: a tiny scriptable HTTP/1.1 server for unit tests.
 *
 * It listens on 127.0.0.1 (or ::1) on a port the OS picks, in its own
 * thread, one thread per connection, with keep-alive. Each request is
 * recorded (method, target, Content-Type, body, raw bytes) and answered by:
 *   1. the oldest reply queued with ths_push (per call), else
 *   2. the first route whose prefix matches the request path, else
 *   3. the default reply (404 unless ths_set_default changed it).
 * Requests in absolute form ("GET http://host:port/path", as sent to a
 * proxy) are matched on their path too, so a server can play a proxy.
 * ths_stop joins every thread and closes every socket. */
#ifndef HELPER_HTTP_SERVER_H
#define HELPER_HTTP_SERVER_H

#include <stddef.h>

typedef struct ths_server ths_server;

typedef enum {
    THS_REPLY = 0,  /* status (0 = 200) with body and Content-Length */
    THS_HANG,       /* read the request, never answer (until ths_stop or
                     * until the client goes away) */
    THS_CLOSE,      /* read the request, close without answering */
    THS_CHUNKED,    /* status (0 = 200), body in chunks, no Content-Length */
    THS_REDIRECT    /* status (0 = 302) with Location: location */
} ths_action;

typedef struct {
    ths_action action;
    int status;
    const void *body;       /* copied; NULL with fill_len: fill_len 'x's */
    size_t body_len;
    size_t fill_len;
    const char *location;   /* THS_REDIRECT; copied */
    const char *content_type; /* default application/ocsp-response */
    int delay_ms;           /* wait this long before answering */
} ths_reply;

typedef struct {
    int conn_id;            /* 1, 2, ...: which accepted connection */
    char method[16];
    char *target;           /* request-target as received */
    char *path;             /* target without "scheme://authority" */
    char *content_type;     /* NULL when absent */
    char *head;             /* request line and headers, NUL-terminated */
    unsigned char *body;
    size_t body_len;
    unsigned char *raw;     /* head + body exactly as received */
    size_t raw_len;
} ths_request;

/* NULL on failure. */
ths_server *ths_start(void);
/* On ::1; NULL when IPv6 loopback is not available. */
ths_server *ths_start_ipv6(void);
/* Stops and frees; NULL is fine. Records are gone afterwards. */
void ths_stop(ths_server *s);

int ths_port(const ths_server *s);
/* "http://127.0.0.1:PORT" or "http://[::1]:PORT", no trailing slash. */
const char *ths_base(const ths_server *s);

void ths_set_default(ths_server *s, const ths_reply *r);
/* Replaces an existing route with the same prefix. */
void ths_route(ths_server *s, const char *path_prefix, const ths_reply *r);
/* The next request (whatever its path) gets r; FIFO. */
void ths_push(ths_server *s, const ths_reply *r);
/* Forgets all records (not routes). */
void ths_clear_requests(ths_server *s);

int ths_request_count(ths_server *s);
/* Valid until ths_clear_requests or ths_stop; NULL when out of range. */
const ths_request *ths_request_at(ths_server *s, int i);
int ths_connection_count(ths_server *s);

/* Copies the value of header name (case-insensitive) into out; returns 1
 * when present. */
int ths_header(const ths_request *r, const char *name, char *out,
               size_t outlen);

/* A loopback port that was just free: bound, then closed. Connecting to it
 * is refused. 0 on failure. */
int ths_dead_port(void);

#endif
