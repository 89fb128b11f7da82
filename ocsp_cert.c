/* ocsp_cert: facts about one certificate needed to ask for and check its
 * OCSP status. See ocsp_cert.h. No httpd here. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ocsp_cert.h"
#include "core_util.h"

#include <apr_hash.h>

/* Responder certificates remembered per issuer: CAs sign with one
 * delegated responder at a time, rolling it over now and then. */
#define OCSP_ISSUER_SIGNERS 4

struct ocsp_issuer {
    X509 *x509;                   /* the issuer, parsed in full */
    X509_STORE *store;            /* trusts x509 alone (partial chain) */
    unsigned char key_sha1[SHA_DIGEST_LENGTH]; /* of its public key */
    unsigned char name_sha1[SHA_DIGEST_LENGTH];/* of its subject name */
    OSSL_LIB_CTX *keyless;        /* shared by all issuers of the pool */
    CRYPTO_RWLOCK *lock;          /* guards the signers */
    struct {
        unsigned char *der;       /* OPENSSL_malloc'd */
        int len;
        X509 *x509;               /* parsed in full */
    } signers[OCSP_ISSUER_SIGNERS];
    unsigned next;                /* the slot replaced next */
};

/* TLS Feature extension value for status_request (RFC 7633, RFC 6066). */
#define TLSFEATURE_STATUS_REQUEST 5

static apr_status_t cleanup_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t cleanup_certid(void *data)
{
    OCSP_CERTID_free(data);
    return APR_SUCCESS;
}

static void set_err(const char **err, const char *msg)
{
    if (err)
        *err = msg;
}

/* The OpenSSL errors for a message (the queue is left empty). */
static const char *take_openssl_errors(apr_pool_t *p)
{
    const char *d = core_openssl_errors(p, NULL);
    return *d ? d : "no OpenSSL detail";
}

/* Subject in RFC 2253 form on one line. The RFC 2253 flags escape every
 * non-ASCII byte, so the text is safe for HTML, JSON and log lines. */
static const char *name_oneline(const X509_NAME *name, apr_pool_t *p)
{
    BIO *bio = BIO_new(BIO_s_mem());
    const char *out = NULL;
    char *data = NULL;
    long n;

    if (bio == NULL)
        return NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(bio, &data);
        out = (n > 0 && data) ? apr_pstrmemdup(p, data, (apr_size_t)n) : "";
    }
    BIO_free(bio);
    return out;
}

static const char *serial_hex(const X509 *x, apr_pool_t *p)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex;
    const char *out = NULL;

    if (bn == NULL)
        return NULL;
    hex = BN_bn2hex(bn);            /* upper case */
    if (hex) {
        out = apr_pstrdup(p, hex);
        OPENSSL_free(hex);
    }
    BN_free(bn);
    return out;
}

/* Must-staple (RFC 7633): a TLS Feature extension listing status_request. */
static int has_must_staple(X509 *leaf)
{
    int crit = -1, i, found = 0;
    TLS_FEATURE *features = X509_get_ext_d2i(leaf, NID_tlsfeature, &crit,
                                             NULL);

    if (features == NULL)
        return 0;
    for (i = 0; i < sk_ASN1_INTEGER_num(features); i++) {
        if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(features, i))
            == TLSFEATURE_STATUS_REQUEST)
            found = 1;
    }
    TLS_FEATURE_free(features);
    return found;
}

static apr_array_header_t *aia_ocsp_urls(X509 *leaf, apr_pool_t *p)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(leaf);
    apr_array_header_t *arr = apr_array_make(p, 2, sizeof(const char *));
    int i;

    for (i = 0; urls && i < sk_OPENSSL_STRING_num(urls); i++) {
        const char *u = sk_OPENSSL_STRING_value(urls, i);
        if (u && *u)
            APR_ARRAY_PUSH(arr, const char *) = apr_pstrdup(p, u);
    }
    /* X509_get1_ocsp returns the same kind of list as X509_get1_email. */
    X509_email_free(urls);
    return arr;
}

apr_status_t ocsp_cert_from_x509(ocsp_cert **pcert, X509 *leaf, X509 *issuer,
                                 apr_pool_t *p, const char **err)
{
    ocsp_cert *c;
    int rc;

    if (pcert)
        *pcert = NULL;
    if (pcert == NULL || p == NULL) {
        set_err(err, "internal error: no result pointer or pool");
        return APR_EINVAL;
    }
    if (leaf == NULL) {
        set_err(err, "no leaf certificate");
        return APR_EINVAL;
    }
    if (issuer == NULL) {
        set_err(err, "the issuer certificate is missing (the OCSP request "
                     "and the response check both need it)");
        return APR_EINVAL;
    }

    /* A wrong issuer would only show later as a signature or CertID
     * mismatch on every response; say it here instead. */
    rc = X509_check_issued(issuer, leaf);
    if (rc != X509_V_OK) {
        const char *iss = name_oneline(X509_get_subject_name(issuer), p);
        const char *want = name_oneline(X509_get_issuer_name(leaf), p);
        ERR_clear_error();
        set_err(err, apr_psprintf(p, "the certificate given as issuer (%s) "
                                     "did not issue the leaf (issuer %s): %s",
                                  iss ? iss : "?", want ? want : "?",
                                  X509_verify_cert_error_string(rc)));
        return APR_EINVAL;
    }

    c = apr_pcalloc(p, sizeof(*c));
    /* Take references first so that every later failure is covered by the
     * pool cleanups. */
    X509_up_ref(leaf);
    c->leaf = leaf;
    apr_pool_cleanup_register(p, leaf, cleanup_x509, apr_pool_cleanup_null);
    X509_up_ref(issuer);
    c->issuer = issuer;
    apr_pool_cleanup_register(p, issuer, cleanup_x509, apr_pool_cleanup_null);

    /* SHA-1 CertID: what RFC 5019 responders and mod_ssl use. */
    c->certid = OCSP_cert_to_id(NULL, leaf, issuer);
    if (c->certid == NULL) {
        set_err(err, apr_psprintf(p, "cannot compute the OCSP CertID: %s",
                                  take_openssl_errors(p)));
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(p, c->certid, cleanup_certid,
                              apr_pool_cleanup_null);

    c->subject = name_oneline(X509_get_subject_name(leaf), p);
    c->serial_hex = serial_hex(leaf, p);
    if (c->subject == NULL || c->serial_hex == NULL) {
        set_err(err, apr_psprintf(p, "cannot format the subject or serial: "
                                     "%s", take_openssl_errors(p)));
        return APR_ENOMEM;
    }
    if (!core_asn1_time_to_epoch(X509_get0_notAfter(leaf), &c->not_after)) {
        set_err(err, apr_psprintf(p, "the certificate's notAfter is not a "
                                     "valid time: %s", take_openssl_errors(p)));
        return APR_EINVAL;
    }
    c->ocsp_urls = aia_ocsp_urls(leaf, p);
    c->must_staple = has_must_staple(leaf);

    /* Malformed optional extensions leave errors behind; they changed
     * nothing above, so just drop them. */
    ERR_clear_error();
    *pcert = c;
    return APR_SUCCESS;
}

/* ---- parsing without the public key ------------------------------------ */

/* OpenSSL 3.0 decodes a certificate's public key while parsing it, through
 * its provider decoders, and that costs about as much as verifying a
 * signature. The leaf's key is never used here. A library context whose
 * only provider is the "null" provider has no decoder: certificates parsed
 * in it come out complete but without a key (OpenSSL treats the key as
 * optional while parsing). One per pool, freed with it after the
 * certificates parsed in it (pool cleanups run in reverse order). */
typedef struct {
    OSSL_LIB_CTX *ctx;
    OSSL_PROVIDER *null_prov;
} keyless_ctx;

#define KEYLESS_USERDATA "ocsp_cert:keyless"

static apr_status_t keyless_free(void *data)
{
    keyless_ctx *k = data;
    if (k->null_prov)
        OSSL_PROVIDER_unload(k->null_prov);
    OSSL_LIB_CTX_free(k->ctx);
    k->ctx = NULL;
    k->null_prov = NULL;
    return APR_SUCCESS;
}

/* The pool's keyless context, or NULL (then certificates are parsed in
 * full, as before). */
static OSSL_LIB_CTX *keyless_of(apr_pool_t *p)
{
    void *v = NULL;
    keyless_ctx *k;

    if (apr_pool_userdata_get(&v, KEYLESS_USERDATA, p) == APR_SUCCESS && v)
        return ((keyless_ctx *)v)->ctx;
    k = apr_pcalloc(p, sizeof(*k));
    k->ctx = OSSL_LIB_CTX_new();
    if (k->ctx)
        k->null_prov = OSSL_PROVIDER_load(k->ctx, "null");
    if (!k->ctx || !k->null_prov) {
        keyless_free(k);
        ERR_clear_error();
        return NULL;
    }
    apr_pool_cleanup_register(p, k, keyless_free, apr_pool_cleanup_null);
    apr_pool_userdata_set(k, KEYLESS_USERDATA, NULL, p);
    return k->ctx;
}

/* The DER of the next PEM certificate in bio (as PEM_read_bio_X509 finds
 * it), or NULL. */
static unsigned char *read_der(BIO *bio, long *len)
{
    unsigned char *data = NULL;
    *len = 0;
    if (!PEM_bytes_read_bio(&data, len, NULL, PEM_STRING_X509, bio, NULL,
                            NULL))
        return NULL;
    return data;
}

/* Parses der in full (ctx NULL) or without the key (ctx keyless). */
static X509 *parse_der(const unsigned char *der, long len, OSSL_LIB_CTX *ctx)
{
    const unsigned char *q = der;
    return ctx ? (X509 *)ASN1_item_d2i_ex(NULL, &q, len, ASN1_ITEM_rptr(X509),
                                         ctx, NULL)
               : d2i_X509(NULL, &q, len);
}

/* ---- the issuer, shared --------------------------------------------------- */

static apr_status_t issuer_free(void *data)
{
    ocsp_issuer *is = data;
    int i;
    for (i = 0; i < OCSP_ISSUER_SIGNERS; i++) {
        X509_free(is->signers[i].x509);
        OPENSSL_free(is->signers[i].der);
        is->signers[i].x509 = NULL;
        is->signers[i].der = NULL;
    }
    X509_STORE_free(is->store);
    X509_free(is->x509);
    CRYPTO_THREAD_lock_free(is->lock);
    free(is);
    return APR_SUCCESS;
}

/* The ocsp_issuer of the issuer with this DER: the one made for an earlier
 * certificate, or a new one (the issuer parsed in full). NULL when the DER
 * is not a certificate (the caller reports it). */
static ocsp_issuer *issuer_of(apr_hash_t *issuers, const unsigned char *der,
                              long len, OSSL_LIB_CTX *keyless, apr_pool_t *p)
{
    ocsp_issuer *is = apr_hash_get(issuers, der, (apr_ssize_t)len);
    X509 *x;

    if (is)
        return is;
    if ((x = parse_der(der, len, NULL)) == NULL)
        return NULL;
    /* malloc'd, not pool memory: what it holds is also reachable for
     * LeakSanitizer, which does not scan APR's mmap'd pools */
    if ((is = calloc(1, sizeof(*is))) == NULL) {
        X509_free(x);
        return NULL;
    }
    is->x509 = x;
    is->keyless = keyless;
    apr_pool_cleanup_register(p, is, issuer_free, apr_pool_cleanup_null);
    is->store = X509_STORE_new();
    is->lock = CRYPTO_THREAD_lock_new();
    /* As ocsp_verify always did: the issuer as the only trust anchor,
     * usually an intermediate, hence PARTIAL_CHAIN. */
    if (!is->store || !is->lock || !X509_STORE_add_cert(is->store, x)
        || !X509_STORE_set_flags(is->store, X509_V_FLAG_PARTIAL_CHAIN)
        || !X509_pubkey_digest(x, EVP_sha1(), is->key_sha1, NULL)
        || !X509_NAME_digest(X509_get_subject_name(x), EVP_sha1(),
                             is->name_sha1, NULL)) {
        ERR_clear_error();
        return NULL;
    }
    apr_hash_set(issuers, apr_pmemdup(p, der, (apr_size_t)len),
                 (apr_ssize_t)len, is);
    return is;
}

X509_STORE *ocsp_issuer_store(ocsp_issuer *is)
{
    return is && X509_STORE_up_ref(is->store) ? is->store : NULL;
}

OSSL_LIB_CTX *ocsp_issuer_keyless(const ocsp_issuer *is)
{
    return is ? is->keyless : NULL;
}

int ocsp_issuer_is_responder(const ocsp_issuer *is, OCSP_BASICRESP *bs)
{
    const ASN1_OCTET_STRING *keyid = NULL;
    const X509_NAME *name = NULL;

    /* What OpenSSL's signer lookup compares: the subject name, or the
     * SHA-1 of the public key. */
    if (!is || !OCSP_resp_get0_id(bs, &keyid, &name))
        return 0;
    if (name)
        return X509_NAME_cmp(name, X509_get_subject_name(is->x509)) == 0;
    return keyid && keyid->length == SHA_DIGEST_LENGTH
           && memcmp(keyid->data, is->key_sha1, SHA_DIGEST_LENGTH) == 0;
}

int ocsp_issuer_named_by_all(const ocsp_issuer *is, OCSP_BASICRESP *bs)
{
    int i, n = is && bs ? OCSP_resp_count(bs) : 0;

    for (i = 0; i < n; i++) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
        const OCSP_CERTID *id = single ? OCSP_SINGLERESP_get0_id(single)
                                       : NULL;
        ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
        ASN1_OBJECT *md = NULL;

        if (id == NULL
            || !OCSP_id_get0_info(&name_hash, &md, &key_hash, NULL,
                                  (OCSP_CERTID *)id)
            || OBJ_obj2nid(md) != NID_sha1
            || name_hash->length != SHA_DIGEST_LENGTH
            || key_hash->length != SHA_DIGEST_LENGTH
            || memcmp(name_hash->data, is->name_sha1, SHA_DIGEST_LENGTH)
            || memcmp(key_hash->data, is->key_sha1, SHA_DIGEST_LENGTH))
            return 0;
    }
    return n > 0;
}

static int valid_now(X509 *x)
{
    return X509_cmp_current_time(X509_get0_notBefore(x)) < 0
           && X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
}

int ocsp_issuer_valid_now(const ocsp_issuer *is, X509 *signer)
{
    return is && valid_now(is->x509) && (signer == NULL || valid_now(signer));
}

X509 *ocsp_issuer_signer(ocsp_issuer *is, X509 *seen, int *known)
{
    unsigned char *der = NULL;
    int len, i;
    X509 *x = NULL;

    *known = 0;
    if (!is || !seen || (len = i2d_X509(seen, &der)) <= 0) {
        ERR_clear_error();
        return NULL;
    }
    if (CRYPTO_THREAD_read_lock(is->lock)) {
        for (i = 0; i < OCSP_ISSUER_SIGNERS && !x; i++) {
            if (is->signers[i].x509 && is->signers[i].len == len
                && memcmp(is->signers[i].der, der, (size_t)len) == 0
                && X509_up_ref(is->signers[i].x509))
                x = is->signers[i].x509;
        }
        CRYPTO_THREAD_unlock(is->lock);
    }
    if (x)
        *known = 1;
    else
        x = parse_der(der, len, NULL);
    OPENSSL_free(der);
    return x;
}

void ocsp_issuer_remember(ocsp_issuer *is, X509 *signer)
{
    unsigned char *der = NULL;
    int len, i, have = 0;

    if (!is || !signer || (len = i2d_X509(signer, &der)) <= 0) {
        ERR_clear_error();
        return;
    }
    if (!CRYPTO_THREAD_write_lock(is->lock)) {
        OPENSSL_free(der);
        return;
    }
    for (i = 0; i < OCSP_ISSUER_SIGNERS; i++) {
        have |= is->signers[i].x509 && is->signers[i].len == len
                && memcmp(is->signers[i].der, der, (size_t)len) == 0;
    }
    if (!have && X509_up_ref(signer)) {
        i = (int)(is->next++ % OCSP_ISSUER_SIGNERS);
        X509_free(is->signers[i].x509);
        OPENSSL_free(is->signers[i].der);
        is->signers[i].x509 = signer;
        is->signers[i].der = der;
        is->signers[i].len = len;
        der = NULL;
    }
    CRYPTO_THREAD_unlock(is->lock);
    OPENSSL_free(der);
}

/* ---- from PEM --------------------------------------------------------------- */

apr_status_t ocsp_cert_from_pem(ocsp_cert **pcert, const char *pem,
                                apr_pool_t *p, const char **err)
{
    return ocsp_cert_from_pem_shared(pcert, pem, NULL, p, err);
}

apr_status_t ocsp_cert_from_pem_shared(ocsp_cert **pcert, const char *pem,
                                       apr_hash_t *issuers, apr_pool_t *p,
                                       const char **err)
{
    BIO *bio;
    X509 *leaf = NULL, *issuer = NULL;
    unsigned char *leaf_der = NULL, *issuer_der = NULL;
    long leaf_len = 0, issuer_len = 0;
    OSSL_LIB_CTX *keyless;
    ocsp_issuer *is = NULL;
    apr_status_t rv;

    if (pcert)
        *pcert = NULL;
    if (pem == NULL || *pem == '\0') {
        set_err(err, "empty PEM: expected the leaf certificate, then its "
                     "issuer");
        return APR_EINVAL;
    }
    if (p == NULL) {
        set_err(err, "internal error: no pool");
        return APR_EINVAL;
    }
    keyless = keyless_of(p);
    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        set_err(err, "out of memory reading PEM");
        ERR_clear_error();
        return APR_ENOMEM;
    }
    leaf_der = read_der(bio, &leaf_len);
    if (leaf_der == NULL
        || (leaf = parse_der(leaf_der, leaf_len, keyless)) == NULL) {
        set_err(err, apr_psprintf(p, "no certificate found in the PEM text "
                                     "(expected the leaf, then its issuer): "
                                     "%s", take_openssl_errors(p)));
        BIO_free(bio);
        OPENSSL_free(leaf_der);
        return APR_EINVAL;
    }
    OPENSSL_free(leaf_der);
    if (issuers) {
        /* mod_ssl writes the same issuer as the same text every time: seen
         * before, not even its base64 needs decoding (the text, starting
         * with '-', cannot be mistaken for a DER key, starting with 0x30) */
        char *rest = NULL;
        long rest_len = BIO_get_mem_data(bio, &rest);
        if (rest_len > 0
            && (is = apr_hash_get(issuers, rest, (apr_ssize_t)rest_len))) {
            issuer = is->x509;
            X509_up_ref(issuer);
        }
        else if ((issuer_der = read_der(bio, &issuer_len))
                 && (is = issuer_of(issuers, issuer_der, issuer_len, keyless,
                                    p))) {
            issuer = is->x509;
            X509_up_ref(issuer);
            if (rest_len > 0)
                apr_hash_set(issuers, apr_pmemdup(p, rest, (apr_size_t)
                                                  rest_len),
                             (apr_ssize_t)rest_len, is);
        }
    }
    else if ((issuer_der = read_der(bio, &issuer_len))) {
        issuer = parse_der(issuer_der, issuer_len, NULL);
    }
    OPENSSL_free(issuer_der);
    BIO_free(bio);
    if (issuer == NULL) {
        const char *why = take_openssl_errors(p);
        set_err(err, apr_psprintf(p, "the PEM text holds the leaf but no "
                                     "issuer certificate after it (%s)", why));
        X509_free(leaf);
        return APR_EINVAL;
    }

    rv = ocsp_cert_from_x509(pcert, leaf, issuer, p, err);
    if (rv == APR_SUCCESS)
        (*pcert)->shared = is;
    /* ocsp_cert_from_x509 took its own references. */
    X509_free(leaf);
    X509_free(issuer);
    ERR_clear_error();
    return rv;
}

apr_status_t ocsp_cert_request_der(const ocsp_cert *cert, unsigned char **der,
                                   apr_size_t *der_len, apr_pool_t *p)
{
    OCSP_REQUEST *req = NULL;
    OCSP_CERTID *id = NULL;
    unsigned char *buf, *q;
    int n;
    apr_status_t rv = APR_EGENERAL;

    if (der)
        *der = NULL;
    if (der_len)
        *der_len = 0;
    if (cert == NULL || cert->certid == NULL || der == NULL
        || der_len == NULL || p == NULL)
        return APR_EINVAL;

    req = OCSP_REQUEST_new();
    id = OCSP_CERTID_dup(cert->certid);
    if (req == NULL || id == NULL)
        goto done;
    /* No nonce on purpose (RFC 5019): responders and CDNs answer nonce-less
     * requests from pre-signed responses. */
    if (OCSP_request_add0_id(req, id) == NULL)
        goto done;
    id = NULL;                      /* now owned by req */

    n = i2d_OCSP_REQUEST(req, NULL);
    if (n <= 0)
        goto done;
    buf = apr_palloc(p, (apr_size_t)n);
    q = buf;
    if (i2d_OCSP_REQUEST(req, &q) != n)
        goto done;
    *der = buf;
    *der_len = (apr_size_t)n;
    rv = APR_SUCCESS;

done:
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    ERR_clear_error();
    return rv;
}
