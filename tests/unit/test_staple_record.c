/* Record encoding: round trip, and every way stored bytes can be wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include "staple_record.h"

static apr_pool_t *pool;
static const unsigned char ID[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                      13, 14, 15, 16, 17, 18, 19, 20 };
static const unsigned char DER[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 };

static staple_record sample(void)
{
    staple_record r;
    memset(&r, 0, sizeof(r));
    r.cert_status = 1;
    r.flags = STAPLE_FLAG_REVOKED_SEEN;
    r.this_update = 1700000000LL;
    r.next_update = 1700086400LL;
    r.fetched_at = 1700000100LL;
    r.id = ID;
    r.id_len = sizeof(ID);
    r.der = DER;
    r.der_len = sizeof(DER);
    return r;
}

static void round_trip(void **state)
{
    staple_record in = sample(), out;
    unsigned char *buf;
    apr_size_t len;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_SUCCESS);
    assert_null(staple_record_decode(&out, buf, len));
    assert_int_equal(out.cert_status, 1);
    assert_int_equal(out.flags, STAPLE_FLAG_REVOKED_SEEN);
    assert_int_equal(out.this_update, in.this_update);
    assert_int_equal(out.next_update, in.next_update);
    assert_int_equal(out.fetched_at, in.fetched_at);
    assert_int_equal(out.id_len, sizeof(ID));
    assert_memory_equal(out.id, ID, sizeof(ID));
    assert_int_equal(out.der_len, sizeof(DER));
    assert_memory_equal(out.der, DER, sizeof(DER));
}

static void every_truncation_refused(void **state)
{
    staple_record in = sample(), out;
    unsigned char *buf;
    apr_size_t len, cut;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_SUCCESS);
    for (cut = 0; cut < len; ++cut) {
        assert_non_null(staple_record_decode(&out, buf, cut));
    }
    assert_non_null(staple_record_decode(&out, NULL, 0));
}

static void trailing_bytes_refused(void **state)
{
    staple_record in = sample(), out;
    unsigned char *buf, *longer;
    apr_size_t len;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_SUCCESS);
    longer = apr_pcalloc(pool, len + 1);
    memcpy(longer, buf, len);
    assert_non_null(staple_record_decode(&out, longer, len + 1));
}

static void bad_magic_refused(void **state)
{
    staple_record in = sample(), out;
    unsigned char *buf;
    apr_size_t len;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_SUCCESS);
    buf[0] ^= 0xff;
    assert_string_equal(staple_record_decode(&out, buf, len),
                        "not a mod_ocspstaple record (bad magic)");
}

static void inverted_validity_refused(void **state)
{
    staple_record in = sample(), out;
    unsigned char *buf;
    apr_size_t len;
    in.next_update = in.this_update - 1;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_SUCCESS);
    assert_non_null(staple_record_decode(&out, buf, len));
}

static void invalid_input_not_encoded(void **state)
{
    staple_record in = sample();
    unsigned char *buf;
    apr_size_t len;
    in.id_len = 0;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_EINVAL);
    in = sample();
    in.id_len = STAPLE_RECORD_MAX_ID + 1;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_EINVAL);
    in = sample();
    in.der_len = 0;
    assert_int_equal(staple_record_encode(&in, &buf, &len, pool), APR_EINVAL);
}

static void random_bytes_refused(void **state)
{
    unsigned char buf[512];
    staple_record out;
    unsigned i;
    srand(7);
    for (i = 0; i < 2000; ++i) {
        apr_size_t n = (apr_size_t)(rand() % (int)sizeof(buf)), j;
        for (j = 0; j < n; ++j) {
            buf[j] = (unsigned char)rand();
        }
        if (n >= 4 && i % 2) {
            memcpy(buf, "OSR1", 4);
        }
        /* Must not crash; may only succeed if the lengths happen to agree. */
        if (!staple_record_decode(&out, buf, n)) {
            assert_ptr_equal(out.der + out.der_len, buf + n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(every_truncation_refused),
        cmocka_unit_test(trailing_bytes_refused),
        cmocka_unit_test(bad_magic_refused),
        cmocka_unit_test(inverted_validity_refused),
        cmocka_unit_test(invalid_input_not_encoded),
        cmocka_unit_test(random_bytes_refused),
    };
    int rc;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
