/* tlsload: TLS handshake load client for the mod_ocspstaple benchmarks.
 *
 * Every connection is a full handshake (client session cache off, no
 * tickets, no session reuse) that asks for an OCSP staple (status_request).
 * The staple is checked the way a strict client would: it must parse, be
 * "successful", verify against --cafile with the peer's chain
 * (OCSP_basic_verify), carry a SingleResponse for the leaf, be within
 * thisUpdate/nextUpdate (OCSP_check_validity, 300 s skew) and say "good".
 *
 * Output: one human line on stderr and one JSON line on stdout.
 *
 *   tlsload --host 127.0.0.1 --port 8443 --sni www.example.test \
 *           --threads 2 --duration 10 --cafile ca.pem [--tls1.3|--tls1.2]
 *           [--sigalgs RSA-PSS+SHA256:rsa_pss_rsae_sha256] [--count N]
 *
 * Build: cc -std=gnu99 -O2 -Wall -Wextra -pthread -o tlsload tlsload.c \
 *        -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_THREADS 256
#define SKEW_SECONDS 300L

/* ---- options ---------------------------------------------------------- */

typedef struct {
    const char *host;
    const char *port;
    const char *sni;
    const char *cafile;
    const char *sigalgs;
    const char *ciphers;
    const char *request;    /* optional HTTP path to GET after the handshake */
    const char *label;
    const char *sni_file;   /* one SNI name a line, used round robin */
    double retry_connect;   /* retry refused connects for this long, s */
    int threads;
    double duration;        /* seconds; used when count == 0 */
    long count;             /* total handshakes over all threads */
    double timeout;         /* per connection socket timeout, seconds */
    int tls_version;        /* 0 = any, TLS1_2_VERSION, TLS1_3_VERSION */
    int verify_every;       /* 1: no per-thread cache of verification */
} options;

static options opt = {
    "127.0.0.1", NULL, NULL, NULL, NULL, NULL, NULL, "", NULL, 0.0,
    1, 5.0, 0, 30.0, 0, 0
};

/* ---- per-thread state and results --------------------------------------- */

typedef struct {
    double *lat;            /* handshake latencies, ms */
    size_t nlat, caplat;
    long handshakes;        /* completed handshakes */
    long errors;            /* connect / handshake / IO failures */
    long timeouts;          /* errors that were socket timeouts */
    long stapled;           /* a staple was received */
    long parsed;            /* ... parses and is "successful" basic */
    long verified;          /* ... OCSP_basic_verify against cafile ok */
    long matched;           /* ... has a SingleResponse for the leaf */
    long in_validity;       /* ... thisUpdate/nextUpdate ok */
    long good;              /* ... status good */
    long revoked;           /* ... status revoked */
    long ok;                /* verified + matched + in validity + good */
    long http_ok;           /* --request: got a status line "HTTP/1.x 200" */
    char first_error[256];
    double first_error_at;  /* seconds after the start (places it against a restart) */
    char protocol[32];
    char cipher[64];
    char peer_key[32];
    /* first handshake of this thread (for cold-start measurements) */
    int first_done;
    int first_stapled, first_ok;
    double first_ms;
    double first_done_unix;     /* wall clock when it completed */
    /* cache of the last verified staple (bytes + leaf), so a client that
     * sees the same staple over and over does not pay a signature check per
     * handshake; time validity is re-checked every time */
    unsigned char *cache_resp;
    int cache_resp_len;
    unsigned char *cache_leaf;
    int cache_leaf_len;
    int cache_verified, cache_matched, cache_good, cache_revoked;
    ASN1_GENERALIZEDTIME *cache_this, *cache_next;
} worker;

static SSL_CTX *g_ctx;
static X509_STORE *g_store;            /* trust for OCSP_basic_verify */
static STACK_OF(X509) *g_cacerts;      /* the same certificates, to find issuers */
static struct addrinfo *g_addr;
static pthread_barrier_t g_barrier;
static double g_start, g_deadline;
static volatile long g_remaining;      /* count mode */
static volatile sig_atomic_t g_stop;
static char **g_snis;                  /* --sni-file names */
static size_t g_nsnis;
static volatile unsigned long g_sni_next;
static unsigned char *g_sni_ok;        /* per name: an ok staple was seen */
static unsigned char *g_sni_stapled;   /* per name: any staple was seen */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tlsload: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void note_error(worker *w, const char *fmt, ...)
{
    w->errors++;
    if (w->first_error[0] == '\0') {
        va_list ap;
        unsigned long e = ERR_peek_error();
        w->first_error_at = now_s() - g_start;
        va_start(ap, fmt);
        vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
        va_end(ap);
        if (e) {
            size_t n = strlen(w->first_error);
            char buf[160];
            ERR_error_string_n(e, buf, sizeof(buf));
            snprintf(w->first_error + n, sizeof(w->first_error) - n, ": %s",
                     buf);
        }
    }
    ERR_clear_error();
}

static void add_latency(worker *w, double ms)
{
    if (w->nlat == w->caplat) {
        size_t cap = w->caplat ? w->caplat * 2 : 4096;
        double *n = realloc(w->lat, cap * sizeof(*n));
        if (!n)
            die("out of memory");
        w->lat = n;
        w->caplat = cap;
    }
    w->lat[w->nlat++] = ms;
}

/* Should the worker start another handshake? */
static int more_work(void)
{
    if (g_stop)
        return 0;
    if (opt.count > 0)
        return __sync_sub_and_fetch(&g_remaining, 1) >= 0;
    return now_s() < g_deadline;
}

/* ---- staple checking ---------------------------------------------------- */

static X509 *find_issuer(X509 *leaf, STACK_OF(X509) *chain)
{
    int i;
    for (i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (c != leaf && X509_check_issued(c, leaf) == X509_V_OK)
            return c;
    }
    for (i = 0; g_cacerts && i < sk_X509_num(g_cacerts); i++) {
        X509 *c = sk_X509_value(g_cacerts, i);
        if (X509_check_issued(c, leaf) == X509_V_OK)
            return c;
    }
    return NULL;
}

static void cache_clear(worker *w)
{
    free(w->cache_resp);
    free(w->cache_leaf);
    ASN1_GENERALIZEDTIME_free(w->cache_this);
    ASN1_GENERALIZEDTIME_free(w->cache_next);
    w->cache_resp = w->cache_leaf = NULL;
    w->cache_this = w->cache_next = NULL;
    w->cache_resp_len = w->cache_leaf_len = 0;
}

/* Sets *stapled / *ok for this handshake and updates the counters. */
static void check_staple(worker *w, SSL *ssl, int *stapled_out, int *ok_out)
{
    const unsigned char *resp = NULL, *p;
    long len = SSL_get_tlsext_status_ocsp_resp(ssl, &resp);
    X509 *leaf = NULL, *issuer;
    STACK_OF(X509) *chain;
    OCSP_RESPONSE *rsp = NULL;
    OCSP_BASICRESP *bs = NULL;
    OCSP_CERTID *id = NULL;
    unsigned char *leaf_der = NULL;
    int leaf_len;
    int verified = 0, matched = 0, valid = 0, good = 0, revoked = 0;
    ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;

    *stapled_out = *ok_out = 0;
    if (!resp || len <= 0)
        return;
    w->stapled++;
    *stapled_out = 1;

    leaf = SSL_get1_peer_certificate(ssl);
    if (!leaf)
        goto done;
    leaf_len = i2d_X509(leaf, &leaf_der);
    if (leaf_len <= 0)
        goto done;

    if (!opt.verify_every && w->cache_resp && w->cache_resp_len == len
        && w->cache_leaf_len == leaf_len
        && memcmp(w->cache_resp, resp, (size_t)len) == 0
        && memcmp(w->cache_leaf, leaf_der, (size_t)leaf_len) == 0) {
        w->parsed++;
        verified = w->cache_verified;
        matched = w->cache_matched;
        good = w->cache_good;
        revoked = w->cache_revoked;
        if (matched)
            valid = OCSP_check_validity(w->cache_this, w->cache_next,
                                        SKEW_SECONDS, -1);
        goto count;
    }

    p = resp;
    rsp = d2i_OCSP_RESPONSE(NULL, &p, len);
    if (!rsp || OCSP_response_status(rsp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        goto done;
    bs = OCSP_response_get1_basic(rsp);
    if (!bs)
        goto done;
    w->parsed++;
    chain = SSL_get_peer_cert_chain(ssl);
    verified = g_store && OCSP_basic_verify(bs, chain, g_store, 0) == 1;
    ERR_clear_error();
    issuer = find_issuer(leaf, chain);
    if (issuer) {
        int st = -1, reason = -1;
        id = OCSP_cert_to_id(NULL, leaf, issuer);
        if (id && OCSP_resp_find_status(bs, id, &st, &reason, NULL,
                                        &thisupd, &nextupd) == 1) {
            matched = 1;
            valid = OCSP_check_validity(thisupd, nextupd, SKEW_SECONDS, -1);
            good = st == V_OCSP_CERTSTATUS_GOOD;
            revoked = st == V_OCSP_CERTSTATUS_REVOKED;
        }
    }
    ERR_clear_error();

    if (!opt.verify_every) {
        cache_clear(w);
        w->cache_resp = malloc((size_t)len);
        w->cache_leaf = malloc((size_t)leaf_len);
        if (w->cache_resp && w->cache_leaf) {
            memcpy(w->cache_resp, resp, (size_t)len);
            memcpy(w->cache_leaf, leaf_der, (size_t)leaf_len);
            w->cache_resp_len = (int)len;
            w->cache_leaf_len = leaf_len;
            w->cache_verified = verified;
            w->cache_matched = matched;
            w->cache_good = good;
            w->cache_revoked = revoked;
            w->cache_this = thisupd ? ASN1_STRING_dup(thisupd) : NULL;
            w->cache_next = nextupd ? ASN1_STRING_dup(nextupd) : NULL;
            if (matched && !w->cache_this)
                cache_clear(w);
        } else {
            cache_clear(w);
        }
    }

count:
    ERR_clear_error();
    w->verified += verified;
    w->matched += matched;
    w->in_validity += valid;
    w->good += good;
    w->revoked += revoked;
    if (verified && matched && valid && good) {
        w->ok++;
        *ok_out = 1;
    }
done:
    ERR_clear_error();
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(rsp);
    OPENSSL_free(leaf_der);
    X509_free(leaf);
}

/* ---- one connection ----------------------------------------------------- */

static int try_connect(const struct addrinfo *ai, const struct timeval *tv)
{
    int one = 1, e;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, sizeof(*tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, sizeof(*tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* Connects to the first address that accepts. With --retry-connect, a
 * refused connection (server not listening yet) is retried every 2 ms for
 * that long; *t0 is then reset to the moment the connect succeeded. */
static int tcp_connect(worker *w, double *t0)
{
    const struct addrinfo *ai;
    struct timeval tv;
    struct timespec pause = {0, 2000000};
    double give_up = now_s() + opt.retry_connect;
    int fd;

    tv.tv_sec = (time_t)opt.timeout;
    tv.tv_usec = (suseconds_t)((opt.timeout - (double)tv.tv_sec) * 1e6);
    for (;;) {
        int refused = 0;
        for (ai = g_addr; ai; ai = ai->ai_next) {
            double before = now_s();
            fd = try_connect(ai, &tv);
            if (fd >= 0) {
                if (opt.retry_connect > 0)
                    *t0 = before;
                return fd;
            }
            if (errno == ECONNREFUSED)
                refused = 1;
            else if (errno == EINPROGRESS || errno == EAGAIN)
                w->timeouts++;
        }
        if (!refused || g_stop || now_s() >= give_up)
            break;
        nanosleep(&pause, NULL);
    }
    note_error(w, "connect: %s", strerror(errno));
    return -1;
}

static void do_request(worker *w, SSL *ssl, const char *host)
{
    char buf[4096];
    int n, off = 0, r;
    n = snprintf(buf, sizeof(buf),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 opt.request, host);
    if (SSL_write(ssl, buf, n) != n) {
        note_error(w, "request write failed");
        return;
    }
    while ((r = SSL_read(ssl, buf + off, (int)sizeof(buf) - 1 - off)) > 0) {
        off += r;
        if (off >= (int)sizeof(buf) - 1)
            off = 16;   /* keep the status line, drop the body */
    }
    buf[off] = '\0';
    if (strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0)
        w->http_ok++;
}

static void one_handshake(worker *w)
{
    double t0 = now_s(), ms;
    int fd, rc, stapled = 0, ok = 0;
    long sni_idx = -1;
    SSL *ssl = NULL;

    fd = tcp_connect(w, &t0);
    if (fd < 0)
        return;
    ssl = SSL_new(g_ctx);
    if (!ssl) {
        note_error(w, "SSL_new");
        close(fd);
        return;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    if (g_nsnis) {
        unsigned long i = __sync_fetch_and_add(&g_sni_next, 1);
        SSL_set_tlsext_host_name(ssl, g_snis[i % g_nsnis]);
        sni_idx = (long)(i % g_nsnis);
    } else if (opt.sni) {
        SSL_set_tlsext_host_name(ssl, opt.sni);
    }
    rc = SSL_connect(ssl);
    if (rc != 1) {
        int e = SSL_get_error(ssl, rc), en = errno;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE
            || (e == SSL_ERROR_SYSCALL && (en == EAGAIN || en == EWOULDBLOCK))) {
            w->timeouts++;
            note_error(w, "handshake timed out after %.1f s", opt.timeout);
        } else {
            note_error(w, "handshake failed (SSL_get_error %d, errno %d %s)",
                       e, en, en ? strerror(en) : "-");
        }
        SSL_free(ssl);
        close(fd);
        return;
    }
    ms = (now_s() - t0) * 1000.0;
    w->handshakes++;
    add_latency(w, ms);
    check_staple(w, ssl, &stapled, &ok);
    if (sni_idx >= 0) {
        if (stapled)
            g_sni_stapled[sni_idx] = 1;
        if (ok)
            g_sni_ok[sni_idx] = 1;
    }
    if (!w->first_done) {
        w->first_done = 1;
        w->first_ms = ms;
        w->first_done_unix = wall_s();
        w->first_stapled = stapled;
        w->first_ok = ok;
    }
    if (w->protocol[0] == '\0') {
        X509 *leaf = SSL_get0_peer_certificate(ssl);
        snprintf(w->protocol, sizeof(w->protocol), "%s", SSL_get_version(ssl));
        snprintf(w->cipher, sizeof(w->cipher), "%s",
                 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
        if (leaf) {
            EVP_PKEY *k = X509_get0_pubkey(leaf);
            int id = k ? EVP_PKEY_get_base_id(k) : NID_undef;
            snprintf(w->peer_key, sizeof(w->peer_key), "%s-%d",
                     id == EVP_PKEY_RSA ? "RSA"
                     : id == EVP_PKEY_EC ? "ECDSA"
                     : id != NID_undef ? OBJ_nid2sn(id) : "?",
                     k ? EVP_PKEY_get_bits(k) : 0);
        }
    }
    if (opt.request)
        do_request(w, ssl, sni_idx >= 0 ? g_snis[sni_idx]
                           : opt.sni ? opt.sni : opt.host);
    SSL_shutdown(ssl);   /* close_notify; do not wait for the peer's */
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&g_barrier);
    while (more_work())
        one_handshake(w);
    cache_clear(w);
    OPENSSL_thread_stop();
    return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static void load_cafile(const char *path)
{
    STACK_OF(X509_INFO) *infos;
    BIO *bio = BIO_new_file(path, "r");
    int i;
    if (!bio)
        die("cannot read --cafile %s", path);
    infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!infos)
        die("no certificates in --cafile %s", path);
    g_store = X509_STORE_new();
    g_cacerts = sk_X509_new_null();
    if (!g_store || !g_cacerts)
        die("out of memory");
    for (i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        if (xi->x509) {
            X509_STORE_add_cert(g_store, xi->x509);
            X509_up_ref(xi->x509);
            sk_X509_push(g_cacerts, xi->x509);
        }
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    if (sk_X509_num(g_cacerts) == 0)
        die("no certificates in --cafile %s", path);
}

static void load_sni_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t cap = 0;
    if (!f)
        die("cannot read --sni-file %s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        size_t n = strcspn(line, "\r\n \t");
        line[n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (g_nsnis == cap) {
            char **nn;
            cap = cap ? cap * 2 : 64;
            nn = realloc(g_snis, cap * sizeof(*nn));
            if (!nn)
                die("out of memory");
            g_snis = nn;
        }
        g_snis[g_nsnis] = strdup(line);
        if (!g_snis[g_nsnis])
            die("out of memory");
        g_nsnis++;
    }
    fclose(f);
    if (g_nsnis == 0)
        die("no names in --sni-file %s", path);
    g_sni_ok = calloc(g_nsnis, 1);
    g_sni_stapled = calloc(g_nsnis, 1);
    if (!g_sni_ok || !g_sni_stapled)
        die("out of memory");
}

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
"usage: tlsload --port N [options]\n"
"  --host H          server address (default 127.0.0.1)\n"
"  --port N          server port (required)\n"
"  --sni NAME        server name indication (default: none)\n"
"  --sni-file F      one name a line, used round robin (overrides --sni);\n"
"                    JSON then counts names with a stapled/ok answer\n"
"  --threads N       parallel client threads (default 1)\n"
"  --duration S      run for S seconds (default 5)\n"
"  --count N         run N handshakes in total instead of a duration\n"
"  --cafile F        CA certificate(s) that OCSP responses must verify to\n"
"  --tls1.2|--tls1.3 force the protocol version\n"
"  --sigalgs LIST    signature algorithms offered (picks RSA vs ECDSA cert)\n"
"  --ciphers LIST    TLS 1.2 cipher list\n"
"  --timeout S       socket timeout per connection (default 30)\n"
"  --retry-connect S retry refused connects for up to S seconds (server\n"
"                    starting); latency then counts from the connect\n"
"  --request PATH    send GET PATH after the handshake, expect 200\n"
"  --verify-every    verify every staple (no per-thread result cache)\n"
"  --label TEXT      copied into the JSON output\n"
"Prints one human line to stderr and one JSON line to stdout.\n"
"Exit status 0 when at least one handshake completed, 1 when none did,\n"
"2 on usage or setup errors.\n");
    exit(code);
}

static void parse_args(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_SNI, O_THREADS, O_DURATION, O_COUNT,
           O_CAFILE, O_TLS12, O_TLS13, O_SIGALGS, O_CIPHERS, O_TIMEOUT,
           O_REQUEST, O_VERIFY_EVERY, O_LABEL, O_SNI_FILE, O_RETRY, O_HELP };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"sni", required_argument, NULL, O_SNI},
        {"threads", required_argument, NULL, O_THREADS},
        {"duration", required_argument, NULL, O_DURATION},
        {"count", required_argument, NULL, O_COUNT},
        {"cafile", required_argument, NULL, O_CAFILE},
        {"tls1.2", no_argument, NULL, O_TLS12},
        {"tls1.3", no_argument, NULL, O_TLS13},
        {"sigalgs", required_argument, NULL, O_SIGALGS},
        {"ciphers", required_argument, NULL, O_CIPHERS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"request", required_argument, NULL, O_REQUEST},
        {"verify-every", no_argument, NULL, O_VERIFY_EVERY},
        {"label", required_argument, NULL, O_LABEL},
        {"sni-file", required_argument, NULL, O_SNI_FILE},
        {"retry-connect", required_argument, NULL, O_RETRY},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0}
    };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_HOST: opt.host = optarg; break;
        case O_PORT: opt.port = optarg; break;
        case O_SNI: opt.sni = optarg; break;
        case O_THREADS:
            opt.threads = (int)strtol(optarg, &end, 10);
            if (*end || opt.threads < 1 || opt.threads > MAX_THREADS)
                die("--threads: 1..%d expected, got '%s'", MAX_THREADS, optarg);
            break;
        case O_DURATION:
            opt.duration = strtod(optarg, &end);
            if (*end || !(opt.duration > 0))
                die("--duration: positive seconds expected, got '%s'", optarg);
            break;
        case O_COUNT:
            opt.count = strtol(optarg, &end, 10);
            if (*end || opt.count < 1)
                die("--count: positive integer expected, got '%s'", optarg);
            break;
        case O_CAFILE: opt.cafile = optarg; break;
        case O_TLS12: opt.tls_version = TLS1_2_VERSION; break;
        case O_TLS13: opt.tls_version = TLS1_3_VERSION; break;
        case O_SIGALGS: opt.sigalgs = optarg; break;
        case O_CIPHERS: opt.ciphers = optarg; break;
        case O_TIMEOUT:
            opt.timeout = strtod(optarg, &end);
            if (*end || !(opt.timeout > 0))
                die("--timeout: positive seconds expected, got '%s'", optarg);
            break;
        case O_REQUEST: opt.request = optarg; break;
        case O_VERIFY_EVERY: opt.verify_every = 1; break;
        case O_LABEL: opt.label = optarg; break;
        case O_SNI_FILE: opt.sni_file = optarg; break;
        case O_RETRY:
            opt.retry_connect = strtod(optarg, &end);
            if (*end || opt.retry_connect < 0)
                die("--retry-connect: seconds expected, got '%s'", optarg);
            break;
        case 'h': case O_HELP: usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc || !opt.port)
        usage(2);
}

static void setup(void)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(opt.host, opt.port, &hints, &g_addr);
    if (rc != 0)
        die("cannot resolve %s:%s: %s", opt.host, opt.port, gai_strerror(rc));

    g_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ctx)
        die("SSL_CTX_new");
    SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(g_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
    if (opt.tls_version) {
        SSL_CTX_set_min_proto_version(g_ctx, opt.tls_version);
        SSL_CTX_set_max_proto_version(g_ctx, opt.tls_version);
    }
    if (opt.sigalgs && SSL_CTX_set1_sigalgs_list(g_ctx, opt.sigalgs) != 1)
        die("--sigalgs: OpenSSL rejects '%s'", opt.sigalgs);
    if (opt.ciphers && SSL_CTX_set_cipher_list(g_ctx, opt.ciphers) != 1)
        die("--ciphers: OpenSSL rejects '%s'", opt.ciphers);
    if (opt.cafile)
        load_cafile(opt.cafile);
    if (opt.sni_file)
        load_sni_file(opt.sni_file);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of a sorted array */
static double pct(const double *v, size_t n, double q)
{
    size_t rank;
    if (n == 0)
        return 0.0;
    rank = (size_t)(q / 100.0 * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static double share(long a, long b)
{
    return b > 0 ? (double)a / (double)b : 0.0;
}

int main(int argc, char **argv)
{
    pthread_t tids[MAX_THREADS];
    worker *ws;
    worker tot;
    double elapsed, *all, sum = 0.0;
    size_t nall = 0, k;
    long over_1s = 0;
    struct rusage ru;
    struct sigaction sa;
    double first_error_at = -1.0;
    const char *first_error = "", *protocol = "", *cipher = "", *peer_key = "";
    int i, first_w = -1, rc;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setup();

    ws = calloc((size_t)opt.threads, sizeof(*ws));
    if (!ws)
        die("out of memory");
    g_remaining = opt.count;
    pthread_barrier_init(&g_barrier, NULL, (unsigned)opt.threads + 1);
    for (i = 0; i < opt.threads; i++) {
        rc = pthread_create(&tids[i], NULL, worker_main, &ws[i]);
        if (rc != 0)
            die("pthread_create: %s", strerror(rc));
    }
    g_start = now_s();
    g_deadline = g_start + opt.duration;
    pthread_barrier_wait(&g_barrier);
    for (i = 0; i < opt.threads; i++)
        pthread_join(tids[i], NULL);
    elapsed = now_s() - g_start;
    pthread_barrier_destroy(&g_barrier);
    getrusage(RUSAGE_SELF, &ru);

    memset(&tot, 0, sizeof(tot));
    for (i = 0; i < opt.threads; i++) {
        worker *w = &ws[i];
        tot.handshakes += w->handshakes;
        tot.errors += w->errors;
        tot.timeouts += w->timeouts;
        tot.stapled += w->stapled;
        tot.parsed += w->parsed;
        tot.verified += w->verified;
        tot.matched += w->matched;
        tot.in_validity += w->in_validity;
        tot.good += w->good;
        tot.revoked += w->revoked;
        tot.ok += w->ok;
        tot.http_ok += w->http_ok;
        nall += w->nlat;
        if (w->first_error[0] && (!first_error[0] || w->first_error_at < first_error_at)) {
            first_error = w->first_error;
            first_error_at = w->first_error_at;
        }
        if (!protocol[0] && w->protocol[0]) {
            protocol = w->protocol;
            cipher = w->cipher;
            peer_key = w->peer_key;
        }
    }
    all = malloc((nall ? nall : 1) * sizeof(*all));
    if (!all)
        die("out of memory");
    for (i = 0, k = 0; i < opt.threads; i++) {
        if (ws[i].nlat)
            memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof(*all));
        k += ws[i].nlat;
    }
    for (k = 0; k < nall; k++) {
        sum += all[k];
        if (all[k] > 1000.0)
            over_1s++;
    }
    /* "first": the handshake that completed first over all threads */
    for (i = 0; i < opt.threads; i++)
        if (ws[i].first_done && (first_w < 0 || ws[i].first_done_unix
                                 < ws[first_w].first_done_unix))
            first_w = i;
    qsort(all, nall, sizeof(*all), cmp_double);

    fprintf(stderr,
            "tlsload %s%s%s:%s %d thr %.2fs: %ld handshakes (%.1f/s), "
            "%ld errors; stapled %.1f%%, ok %.1f%% (verified %ld, valid %ld, "
            "good %ld, revoked %ld); ms p50 %.2f p99 %.2f max %.2f; %s %s %s%s%s\n",
            opt.label, opt.label[0] ? " " : "", opt.host, opt.port,
            opt.threads, elapsed, tot.handshakes,
            share(tot.handshakes, 1) / (elapsed > 0 ? elapsed : 1),
            tot.errors, 100.0 * share(tot.stapled, tot.handshakes),
            100.0 * share(tot.ok, tot.handshakes), tot.verified,
            tot.in_validity, tot.good, tot.revoked, pct(all, nall, 50),
            pct(all, nall, 99), nall ? all[nall - 1] : 0.0, protocol, cipher,
            peer_key, first_error[0] ? "; first error: " : "", first_error);

    printf("{\"label\":");
    json_str(stdout, opt.label);
    printf(",\"host\":");
    json_str(stdout, opt.host);
    printf(",\"port\":%s,\"sni\":", opt.port);
    json_str(stdout, opt.sni ? opt.sni : "");
    printf(",\"threads\":%d,\"elapsed_s\":%.6f,\"handshakes\":%ld,"
           "\"hs_per_s\":%.3f,\"errors\":%ld,\"timeouts\":%ld,"
           "\"stapled\":%ld,\"parsed\":%ld,\"verified\":%ld,\"matched\":%ld,"
           "\"in_validity\":%ld,\"good\":%ld,\"revoked\":%ld,\"ok\":%ld,"
           "\"http_ok\":%ld,"
           "\"stapled_share\":%.6f,\"ok_share\":%.6f,"
           "\"lat_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
           "\"max\":%.3f,\"mean\":%.3f,\"min\":%.3f},\"over_1s\":%ld,",
           opt.threads, elapsed, tot.handshakes,
           elapsed > 0 ? (double)tot.handshakes / elapsed : 0.0, tot.errors,
           tot.timeouts, tot.stapled, tot.parsed, tot.verified, tot.matched,
           tot.in_validity, tot.good, tot.revoked, tot.ok, tot.http_ok,
           share(tot.stapled, tot.handshakes), share(tot.ok, tot.handshakes),
           pct(all, nall, 50), pct(all, nall, 90), pct(all, nall, 99),
           pct(all, nall, 99.9), nall ? all[nall - 1] : 0.0,
           nall ? sum / (double)nall : 0.0, nall ? all[0] : 0.0, over_1s);
    if (first_w >= 0)
        printf("\"first\":{\"ms\":%.3f,\"done_unix\":%.6f,\"stapled\":%s,"
               "\"ok\":%s},",
               ws[first_w].first_ms, ws[first_w].first_done_unix,
               ws[first_w].first_stapled ? "true" : "false",
               ws[first_w].first_ok ? "true" : "false");
    else
        printf("\"first\":null,");
    if (g_nsnis) {
        size_t nst = 0, nok = 0;
        for (k = 0; k < g_nsnis; k++) {
            nst += g_sni_stapled[k];
            nok += g_sni_ok[k];
        }
        printf("\"sni_names\":%zu,\"sni_stapled_names\":%zu,"
               "\"sni_ok_names\":%zu,", g_nsnis, nst, nok);
    }
    printf("\"client_cpu_s\":%.6f,\"protocol\":",
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    json_str(stdout, protocol);
    printf(",\"cipher\":");
    json_str(stdout, cipher);
    printf(",\"peer_key\":");
    json_str(stdout, peer_key);
    printf(",\"first_error\":");
    json_str(stdout, first_error);
    printf(",\"first_error_at_s\":%.3f}\n", first_error_at);
    fflush(stdout);
    rc = tot.handshakes > 0 ? 0 : 1;

    for (i = 0; i < opt.threads; i++)
        free(ws[i].lat);
    free(ws);
    free(all);
    freeaddrinfo(g_addr);
    SSL_CTX_free(g_ctx);
    X509_STORE_free(g_store);
    sk_X509_pop_free(g_cacerts, X509_free);
    for (k = 0; k < g_nsnis; k++)
        free(g_snis[k]);
    free(g_snis);
    free(g_sni_ok);
    free(g_sni_stapled);
    return rc;
}
