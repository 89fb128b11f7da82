/* ocsp_cert: facts about one certificate needed to ask for and check its
 * OCSP status. See ocsp_cert.h. No httpd here. */
#include <string.h>
#include <time.h>

#include <apr_strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ocsp_cert.h"
#include "core_util.h"

#include <apr_hash.h>

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

/* The issuer already parsed for another certificate, or this one, now
 * remembered (the hash holds a reference, freed with p). */
static X509 *shared_issuer(apr_hash_t *issuers, X509 *issuer, apr_pool_t *p)
{
    unsigned char *der = NULL;
    int len = i2d_X509(issuer, &der);
    X509 *have;

    if (len <= 0) {
        ERR_clear_error();
        return issuer;
    }
    have = apr_hash_get(issuers, der, len);
    if (!have && X509_up_ref(issuer)) {
        apr_hash_set(issuers, apr_pmemdup(p, der, (apr_size_t)len), len,
                     issuer);
        apr_pool_cleanup_register(p, issuer, cleanup_x509,
                                  apr_pool_cleanup_null);
        have = issuer;
    }
    OPENSSL_free(der);
    return have ? have : issuer;
}

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
    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        set_err(err, "out of memory reading PEM");
        ERR_clear_error();
        return APR_ENOMEM;
    }
    leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (leaf == NULL) {
        set_err(err, apr_psprintf(p, "no certificate found in the PEM text "
                                     "(expected the leaf, then its issuer): "
                                     "%s", take_openssl_errors(p)));
        BIO_free(bio);
        return APR_EINVAL;
    }
    issuer = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (issuer == NULL) {
        const char *why = take_openssl_errors(p);
        set_err(err, apr_psprintf(p, "the PEM text holds the leaf but no "
                                     "issuer certificate after it (%s)", why));
        X509_free(leaf);
        return APR_EINVAL;
    }

    rv = ocsp_cert_from_x509(pcert, leaf,
                             issuers ? shared_issuer(issuers, issuer, p)
                                     : issuer, p, err);
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
