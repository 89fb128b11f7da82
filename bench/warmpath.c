/* warmpath: the module's warm start without httpd, for profiling (issue
 * 14). What the parent does per certificate mod_ssl primes (parse leaf +
 * issuer, CertID, request DER: ocsp_cert_from_pem_shared and
 * ocsp_cert_request_der) and what the start-up helper does per certificate
 * with a warm store (read the file, decode the record, verify the
 * response: staple_record_decode and ocsp_verify_response), on the files a
 * benchmark run left behind (bench.py --keep):
 *
 *   build/warmpath --store ROOT/state/ocspstaple --chains LIST [--threads 2]
 *
 * LIST names one chain file (leaf PEM, then issuer PEM, as mod_ssl hands
 * them to the prime hook) per line. Prints CPU and wall time per phase and
 * certificate. Deterministic enough for valgrind --tool=callgrind: the
 * phases are the functions phase_prime and phase_verify. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ocsp_cert.h"
#include "ocsp_verify.h"
#include "staple_record.h"

typedef struct {
    const char *chain_path;
    char *pem;
    ocsp_cert *cert;
    char id_hex[41];
    unsigned char *req;
    apr_size_t req_len;
    unsigned char *rec;
    apr_size_t rec_len;
    int verified;
} item;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, apr_size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    char *buf;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    if (buf) {
        buf[st.st_size] = '\0';
        if (len)
            *len = (apr_size_t)st.st_size;
    }
    return buf;
}

/* The parent's part, per certificate mod_ssl primes. */
static int phase_prime(item *items, int n, apr_hash_t *issuers, apr_pool_t *p)
{
    int i, ok = 0;
    for (i = 0; i < n; i++) {
        const char *err = NULL;
        if (ocsp_cert_from_pem_shared(&items[i].cert, items[i].pem, issuers,
                                      p, &err) != APR_SUCCESS) {
            fprintf(stderr, "%s: %s\n", items[i].chain_path, err);
            continue;
        }
        if (ocsp_cert_request_der(items[i].cert, &items[i].req,
                                  &items[i].req_len, p) != APR_SUCCESS) {
            fprintf(stderr, "%s: no request\n", items[i].chain_path);
            continue;
        }
        ok++;
    }
    return ok;
}

typedef struct {
    item *items;
    int from, to, ok;
    long long now;
} verify_args;

/* The helper's part: decode the store record, verify the response. */
static void *phase_verify_range(void *data)
{
    verify_args *a = data;
    apr_pool_t *p, *vp;
    int i;

    apr_pool_create(&p, NULL);
    apr_pool_create(&vp, p);
    for (i = a->from; i < a->to; i++) {
        item *it = &a->items[i];
        staple_record rec;
        ocsp_verify_params params;
        ocsp_verify_result res;
        if (!it->cert || !it->rec)
            continue;
        if (staple_record_decode(&rec, it->rec, it->rec_len)) {
            fprintf(stderr, "%s: bad record\n", it->id_hex);
            continue;
        }
        ocsp_verify_params_default(&params);
        params.now = a->now;
        params.max_size = 16380;
        if (ocsp_verify_response(it->cert, rec.der, rec.der_len, &params,
                                 &res, vp) == OCSP_VERIFY_OK) {
            it->verified = 1;
            a->ok++;
        }
        else {
            fprintf(stderr, "%s: %s\n", it->id_hex, res.message);
        }
        apr_pool_clear(vp);
    }
    apr_pool_destroy(p);
    return NULL;
}

static int phase_verify(item *items, int n, int threads, long long now)
{
    verify_args a[16];
    pthread_t t[16];
    int k, ok = 0;

    if (threads < 1)
        threads = 1;
    if (threads > 16)
        threads = 16;
    for (k = 0; k < threads; k++) {
        a[k].items = items;
        a[k].from = n * k / threads;
        a[k].to = n * (k + 1) / threads;
        a[k].ok = 0;
        a[k].now = now;
    }
    if (threads == 1) {
        phase_verify_range(&a[0]);
    }
    else {
        for (k = 0; k < threads; k++)
            pthread_create(&t[k], NULL, phase_verify_range, &a[k]);
        for (k = 0; k < threads; k++)
            pthread_join(t[k], NULL);
    }
    for (k = 0; k < threads; k++)
        ok += a[k].ok;
    return ok;
}

/* Store file of each certificate, by mod_ssl's id (SHA-1 of the leaf). */
static int read_records(item *items, int n, const char *store)
{
    int i, found = 0;
    for (i = 0; i < n; i++) {
        unsigned char md[20];
        unsigned int mdlen = 0;
        char path[4096];
        int k;
        if (!items[i].cert)
            continue;
        X509_digest(items[i].cert->leaf, EVP_sha1(), md, &mdlen);
        for (k = 0; k < 20; k++)
            sprintf(items[i].id_hex + 2 * k, "%02x", md[k]);
        snprintf(path, sizeof(path), "%s/%s.ocsp", store, items[i].id_hex);
        items[i].rec = (unsigned char *)slurp(path, &items[i].rec_len);
        found += items[i].rec != NULL;
    }
    return found;
}

int main(int argc, char **argv)
{
    const char *store = NULL, *chains = NULL;
    int threads = 1, n = 0, cap = 0, i, primed, found, verified;
    item *items = NULL;
    apr_pool_t *pool;
    apr_hash_t *issuers;
    char *list, *line, *save = NULL;
    double c0, w0, c1, w1, c2, w2, prime_cpu, prime_wall;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--store") && i + 1 < argc)
            store = argv[++i];
        else if (!strcmp(argv[i], "--chains") && i + 1 < argc)
            chains = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --store DIR --chains LIST "
                    "[--threads N]\n", argv[0]);
            return 2;
        }
    }
    if (!store || !chains || !(list = slurp(chains, NULL))) {
        fprintf(stderr, "warmpath: --store and a readable --chains list "
                "are needed\n");
        return 2;
    }
    apr_initialize();
    apr_pool_create(&pool, NULL);
    issuers = apr_hash_make(pool);
    for (line = strtok_r(list, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!*line)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            items = realloc(items, sizeof(*items) * (size_t)cap);
        }
        memset(&items[n], 0, sizeof(items[n]));
        items[n].chain_path = line;
        if (!(items[n].pem = slurp(line, NULL))) {
            fprintf(stderr, "%s: %s\n", line, strerror(errno));
            return 1;
        }
        n++;
    }

    c0 = cpu_now();
    w0 = wall_now();
    primed = phase_prime(items, n, issuers, pool);
    prime_cpu = cpu_now() - c0;
    prime_wall = wall_now() - w0;
    found = read_records(items, n, store);   /* not measured: file I/O */
    c1 = cpu_now();
    w1 = wall_now();
    verified = phase_verify(items, n, threads, (long long)time(NULL));
    c2 = cpu_now();
    w2 = wall_now();
    printf("{\"certs\": %d, \"primed\": %d, \"records\": %d, "
           "\"verified\": %d, \"threads\": %d, "
           "\"prime_cpu_us_per_cert\": %.1f, \"prime_wall_s\": %.3f, "
           "\"verify_cpu_us_per_cert\": %.1f, \"verify_wall_s\": %.3f}\n",
           n, primed, found, verified, threads,
           n ? 1e6 * prime_cpu / n : 0.0, prime_wall,
           found ? 1e6 * (c2 - c1) / found : 0.0, w2 - w1);
    apr_pool_destroy(pool);
    apr_terminate();
    return verified == found && primed == n ? 0 : 1;
}
