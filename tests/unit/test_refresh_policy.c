/* Refresh timing: share and age policies, jitter, bounds, backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "refresh_policy.h"

#define DAY 86400LL
static const long long T0 = 1700000000LL;

static void half_of_validity(void **state)
{
    refresh_policy pol;
    refresh_policy_default(&pol);
    /* 7-day response fetched at thisUpdate: refresh at 3.5 days, jitter 0 */
    assert_true(refresh_due(&pol, T0, T0 + 7 * DAY, T0, 0.0)
                == T0 + 7 * DAY / 2);
}

static void jitter_only_earlier_and_bounded(void **state)
{
    refresh_policy pol;
    double r;
    refresh_policy_default(&pol);
    for (r = 0.0; r < 1.0; r += 0.05) {
        long long due = refresh_due(&pol, T0, T0 + 4 * DAY, T0, r);
        assert_true(due <= T0 + 2 * DAY);
        assert_true(due >= T0 + 2 * DAY - 2 * DAY / 10);
    }
    assert_true(refresh_due(&pol, T0, T0 + 4 * DAY, T0, 0.99)
                < refresh_due(&pol, T0, T0 + 4 * DAY, T0, 0.0));
}

static void age_policy(void **state)
{
    refresh_policy pol;
    refresh_policy_default(&pol);
    pol.pct = 0;
    pol.age = 6 * 3600;
    pol.jitter_pct = 0;
    assert_int_equal(refresh_due(&pol, T0, T0 + 7 * DAY, T0, 0.5), T0 + 6 * 3600);
}

static void never_after_safety_margin(void **state)
{
    refresh_policy pol;
    refresh_policy_default(&pol);
    pol.pct = 0;
    pol.age = 30 * DAY;
    pol.max_interval = 365 * DAY;
    /* margin: a tenth of the validity, at most an hour */
    assert_true(refresh_due(&pol, T0, T0 + 7 * DAY, T0, 0.0)
                == T0 + 7 * DAY - 3600);
    assert_int_equal(refresh_due(&pol, T0, T0 + 100, T0, 0.0), T0 + 90);
}

static void bounded_by_min_and_max_interval(void **state)
{
    refresh_policy pol;
    refresh_policy_default(&pol);
    /* 6 s validity: 50% = 3 s, but never sooner than 5 s after the fetch */
    assert_int_equal(refresh_due(&pol, T0, T0 + 6, T0, 0.0), T0 + 5);
    /* 30-day response: at most four days after the fetch */
    assert_int_equal(refresh_due(&pol, T0, T0 + 30 * DAY, T0, 0.0), T0 + 4 * DAY);
    /* a response fetched long after its thisUpdate is not refreshed at once */
    assert_true(refresh_due(&pol, T0, T0 + 7 * DAY, T0 + 5 * DAY, 0.0)
                >= T0 + 5 * DAY + 5);
}

static void backoff_grows_and_caps(void **state)
{
    refresh_policy pol;
    long long prev = 0;
    int f;
    refresh_policy_default(&pol);
    for (f = 1; f <= 8; ++f) {
        long long at = refresh_retry(&pol, T0, f, 0, 0.999999) - T0;
        assert_true(at >= prev);
        assert_true(at <= 5LL << (f - 1));
        prev = at;
    }
    assert_true(refresh_retry(&pol, T0, 40, 0, 0.999999) - T0 <= 3600);
    assert_true(refresh_retry(&pol, T0, 40, 0, 0.0) - T0 >= 1800);
}

static void backoff_jitter_spreads(void **state)
{
    refresh_policy pol;
    refresh_policy_default(&pol);
    assert_true(refresh_retry(&pol, T0, 5, 0, 0.0)
                < refresh_retry(&pol, T0, 5, 0, 0.9));
}

static void backoff_retries_before_expiry(void **state)
{
    refresh_policy pol;
    refresh_policy_default(&pol);
    /* after 20 failures the delay would be an hour; with 10 minutes of
     * validity left, it retries within a third of that */
    assert_true(refresh_retry(&pol, T0, 20, T0 + 600, 0.999999) <= T0 + 200);
    /* but never hammers: at least the base delay (halved by jitter) */
    assert_true(refresh_retry(&pol, T0, 20, T0 + 3, 0.0) >= T0 + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(half_of_validity),
        cmocka_unit_test(jitter_only_earlier_and_bounded),
        cmocka_unit_test(age_policy),
        cmocka_unit_test(never_after_safety_margin),
        cmocka_unit_test(bounded_by_min_and_max_interval),
        cmocka_unit_test(backoff_grows_and_caps),
        cmocka_unit_test(backoff_jitter_spreads),
        cmocka_unit_test(backoff_retries_before_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
