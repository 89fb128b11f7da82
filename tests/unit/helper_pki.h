/* helper_pki: a throw-away test PKI built in memory with OpenSSL at test
 * time (no files, no subprocesses), and an OCSP response builder with knobs
 * for everything a responder can get wrong.
 *
 *   root CA ── intermediate CA ("the issuer") ─┬─ leaves (RSA, ECDSA, ...)
 *                                               ├─ delegated OCSP signer (EKU)
 *                                               └─ delegated signer, no EKU
 *   other CA ── delegated OCSP signer (EKU)
 *   stranger (self-signed), impostor (self-signed, issuer's subject name)
 *
 * Built once per process (keys are the slow part) and cached in statics;
 * pki_cleanup() frees it. Every symbol starts with pki_ because all
 * tests/unit/helper_*.c files are linked into every unit test binary. */
#ifndef HELPER_PKI_H
#define HELPER_PKI_H

#include <stddef.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

typedef enum {
    PKI_LEAF_RSA = 0,      /* RSA 2048 key, two AIA OCSP URLs */
    PKI_LEAF_EC,           /* P-256 key, one AIA OCSP URL */
    PKI_LEAF_NO_AIA,       /* P-256 key, no AIA extension */
    PKI_LEAF_MUST_STAPLE,  /* P-256 key, one AIA OCSP URL, TLS Feature
                              status_request */
    PKI_LEAF_COUNT
} pki_leaf;

typedef enum {
    PKI_SIGNER_ISSUER = 0,         /* the intermediate CA itself */
    PKI_SIGNER_DELEGATED,          /* issued by the intermediate, with EKU */
    PKI_SIGNER_DELEGATED_NO_EKU,   /* issued by the intermediate, no EKU */
    PKI_SIGNER_DELEGATED_OTHER_CA, /* with EKU, issued by another CA */
    PKI_SIGNER_STRANGER,           /* self-signed, unrelated */
    PKI_SIGNER_IMPOSTOR,           /* self-signed, same subject as issuer */
    PKI_SIGNER_ROOT,               /* the issuer's issuer */
    PKI_SIGNER_COUNT
} pki_signer;

/* AIA OCSP URLs of the fixed leaves. */
#define PKI_URL_RSA_1 "http://127.0.0.1:9/ocsp-a"
#define PKI_URL_RSA_2 "http://ocsp-b.example.test/"
#define PKI_URL_EC    "http://127.0.0.1:9/ocsp-ec"
#define PKI_URL_MS    "http://127.0.0.1:9/ocsp-ms"

/* Serials of the fixed leaves and their upper-case hex. */
#define PKI_SERIAL_RSA         0x1A2B3C4D5E6FLL
#define PKI_SERIAL_RSA_HEX     "1A2B3C4D5E6F"
#define PKI_SERIAL_EC          0x0BADC0DE01LL
#define PKI_SERIAL_EC_HEX      "0BADC0DE01"
#define PKI_SERIAL_NO_AIA      0x1003LL
#define PKI_SERIAL_MUST_STAPLE 0x1004LL

/* Subjects (RFC 2253 order, as ocsp_cert prints them). */
#define PKI_SUBJECT_RSA  "CN=rsa.example.test,O=mod_ocspstaple test"
#define PKI_SUBJECT_EC   "CN=ec.example.test,O=mod_ocspstaple test"

/* Builds the PKI if not done yet. Returns 0 on success. Not thread-safe:
 * call it from the test's main or group setup. */
int pki_init(void);
/* Frees everything pki_init built. */
void pki_cleanup(void);

/* Borrowed references, valid until pki_cleanup(). */
X509 *pki_root(void);
X509 *pki_issuer(void);
EVP_PKEY *pki_issuer_key(void);
X509 *pki_other_ca(void);
X509 *pki_leaf_cert(pki_leaf leaf);
EVP_PKEY *pki_leaf_key(pki_leaf leaf);
X509 *pki_signer_cert(pki_signer s);
EVP_PKEY *pki_signer_key(pki_signer s);
/* notAfter of every certificate of the PKI, seconds since the epoch. */
long long pki_not_after(void);

/* A new leaf issued by the intermediate, with the given AIA OCSP URLs
 * (n_urls may be 0: no AIA) and optional must-staple, using the P-256 key
 * of PKI_LEAF_EC. The caller frees it with X509_free(). */
X509 *pki_make_leaf(const char *cn, long long serial,
                    const char *const *ocsp_urls, size_t n_urls,
                    int must_staple);

/* A CA certificate for key, issued by ca/ca_key (X509_free). */
X509 *pki_make_ca(const char *cn, long long serial, EVP_PKEY *key, X509 *ca,
                  EVP_PKEY *ca_key);
/* A delegated OCSP responder certificate (id-kp-OCSPSigning) for key,
 * issued by ca/ca_key, valid until not_after (seconds since the epoch; 0:
 * as long as the PKI). X509_free. */
X509 *pki_make_responder(const char *cn, long long serial, EVP_PKEY *key,
                         X509 *ca, EVP_PKEY *ca_key, long long not_after);

/* "leaf PEM, then issuer PEM", NUL-terminated, malloc()ed: free(). */
char *pki_pem_pair(X509 *leaf, X509 *issuer);
/* Same for a fixed leaf and the intermediate. */
char *pki_leaf_pem(pki_leaf leaf);

typedef struct {
    X509 *cert;              /* whose status is given (default: leaf) */
    X509 *certid_cert;       /* CertID computed for this certificate
                                instead of cert ("CertID of another cert") */
    int certid_sha256;       /* CertID with SHA-256 instead of SHA-1 */
    int extra_single_first;  /* put a SingleResponse for another certificate
                                before the one for cert */
    int cert_status;         /* V_OCSP_CERTSTATUS_GOOD (default), _REVOKED,
                                _UNKNOWN */
    int revocation_reason;   /* OCSP_REVOKED_STATUS_*, -1 for none */
    long revoked_offset;     /* revocationTime relative to now */
    long long now;           /* base of the offsets (default time(NULL)) */
    long this_update_offset; /* default -60 */
    int has_next_update;     /* default 1 */
    long next_update_offset; /* default +3600 */
    pki_signer signer;       /* default PKI_SIGNER_ISSUER */
    int include_signer_cert; /* -1 (default): yes unless the issuer signs */
    int response_status;     /* OCSP_RESPONSE_STATUS_*; other than
                                SUCCESSFUL gives a response without body */
    int omit_basic;          /* successful status but no responseBytes */
    X509 *signer_cert;       /* sign with this certificate and key */
    EVP_PKEY *signer_key;    /* instead of `signer` (the certificate is
                                included unless include_signer_cert is 0) */
    X509 *certid_issuer;     /* CertIDs computed with this issuer
                                (default: the intermediate) */
    X509 *extra_cert;        /* one more certificate in the response */
} pki_resp_opts;

/* Defaults for a response about a fixed leaf at time `now` (0: clock). */
void pki_resp_opts_init(pki_resp_opts *o, pki_leaf leaf, long long now);

/* DER of an OCSPResponse built from o, malloc()ed (free()), length in
 * *len. NULL on failure (the test should fail). Leaves the OpenSSL error
 * queue empty. */
unsigned char *pki_make_response(const pki_resp_opts *o, size_t *len);

/* cmocka group setup/teardown for test files built on this PKI: APR and
 * the PKI come up once per binary and go at its end. */
int pki_group_setup(void **state);
int pki_group_teardown(void **state);

#endif
