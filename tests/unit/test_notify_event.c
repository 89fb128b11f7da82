/* Which state changes are told to OCSPStapleNotify. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "notify_event.h"

#define N NOTIFY_STATE_NONE

static const char *ev(int prev, status_state cur, int must)
{
    return notify_event_name(notify_event_of(prev, cur, must));
}

static void outage_and_recovery(void **state)
{
    /* good -> failing -> recovered -> revoked, the sequence */
    assert_string_equal(ev(N, STATUS_GOOD, 0), "none");
    assert_string_equal(ev(STATUS_GOOD, STATUS_FAILING, 0), "failing");
    assert_string_equal(ev(STATUS_FAILING, STATUS_FAILING, 0), "none");
    assert_string_equal(ev(STATUS_FAILING, STATUS_GOOD, 0), "recovered");
    assert_string_equal(ev(STATUS_GOOD, STATUS_REVOKED, 0), "revoked");
    assert_string_equal(ev(STATUS_REVOKED, STATUS_REVOKED, 0), "none");
}

static void expiry(void **state)
{
    assert_string_equal(ev(STATUS_GOOD, STATUS_FAILING, 0), "failing");
    assert_string_equal(ev(STATUS_FAILING, STATUS_EXPIRING, 0), "expiring");
    assert_string_equal(ev(STATUS_EXPIRING, STATUS_EXPIRED, 0), "expired");
    assert_string_equal(ev(STATUS_EXPIRED, STATUS_EXPIRED, 0), "none");
    assert_string_equal(ev(STATUS_EXPIRED, STATUS_GOOD, 0), "recovered");
    /* expiring comes back to failing when a retry still fails: no news */
    assert_string_equal(ev(STATUS_EXPIRING, STATUS_FAILING, 0), "none");
}

static void first_sight(void **state)
{
    assert_string_equal(ev(N, STATUS_REVOKED, 0), "revoked");
    assert_string_equal(ev(N, STATUS_FAILING, 0), "failing");
    assert_string_equal(ev(N, STATUS_EXPIRED, 0), "expired");
    assert_string_equal(ev(N, STATUS_MISSING, 0), "none");
    assert_string_equal(ev(N, STATUS_NO_RESPONDER, 0), "none");
    /* not yet fetched, then fetched: nothing to tell */
    assert_string_equal(ev(STATUS_MISSING, STATUS_GOOD, 0), "none");
}

static void must_staple(void **state)
{
    assert_string_equal(ev(N, STATUS_MISSING, 1), "must-staple-missing");
    assert_string_equal(ev(STATUS_MISSING, STATUS_MISSING, 1), "none");
    assert_string_equal(ev(STATUS_MISSING, STATUS_GOOD, 1), "recovered");
    assert_string_equal(ev(STATUS_GOOD, STATUS_EXPIRED, 1), "expired");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outage_and_recovery),
        cmocka_unit_test(expiry),
        cmocka_unit_test(first_sight),
        cmocka_unit_test(must_staple),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
