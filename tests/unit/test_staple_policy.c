/* Which response may replace the one in use (staple_policy.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <apr_general.h>
#include <openssl/ocsp.h>
#include "staple_policy.h"
#include "staple_record.h"

static const long long T0 = 1700000000LL;
static apr_pool_t *pool;

static int setup(void **state)
{
    apr_initialize();
    return apr_pool_create(&pool, NULL) == APR_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}

static staple_state st(int status, unsigned flags, long long tu, long long nu)
{
    staple_state s;
    s.cert_status = status;
    s.flags = flags;
    s.this_update = tu;
    s.next_update = nu;
    return s;
}

#define GOOD V_OCSP_CERTSTATUS_GOOD
#define REVOKED V_OCSP_CERTSTATUS_REVOKED

static void anything_servable_replaces_nothing(void **state)
{
    staple_state none = st(-1, 0, 0, 0);
    staple_state cand = st(GOOD, 0, T0 - 10, T0 + 3600);
    assert_null(staple_policy_refuses(&none, &cand, 1500, T0, 0, pool));
}

static void size_limit_is_what_tls12_clients_take(void **state)
{
    staple_state none = st(-1, 0, 0, 0);
    staple_state cand = st(GOOD, 0, T0 - 10, T0 + 3600);
    /* 16384 (OpenSSL's CertificateStatus limit) - 1 type - 3 length */
    assert_int_equal(STAPLE_MAX_DER, 16384 - 4);
    assert_null(staple_policy_refuses(&none, &cand, STAPLE_MAX_DER, T0, 0,
                                      pool));
    assert_non_null(staple_policy_refuses(&none, &cand, STAPLE_MAX_DER + 1,
                                          T0, 0, pool));
    assert_non_null(staple_policy_refuses(&none, &cand, 70000, T0, 0, pool));
}

static void past_next_update_never_displaces_a_servable_one(void **state)
{
    staple_state cur = st(GOOD, 0, T0 - 600, T0 + 600);
    /* accepted by verification within its 300 s skew, but not servable */
    staple_state late = st(GOOD, 0, T0 - 400, T0 - 100);
    assert_non_null(staple_policy_refuses(&cur, &late, 1500, T0, 0, pool));
    /* with OCSPStapleServeExpired it is servable, and newer: taken */
    assert_null(staple_policy_refuses(&cur, &late, 1500, T0, 3600, pool));
}

static void revoked_is_never_undone(void **state)
{
    staple_state cur = st(REVOKED, STAPLE_FLAG_REVOKED_SEEN, T0 - 60, T0 + 600);
    staple_state good = st(GOOD, 0, T0, T0 + 3600);
    staple_state revoked = st(REVOKED, STAPLE_FLAG_REVOKED_SEEN, T0, T0 + 3600);
    assert_non_null(staple_policy_refuses(&cur, &good, 1500, T0, 0, pool));
    assert_null(staple_policy_refuses(&cur, &revoked, 1500, T0, 0, pool));
    /* even once the revoked response itself has expired */
    cur.next_update = T0 - 10;
    assert_non_null(staple_policy_refuses(&cur, &good, 1500, T0, 0, pool));
}

static void older_refused_while_current_servable(void **state)
{
    staple_state cur = st(GOOD, 0, T0 - 60, T0 + 600);
    staple_state older = st(GOOD, 0, T0 - 120, T0 + 500);
    assert_non_null(staple_policy_refuses(&cur, &older, 1500, T0, 0, pool));
    /* once the current one can no longer be served, older but valid wins */
    cur.next_update = T0 - 1;
    assert_null(staple_policy_refuses(&cur, &older, 1500, T0, 0, pool));
}

static void servable_until_includes_grace(void **state)
{
    staple_state s = st(GOOD, 0, T0 - 60, T0);
    assert_true(staple_servable(&s, T0, 0));
    assert_false(staple_servable(&s, T0 + 1, 0));
    assert_true(staple_servable(&s, T0 + 30, 30));
    assert_int_equal(staple_servable_until(T0, 30), T0 + 30);
    s.cert_status = -1;
    assert_false(staple_servable(&s, T0 - 100, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anything_servable_replaces_nothing),
        cmocka_unit_test(size_limit_is_what_tls12_clients_take),
        cmocka_unit_test(past_next_update_never_displaces_a_servable_one),
        cmocka_unit_test(revoked_is_never_undone),
        cmocka_unit_test(older_refused_while_current_servable),
        cmocka_unit_test(servable_until_includes_grace),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
