/* ocsp_cert: what the module needs to know about one certificate to ask for
 * and check its OCSP status: leaf + issuer, the CertID, the responder URLs of
 * its AIA extension, and a few facts shown to admins. No httpd here. */
#ifndef OCSP_CERT_H
#define OCSP_CERT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <openssl/x509.h>
#include <openssl/ocsp.h>

typedef struct ocsp_cert {
    X509 *leaf;                   /* owned; freed by a cleanup of the pool */
    X509 *issuer;                 /* owned; freed likewise */
    OCSP_CERTID *certid;          /* SHA-1 CertID of leaf, freed likewise */
    const char *subject;          /* leaf subject, one line (RFC 2253) */
    const char *serial_hex;       /* leaf serial, upper-case hex */
    apr_array_header_t *ocsp_urls;/* const char *: AIA OCSP URLs, in order */
    int must_staple;              /* TLS Feature extension with status_request */
    long long not_after;          /* leaf notAfter, seconds since the epoch */
} ocsp_cert;

/* Parses "leaf PEM, then issuer PEM" as mod_ssl hands it to the prime hook.
 * On failure returns an APR error and sets *err to a sentence naming the
 * cause. */
apr_status_t ocsp_cert_from_pem(ocsp_cert **pcert, const char *pem,
                                apr_pool_t *p, const char **err);

/* Same, sharing parsed issuers through issuers (issuer DER -> X509 *, kept
 * in p): a thousand leaves of one CA hold one parsed issuer between them. */
apr_status_t ocsp_cert_from_pem_shared(ocsp_cert **pcert, const char *pem,
                                       apr_hash_t *issuers, apr_pool_t *p,
                                       const char **err);

/* Same, from already parsed certificates (the pool takes references). */
apr_status_t ocsp_cert_from_x509(ocsp_cert **pcert, X509 *leaf, X509 *issuer,
                                 apr_pool_t *p, const char **err);

/* DER of an OCSP request for this one certificate, without nonce (RFC 5019:
 * responders and caches answer such requests from their pre-signed store). */
apr_status_t ocsp_cert_request_der(const ocsp_cert *cert, unsigned char **der,
                                   apr_size_t *der_len, apr_pool_t *p);

#endif
