/* helper_pki: in-memory test PKI and OCSP response builder. See
 * helper_pki.h. Every function is pki_-prefixed (static ones too) so that
 * nothing clashes with the other helper_*.c files linked alongside. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <apr_general.h>

#include "helper_pki.h"

#define PKI_VALIDITY_BEFORE (24L * 3600)      /* notBefore = build - 1 day */
#define PKI_VALIDITY_AFTER  (30L * 24 * 3600) /* notAfter = build + 30 days */

/* The cache: key generation is what makes a PKI slow, so build it once per
 * test binary. */
static struct {
    int built;
    long long not_after;
    EVP_PKEY *root_key, *issuer_key, *other_ca_key;
    X509 *root, *issuer, *other_ca;
    EVP_PKEY *signer_key[PKI_SIGNER_COUNT];
    X509 *signer[PKI_SIGNER_COUNT];
    EVP_PKEY *leaf_key[PKI_LEAF_COUNT];
    X509 *leaf[PKI_LEAF_COUNT];
} pki_state;

typedef struct {
    int nid;
    const char *value;
} pki_ext;

static X509_NAME *pki_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();

    if (n == NULL
        || !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                                       (const unsigned char *)
                                       "mod_ocspstaple test", -1, -1, 0)
        || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                       (const unsigned char *)cn, -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* A v3 certificate for key, named cn, signed by ca/ca_key (self-signed when
 * ca is NULL), with the given extensions (terminated by nid 0). */
static X509 *pki_cert(const char *cn, EVP_PKEY *key, long long serial,
                      X509 *ca, EVP_PKEY *ca_key, const pki_ext *exts)
{
    X509 *x = X509_new();
    X509_NAME *name = pki_name(cn);
    X509V3_CTX ctx;
    time_t base = (time_t)(pki_state.not_after - PKI_VALIDITY_AFTER);
    int ok = 0;

    if (x == NULL || name == NULL)
        goto done;
    if (!X509_set_version(x, 2)
        || !ASN1_INTEGER_set_int64(X509_get_serialNumber(x), serial)
        || !X509_set_subject_name(x, name)
        || !X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name)
        || !ASN1_TIME_set(X509_getm_notBefore(x), base - PKI_VALIDITY_BEFORE)
        || !ASN1_TIME_set(X509_getm_notAfter(x), base + PKI_VALIDITY_AFTER)
        || !X509_set_pubkey(x, key))
        goto done;
    X509V3_set_ctx(&ctx, ca ? ca : x, x, NULL, NULL, 0);
    for (; exts && exts->nid; exts++) {
        X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, exts->nid,
                                                 exts->value);
        int added = e && X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        if (!added)
            goto done;
    }
    if (!X509_sign(x, ca ? ca_key : key, EVP_sha256()))
        goto done;
    ok = 1;
done:
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* Same subject as `like`, self-signed by key: an impostor CA. */
static X509 *pki_cert_named_like(X509 *like, EVP_PKEY *key, long long serial)
{
    static const pki_ext impostor_exts[] = {
        { NID_basic_constraints, "critical,CA:TRUE" },
        { NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature" },
        { NID_subject_key_identifier, "hash" },
        { 0, NULL }
    };
    X509 *x = pki_cert("impostor", key, serial, NULL, NULL, impostor_exts);

    /* Re-sign with the borrowed names in place. */
    if (x == NULL
        || !X509_set_subject_name(x, X509_get_subject_name(like))
        || !X509_set_issuer_name(x, X509_get_subject_name(like))
        || !X509_sign(x, key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* A CA certificate's extensions. */
static const pki_ext ca_exts[] = {
    { NID_basic_constraints, "critical,CA:TRUE" },
    { NID_key_usage, "critical,keyCertSign,cRLSign" },
    { NID_subject_key_identifier, "hash" },
    { NID_authority_key_identifier, "keyid:always" },
    { 0, NULL }
};

/* A delegated OCSP responder certificate's extensions. */
static const pki_ext ocsp_exts[] = {
    { NID_basic_constraints, "critical,CA:FALSE" },
    { NID_key_usage, "critical,digitalSignature" },
    { NID_ext_key_usage, "OCSPSigning" },
    { NID_id_pkix_OCSP_noCheck, "ignored" },
    { NID_subject_key_identifier, "hash" },
    { NID_authority_key_identifier, "keyid:always" },
    { 0, NULL }
};

int pki_init(void)
{
    static const pki_ext no_eku_exts[] = {
        { NID_basic_constraints, "critical,CA:FALSE" },
        { NID_key_usage, "critical,digitalSignature" },
        { NID_ext_key_usage, "serverAuth" },
        { NID_subject_key_identifier, "hash" },
        { NID_authority_key_identifier, "keyid:always" },
        { 0, NULL }
    };
    static const pki_ext stranger_exts[] = {
        { NID_basic_constraints, "critical,CA:FALSE" },
        { NID_key_usage, "critical,digitalSignature" },
        { NID_ext_key_usage, "OCSPSigning" },
        { 0, NULL }
    };
    static const char *const ec_urls[] = { PKI_URL_EC };
    static const char *const ms_urls[] = { PKI_URL_MS };
    int i;

    if (pki_state.built)
        return 0;
    pki_state.not_after = (long long)time(NULL) + PKI_VALIDITY_AFTER;

    /* P-256 everywhere except where RSA is the point: the RSA leaf, and the
     * intermediate so that issuer-signed responses exercise RSA too. */
    pki_state.root_key = EVP_EC_gen("P-256");
    pki_state.issuer_key = EVP_RSA_gen(2048);
    pki_state.other_ca_key = EVP_EC_gen("P-256");
    if (!pki_state.root_key || !pki_state.issuer_key
        || !pki_state.other_ca_key)
        goto fail;
    pki_state.root = pki_cert("Test Root CA", pki_state.root_key, 1, NULL,
                              NULL, ca_exts);
    pki_state.issuer = pki_cert("Test Intermediate CA", pki_state.issuer_key,
                                2, pki_state.root, pki_state.root_key,
                                ca_exts);
    pki_state.other_ca = pki_cert("Other Test CA", pki_state.other_ca_key, 3,
                                  NULL, NULL, ca_exts);
    if (!pki_state.root || !pki_state.issuer || !pki_state.other_ca)
        goto fail;

    for (i = 0; i < PKI_SIGNER_COUNT; i++) {
        switch ((pki_signer)i) {
        case PKI_SIGNER_ISSUER:
            pki_state.signer_key[i] = pki_state.issuer_key;
            pki_state.signer[i] = pki_state.issuer;
            break;
        case PKI_SIGNER_ROOT:
            pki_state.signer_key[i] = pki_state.root_key;
            pki_state.signer[i] = pki_state.root;
            break;
        default:
            pki_state.signer_key[i] = EVP_EC_gen("P-256");
            if (pki_state.signer_key[i] == NULL)
                goto fail;
            break;
        }
        /* The shared keys and certificates get their own references so that
         * pki_cleanup can free every slot alike. */
        if (i == PKI_SIGNER_ISSUER || i == PKI_SIGNER_ROOT) {
            EVP_PKEY_up_ref(pki_state.signer_key[i]);
            X509_up_ref(pki_state.signer[i]);
        }
    }
    pki_state.signer[PKI_SIGNER_DELEGATED] =
        pki_cert("Test OCSP Responder",
                 pki_state.signer_key[PKI_SIGNER_DELEGATED], 100, pki_state.issuer, pki_state.issuer_key, ocsp_exts);
    pki_state.signer[PKI_SIGNER_DELEGATED_NO_EKU] =
        pki_cert("Test OCSP Responder without EKU",
                 pki_state.signer_key[PKI_SIGNER_DELEGATED_NO_EKU],
                 101, pki_state.issuer, pki_state.issuer_key, no_eku_exts);
    pki_state.signer[PKI_SIGNER_DELEGATED_OTHER_CA] =
        pki_cert("Other CA OCSP Responder",
                 pki_state.signer_key[PKI_SIGNER_DELEGATED_OTHER_CA],
                 102, pki_state.other_ca, pki_state.other_ca_key, ocsp_exts);
    pki_state.signer[PKI_SIGNER_STRANGER] =
        pki_cert("Stranger", pki_state.signer_key[PKI_SIGNER_STRANGER], 103,
                 NULL, NULL, stranger_exts);
    pki_state.signer[PKI_SIGNER_IMPOSTOR] =
        pki_cert_named_like(pki_state.issuer,
                            pki_state.signer_key[PKI_SIGNER_IMPOSTOR], 104);
    for (i = 0; i < PKI_SIGNER_COUNT; i++)
        if (pki_state.signer[i] == NULL)
            goto fail;

    pki_state.leaf_key[PKI_LEAF_RSA] = EVP_RSA_gen(2048);
    pki_state.leaf_key[PKI_LEAF_EC] = EVP_EC_gen("P-256");
    if (!pki_state.leaf_key[PKI_LEAF_RSA] || !pki_state.leaf_key[PKI_LEAF_EC])
        goto fail;
    for (i = PKI_LEAF_NO_AIA; i < PKI_LEAF_COUNT; i++) {
        EVP_PKEY_up_ref(pki_state.leaf_key[PKI_LEAF_EC]);
        pki_state.leaf_key[i] = pki_state.leaf_key[PKI_LEAF_EC];
    }
    /* Mark as built now: pki_make_leaf needs the issuer and the EC key. */
    pki_state.built = 1;
    {
        static const pki_ext leaf_exts[] = {
            { NID_basic_constraints, "critical,CA:FALSE" },
            { NID_key_usage, "critical,digitalSignature,keyEncipherment" },
            { NID_ext_key_usage, "serverAuth" },
            { NID_subject_alt_name, "DNS:rsa.example.test" },
            { NID_info_access, "OCSP;URI:" PKI_URL_RSA_1 ",OCSP;URI:"
                               PKI_URL_RSA_2 ",caIssuers;URI:"
                               "http://127.0.0.1:9/issuer.der" },
            { NID_subject_key_identifier, "hash" },
            { NID_authority_key_identifier, "keyid:always" },
            { 0, NULL }
        };
        pki_state.leaf[PKI_LEAF_RSA] =
            pki_cert("rsa.example.test", pki_state.leaf_key[PKI_LEAF_RSA],
                     PKI_SERIAL_RSA, pki_state.issuer, pki_state.issuer_key,
                     leaf_exts);
    }
    pki_state.leaf[PKI_LEAF_EC] =
        pki_make_leaf("ec.example.test", PKI_SERIAL_EC, ec_urls, 1, 0);
    pki_state.leaf[PKI_LEAF_NO_AIA] =
        pki_make_leaf("noaia.example.test", PKI_SERIAL_NO_AIA, NULL, 0, 0);
    pki_state.leaf[PKI_LEAF_MUST_STAPLE] =
        pki_make_leaf("muststaple.example.test", PKI_SERIAL_MUST_STAPLE,
                      ms_urls, 1, 1);
    for (i = 0; i < PKI_LEAF_COUNT; i++)
        if (pki_state.leaf[i] == NULL)
            goto fail;
    ERR_clear_error();
    return 0;

fail:
    pki_cleanup();
    ERR_clear_error();
    return -1;
}

void pki_cleanup(void)
{
    int i;

    for (i = 0; i < PKI_SIGNER_COUNT; i++) {
        X509_free(pki_state.signer[i]);
        EVP_PKEY_free(pki_state.signer_key[i]);
    }
    for (i = 0; i < PKI_LEAF_COUNT; i++) {
        X509_free(pki_state.leaf[i]);
        EVP_PKEY_free(pki_state.leaf_key[i]);
    }
    X509_free(pki_state.root);
    X509_free(pki_state.issuer);
    X509_free(pki_state.other_ca);
    EVP_PKEY_free(pki_state.root_key);
    EVP_PKEY_free(pki_state.issuer_key);
    EVP_PKEY_free(pki_state.other_ca_key);
    memset(&pki_state, 0, sizeof(pki_state));
}

X509 *pki_root(void)           { return pki_state.root; }
X509 *pki_issuer(void)         { return pki_state.issuer; }
EVP_PKEY *pki_issuer_key(void) { return pki_state.issuer_key; }
X509 *pki_other_ca(void)       { return pki_state.other_ca; }
long long pki_not_after(void)  { return pki_state.not_after; }

X509 *pki_leaf_cert(pki_leaf leaf)
{
    return (unsigned)leaf < PKI_LEAF_COUNT ? pki_state.leaf[leaf] : NULL;
}

EVP_PKEY *pki_leaf_key(pki_leaf leaf)
{
    return (unsigned)leaf < PKI_LEAF_COUNT ? pki_state.leaf_key[leaf] : NULL;
}

X509 *pki_signer_cert(pki_signer s)
{
    return (unsigned)s < PKI_SIGNER_COUNT ? pki_state.signer[s] : NULL;
}

EVP_PKEY *pki_signer_key(pki_signer s)
{
    return (unsigned)s < PKI_SIGNER_COUNT ? pki_state.signer_key[s] : NULL;
}

X509 *pki_make_leaf(const char *cn, long long serial,
                    const char *const *ocsp_urls, size_t n_urls,
                    int must_staple)
{
    pki_ext exts[8];
    char *aia = NULL, *san = NULL;
    size_t i, k = 0, need = 1;
    X509 *x;

    if (!pki_state.built || cn == NULL)
        return NULL;
    for (i = 0; i < n_urls; i++)
        need += strlen(ocsp_urls[i]) + sizeof("OCSP;URI:,");
    aia = malloc(need);
    san = malloc(strlen(cn) + sizeof("DNS:"));
    if (aia == NULL || san == NULL) {
        free(aia);
        free(san);
        return NULL;
    }
    aia[0] = '\0';
    for (i = 0; i < n_urls; i++) {
        if (i)
            strcat(aia, ",");
        strcat(aia, "OCSP;URI:");
        strcat(aia, ocsp_urls[i]);
    }
    strcpy(san, "DNS:");
    strcat(san, cn);

    exts[k++] = (pki_ext){ NID_basic_constraints, "critical,CA:FALSE" };
    exts[k++] = (pki_ext){ NID_key_usage, "critical,digitalSignature" };
    exts[k++] = (pki_ext){ NID_ext_key_usage, "serverAuth" };
    exts[k++] = (pki_ext){ NID_subject_alt_name, san };
    if (n_urls)
        exts[k++] = (pki_ext){ NID_info_access, aia };
    if (must_staple)
        exts[k++] = (pki_ext){ NID_tlsfeature, "status_request" };
    exts[k++] = (pki_ext){ NID_authority_key_identifier, "keyid:always" };
    exts[k] = (pki_ext){ 0, NULL };

    x = pki_cert(cn, pki_state.leaf_key[PKI_LEAF_EC], serial,
                 pki_state.issuer, pki_state.issuer_key, exts);
    free(aia);
    free(san);
    ERR_clear_error();
    return x;
}

X509 *pki_make_ca(const char *cn, long long serial, EVP_PKEY *key, X509 *ca,
                  EVP_PKEY *ca_key)
{
    X509 *x = pki_cert(cn, key, serial, ca, ca_key, ca_exts);
    ERR_clear_error();
    return x;
}

X509 *pki_make_responder(const char *cn, long long serial, EVP_PKEY *key,
                         X509 *ca, EVP_PKEY *ca_key, long long not_after)
{
    X509 *x = pki_cert(cn, key, serial, ca, ca_key, ocsp_exts);

    if (x && not_after
        && (!ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after)
            || !X509_sign(x, ca_key, EVP_sha256()))) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

char *pki_pem_pair(X509 *leaf, X509 *issuer)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n;

    if (bio == NULL)
        return NULL;
    if ((leaf == NULL || PEM_write_bio_X509(bio, leaf))
        && (issuer == NULL || PEM_write_bio_X509(bio, issuer))) {
        n = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)n + 1);
        if (out) {
            if (n > 0)
                memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

char *pki_leaf_pem(pki_leaf leaf)
{
    return pki_pem_pair(pki_leaf_cert(leaf), pki_state.issuer);
}

void pki_resp_opts_init(pki_resp_opts *o, pki_leaf leaf, long long now)
{
    memset(o, 0, sizeof(*o));
    o->cert = pki_leaf_cert(leaf);
    o->cert_status = V_OCSP_CERTSTATUS_GOOD;
    o->revocation_reason = -1;
    o->revoked_offset = -86400;
    o->now = now ? now : (long long)time(NULL);
    o->this_update_offset = -60;
    o->has_next_update = 1;
    o->next_update_offset = 3600;
    o->signer = PKI_SIGNER_ISSUER;
    o->include_signer_cert = -1;
    o->response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
}

/* Adds one SingleResponse about `cert` (CertID with md) to bs. */
static int pki_add_single(OCSP_BASICRESP *bs, const EVP_MD *md, X509 *cert,
                          const pki_resp_opts *o)
{
    OCSP_CERTID *id = OCSP_cert_to_id(md, cert, o->certid_issuer
                                                ? o->certid_issuer
                                                : pki_state.issuer);
    ASN1_TIME *thisupd = ASN1_GENERALIZEDTIME_set(NULL,
                                   (time_t)(o->now + o->this_update_offset));
    ASN1_TIME *nextupd = NULL, *revtime = NULL;
    int ok = 0;

    if (o->has_next_update)
        nextupd = ASN1_GENERALIZEDTIME_set(NULL,
                                   (time_t)(o->now + o->next_update_offset));
    if (o->cert_status == V_OCSP_CERTSTATUS_REVOKED)
        revtime = ASN1_GENERALIZEDTIME_set(NULL,
                                   (time_t)(o->now + o->revoked_offset));
    if (id && thisupd && (nextupd || !o->has_next_update)
        && (revtime || o->cert_status != V_OCSP_CERTSTATUS_REVOKED))
        ok = OCSP_basic_add1_status(bs, id, o->cert_status,
                                    o->revocation_reason, revtime, thisupd,
                                    nextupd) != NULL;
    OCSP_CERTID_free(id);
    ASN1_TIME_free(thisupd);
    ASN1_TIME_free(nextupd);
    ASN1_TIME_free(revtime);
    return ok;
}

unsigned char *pki_make_response(const pki_resp_opts *o, size_t *len)
{
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    unsigned char *der = NULL, *out = NULL;
    const EVP_MD *md = o->certid_sha256 ? EVP_sha256() : EVP_sha1();
    unsigned long flags = 0;
    int n, include;

    *len = 0;
    if (!pki_state.built || o->cert == NULL)
        goto done;
    if (o->response_status != OCSP_RESPONSE_STATUS_SUCCESSFUL
        || o->omit_basic) {
        resp = OCSP_response_create(o->response_status, NULL);
    }
    else {
        X509 *other;

        if ((unsigned)o->signer >= PKI_SIGNER_COUNT)
            goto done;
        bs = OCSP_BASICRESP_new();
        if (bs == NULL)
            goto done;
        if (o->extra_single_first) {
            other = pki_state.leaf[o->cert == pki_state.leaf[PKI_LEAF_NO_AIA]
                                   ? PKI_LEAF_EC : PKI_LEAF_NO_AIA];
            if (!pki_add_single(bs, md, other, o))
                goto done;
        }
        if (!pki_add_single(bs, md, o->certid_cert ? o->certid_cert : o->cert,
                            o))
            goto done;
        include = o->include_signer_cert;
        if (include < 0)
            include = o->signer_cert || o->signer != PKI_SIGNER_ISSUER;
        if (!include)
            flags |= OCSP_NOCERTS;
        if (o->extra_cert && !OCSP_basic_add1_cert(bs, o->extra_cert))
            goto done;
        if (!OCSP_basic_sign(bs, o->signer_cert ? o->signer_cert
                                                : pki_state.signer[o->signer],
                             o->signer_key ? o->signer_key
                                           : pki_state.signer_key[o->signer],
                             EVP_sha256(), NULL, flags))
            goto done;
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    }
    if (resp == NULL)
        goto done;
    n = i2d_OCSP_RESPONSE(resp, &der);
    if (n <= 0)
        goto done;
    out = malloc((size_t)n);
    if (out) {
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
    }
done:
    OPENSSL_free(der);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return out;
}

int pki_group_setup(void **state)
{
    (void)state;
    if (apr_initialize() != APR_SUCCESS)
        return -1;
    return pki_init();
}

int pki_group_teardown(void **state)
{
    (void)state;
    pki_cleanup();
    apr_terminate();
    return 0;
}
