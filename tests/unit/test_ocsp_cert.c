/* Unit tests for ocsp_cert: parsing what mod_ssl hands to the prime hook,
 * the facts shown to admins, and the OCSP request we send. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <openssl/err.h>
#include <openssl/objects.h>

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
    assert_int_equal(apr_hash_count(issuers), 1);
    /* without the table, each parse has its own */
    assert_int_equal(ocsp_cert_from_pem(&c, pem_rsa, p, &err), APR_SUCCESS);
    assert_ptr_not_equal(c->issuer, a->issuer);
    assert_int_equal(X509_cmp(c->issuer, a->issuer), 0);
    free(pem_rsa);
    free(pem_ec);
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
    };

    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
