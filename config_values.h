/* config_values: parsing of directive values, apart from httpd so that every
 * accepted and refused form is unit tested. Each parser returns NULL on
 * success or a sentence saying what is accepted; the directive handler puts
 * the directive's name and the value in front. */
#ifndef CONFIG_VALUES_H
#define CONFIG_VALUES_H

#include <apr_pools.h>

/* "90", "90s", "30m", "6h", "2d": a whole number of seconds in [min, max]. */
const char *cv_parse_seconds(const char *s, long min, long max, long *out);

/* "on" / "off" (any case). */
const char *cv_parse_on_off(const char *s, int *out);

/* "off" (0) or a duration as cv_parse_seconds in [1, max]. */
const char *cv_parse_off_or_seconds(const char *s, long max, long *out);

/* Byte counts: "65536", "64k", "1m" (KiB/MiB), in [min, max]. */
const char *cv_parse_bytes(const char *s, long min, long max, long *out);

/* OCSPStapleRefresh: "50%" (1..99) sets *pct; a duration sets *seconds. The
 * other output is set to 0. */
const char *cv_parse_refresh(const char *s, int *pct, long *seconds);

/* An absolute http:// or https:// URL with a host. */
const char *cv_parse_http_url(const char *s, apr_pool_t *p);

/* "provider" or "provider:args" for OCSPStapleCache. */
const char *cv_parse_cache_spec(const char *s, const char **provider,
                                const char **args, apr_pool_t *p);

#endif
