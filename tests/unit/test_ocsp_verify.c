/* Unit tests for ocsp_verify: every way a responder answer can be wrong maps
 * to its exact error class, and nothing is left in the OpenSSL error queue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_thread_proc.h>
#include <openssl/err.h>

#include "ocsp_cert.h"
#include "ocsp_verify.h"
#include "helper_pki.h"

typedef struct {
    apr_pool_t *pool;         /* per test */
    ocsp_cert *rsa;           /* PKI_LEAF_RSA */
    ocsp_cert *ec;            /* PKI_LEAF_EC */
    long long now;            /* pinned "now" of the test */
} fixture;

static int test_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    const char *err = NULL;

    if (f == NULL || apr_pool_create(&f->pool, NULL) != APR_SUCCESS)
        return -1;
    if (ocsp_cert_from_x509(&f->rsa, pki_leaf_cert(PKI_LEAF_RSA), pki_issuer(),
                            f->pool, &err) != APR_SUCCESS
        || ocsp_cert_from_x509(&f->ec, pki_leaf_cert(PKI_LEAF_EC),
                               pki_issuer(), f->pool, &err) != APR_SUCCESS) {
        print_error("fixture: %s\n", err ? err : "?");
        return -1;
    }
    /* "now" is pinned per test and passed to both the response builder and
     * the verifier; OpenSSL checks the signer certificates against the real
     * clock, which the PKI's validity (-1 day .. +30 days) covers. */
    f->now = (long long)time(NULL);
    *state = f;
    return 0;
}

/* The same certificates made as the module makes them (issue 14): from
 * mod_ssl's PEM, sharing the issuer, its store and the responder
 * certificates it has seen. Every test runs in both worlds. */
static int test_setup_shared(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    apr_hash_t *issuers;
    const char *err = NULL;
    char *rsa = pki_leaf_pem(PKI_LEAF_RSA), *ec = pki_leaf_pem(PKI_LEAF_EC);
    int ok;

    if (f == NULL || rsa == NULL || ec == NULL
        || apr_pool_create(&f->pool, NULL) != APR_SUCCESS) {
        free(rsa);
        free(ec);
        return -1;
    }
    issuers = apr_hash_make(f->pool);
    ok = ocsp_cert_from_pem_shared(&f->rsa, rsa, issuers, f->pool, &err)
             == APR_SUCCESS
         && ocsp_cert_from_pem_shared(&f->ec, ec, issuers, f->pool, &err)
             == APR_SUCCESS
         && f->rsa->shared && f->rsa->shared == f->ec->shared;
    free(rsa);
    free(ec);
    if (!ok) {
        print_error("fixture: %s\n", err ? err : "not shared");
        return -1;
    }
    f->now = (long long)time(NULL);
    *state = f;
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;

    apr_pool_destroy(f->pool);
    free(f);
    return 0;
}

static void params_at(ocsp_verify_params *vp, long long now)
{
    ocsp_verify_params_default(vp);
    vp->now = now;
}

/* Verifies raw bytes for cert, asserting an empty error queue afterwards. */
static ocsp_verify_error run_raw(fixture *f, const ocsp_cert *cert,
                                 const unsigned char *der, size_t len,
                                 const ocsp_verify_params *vp,
                                 ocsp_verify_result *res)
{
    ocsp_verify_error e = ocsp_verify_response(cert, der, len, vp, res,
                                               f->pool);

    /* OCSP_TEST_VERBOSE=1 shows the messages an operator would read. */
    if (getenv("OCSP_TEST_VERBOSE"))
        print_message("  %2d %s\n", (int)e,
                      res->message ? res->message : "(null)");
    assert_int_equal(ERR_peek_error(), 0);
    assert_int_equal(e, res->error);
    assert_non_null(res->message);
    return e;
}

/* Builds the response described by o and verifies it for cert. */
static ocsp_verify_error run(fixture *f, const ocsp_cert *cert,
                             const pki_resp_opts *o,
                             const ocsp_verify_params *vp,
                             ocsp_verify_result *res)
{
    size_t len = 0;
    unsigned char *der = pki_make_response(o, &len);
    ocsp_verify_error e;
    ocsp_verify_params def;

    assert_non_null(der);
    assert_int_equal(ERR_peek_error(), 0);
    if (vp == NULL) {
        params_at(&def, f->now);
        vp = &def;
    }
    e = run_raw(f, cert, der, len, vp, res);
    free(der);
    return e;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)",
                 needle);
}

/* ---- accepted answers ------------------------------------------------ */

static void test_good_by_issuer(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_string_equal(r.message, "ok");
    assert_int_equal(r.responder_status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
    assert_int_equal(r.cert_status, V_OCSP_CERTSTATUS_GOOD);
    assert_int_equal(r.revocation_reason, -1);
    assert_int_equal(r.revoked_at, 0);
    assert_int_equal(r.this_update, f->now - 60);
    assert_int_equal(r.next_update, f->now + 3600);
    assert_int_equal(r.has_next_update, 1);
    assert_int_equal(r.expired, 0);
    /* producedAt is set by OCSP_basic_sign from the real clock. */
    assert_true(r.produced_at >= f->now - 5 && r.produced_at <= f->now + 60);
}

static void test_good_by_issuer_ec_leaf(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_EC, f->now);
    assert_int_equal(run(f, f->ec, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.cert_status, V_OCSP_CERTSTATUS_GOOD);
}

static void test_good_by_issuer_with_cert_included(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.include_signer_cert = 1;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
}

static void test_good_by_delegated(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.cert_status, V_OCSP_CERTSTATUS_GOOD);
}

static void test_revoked(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.cert_status = V_OCSP_CERTSTATUS_REVOKED;
    o.revocation_reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE;
    o.revoked_offset = -7200;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.cert_status, V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(r.revocation_reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    assert_int_equal(r.revoked_at, f->now - 7200);
}

static void test_revoked_without_reason(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.cert_status = V_OCSP_CERTSTATUS_REVOKED;
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.cert_status, V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(r.revocation_reason, -1);
    assert_int_equal(r.revoked_at, f->now - 86400);
}

static void test_sha256_certid(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.certid_sha256 = 1;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
}

static void test_match_in_second_single(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.extra_single_first = 1;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    o.certid_sha256 = 1;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
}

static void test_default_params(void **state)
{
    fixture *f = *state;
    ocsp_verify_params vp;
    pki_resp_opts o;
    ocsp_verify_result r;
    long long t0 = (long long)time(NULL);

    ocsp_verify_params_default(&vp);
    assert_true(vp.now >= t0 && vp.now <= t0 + 5);
    assert_int_equal(vp.skew, 300);
    assert_int_equal(vp.expired_grace, 0);
    assert_int_equal(vp.no_next_update_max_age, 3600);
    assert_int_equal(vp.max_size, 65536);
    /* NULL params means the defaults. */
    pki_resp_opts_init(&o, PKI_LEAF_RSA, 0);
    {
        size_t len;
        unsigned char *der = pki_make_response(&o, &len);
        assert_non_null(der);
        assert_int_equal(run_raw(f, f->rsa, der, len, NULL, &r),
                         OCSP_VERIFY_OK);
        free(der);
    }
}

/* ---- signature and signer authorisation ------------------------------ */

static void expect_signature_error(fixture *f, pki_signer s, int include)
{
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = s;
    o.include_signer_cert = include;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_int_equal(r.responder_status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
    assert_int_equal(r.cert_status, -1);
}

static void test_stranger_signer(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    expect_signature_error(f, PKI_SIGNER_STRANGER, 1);
    expect_signature_error(f, PKI_SIGNER_STRANGER, 0);
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_STRANGER;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_contains(r.message, "not the issuer");
}

static void test_delegated_without_eku(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED_NO_EKU;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_contains(r.message, "id-kp-OCSPSigning");
}

static void test_delegated_other_ca(void **state)
{
    fixture *f = *state;

    expect_signature_error(f, PKI_SIGNER_DELEGATED_OTHER_CA, 1);
}

static void test_impostor_with_issuer_name(void **state)
{
    fixture *f = *state;

    expect_signature_error(f, PKI_SIGNER_IMPOSTOR, 1);
    expect_signature_error(f, PKI_SIGNER_IMPOSTOR, 0);
}

static void test_root_signer_not_authorised(void **state)
{
    fixture *f = *state;

    /* The issuer's own issuer has no say about the issuer's certificates. */
    expect_signature_error(f, PKI_SIGNER_ROOT, 1);
}

static void test_delegated_cert_not_included(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED;
    o.include_signer_cert = 0;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_contains(r.message, "signer certificate not found");
}

/* Flips the last byte of the signature value inside der (for ECDSA that is
 * the last byte of s: still well-formed, just wrong). */
static void flip_signature_byte(unsigned char *der, size_t len)
{
    const unsigned char *q = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
    const ASN1_OCTET_STRING *sig = bs ? OCSP_resp_get0_signature(bs) : NULL;
    const unsigned char *sv;
    int sl;
    size_t i;
    int done = 0;

    assert_non_null(sig);
    sv = ASN1_STRING_get0_data(sig);
    sl = ASN1_STRING_length(sig);
    assert_true(sl > 8);
    for (i = 0; i + (size_t)sl <= len; i++) {
        if (memcmp(der + i, sv, (size_t)sl) == 0) {
            der[i + (size_t)sl - 1] ^= 0x01;
            done = 1;
            break;
        }
    }
    assert_true(done);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
}

static void test_tampered_signature(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    size_t len;
    unsigned char *der;
    int signer;

    params_at(&vp, f->now);
    /* RSA signature (issuer) and ECDSA signature (delegated). */
    for (signer = 0; signer < 2; signer++) {
        pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
        o.signer = signer ? PKI_SIGNER_DELEGATED : PKI_SIGNER_ISSUER;
        der = pki_make_response(&o, &len);
        assert_non_null(der);
        assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r),
                         OCSP_VERIFY_OK);
        flip_signature_byte(der, len);
        assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r),
                         OCSP_VERIFY_SIGNATURE);
        assert_contains(r.message, "signature does not verify");
        free(der);
    }
}

static void test_tampered_signed_data(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    size_t len, i;
    unsigned char *der;
    unsigned char serial[] = { 0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F };
    int flipped = 0;

    params_at(&vp, f->now);
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    der = pki_make_response(&o, &len);
    assert_non_null(der);
    /* Change the serial inside the CertID (signed data). */
    for (i = 0; i + sizeof(serial) <= len; i++) {
        if (memcmp(der + i, serial, sizeof(serial)) == 0) {
            der[i + sizeof(serial) - 1] ^= 0x01;
            flipped = 1;
            break;
        }
    }
    assert_true(flipped);
    assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r),
                     OCSP_VERIFY_SIGNATURE);
    free(der);
}

/* ---- CertID ---------------------------------------------------------- */

static void test_certid_of_other_cert(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.certid_cert = pki_leaf_cert(PKI_LEAF_EC);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NO_MATCH);
    assert_contains(r.message, PKI_SERIAL_RSA_HEX);
    o.certid_sha256 = 1;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NO_MATCH);
    /* A valid answer about the EC leaf is no answer about the RSA leaf. */
    pki_resp_opts_init(&o, PKI_LEAF_EC, f->now);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NO_MATCH);
    assert_int_equal(run(f, f->ec, &o, NULL, &r), OCSP_VERIFY_OK);
}

/* ---- validity window ------------------------------------------------- */

static void test_this_update_future(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.this_update_offset = 1200;
    o.next_update_offset = 7200;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NOT_YET_VALID);
    assert_contains(r.message, "1200 s in the future");
    assert_int_equal(r.this_update, f->now + 1200);
    /* Just beyond the skew. */
    o.this_update_offset = 301;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NOT_YET_VALID);
}

static void test_this_update_future_within_skew(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.this_update_offset = 300;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    o.this_update_offset = 120;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
}

static void test_expired(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.this_update_offset = -86400;
    o.next_update_offset = -3600;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_EXPIRED);
    assert_contains(r.message, "3600 s in the past");
    assert_int_equal(r.next_update, f->now - 3600);
    assert_int_equal(r.has_next_update, 1);
    o.next_update_offset = -301;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_EXPIRED);
}

static void test_expired_within_skew(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.this_update_offset = -86400;
    o.next_update_offset = -300;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.expired, 0);
    o.next_update_offset = -10;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.expired, 0);
}

static void test_expired_within_grace(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;
    ocsp_verify_params vp;

    params_at(&vp, f->now);
    vp.expired_grace = 3600;
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.this_update_offset = -86400;
    o.next_update_offset = -1800;
    assert_int_equal(run(f, f->rsa, &o, &vp, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.expired, 1);
    /* Edge: exactly skew + grace in the past is still accepted. */
    o.next_update_offset = -3900;
    assert_int_equal(run(f, f->rsa, &o, &vp, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.expired, 1);
    /* Beyond skew + grace. */
    o.next_update_offset = -3901;
    assert_int_equal(run(f, f->rsa, &o, &vp, &r), OCSP_VERIFY_EXPIRED);
}

static void test_next_update_before_this_update(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.this_update_offset = -60;
    o.next_update_offset = -120;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_PARSE);
    assert_contains(r.message, "before thisUpdate");
}

static void test_no_next_update_young(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.has_next_update = 0;
    o.this_update_offset = -1000;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.has_next_update, 0);
    assert_int_equal(r.this_update, f->now - 1000);
    assert_int_equal(r.next_update, f->now - 1000 + 3600);
    /* Older than max_age, but within the skew. */
    o.this_update_offset = -3900;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
}

static void test_no_next_update_old(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;
    ocsp_verify_params vp;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.has_next_update = 0;
    o.this_update_offset = -3901;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_TOO_OLD);
    assert_int_equal(r.has_next_update, 0);
    assert_contains(r.message, "maximum age");
    /* A configured max age is honoured. */
    params_at(&vp, f->now);
    vp.no_next_update_max_age = 86400;
    assert_int_equal(run(f, f->rsa, &o, &vp, &r), OCSP_VERIFY_OK);
    assert_int_equal(r.next_update, f->now - 3901 + 86400);
}

/* ---- certificate status --------------------------------------------- */

static void test_unknown(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.cert_status = V_OCSP_CERTSTATUS_UNKNOWN;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r),
                     OCSP_VERIFY_UNKNOWN_STATUS);
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r),
                     OCSP_VERIFY_UNKNOWN_STATUS);
}

/* ---- responder status ------------------------------------------------ */

static void expect_responder_status(fixture *f, int status, const char *name)
{
    pki_resp_opts o;
    ocsp_verify_result r;
    char want[64];

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.response_status = status;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r),
                     OCSP_VERIFY_RESPONDER_STATUS);
    assert_int_equal(r.responder_status, status);
    snprintf(want, sizeof(want), "responder status %s (%d)", name, status);
    assert_string_equal(r.message, want);
}

static void test_try_later(void **state)
{
    expect_responder_status(*state, OCSP_RESPONSE_STATUS_TRYLATER,
                            "tryLater");
}

static void test_internal_error(void **state)
{
    expect_responder_status(*state, OCSP_RESPONSE_STATUS_INTERNALERROR,
                            "internalError");
}

static void test_unauthorized(void **state)
{
    expect_responder_status(*state, OCSP_RESPONSE_STATUS_UNAUTHORIZED,
                            "unauthorized");
}

static void test_malformed_request(void **state)
{
    expect_responder_status(*state, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                            "malformedRequest");
}

static void test_sig_required(void **state)
{
    expect_responder_status(*state, OCSP_RESPONSE_STATUS_SIGREQUIRED,
                            "sigRequired");
}

static void test_not_basic(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.omit_basic = 1;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NOT_BASIC);
    assert_int_equal(r.responder_status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
}

/* ---- bytes ----------------------------------------------------------- */

static unsigned char *good_der(fixture *f, size_t *len)
{
    pki_resp_opts o;
    unsigned char *der;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED;    /* larger: has a certificate */
    der = pki_make_response(&o, len);
    assert_non_null(der);
    return der;
}

static void test_truncated(void **state)
{
    fixture *f = *state;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    size_t len, cuts[8], i;
    unsigned char *der = good_der(f, &len);

    params_at(&vp, f->now);
    cuts[0] = 0;
    cuts[1] = 1;
    cuts[2] = 2;
    cuts[3] = 10;
    cuts[4] = len / 3;
    cuts[5] = len / 2;
    cuts[6] = len - 20;
    cuts[7] = len - 1;
    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        assert_int_equal(run_raw(f, f->rsa, der, cuts[i], &vp, &r),
                         OCSP_VERIFY_PARSE);
    }
    /* Every cut point, for good measure. */
    for (i = 0; i < len; i++)
        assert_int_equal(run_raw(f, f->rsa, der, i, &vp, &r),
                         OCSP_VERIFY_PARSE);
    assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r), OCSP_VERIFY_OK);
    free(der);
}

static void test_trailing_garbage(void **state)
{
    fixture *f = *state;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    size_t len;
    unsigned char *der = good_der(f, &len);
    unsigned char *longer = malloc(len + 3);

    assert_non_null(longer);
    params_at(&vp, f->now);
    memcpy(longer, der, len);
    memcpy(longer + len, "\x00\x01x", 3);
    assert_int_equal(run_raw(f, f->rsa, longer, len + 1, &vp, &r),
                     OCSP_VERIFY_TRAILING);
    assert_int_equal(run_raw(f, f->rsa, longer, len + 3, &vp, &r),
                     OCSP_VERIFY_TRAILING);
    assert_contains(r.message, "3 trailing byte(s)");
    free(longer);
    free(der);
}

static void test_too_large(void **state)
{
    fixture *f = *state;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    size_t len;
    unsigned char *der = good_der(f, &len);

    params_at(&vp, f->now);
    vp.max_size = len - 1;
    assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r),
                     OCSP_VERIFY_TOO_LARGE);
    /* The cap comes first, even before parsing. */
    assert_int_equal(run_raw(f, f->rsa, (const unsigned char *)"junk junk",
                             9, &vp, &r), OCSP_VERIFY_PARSE);
    vp.max_size = 4;
    assert_int_equal(run_raw(f, f->rsa, (const unsigned char *)"junk junk",
                             9, &vp, &r), OCSP_VERIFY_TOO_LARGE);
    vp.max_size = len;
    assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r), OCSP_VERIFY_OK);
    vp.max_size = 0;            /* no cap */
    assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r), OCSP_VERIFY_OK);
    free(der);
}

static void test_empty(void **state)
{
    fixture *f = *state;
    ocsp_verify_result r;
    ocsp_verify_params vp;

    params_at(&vp, f->now);
    assert_int_equal(run_raw(f, f->rsa, NULL, 0, &vp, &r), OCSP_VERIFY_PARSE);
    assert_int_equal(run_raw(f, f->rsa, (const unsigned char *)"", 0, &vp,
                             &r), OCSP_VERIFY_PARSE);
    assert_int_equal(r.responder_status, -1);
}

static void test_random_bytes(void **state)
{
    fixture *f = *state;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    unsigned char buf[512];
    uint32_t x = 12345;
    int round;
    size_t i;

    params_at(&vp, f->now);
    /* Deterministic junk (xorshift), including junk that starts like a
     * DER SEQUENCE. */
    for (round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)round * 13 % sizeof(buf);
        for (i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (unsigned char)x;
        }
        if (round % 2 && n > 2) {
            buf[0] = 0x30;
            buf[1] = 0x82;
        }
        assert_int_equal(run_raw(f, f->rsa, buf, n, &vp, &r),
                         OCSP_VERIFY_PARSE);
    }
}

/* Where the outer signatureAlgorithm of the basic response sits in der:
 * the one part of a response its signature does not cover. */
static void sigalg_span(const unsigned char *der, size_t len, size_t *start,
                        size_t *end)
{
    const unsigned char *q = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
    const X509_ALGOR *alg = bs ? OCSP_resp_get0_tbs_sigalg(bs) : NULL;
    unsigned char *enc = NULL;
    int n = alg ? i2d_X509_ALGOR(alg, &enc) : -1;
    size_t i;

    assert_true(n > 0);
    *start = *end = 0;
    /* The first occurrence: an embedded signer certificate, which may
     * hold the same AlgorithmIdentifier, comes after it. */
    for (i = 0; i + (size_t)n <= len; i++) {
        if (memcmp(der + i, enc, (size_t)n) == 0 && *end == 0) {
            *start = i;
            *end = i + (size_t)n;
        }
    }
    assert_true(*end > 0);
    OPENSSL_free(enc);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
}

/* No single-bit change in a response (issuer-signed, and delegated with its
 * certificate) may still be accepted, except inside the outer
 * signatureAlgorithm, which nothing signs (OpenSSL takes an RSA
 * AlgorithmIdentifier whose NULL parameters became an empty OCTET STRING;
 * the signed content is unchanged, so that is harmless). Under ASan this
 * is also a small fuzz of the parser paths. */
static void test_every_bit_flip_rejected(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;
    ocsp_verify_params vp;
    size_t len, i, alg_start, alg_end;
    unsigned char *der;
    int signer, bit, bad = 0;

    params_at(&vp, f->now);
    for (signer = 0; signer < 2; signer++) {
        pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
        o.signer = signer ? PKI_SIGNER_DELEGATED : PKI_SIGNER_ISSUER;
        der = pki_make_response(&o, &len);
        assert_non_null(der);
        sigalg_span(der, len, &alg_start, &alg_end);
        for (i = 0; i < len; i++) {
            for (bit = 0; bit < 8; bit += 3) {
                der[i] ^= (unsigned char)(1u << bit);
                if (ocsp_verify_response(f->rsa, der, len, &vp, &r, f->pool)
                    == OCSP_VERIFY_OK
                    && (i < alg_start || i >= alg_end)) {
                    print_error("signer %d: flip of bit %d at %zu of %zu "
                                "accepted\n", signer, bit, i, len);
                    bad++;
                }
                assert_int_equal(ERR_peek_error(), 0);
                der[i] ^= (unsigned char)(1u << bit);
            }
        }
        assert_int_equal(run_raw(f, f->rsa, der, len, &vp, &r),
                         OCSP_VERIFY_OK);
        free(der);
    }
    assert_int_equal(bad, 0);
}

static void test_stale_error_queue_is_not_reported(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    /* Someone else's leftover error must neither fail nor leak through. */
    ERR_raise_data(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE,
                   "stale");
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
}


/* ---- shared issuer: the responder certificate parsed once ------------- */

/* Whether the delegated responder certificate is remembered for f's issuer. */
static int signer_known(fixture *f, pki_signer s)
{
    int known = 0;
    X509 *x = ocsp_issuer_signer(f->rsa->shared, pki_signer_cert(s), &known);
    X509_free(x);
    assert_int_equal(ERR_peek_error(), 0);
    return known;
}

static void test_shared_signer_remembered_only_when_verified(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    assert_int_equal(signer_known(f, PKI_SIGNER_DELEGATED), 0);
    /* refused answers teach nothing */
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED_NO_EKU;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_int_equal(signer_known(f, PKI_SIGNER_DELEGATED_NO_EKU), 0);
    o.signer = PKI_SIGNER_STRANGER;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_int_equal(signer_known(f, PKI_SIGNER_STRANGER), 0);
    /* a verified one is remembered, for every leaf of the issuer */
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(signer_known(f, PKI_SIGNER_DELEGATED), 1);
    pki_resp_opts_init(&o, PKI_LEAF_EC, f->now);
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->ec, &o, NULL, &r), OCSP_VERIFY_OK);
}

/* A remembered responder certificate changes nothing about what is
 * checked: every later answer is verified in full. */
static void test_shared_remembered_signer_checks_everything(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;
    size_t len;
    unsigned char *der;
    int i;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(signer_known(f, PKI_SIGNER_DELEGATED), 1);
    for (i = 0; i < 2; i++) {       /* and again, remembered */
        /* a signature that does not verify */
        der = pki_make_response(&o, &len);
        assert_non_null(der);
        flip_signature_byte(der, len);
        assert_int_equal(run_raw(f, f->rsa, der, len, NULL, &r),
                         OCSP_VERIFY_SIGNATURE);
        free(der);
        /* other signers, with or without the remembered one's name */
        expect_signature_error(f, PKI_SIGNER_DELEGATED_NO_EKU, 1);
        expect_signature_error(f, PKI_SIGNER_DELEGATED_OTHER_CA, 1);
        expect_signature_error(f, PKI_SIGNER_STRANGER, 1);
        expect_signature_error(f, PKI_SIGNER_IMPOSTOR, 1);
        expect_signature_error(f, PKI_SIGNER_ROOT, 1);
        /* the remembered signer's certificate left out of the answer */
        pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
        o.signer = PKI_SIGNER_DELEGATED;
        o.include_signer_cert = 0;
        assert_int_equal(run(f, f->rsa, &o, NULL, &r),
                         OCSP_VERIFY_SIGNATURE);
        /* another certificate's answer, a time outside the window */
        o.include_signer_cert = -1;
        o.certid_cert = pki_leaf_cert(PKI_LEAF_EC);
        assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NO_MATCH);
        o.certid_cert = NULL;
        o.next_update_offset = -1000;
        o.this_update_offset = -2000;
        assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_EXPIRED);
        /* and the good one still passes */
        pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
        o.signer = PKI_SIGNER_DELEGATED;
        assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    }
}

/* The start-up helper verifies in several threads at once, certificates
 * of one issuer sharing its store and responder certificates. */
typedef struct {
    fixture *f;
    unsigned char *good, *bad;
    size_t good_len, bad_len;
    int ok, refused, wrong;
} thread_work;

static void *APR_THREAD_FUNC verify_thread(apr_thread_t *t, void *data)
{
    thread_work *w = data;
    apr_pool_t *p = NULL;
    ocsp_verify_params vp;
    ocsp_verify_result r;
    int i;

    (void)t;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    params_at(&vp, w->f->now);
    for (i = 0; i < 100; i++) {
        int good = i % 3 != 0;
        ocsp_verify_error e = ocsp_verify_response(
            w->f->rsa, good ? w->good : w->bad,
            good ? w->good_len : w->bad_len, &vp, &r, p);
        if (good && e == OCSP_VERIFY_OK)
            w->ok++;
        else if (!good && e == OCSP_VERIFY_SIGNATURE)
            w->refused++;
        else
            w->wrong++;
        if (ERR_peek_error() != 0)
            w->wrong++;
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    return NULL;
}

static void test_shared_threads(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    thread_work w[3];
    apr_thread_t *th[3];
    apr_status_t trv;
    int k;

    memset(w, 0, sizeof(w));
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED;
    w[0].good = pki_make_response(&o, &w[0].good_len);
    o.signer = PKI_SIGNER_DELEGATED_NO_EKU;
    w[0].bad = pki_make_response(&o, &w[0].bad_len);
    assert_non_null(w[0].good);
    assert_non_null(w[0].bad);
    for (k = 0; k < 3; k++) {
        w[k].f = f;
        w[k].good = w[0].good;
        w[k].good_len = w[0].good_len;
        w[k].bad = w[0].bad;
        w[k].bad_len = w[0].bad_len;
        assert_int_equal(apr_thread_create(&th[k], NULL, verify_thread, &w[k],
                                           f->pool), APR_SUCCESS);
    }
    for (k = 0; k < 3; k++) {
        apr_thread_join(&trv, th[k]);
        assert_int_equal(w[k].wrong, 0);
        assert_int_equal(w[k].ok, 66);
        assert_int_equal(w[k].refused, 34);
    }
    free(w[0].good);
    free(w[0].bad);
}


/* A responder certificate of a sub-CA that the issuer certified answers
 * for the sub-CA's certificates (OpenSSL accepts that), never for the
 * issuer's own: after it verified an answer about the sub-CA's
 * certificates, it must not have become an authority for the issuer's. */
static void test_shared_subca_responder_stays_subca(void **state)
{
    fixture *f = *state;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *r_key = EVP_EC_gen("P-256");
    EVP_PKEY *l_key = EVP_EC_gen("P-256");
    X509 *subca, *responder, *subca_leaf;
    pki_resp_opts o;
    ocsp_verify_result r;
    int round;

    assert_non_null(ca_key);
    assert_non_null(r_key);
    assert_non_null(l_key);
    subca = pki_make_ca("Test Sub CA", 0x600, ca_key, pki_issuer(),
                        pki_issuer_key());
    responder = pki_make_responder("Test Sub CA OCSP", 0x601, r_key, subca,
                                   ca_key, 0);
    subca_leaf = pki_make_ca("Test Sub CA leaf", 0x602, l_key, subca, ca_key);
    assert_non_null(subca);
    assert_non_null(responder);
    assert_non_null(subca_leaf);
    for (round = 0; round < 2; round++) {
        /* about the sub-CA's certificate: the signature and authority are
         * fine, it is just not about ours */
        pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
        o.signer_cert = responder;
        o.signer_key = r_key;
        o.extra_cert = subca;
        o.cert = subca_leaf;
        o.certid_issuer = subca;
        assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_NO_MATCH);
        /* about ours: refused, first time and after */
        pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
        o.signer_cert = responder;
        o.signer_key = r_key;
        o.extra_cert = subca;
        assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
        if (f->rsa->shared) {
            int known = 0;
            X509 *x = ocsp_issuer_signer(f->rsa->shared, responder, &known);
            X509_free(x);
            assert_int_equal(known, 0);
        }
    }
    X509_free(subca);
    X509_free(responder);
    X509_free(subca_leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(r_key);
    EVP_PKEY_free(l_key);
}

/* A remembered responder certificate expires like any other: the validity
 * period is checked at every answer (the clock, as OpenSSL's chain check
 * uses it). */
static void test_shared_remembered_signer_expires(void **state)
{
    fixture *f = *state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *responder;
    pki_resp_opts o;
    ocsp_verify_result r;
    long long until = (long long)time(NULL) + 2;

    assert_non_null(key);
    responder = pki_make_responder("Short-lived OCSP responder", 0x610, key,
                                   pki_issuer(), pki_issuer_key(), until);
    assert_non_null(responder);
    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer_cert = responder;
    o.signer_key = key;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    while ((long long)time(NULL) <= until + 1)
        sleep(1);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
    assert_contains(r.message, "not valid now");
    X509_free(responder);
    EVP_PKEY_free(key);
}


/* Responders that send their chain along (responder certificate and the
 * issuer's): accepted as before. */
static void test_delegated_with_chain_included(void **state)
{
    fixture *f = *state;
    pki_resp_opts o;
    ocsp_verify_result r;

    pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
    o.signer = PKI_SIGNER_DELEGATED;
    o.extra_cert = pki_issuer();
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    o.extra_cert = pki_root();
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_OK);
    o.signer = PKI_SIGNER_DELEGATED_NO_EKU;
    assert_int_equal(run(f, f->rsa, &o, NULL, &r), OCSP_VERIFY_SIGNATURE);
}

/* ocsp_verify_window on a verdict taken earlier (the early store verifier
 * hands its result to the start-up helper, which checks the window again)
 * decides exactly as a full verification at the later time. */
static void test_window_later_equals_full(void **state)
{
    fixture *f = *state;
    static const struct { long long this_off, next_off; int has_next; }
    cases[] = {
        { -60, 3600, 1 }, { -86400, 30, 1 }, { -86400, -200, 1 },
        { 200, 86400, 1 }, { -3000, 0, 0 }, { -3500, 0, 0 },
    };
    static const long later[] = { 0, 1, 59, 61, 400, 4000 };
    static const long graces[] = { 0, 600 };
    size_t c, l, g;

    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); ++c) {
        for (g = 0; g < 2; ++g) {
            pki_resp_opts o;
            ocsp_verify_params vp;
            ocsp_verify_result early, full, again;

            pki_resp_opts_init(&o, PKI_LEAF_RSA, f->now);
            o.this_update_offset = cases[c].this_off;
            o.next_update_offset = cases[c].next_off;
            o.has_next_update = cases[c].has_next;
            params_at(&vp, f->now);
            vp.expired_grace = graces[g];
            if (run(f, f->rsa, &o, &vp, &early) != OCSP_VERIFY_OK)
                continue;      /* nothing handed over */
            for (l = 0; l < sizeof(later) / sizeof(later[0]); ++l) {
                params_at(&vp, f->now + later[l]);
                vp.expired_grace = graces[g];
                run(f, f->rsa, &o, &vp, &full);
                again = early;
                assert_int_equal(ocsp_verify_window(&again, &vp, f->pool),
                                 full.error);
                assert_int_equal(again.error, full.error);
                if (full.error == OCSP_VERIFY_OK)
                    assert_int_equal(again.expired, full.expired);
            }
        }
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)
/* The same test on certificates made as the module makes them. */
#define TS(name) { "shared: " #name, name, test_setup_shared, \
                   test_teardown, NULL }

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_good_by_issuer),
        T(test_good_by_issuer_ec_leaf),
        T(test_good_by_issuer_with_cert_included),
        T(test_good_by_delegated),
        T(test_revoked),
        T(test_revoked_without_reason),
        T(test_sha256_certid),
        T(test_match_in_second_single),
        T(test_default_params),
        T(test_stranger_signer),
        T(test_delegated_without_eku),
        T(test_delegated_other_ca),
        T(test_impostor_with_issuer_name),
        T(test_root_signer_not_authorised),
        T(test_delegated_cert_not_included),
        T(test_tampered_signature),
        T(test_tampered_signed_data),
        T(test_certid_of_other_cert),
        T(test_this_update_future),
        T(test_this_update_future_within_skew),
        T(test_expired),
        T(test_expired_within_skew),
        T(test_expired_within_grace),
        T(test_next_update_before_this_update),
        T(test_no_next_update_young),
        T(test_no_next_update_old),
        T(test_unknown),
        T(test_try_later),
        T(test_internal_error),
        T(test_unauthorized),
        T(test_malformed_request),
        T(test_sig_required),
        T(test_not_basic),
        T(test_truncated),
        T(test_trailing_garbage),
        T(test_too_large),
        T(test_empty),
        T(test_random_bytes),
        T(test_every_bit_flip_rejected),
        T(test_stale_error_queue_is_not_reported),
        T(test_window_later_equals_full),
        TS(test_good_by_issuer),
        TS(test_good_by_issuer_ec_leaf),
        TS(test_good_by_issuer_with_cert_included),
        TS(test_good_by_delegated),
        TS(test_revoked),
        TS(test_revoked_without_reason),
        TS(test_sha256_certid),
        TS(test_match_in_second_single),
        TS(test_default_params),
        TS(test_stranger_signer),
        TS(test_delegated_without_eku),
        TS(test_delegated_other_ca),
        TS(test_impostor_with_issuer_name),
        TS(test_root_signer_not_authorised),
        TS(test_delegated_cert_not_included),
        TS(test_tampered_signature),
        TS(test_tampered_signed_data),
        TS(test_certid_of_other_cert),
        TS(test_this_update_future),
        TS(test_this_update_future_within_skew),
        TS(test_expired),
        TS(test_expired_within_skew),
        TS(test_expired_within_grace),
        TS(test_next_update_before_this_update),
        TS(test_no_next_update_young),
        TS(test_no_next_update_old),
        TS(test_unknown),
        TS(test_try_later),
        TS(test_internal_error),
        TS(test_unauthorized),
        TS(test_malformed_request),
        TS(test_sig_required),
        TS(test_not_basic),
        TS(test_truncated),
        TS(test_trailing_garbage),
        TS(test_too_large),
        TS(test_empty),
        TS(test_random_bytes),
        TS(test_every_bit_flip_rejected),
        TS(test_stale_error_queue_is_not_reported),
        TS(test_shared_signer_remembered_only_when_verified),
        TS(test_shared_remembered_signer_checks_everything),
        TS(test_shared_threads),
        T(test_delegated_with_chain_included),
        TS(test_delegated_with_chain_included),
        T(test_shared_subca_responder_stays_subca),
        TS(test_shared_subca_responder_stays_subca),
        TS(test_shared_remembered_signer_expires),
    };

    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
