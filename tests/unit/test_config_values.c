/* Every directive value form, accepted and refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <apr_general.h>
#include "config_values.h"

static apr_pool_t *pool;

static void seconds_accepted(void **state)
{
    static const struct { const char *in; long out; } ok[] = {
        { "0", 0 }, { "90", 90 }, { "90s", 90 }, { "30m", 1800 },
        { "6h", 21600 }, { "2d", 172800 }, { "1H", 3600 },
    };
    size_t i;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); ++i) {
        long v = -1;
        assert_null(cv_parse_seconds(ok[i].in, 0, 1000000, &v));
        assert_int_equal(v, ok[i].out);
    }
}

static void seconds_refused(void **state)
{
    static const char *bad[] = {
        "", "abc", "-1", "+5", " 5", "5 ", "1.5", "5x", "5mm", "m",
        "99999999999999999999", "0x10", NULL
    };
    size_t i;
    long v = 42;
    for (i = 0; bad[i]; ++i) {
        assert_non_null(cv_parse_seconds(bad[i], 0, 1000000, &v));
        assert_int_equal(v, 42);
    }
    assert_non_null(cv_parse_seconds(NULL, 0, 10, &v));
    /* range */
    assert_non_null(cv_parse_seconds("0", 1, 300, &v));
    assert_non_null(cv_parse_seconds("301", 1, 300, &v));
    assert_non_null(cv_parse_seconds("6m", 1, 300, &v));
    assert_null(cv_parse_seconds("5m", 1, 300, &v));
    assert_int_equal(v, 300);
}

static void on_off(void **state)
{
    int v = -1;
    assert_null(cv_parse_on_off("on", &v));
    assert_int_equal(v, 1);
    assert_null(cv_parse_on_off("OFF", &v));
    assert_int_equal(v, 0);
    assert_non_null(cv_parse_on_off("maybe", &v));
    assert_non_null(cv_parse_on_off("1", &v));
    assert_non_null(cv_parse_on_off("", &v));
    assert_non_null(cv_parse_on_off(NULL, &v));
}

static void off_or_seconds(void **state)
{
    long v = -1;
    assert_null(cv_parse_off_or_seconds("off", 86400, &v));
    assert_int_equal(v, 0);
    assert_null(cv_parse_off_or_seconds("30", 86400, &v));
    assert_int_equal(v, 30);
    assert_null(cv_parse_off_or_seconds("1h", 86400, &v));
    assert_int_equal(v, 3600);
    assert_non_null(cv_parse_off_or_seconds("0", 86400, &v));
    assert_non_null(cv_parse_off_or_seconds("maybe", 86400, &v));
    assert_non_null(cv_parse_off_or_seconds("2d", 86400, &v));
}

static void bytes(void **state)
{
    long v = -1;
    assert_null(cv_parse_bytes("65536", 1024, 16 << 20, &v));
    assert_int_equal(v, 65536);
    assert_null(cv_parse_bytes("64k", 1024, 16 << 20, &v));
    assert_int_equal(v, 65536);
    assert_null(cv_parse_bytes("1M", 1024, 16 << 20, &v));
    assert_int_equal(v, 1 << 20);
    assert_non_null(cv_parse_bytes("0", 1024, 16 << 20, &v));
    assert_non_null(cv_parse_bytes("10x", 1024, 16 << 20, &v));
    assert_non_null(cv_parse_bytes("17m", 1024, 16 << 20, &v));
    assert_non_null(cv_parse_bytes("-5", 1024, 16 << 20, &v));
    assert_non_null(cv_parse_bytes("1g", 1024, 16 << 20, &v));
}

static void refresh(void **state)
{
    int pct = -1;
    long secs = -1;
    assert_null(cv_parse_refresh("50%", &pct, &secs));
    assert_int_equal(pct, 50);
    assert_int_equal(secs, 0);
    assert_null(cv_parse_refresh("6h", &pct, &secs));
    assert_int_equal(pct, 0);
    assert_int_equal(secs, 21600);
    assert_null(cv_parse_refresh("90", &pct, &secs));
    assert_int_equal(secs, 90);
    assert_null(cv_parse_refresh("1%", &pct, &secs));
    assert_null(cv_parse_refresh("99%", &pct, &secs));
    static const char *bad[] = { "0%", "100%", "150%", "%", "5q", "-5%",
                                 "50%%", "12345678%", "0", "", "abc", NULL };
    size_t i;
    for (i = 0; bad[i]; ++i) {
        assert_non_null(cv_parse_refresh(bad[i], &pct, &secs));
    }
}

static void urls(void **state)
{
    assert_null(cv_parse_http_url("http://ocsp.example.org", pool));
    assert_null(cv_parse_http_url("https://ocsp.example.org:8443/x", pool));
    assert_null(cv_parse_http_url("http://127.0.0.1:4711/ocsp", pool));
    assert_null(cv_parse_http_url("http://[::1]:4711/", pool));
    assert_non_null(cv_parse_http_url("ftp://x", pool));
    assert_non_null(cv_parse_http_url("not-a-url", pool));
    assert_non_null(cv_parse_http_url("http://", pool));
    assert_non_null(cv_parse_http_url("/ocsp", pool));
    assert_non_null(cv_parse_http_url("file:///etc/passwd", pool));
    assert_non_null(cv_parse_http_url("http://a b/", pool));
    assert_non_null(cv_parse_http_url("", pool));
}

static void cache_spec(void **state)
{
    const char *prov = NULL, *args = NULL;
    assert_null(cv_parse_cache_spec("shmcb", &prov, &args, pool));
    assert_string_equal(prov, "shmcb");
    assert_null(args);
    assert_null(cv_parse_cache_spec("shmcb:/run/x(1048576)", &prov, &args, pool));
    assert_string_equal(prov, "shmcb");
    assert_string_equal(args, "/run/x(1048576)");
    assert_null(cv_parse_cache_spec("memcache:127.0.0.1:11211", &prov, &args,
                                    pool));
    assert_string_equal(prov, "memcache");
    assert_string_equal(args, "127.0.0.1:11211");
    assert_non_null(cv_parse_cache_spec("", &prov, &args, pool));
    assert_non_null(cv_parse_cache_spec(":x", &prov, &args, pool));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seconds_accepted), cmocka_unit_test(seconds_refused),
        cmocka_unit_test(on_off), cmocka_unit_test(off_or_seconds),
        cmocka_unit_test(bytes), cmocka_unit_test(refresh),
        cmocka_unit_test(urls), cmocka_unit_test(cache_spec),
    };
    int rc;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
