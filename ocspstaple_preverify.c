/* The early store verifier (ocspstaple_preverify.h). */
#include "ocspstaple_preverify.h"
#include "ocspstaple_fetch.h"
#include "ocspstaple_startup.h"
#include "ocspstaple_store.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <apr_strings.h>

/* What the parent keeps for a verifier that reads slower than mod_ssl
 * primes (about 2 KB a certificate); beyond it certificates are left to
 * the helper. */
#define OS_PREVERIFY_PENDING_MAX (8 * 1024 * 1024)
/* The parent sends once this much is waiting. */
#define OS_PREVERIFY_BATCH (64 * 1024)
/* Largest PEM (leaf and issuer) and id handed over. */
#define OS_PREVERIFY_PEM_MAX (256 * 1024)

typedef struct os_preverify {
    pid_t pid;                 /* the verifier, 0 when none */
    int in_fd;                 /* parent: certificates to it, or -1 */
    int out_fd;                /* its verdicts: parent holds, helper reads */
    int off;                   /* not started, or gave up feeding */
    apr_pool_t *pool;          /* parent: of pending, until input_done */
    char *pending;             /* parent: frames not yet sent */
    apr_size_t pending_off, pending_len, pending_cap;
    const os_preverified **got;/* helper: by certificate index */
    int ngot;
} os_preverify;

/* Parent -> verifier: a certificate (its id, then its PEM). */
typedef struct {
    uint32_t id_len, pem_len;
} os_pv_cert_head;

/* Verifier -> helper: a verdict, then der_len bytes of DER. The two are
 * forks of one parent: the structures have the same layout at both ends;
 * their pointers are set again by the helper. */
typedef struct {
    uint32_t id_len;
    unsigned char id[STAPLE_RECORD_MAX_ID];   /* the certificate's */
    uint32_t der_len;
    long long verified_at;
    ocsp_verify_result res;
    staple_record rec;
} os_pv_verdict_head;

static void os_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- the verifier (User) ------------------------------------------------ */

/* Reads len bytes into in, or sends len bytes of out, in full (blocking:
 * the verifier's side only). Returns -1 at the end of the stream or on an
 * error. */
static int os_full(int fd, void *in, const void *out, apr_size_t len)
{
    char *i = in;
    const char *o = out;
    while (len > 0) {
        ssize_t n = o ? send(fd, o, len, MSG_NOSIGNAL) : read(fd, i, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        if (o) {
            o += n;
        }
        else {
            i += n;
        }
        len -= (apr_size_t)n;
    }
    return 0;
}

/* Verdicts are kept until the parent says there are no more certificates
 * (nobody reads them before the helper exists), then written at once. */
typedef struct {
    os_pv_verdict_head head;
    const unsigned char *der;
} os_pv_kept;

static void os_preverify_main(os_global *g, server_rec *s, const char *dir,
                              int in, int out)
{
    apr_pool_t *p, *cp;
    apr_hash_t *issuers;
    apr_array_header_t *kept;
    int i, seen = 0;

    apr_pool_create(&p, NULL);
    if (os_startup_become_user(p, s, "early store verifier") != 0) {
        _exit(1);
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0180)
                 "early store verifier (pid %ld) running as uid %ld, gid %ld",
                 (long)getpid(), (long)getuid(), (long)getgid());
    g->store_dir = dir;        /* this process's copy of g */
    issuers = apr_hash_make(p);
    kept = apr_array_make(p, 1024, sizeof(os_pv_kept));
    apr_pool_create(&cp, p);
    for (;;) {
        os_pv_cert_head h;
        os_cert cert;
        staple_record rec;
        ocsp_verify_params params;
        ocsp_verify_result res;
        const char *err;
        unsigned char *id;
        char *pem;
        long long now;

        if (os_full(in, &h, NULL, sizeof(h)) != 0 || h.id_len == 0
            || h.id_len > STAPLE_RECORD_MAX_ID || h.pem_len == 0
            || h.pem_len > OS_PREVERIFY_PEM_MAX) {
            break;             /* the end, or the parent gave up mid-way */
        }
        apr_pool_clear(cp);
        id = apr_palloc(cp, h.id_len);
        pem = apr_palloc(cp, (apr_size_t)h.pem_len + 1);
        if (os_full(in, id, NULL, h.id_len) != 0
            || os_full(in, pem, NULL, h.pem_len) != 0) {
            break;
        }
        pem[h.pem_len] = '\0';
        ++seen;
        memset(&cert, 0, sizeof(cert));
        cert.id = id;
        cert.id_len = h.id_len;
        cert.id_hex = apr_palloc(cp, h.id_len * 2 + 1);
        ap_bin2hex(id, h.id_len, (char *)cert.id_hex);
        /* Issuers are shared across certificates, so they live in p. */
        if (ocsp_cert_from_pem_shared(&cert.info, pem, issuers, p, &err)
            != APR_SUCCESS
            || os_store_read(g, &cert, &rec, cp, &err) != APR_SUCCESS) {
            continue;          /* the helper tries again, and says why */
        }
        now = os_now();
        os_verify_params(g, now, g->serve_expired, &params);
        if (ocsp_verify_response(cert.info, rec.der, rec.der_len, &params,
                                 &res, cp) == OCSP_VERIFY_OK) {
            os_pv_kept *k = apr_array_push(kept);
            memset(k, 0, sizeof(*k));
            k->head.id_len = h.id_len;
            memcpy(k->head.id, id, h.id_len);
            k->head.der_len = (uint32_t)rec.der_len;
            k->head.verified_at = now;
            k->head.res = res;
            k->head.res.message = NULL;
            k->head.rec = rec;
            k->head.rec.id = NULL;
            k->head.rec.der = NULL;
            k->der = apr_pmemdup(p, rec.der, rec.der_len);
        }
    }
    os_close(&in);
    for (i = 0; i < kept->nelts; ++i) {
        os_pv_kept *k = &APR_ARRAY_IDX(kept, i, os_pv_kept);
        if (os_full(out, NULL, &k->head, sizeof(k->head)) != 0
            || os_full(out, NULL, k->der, k->head.der_len) != 0) {
            break;
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0181)
                 "early store verifier: %d of %d store files verified",
                 kept->nelts, seen);
    _exit(0);
}

/* ---- the parent (root) --------------------------------------------------- */

static apr_status_t os_preverify_cleanup(void *data)
{
    os_preverify_stop(data);
    return APR_SUCCESS;
}

static void os_preverify_start(os_global *g, os_preverify *pv, server_rec *s)
{
    const char *dir = os_store_configured_dir(g, g->pool);
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, sz = 1024 * 1024;
    pid_t pid;

    pv->off = 1;
    if (!dir) {
        return;                /* OCSPStapleStore off: nothing to verify */
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0
        || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) != 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, errno, s, OSLOG(0182)
                     "no early store verifier (socketpair); the start-up "
                     "helper verifies the store");
        os_close(&in[0]);
        os_close(&in[1]);
        return;
    }
    /* Best effort: more room before the parent has to keep frames. */
    setsockopt(in[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    pid = fork();
    if (pid == 0) {
        close(in[0]);
        close(out[0]);
        os_preverify_main(g, s, dir, in[1], out[1]);
    }
    close(in[1]);
    close(out[1]);
    if (pid < 0 || fcntl(in[0], F_SETFL, O_NONBLOCK) != 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, errno, s, OSLOG(0183)
                     "no early store verifier (fork); the start-up helper "
                     "verifies the store");
        close(in[0]);
        close(out[0]);
        if (pid > 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        return;
    }
    pv->pid = pid;
    pv->in_fd = in[0];
    pv->out_fd = out[0];
    pv->off = 0;
    apr_pool_create(&pv->pool, g->pool);
    apr_pool_cleanup_register(g->pool, g, os_preverify_cleanup,
                              apr_pool_cleanup_null);
}

/* Sends what the socket takes now; never waits. */
static void os_preverify_flush(os_preverify *pv)
{
    while (pv->in_fd >= 0 && pv->pending_off < pv->pending_len) {
        ssize_t n = send(pv->in_fd, pv->pending + pv->pending_off,
                         pv->pending_len - pv->pending_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            /* The verifier is gone: the helper does the work. */
            os_close(&pv->in_fd);
            pv->off = 1;
            return;
        }
        pv->pending_off += (apr_size_t)n;
    }
    if (pv->pending_off == pv->pending_len) {
        pv->pending_off = pv->pending_len = 0;
    }
}

void os_preverify_feed(os_global *g, server_rec *s, const os_cert *cert,
                       const char *pem)
{
    os_preverify *pv = g->preverify;
    os_pv_cert_head h;
    apr_size_t need, pem_len = strlen(pem);

    if (!pv) {
        pv = g->preverify = apr_pcalloc(g->pool, sizeof(*pv));
        pv->in_fd = pv->out_fd = -1;
        os_preverify_start(g, pv, s);
    }
    if (pv->off || pv->in_fd < 0 || cert->id_len > STAPLE_RECORD_MAX_ID
        || pem_len > OS_PREVERIFY_PEM_MAX) {
        return;
    }
    h.id_len = (uint32_t)cert->id_len;
    h.pem_len = (uint32_t)pem_len;
    need = sizeof(h) + cert->id_len + pem_len;
    if (pv->pending_len - pv->pending_off + need > OS_PREVERIFY_PENDING_MAX) {
        os_preverify_flush(pv);
        return;                /* this one is the helper's */
    }
    if (pv->pending_len + need > pv->pending_cap) {
        apr_size_t live = pv->pending_len - pv->pending_off;
        if (pv->pending_off >= live && live + need <= pv->pending_cap) {
            /* Compact only when the part already sent is at least as
             * large as what is moved: a verifier that falls behind must
             * not make the parent copy its backlog at every certificate. */
            memmove(pv->pending, pv->pending + pv->pending_off, live);
        }
        else {
            /* Grow (doubling; the old buffer stays in the pool, which
             * goes once the verifier has all it will get). */
            apr_size_t cap = pv->pending_cap ? pv->pending_cap : 64 * 1024;
            char *buf;
            while (cap < live + need) {
                cap *= 2;
            }
            buf = apr_palloc(pv->pool, cap);
            if (live) {
                memcpy(buf, pv->pending + pv->pending_off, live);
            }
            pv->pending = buf;
            pv->pending_cap = cap;
        }
        pv->pending_off = 0;
        pv->pending_len = live;
    }
    memcpy(pv->pending + pv->pending_len, &h, sizeof(h));
    memcpy(pv->pending + pv->pending_len + sizeof(h), cert->id,
           cert->id_len);
    memcpy(pv->pending + pv->pending_len + sizeof(h) + cert->id_len, pem,
           pem_len);
    pv->pending_len += need;
    /* In batches: one send per few dozen certificates, not one each. */
    if (pv->pending_len - pv->pending_off >= OS_PREVERIFY_BATCH) {
        os_preverify_flush(pv);
    }
}

void os_preverify_input_done(os_global *g)
{
    os_preverify *pv = g->preverify;
    if (pv) {
        /* One last try; a frame cut short is dropped by the verifier. */
        os_preverify_flush(pv);
        os_close(&pv->in_fd);
        pv->pending = NULL;
        pv->pending_off = pv->pending_len = pv->pending_cap = 0;
        if (pv->pool) {
            apr_pool_destroy(pv->pool);
            pv->pool = NULL;
        }
    }
}

void os_preverify_release(os_global *g)
{
    if (g->preverify) {
        os_close(&g->preverify->out_fd);
    }
}

void os_preverify_reap(os_global *g)
{
    os_preverify *pv = g->preverify;
    if (pv && pv->pid > 0 && waitpid(pv->pid, NULL, WNOHANG) == pv->pid) {
        pv->pid = 0;
    }
}

void os_preverify_stop(os_global *g)
{
    os_preverify *pv = g->preverify;
    if (!pv) {
        return;
    }
    os_close(&pv->in_fd);
    os_close(&pv->out_fd);
    if (pv->pid > 0) {
        /* Done by now, or of no further use. */
        kill(pv->pid, SIGKILL);
        while (waitpid(pv->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        pv->pid = 0;
    }
    pv->off = 1;
}

/* ---- the start-up helper (User) ------------------------------------------ */

/* Reads len bytes before deadline; -1 at the end, a timeout or an error. */
static int os_read_until(int fd, void *buf, apr_size_t len,
                         apr_time_t deadline)
{
    char *b = buf;
    while (len > 0) {
        struct pollfd pfd;
        apr_time_t left = deadline - apr_time_now();
        ssize_t n;
        int rc;
        if (left <= 0) {
            return -1;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, (int)apr_time_as_msec(left) + 1);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            return -1;
        }
        n = read(fd, b, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        b += n;
        len -= (apr_size_t)n;
    }
    return 0;
}

int os_preverify_collect(os_global *g, apr_time_t start, apr_pool_t *p)
{
    os_preverify *pv = g->preverify;
    int n = g->certs->nelts, got = 0;
    /* It is done, or nearly: mod_ssl took far longer than it does. One
     * that is not is waited for 2 s at most (less with a start-up timeout
     * under 5 s), then its work is done here. */
    apr_time_t deadline = start
        + apr_time_from_msec(g->startup_timeout > 4
                             ? 2000 : 250 * (g->startup_timeout + 1));

    if (!pv || pv->out_fd < 0) {
        return 0;
    }
    pv->got = apr_pcalloc(p, sizeof(*pv->got) * (apr_size_t)(n + 1));
    pv->ngot = n;
    for (;;) {
        os_pv_verdict_head h;
        os_preverified *v;
        os_cert *cert;
        unsigned char *der;

        if (os_read_until(pv->out_fd, &h, sizeof(h), deadline) != 0
            || h.id_len == 0 || h.id_len > STAPLE_RECORD_MAX_ID
            || h.der_len == 0 || h.der_len > g->max_response_size) {
            break;
        }
        der = apr_palloc(p, h.der_len);
        if (os_read_until(pv->out_fd, der, h.der_len, deadline) != 0) {
            break;
        }
        /* By id: the parent may have dropped a certificate it could not
         * read, and renumbered the rest, after handing them over. */
        cert = apr_hash_get(g->certs_by_id, h.id, (apr_ssize_t)h.id_len);
        if (!cert || cert->index < 0 || cert->index >= n) {
            continue;
        }
        v = apr_palloc(p, sizeof(*v));
        v->verified_at = h.verified_at;
        v->res = h.res;
        v->res.message = "ok";
        v->rec = h.rec;
        v->rec.id = cert->id;
        v->rec.id_len = cert->id_len;
        v->rec.der = der;
        v->rec.der_len = h.der_len;
        if (!pv->got[cert->index]) {
            ++got;
        }
        pv->got[cert->index] = v;
    }
    os_close(&pv->out_fd);
    return got;
}

const os_preverified *os_preverify_get(const os_global *g,
                                       const os_cert *cert)
{
    const os_preverify *pv = g->preverify;
    if (!pv || !pv->got || cert->index < 0 || cert->index >= pv->ngot) {
        return NULL;
    }
    return pv->got[cert->index];
}
