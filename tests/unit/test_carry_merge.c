/* What a restart keeps of a certificate's counters and outage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "carry_merge.h"

static carry_state state(unsigned long failures, long long this_update,
                         long long next_refresh, const char *result)
{
    carry_state s;
    memset(&s, 0, sizeof(s));
    s.served = 10;
    s.unserved = 1;
    s.fetches = 3;
    s.fetch_errors = failures;
    s.errors[0] = failures;
    s.failures = failures;
    s.cert_status = 0;
    s.this_update = this_update;
    s.last_fetch = 500;
    s.next_refresh = next_refresh;
    strcpy(s.last_result, result);
    return s;
}

static void counters_add_up(void **state_)
{
    carry_state cur = state(0, 100, 2000, "ok");
    carry_state old = state(0, 100, 1000, "ok");
    carry_merge(&cur, &old);
    assert_int_equal(cur.served, 20);
    assert_int_equal(cur.unserved, 2);
    assert_int_equal(cur.fetches, 6);
    assert_int_equal(cur.failures, 0);
    assert_int_equal(cur.next_refresh, 2000);
    assert_string_equal(cur.last_result, "ok");
}

static void outage_goes_on_when_the_store_gave_the_response(void **state_)
{
    /* this start loaded the same response from the store, asked nobody */
    carry_state cur = state(0, 100, 2000, "ok");
    carry_state old = state(4, 100, 1700, "connection refused");
    old.last_fetch = 1600;
    carry_merge(&cur, &old);
    assert_int_equal(cur.failures, 4);
    assert_int_equal(cur.next_refresh, 1700);   /* the backoff, not the policy */
    assert_int_equal(cur.last_fetch, 1600);
    assert_string_equal(cur.last_result, "connection refused");
    assert_int_equal(cur.errors[0], 4);
}

static void failing_again_adds_up_and_keeps_the_later_retry(void **state_)
{
    carry_state cur = state(1, 100, 1650, "timeout");
    carry_state old = state(4, 100, 1700, "connection refused");
    carry_merge(&cur, &old);
    assert_int_equal(cur.failures, 5);
    assert_int_equal(cur.next_refresh, 1700);
    assert_string_equal(cur.last_result, "timeout");
}

static void a_newer_response_ends_the_outage(void **state_)
{
    carry_state cur = state(0, 200, 2000, "ok");
    carry_state old = state(4, 100, 1700, "connection refused");
    carry_merge(&cur, &old);
    assert_int_equal(cur.failures, 0);
    assert_int_equal(cur.next_refresh, 2000);
    assert_string_equal(cur.last_result, "ok");
    assert_int_equal(cur.served, 20);
}

static void what_was_told_stays_told(void **state_)
{
    carry_state cur = state(0, 100, 2000, "ok");
    carry_state old = state(0, 100, 1700, "ok");
    old.notified = 4;
    carry_merge(&cur, &old);
    assert_int_equal(cur.notified, 4);
    cur.notified = 2;
    carry_merge(&cur, &old);
    assert_int_equal(cur.notified, 2);
}

static void a_changed_status_ends_the_outage(void **state_)
{
    carry_state cur = state(0, 100, 2000, "ok");
    carry_state old = state(2, 100, 1700, "timeout");
    cur.cert_status = 1;                        /* revoked now */
    carry_merge(&cur, &old);
    assert_int_equal(cur.failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_add_up),
        cmocka_unit_test(outage_goes_on_when_the_store_gave_the_response),
        cmocka_unit_test(failing_again_adds_up_and_keeps_the_later_retry),
        cmocka_unit_test(a_newer_response_ends_the_outage),
        cmocka_unit_test(a_changed_status_ends_the_outage),
        cmocka_unit_test(what_was_told_stays_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
