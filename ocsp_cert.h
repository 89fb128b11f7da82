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

/* What the certificates of one issuer share (ocsp_cert_from_pem_shared):
 * the parsed issuer, a verification store that trusts only it, and the
 * delegated responder certificates of responses that verified, parsed once
 * each. ocsp_verify uses it; nothing here skips a check, it only avoids
 * parsing the same certificate (and its key) again and again. */
typedef struct ocsp_issuer ocsp_issuer;

typedef struct ocsp_cert {
    X509 *leaf;                   /* owned; freed by a cleanup of the pool */
    X509 *issuer;                 /* owned; freed likewise */
    OCSP_CERTID *certid;          /* SHA-1 CertID of leaf, freed likewise */
    const char *subject;          /* leaf subject, one line (RFC 2253) */
    const char *serial_hex;       /* leaf serial, upper-case hex */
    apr_array_header_t *ocsp_urls;/* const char *: AIA OCSP URLs, in order */
    int must_staple;              /* TLS Feature extension with status_request */
    long long not_after;          /* leaf notAfter, seconds since the epoch */
    ocsp_issuer *shared;          /* NULL unless made with sharing */
} ocsp_cert;

/* Parses "leaf PEM, then issuer PEM" as mod_ssl hands it to the prime hook.
 * On failure returns an APR error and sets *err to a sentence naming the
 * cause. The leaf is parsed without its public key (cert->leaf has none:
 * nothing here needs it, and OpenSSL 3.0 spends most of a certificate's
 * parsing time on the key). */
apr_status_t ocsp_cert_from_pem(ocsp_cert **pcert, const char *pem,
                                apr_pool_t *p, const char **err);

/* Same, sharing one ocsp_issuer per issuer through issuers (issuer DER ->
 * ocsp_issuer, kept in p): a thousand leaves of one CA hold one parsed
 * issuer, one store and one set of responder certificates between them,
 * and the issuer is parsed once. ocsp_verify_response may run for certs of
 * one issuer in several threads at once. */
apr_status_t ocsp_cert_from_pem_shared(ocsp_cert **pcert, const char *pem,
                                       apr_hash_t *issuers, apr_pool_t *p,
                                       const char **err);

/* Same, from already parsed certificates (the pool takes references). */
apr_status_t ocsp_cert_from_x509(ocsp_cert **pcert, X509 *leaf, X509 *issuer,
                                 apr_pool_t *p, const char **err);

/* For ocsp_verify (cert->shared): the store trusting the issuer alone
 * (the caller frees its reference); and the responder certificate with
 * the DER of `seen` (parsed without its key, inside a response), parsed in
 * full: a new reference, *known set when it was remembered already. */
X509_STORE *ocsp_issuer_store(ocsp_issuer *is);
X509 *ocsp_issuer_signer(ocsp_issuer *is, X509 *seen, int *known);
/* Remembers a responder certificate that signed a response that verified
 * (at most a few per issuer, the oldest goes). */
void ocsp_issuer_remember(ocsp_issuer *is, X509 *signer);
/* Whether the responder ID of bs names the issuer itself. */
int ocsp_issuer_is_responder(const ocsp_issuer *is, OCSP_BASICRESP *bs);
/* Whether every SingleResponse of bs names the issuer as the one who
 * issued the certificate (SHA-1 CertIDs: the hashes of its subject name
 * and of its key, compared as OpenSSL's issuer check compares them). */
int ocsp_issuer_named_by_all(const ocsp_issuer *is, OCSP_BASICRESP *bs);
/* Whether the issuer, and signer (if not NULL), are within their validity
 * period now (the clock, as OpenSSL's chain check uses it). */
int ocsp_issuer_valid_now(const ocsp_issuer *is, X509 *signer);
/* A library context that parses certificates without their public keys
 * (its only provider is OpenSSL's "null" provider), or NULL. */
OSSL_LIB_CTX *ocsp_issuer_keyless(const ocsp_issuer *is);

/* DER of an OCSP request for this one certificate, without nonce (RFC 5019:
 * responders and caches answer such requests from their pre-signed store). */
apr_status_t ocsp_cert_request_der(const ocsp_cert *cert, unsigned char **der,
                                   apr_size_t *der_len, apr_pool_t *p);

#endif
