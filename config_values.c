#include "config_values.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_uri.h>

/* Whole number with an optional one-letter unit; rejects signs, spaces,
 * fractions and overflow, which strtol alone would let through. */
static const char *parse_scaled(const char *s, const char *units,
                                const long *factors, long *out)
{
    const char *p = s;
    long long v = 0;
    long factor = 1;

    if (!s || !*s) {
        return "is empty";
    }
    if (!isdigit((unsigned char)*p)) {
        return "is not a whole number";
    }
    for (; isdigit((unsigned char)*p); ++p) {
        v = v * 10 + (*p - '0');
        if (v > LONG_MAX / 1024 / 1024) {
            return "is too large";
        }
    }
    if (*p) {
        const char *u = strchr(units, tolower((unsigned char)*p));
        if (!u || p[1]) {
            return "has an unknown unit";
        }
        factor = factors[u - units];
    }
    if (v > LONG_MAX / factor) {
        return "is too large";
    }
    *out = (long)(v * factor);
    return NULL;
}

const char *cv_parse_seconds(const char *s, long min, long max, long *out)
{
    static const long factors[] = { 1, 60, 3600, 86400 };
    long v;
    const char *err = parse_scaled(s, "smhd", factors, &v);
    if (err || v < min || v > max) {
        return "expects a duration: seconds, or a number with s, m, h or d "
               "(\"90\", \"30m\", \"6h\"), within the allowed range";
    }
    *out = v;
    return NULL;
}

const char *cv_parse_on_off(const char *s, int *out)
{
    if (s && !strcasecmp(s, "on")) {
        *out = 1;
        return NULL;
    }
    if (s && !strcasecmp(s, "off")) {
        *out = 0;
        return NULL;
    }
    return "expects \"on\" or \"off\"";
}

const char *cv_parse_off_or_seconds(const char *s, long max, long *out)
{
    if (s && !strcasecmp(s, "off")) {
        *out = 0;
        return NULL;
    }
    if (cv_parse_seconds(s, 1, max, out)) {
        return "expects \"off\" or a duration (\"30\", \"10m\", \"1h\")";
    }
    return NULL;
}

const char *cv_parse_bytes(const char *s, long min, long max, long *out)
{
    static const long factors[] = { 1024, 1024 * 1024 };
    long v;
    const char *err = parse_scaled(s, "km", factors, &v);
    if (err || v < min || v > max) {
        return "expects a size in bytes, optionally with k or m "
               "(\"65536\", \"64k\"), within the allowed range";
    }
    *out = v;
    return NULL;
}

const char *cv_parse_refresh(const char *s, int *pct, long *seconds)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 1 && s[n - 1] == '%') {
        char buf[8];
        long v;
        static const long none[] = { 1 };
        if (n - 1 >= sizeof(buf)) {
            return "expects a share of the validity from 1% to 99%, or a "
                   "duration (\"90\", \"30m\", \"6h\")";
        }
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        if (parse_scaled(buf, "", none, &v) || v < 1 || v > 99) {
            return "expects a share of the validity from 1% to 99%, or a "
                   "duration (\"90\", \"30m\", \"6h\")";
        }
        *pct = (int)v;
        *seconds = 0;
        return NULL;
    }
    if (cv_parse_seconds(s, 1, 366L * 86400, seconds)) {
        return "expects a share of the validity from 1% to 99%, or a "
               "duration (\"90\", \"30m\", \"6h\")";
    }
    *pct = 0;
    return NULL;
}

const char *cv_parse_http_url(const char *s, apr_pool_t *p)
{
    apr_uri_t uri;
    if (!s || apr_uri_parse(p, s, &uri) != APR_SUCCESS || !uri.scheme
        || (strcasecmp(uri.scheme, "http") && strcasecmp(uri.scheme, "https"))
        || !uri.hostname || !*uri.hostname) {
        return "expects an absolute http:// or https:// URL with a host";
    }
    if (strpbrk(s, " \t\r\n")) {
        return "expects a URL without white space";
    }
    return NULL;
}

const char *cv_parse_cache_spec(const char *s, const char **provider,
                                const char **args, apr_pool_t *p)
{
    const char *colon;
    if (!s || !*s || *s == ':') {
        return "expects a socache provider name, optionally followed by "
               "\":arguments\" (\"shmcb\", \"shmcb:/path(1048576)\", "
               "\"memcache:host:port\", \"redis:host:port\")";
    }
    colon = strchr(s, ':');
    if (colon) {
        *provider = apr_pstrmemdup(p, s, (apr_size_t)(colon - s));
        *args = colon[1] ? apr_pstrdup(p, colon + 1) : NULL;
    }
    else {
        *provider = apr_pstrdup(p, s);
        *args = NULL;
    }
    return NULL;
}
