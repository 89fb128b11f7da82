/* Unit tests for ocsp_cert: parsing what mod_ssl hands to the prime hook,
 * the facts shown to admins, and the OCSP request we send. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "ocsp_cert.h"
#include "helper_pki.h"

static int test_setup(void **state)
{
    apr_pool_t *p = NULL;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return -1;
    *state = p;
    return 0;
}

static int test_teardown(void **state)
{
    apr_pool_destroy(*state);
    /* Every test must leave the OpenSSL error queue empty. */
    return ERR_peek_error() == 0 ? 0 : -1;
}

static ocsp_cert *parse_leaf(apr_pool_t *p, pki_leaf leaf)
{
    char *pem = pki_leaf_pem(leaf);
    ocsp_cert *c = NULL;
    const char *err = NULL;
    apr_status_t rv;

    assert_non_null(pem);
    rv = ocsp_cert_from_pem(&c, pem, p, &err);
    free(pem);
    if (rv != APR_SUCCESS)
        fail_msg("ocsp_cert_from_pem: %s", err ? err : "(no message)");
    assert_int_equal(ERR_peek_error(), 0);
    assert_non_null(c);
    return c;
}

static void expect_pem_error(apr_pool_t *p, const char *pem,
                             const char *in_message)
{
    ocsp_cert *c = (ocsp_cert *)1;
    const char *err = NULL;

    assert_int_not_equal(ocsp_cert_from_pem(&c, pem, p, &err), APR_SUCCESS);
    assert_null(c);
    assert_non_null(err);
    if (in_message && strstr(err, in_message) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", err, in_message);
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_parse_rsa_two_urls(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = parse_leaf(p, PKI_LEAF_RSA);

    assert_non_null(c->leaf);
    assert_non_null(c->issuer);
    assert_non_null(c->certid);
    assert_int_equal(X509_cmp(c->leaf, pki_leaf_cert(PKI_LEAF_RSA)), 0);
    assert_int_equal(X509_cmp(c->issuer, pki_issuer()), 0);
    assert_int_equal(c->ocsp_urls->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(c->ocsp_urls, 0, const char *),
                        PKI_URL_RSA_1);
    assert_string_equal(APR_ARRAY_IDX(c->ocsp_urls, 1, const char *),
                        PKI_URL_RSA_2);
    assert_int_equal(c->must_staple, 0);
    assert_string_equal(c->subject, PKI_SUBJECT_RSA);
    assert_string_equal(c->serial_hex, PKI_SERIAL_RSA_HEX);
    assert_int_equal(c->not_after, pki_not_after());
}

static void test_parse_ec(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = parse_leaf(p, PKI_LEAF_EC);

    assert_int_equal(c->ocsp_urls->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(c->ocsp_urls, 0, const char *),
                        PKI_URL_EC);
    assert_int_equal(c->must_staple, 0);
    assert_string_equal(c->subject, PKI_SUBJECT_EC);
    /* Leading zero byte kept: same as `openssl x509 -serial`. */
    assert_string_equal(c->serial_hex, PKI_SERIAL_EC_HEX);
}

static void test_parse_must_staple(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = parse_leaf(p, PKI_LEAF_MUST_STAPLE);

    assert_int_equal(c->must_staple, 1);
    assert_int_equal(c->ocsp_urls->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(c->ocsp_urls, 0, const char *),
                        PKI_URL_MS);
}

static void test_parse_no_aia(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = parse_leaf(p, PKI_LEAF_NO_AIA);

    assert_non_null(c->ocsp_urls);
    assert_int_equal(c->ocsp_urls->nelts, 0);
    assert_int_equal(c->must_staple, 0);
    assert_non_null(c->certid);
}

static void test_certid_is_sha1_of_leaf(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = parse_leaf(p, PKI_LEAF_RSA);
    OCSP_CERTID *want = OCSP_cert_to_id(NULL, pki_leaf_cert(PKI_LEAF_RSA),
                                        pki_issuer());
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *serial = NULL;

    assert_non_null(want);
    assert_int_equal(OCSP_id_cmp(c->certid, want), 0);
    assert_true(OCSP_id_get0_info(NULL, &md, NULL, &serial, c->certid));
    assert_int_equal(OBJ_obj2nid(md), NID_sha1);
    assert_int_equal(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(
                         pki_leaf_cert(PKI_LEAF_RSA))), 0);
    OCSP_CERTID_free(want);
}

static void test_pem_only_leaf(void **state)
{
    apr_pool_t *p = *state;
    char *pem = pki_pem_pair(pki_leaf_cert(PKI_LEAF_RSA), NULL);

    assert_non_null(pem);
    expect_pem_error(p, pem, "issuer");
    free(pem);
}

static void test_pem_garbage(void **state)
{
    apr_pool_t *p = *state;

    expect_pem_error(p, "this is not PEM at all\n", "no certificate");
    expect_pem_error(p, "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n"
                        "-----END CERTIFICATE-----\n", NULL);
    expect_pem_error(p, "", NULL);
    expect_pem_error(p, NULL, NULL);
}

static void test_pem_leaf_then_garbage(void **state)
{
    apr_pool_t *p = *state;
    char *pem = pki_pem_pair(pki_leaf_cert(PKI_LEAF_RSA), NULL);
    char *both;

    assert_non_null(pem);
    both = malloc(strlen(pem) + 64);
    assert_non_null(both);
    strcpy(both, pem);
    strcat(both, "-----BEGIN CERTIFICATE-----\nnope\n"
                 "-----END CERTIFICATE-----\n");
    expect_pem_error(p, both, "issuer");
    free(both);
    free(pem);
}

static void test_pem_wrong_issuer(void **state)
{
    apr_pool_t *p = *state;
    char *pem = pki_pem_pair(pki_leaf_cert(PKI_LEAF_RSA), pki_other_ca());

    assert_non_null(pem);
    expect_pem_error(p, pem, "did not issue");
    free(pem);
}

static void test_from_x509_takes_references(void **state)
{
    apr_pool_t *p = *state;
    apr_pool_t *sub = NULL;
    static const char *const urls[] = { "http://a.test/", "http://b.test/",
                                        "http://c.test/" };
    X509 *leaf = pki_make_leaf("tmp.example.test", 0x77, urls, 3, 1);
    X509 *issuer = X509_dup(pki_issuer());
    ocsp_cert *c = NULL;
    const char *err = NULL;

    assert_non_null(leaf);
    assert_non_null(issuer);
    assert_int_equal(apr_pool_create(&sub, p), APR_SUCCESS);
    assert_int_equal(ocsp_cert_from_x509(&c, leaf, issuer, sub, &err),
                     APR_SUCCESS);
    /* Drop ours: the pool keeps the certificates alive. */
    X509_free(leaf);
    X509_free(issuer);
    assert_int_equal(c->ocsp_urls->nelts, 3);
    assert_string_equal(APR_ARRAY_IDX(c->ocsp_urls, 2, const char *),
                        "http://c.test/");
    assert_int_equal(c->must_staple, 1);
    assert_string_equal(c->serial_hex, "77");
    assert_string_equal(c->subject,
                        "CN=tmp.example.test,O=mod_ocspstaple test");
    assert_non_null(X509_get_subject_name(c->leaf));
    /* LeakSanitizer checks that the pool cleanup frees the last refs. */
    apr_pool_destroy(sub);
}

static void test_from_x509_missing_issuer(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = NULL;
    const char *err = NULL;

    assert_int_not_equal(ocsp_cert_from_x509(&c, pki_leaf_cert(PKI_LEAF_EC),
                                             NULL, p, &err), APR_SUCCESS);
    assert_null(c);
    assert_non_null(err);
    assert_non_null(strstr(err, "issuer"));
}

static void test_request_der(void **state)
{
    apr_pool_t *p = *state;
    ocsp_cert *c = parse_leaf(p, PKI_LEAF_RSA);
    unsigned char *der = NULL;
    apr_size_t len = 0;
    const unsigned char *q;
    OCSP_REQUEST *req;
    OCSP_ONEREQ *one;

    assert_int_equal(ocsp_cert_request_der(c, &der, &len, p), APR_SUCCESS);
    assert_non_null(der);
    assert_true(len > 20);
    /* RFC 5019 GET needs it small: one SHA-1 CertID, nothing else. */
    assert_true(len < 255);
    q = der;
    req = d2i_OCSP_REQUEST(NULL, &q, (long)len);
    assert_non_null(req);
    assert_ptr_equal(q, der + len);
    assert_int_equal(OCSP_request_onereq_count(req), 1);
    one = OCSP_request_onereq_get0(req, 0);
    assert_non_null(one);
    assert_int_equal(OCSP_id_cmp(OCSP_onereq_get0_id(one), c->certid), 0);
    /* No nonce, no extensions at all, unsigned. */
    assert_true(OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1)
                < 0);
    assert_int_equal(OCSP_REQUEST_get_ext_count(req), 0);
    assert_int_equal(OCSP_request_is_signed(req), 0);
    OCSP_REQUEST_free(req);

    /* Deterministic: the same bytes every time (caches key on them). */
    {
        unsigned char *der2 = NULL;
        apr_size_t len2 = 0;
        assert_int_equal(ocsp_cert_request_der(c, &der2, &len2, p),
                         APR_SUCCESS);
        assert_int_equal(len2, len);
        assert_memory_equal(der2, der, len);
    }
}

static void test_request_der_bad_args(void **state)
{
    apr_pool_t *p = *state;
    unsigned char *der = (unsigned char *)1;
    apr_size_t len = 1;

    assert_int_not_equal(ocsp_cert_request_der(NULL, &der, &len, p),
                         APR_SUCCESS);
    assert_null(der);
    assert_int_equal(len, 0);
}

/* How many issuers the table holds (it may know one by several keys). */
static int distinct_issuers(apr_hash_t *issuers)
{
    apr_pool_t *p = apr_hash_pool_get(issuers);
    apr_hash_t *seen = apr_hash_make(p);
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, issuers); hi; hi = apr_hash_next(hi)) {
        void *v = apr_hash_this_val(hi);
        apr_hash_set(seen, apr_pmemdup(p, &v, sizeof(v)), sizeof(v), v);
    }
    return (int)apr_hash_count(seen);
}

/* Leaves of one CA share one parsed issuer; it outlives neither of them
 * (ASan/LSan check the references). */
static void test_shared_issuer(void **state)
{
    apr_pool_t *p = *state;
    apr_hash_t *issuers = apr_hash_make(p);
    char *pem_rsa = pki_leaf_pem(PKI_LEAF_RSA), *pem_ec = pki_leaf_pem(PKI_LEAF_EC);
    ocsp_cert *a = NULL, *b = NULL, *c = NULL;
    const char *err = NULL;

    assert_int_equal(ocsp_cert_from_pem_shared(&a, pem_rsa, issuers, p, &err),
                     APR_SUCCESS);
    assert_int_equal(ocsp_cert_from_pem_shared(&b, pem_ec, issuers, p, &err),
                     APR_SUCCESS);
    assert_ptr_equal(a->issuer, b->issuer);
    assert_int_equal(distinct_issuers(issuers), 1);
    /* without the table, each parse has its own */
    assert_int_equal(ocsp_cert_from_pem(&c, pem_rsa, p, &err), APR_SUCCESS);
    assert_ptr_not_equal(c->issuer, a->issuer);
    assert_int_equal(X509_cmp(c->issuer, a->issuer), 0);
    free(pem_rsa);
    free(pem_ec);
}


/* The leaf is parsed without its public key (issue 14: OpenSSL 3.0 spends
 * most of a parse on the key); everything taken from it is the same as
 * from a full parse, and so is the certificate itself. */
static void test_keyless_leaf_same_facts(void **state)
{
    apr_pool_t *p = *state;
    pki_leaf leaves[] = { PKI_LEAF_RSA, PKI_LEAF_EC, PKI_LEAF_NO_AIA,
                          PKI_LEAF_MUST_STAPLE };
    size_t k;

    for (k = 0; k < sizeof(leaves) / sizeof(leaves[0]); k++) {
        X509 *orig = pki_leaf_cert(leaves[k]);
        ocsp_cert *light = parse_leaf(p, leaves[k]), *full = NULL;
        const char *err = NULL;
        unsigned char *d1 = NULL, *d2 = NULL, *r1 = NULL, *r2 = NULL;
        unsigned char md1[20], md2[20];
        apr_size_t l1 = 0, l2 = 0;
        int n1, n2, i;

        assert_int_equal(ocsp_cert_from_x509(&full, orig, pki_issuer(), p,
                                             &err), APR_SUCCESS);
        /* no key in the light one; asking for it leaves a note, dropped */
        ERR_set_mark();
        assert_null(X509_get0_pubkey(light->leaf));
        ERR_pop_to_mark();
        assert_non_null(X509_get0_pubkey(full->leaf));
        /* the same certificate, byte for byte, and the same SHA-1 (mod_ssl's
         * id, the store file's name) */
        n1 = i2d_X509(light->leaf, &d1);
        n2 = i2d_X509(orig, &d2);
        assert_true(n1 > 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(d1, d2, (size_t)n1);
        OPENSSL_free(d1);
        OPENSSL_free(d2);
        assert_true(X509_digest(light->leaf, EVP_sha1(), md1, NULL));
        assert_true(X509_digest(orig, EVP_sha1(), md2, NULL));
        assert_memory_equal(md1, md2, sizeof(md1));
        assert_int_equal(X509_cmp(light->leaf, orig), 0);
        /* the facts */
        assert_string_equal(light->subject, full->subject);
        assert_string_equal(light->serial_hex, full->serial_hex);
        assert_int_equal(light->must_staple, full->must_staple);
        assert_int_equal(light->not_after, full->not_after);
        assert_int_equal(light->ocsp_urls->nelts, full->ocsp_urls->nelts);
        for (i = 0; i < light->ocsp_urls->nelts; i++)
            assert_string_equal(APR_ARRAY_IDX(light->ocsp_urls, i,
                                              const char *),
                                APR_ARRAY_IDX(full->ocsp_urls, i,
                                              const char *));
        assert_int_equal(OCSP_id_cmp(light->certid, full->certid), 0);
        /* a SHA-256 CertID (what ocsp_verify computes from the leaf) */
        {
            OCSP_CERTID *a = OCSP_cert_to_id(EVP_sha256(), light->leaf,
                                             light->issuer);
            OCSP_CERTID *b = OCSP_cert_to_id(EVP_sha256(), orig,
                                             pki_issuer());
            assert_non_null(a);
            assert_non_null(b);
            assert_int_equal(OCSP_id_cmp(a, b), 0);
            OCSP_CERTID_free(a);
            OCSP_CERTID_free(b);
        }
        assert_int_equal(ocsp_cert_request_der(light, &r1, &l1, p),
                         APR_SUCCESS);
        assert_int_equal(ocsp_cert_request_der(full, &r2, &l2, p),
                         APR_SUCCESS);
        assert_int_equal(l1, l2);
        assert_memory_equal(r1, r2, l1);
        /* the issuer check still runs on a light leaf */
        assert_int_equal(X509_check_issued(light->issuer, light->leaf),
                         X509_V_OK);
        assert_int_not_equal(X509_check_issued(pki_other_ca(), light->leaf),
                             X509_V_OK);
        ERR_clear_error();
    }
}

/* What the certificates of one issuer share: one ocsp_issuer (parsed
 * issuer, store); unshared certificates have none. */
static void test_shared_issuer_context(void **state)
{
    apr_pool_t *p = *state;
    apr_hash_t *issuers = apr_hash_make(p);
    char *pem_rsa = pki_leaf_pem(PKI_LEAF_RSA);
    char *pem_ec = pki_leaf_pem(PKI_LEAF_EC);
    char *pem_other = pki_pem_pair(pki_signer_cert(
                                       PKI_SIGNER_DELEGATED_OTHER_CA),
                                   pki_other_ca());
    ocsp_cert *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    const char *err = NULL;
    X509_STORE *st;

    assert_int_equal(ocsp_cert_from_pem_shared(&a, pem_rsa, issuers, p, &err),
                     APR_SUCCESS);
    assert_int_equal(ocsp_cert_from_pem_shared(&b, pem_ec, issuers, p, &err),
                     APR_SUCCESS);
    assert_int_equal(ocsp_cert_from_pem_shared(&d, pem_other, issuers, p,
                                               &err), APR_SUCCESS);
    assert_int_equal(ocsp_cert_from_pem(&c, pem_rsa, p, &err), APR_SUCCESS);
    assert_non_null(a->shared);
    assert_ptr_equal(a->shared, b->shared);
    assert_non_null(d->shared);
    assert_ptr_not_equal(d->shared, a->shared);
    assert_null(c->shared);
    assert_int_equal(distinct_issuers(issuers), 2);
    st = ocsp_issuer_store(a->shared);
    assert_non_null(st);
    X509_STORE_free(st);
    assert_non_null(ocsp_issuer_keyless(a->shared));
    assert_null(ocsp_issuer_store(NULL));
    free(pem_rsa);
    free(pem_ec);
    free(pem_other);
}

/* Responder certificates remembered per issuer: found again by their DER,
 * at most four, the oldest goes first. */
static void test_signers_remembered(void **state)
{
    apr_pool_t *p = *state;
    apr_hash_t *issuers = apr_hash_make(p);
    char *pem = pki_leaf_pem(PKI_LEAF_RSA);
    ocsp_cert *c = NULL;
    const char *err = NULL;
    X509 *certs[6], *got;
    int i, known;

    assert_int_equal(ocsp_cert_from_pem_shared(&c, pem, issuers, p, &err),
                     APR_SUCCESS);
    free(pem);
    for (i = 0; i < 6; i++) {
        char cn[32];
        snprintf(cn, sizeof(cn), "signer%d.example.test", i);
        certs[i] = pki_make_leaf(cn, 0x500 + i, NULL, 0, 0);
        assert_non_null(certs[i]);
    }
    /* not known: parsed in full from its DER, a new certificate */
    got = ocsp_issuer_signer(c->shared, certs[0], &known);
    assert_non_null(got);
    assert_int_equal(known, 0);
    assert_ptr_not_equal(got, certs[0]);
    assert_int_equal(X509_cmp(got, certs[0]), 0);
    assert_non_null(X509_get0_pubkey(got));
    ocsp_issuer_remember(c->shared, got);
    ocsp_issuer_remember(c->shared, got);      /* once is enough */
    X509_free(got);
    got = ocsp_issuer_signer(c->shared, certs[0], &known);
    assert_int_equal(known, 1);
    X509_free(got);
    for (i = 1; i < 6; i++)
        ocsp_issuer_remember(c->shared, certs[i]);
    for (i = 0; i < 6; i++) {
        got = ocsp_issuer_signer(c->shared, certs[i], &known);
        assert_non_null(got);
        /* four kept: 2..5 (0 and 1 went first) */
        assert_int_equal(known, i >= 2);
        X509_free(got);
    }
    for (i = 0; i < 6; i++)
        X509_free(certs[i]);
    assert_null(ocsp_issuer_signer(c->shared, NULL, &known));
    assert_int_equal(known, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_parse_rsa_two_urls),
        T(test_shared_issuer),
        T(test_parse_ec),
        T(test_parse_must_staple),
        T(test_parse_no_aia),
        T(test_certid_is_sha1_of_leaf),
        T(test_pem_only_leaf),
        T(test_pem_garbage),
        T(test_pem_leaf_then_garbage),
        T(test_pem_wrong_issuer),
        T(test_from_x509_takes_references),
        T(test_from_x509_missing_issuer),
        T(test_request_der),
        T(test_request_der_bad_args),
        T(test_keyless_leaf_same_facts),
        T(test_shared_issuer_context),
        T(test_signers_remembered),
    };

    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
