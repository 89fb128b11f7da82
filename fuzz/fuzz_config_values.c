/* libFuzzer target: the directive value parsers of config_values.h.
 *
 * Input: byte 0 % 7 chooses the parser (0 seconds, 1 on_off,
 * 2 off_or_seconds, 3 bytes, 4 refresh, 5 http_url, 6 cache_spec); byte 1 % 4
 * chooses the allowed range for the parsers that take one (0: what the module
 * passes, 1: 0..LONG_MAX, 2: LONG_MIN..LONG_MAX, 3: 1..1); the rest is the
 * value, as a C string (httpd hands directive values over NUL-terminated, so
 * the value ends at the first NUL).
 *
 * Besides the sanitizers (the value sits in a buffer of exactly its length),
 * it aborts when a promise breaks: a refusal is a non-empty sentence; an
 * accepted value is in range; outputs are untouched on refusal. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "config_values.h"

static apr_pool_t *root_pool;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz_config_values: broken promise: %s "      \
                    "(parser %d, value \"%s\")\n", #cond, which, s);        \
            abort();                                                        \
        }                                                                   \
    } while (0)

#define UNTOUCHED 0x5A5A5A5AL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&root_pool, NULL) != APR_SUCCESS)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
    static const long ranges[4][2] = {
        { 0, 0 }, { 0, LONG_MAX }, { LONG_MIN, LONG_MAX }, { 1, 1 } };
    long min, max, v = UNTOUCHED, secs = UNTOUCHED;
    int which, r, flag = (int)UNTOUCHED, pct = (int)UNTOUCHED;
    const char *why, *prov = NULL, *args = NULL;
    apr_pool_t *p;
    char *s;
    size_t n;

    if (len < 2)
        return 0;
    which = data[0] % 7;
    r = data[1] % 4;
    n = strnlen((const char *)data + 2, len - 2);
    if (!(s = malloc(n + 1)))
        abort();
    memcpy(s, data + 2, n);
    s[n] = '\0';
    if (apr_pool_create(&p, root_pool) != APR_SUCCESS)
        abort();
    min = ranges[r][0];
    max = ranges[r][1];

    switch (which) {
    case 0:
        if (r == 0) {
            min = 1;
            max = 300;
        }
        why = cv_parse_seconds(s, min, max, &v);
        CHECK(why ? v == UNTOUCHED : (v >= min && v <= max));
        break;
    case 1:
        why = cv_parse_on_off(s, &flag);
        CHECK(why ? flag == (int)UNTOUCHED : (flag == 0 || flag == 1));
        break;
    case 2:
        if (r == 0)
            max = 30L * 86400;
        why = cv_parse_off_or_seconds(s, max, &v);
        CHECK(why ? v == UNTOUCHED : (v >= 0 && v <= max));
        break;
    case 3:
        if (r == 0) {
            min = 1024;
            max = 16L * 1024 * 1024;
        }
        why = cv_parse_bytes(s, min, max, &v);
        CHECK(why ? v == UNTOUCHED : (v >= min && v <= max));
        break;
    case 4:
        why = cv_parse_refresh(s, &pct, &secs);
        if (why)
            CHECK(pct == (int)UNTOUCHED && secs == UNTOUCHED);
        else
            CHECK((pct >= 1 && pct <= 99 && secs == 0)
                  || (pct == 0 && secs >= 1 && secs <= 366L * 86400));
        break;
    case 5:
        why = cv_parse_http_url(s, p);
        CHECK(why || !strpbrk(s, " \t\r\n"));
        break;
    default:
        why = cv_parse_cache_spec(s, &prov, &args, p);
        if (!why) {
            CHECK(prov && *prov && !strchr(prov, ':'));
            CHECK(!args || (*args && strlen(prov) + 1 + strlen(args) == n));
            CHECK(strncmp(prov, s, strlen(prov)) == 0);
        }
        break;
    }
    CHECK(!why || *why);
    apr_pool_destroy(p);
    free(s);
    return 0;
}
