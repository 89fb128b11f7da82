/* core_util: see core_util.h. */
#include "core_util.h"

#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <openssl/err.h>

/* Upper bound for the OpenSSL detail of one message. */
#define CORE_MAX_ERR_DETAIL 600

#if OPENSSL_VERSION_NUMBER < 0x30000000L
/* 1.1.1 has the same information under the older name. */
#define ERR_get_error_all(file, line, func, data, flags) \
    ERR_get_error_line_data((file), (line), (data), (flags))
#endif

const char *core_openssl_errors(apr_pool_t *p, int *ocsp_reason)
{
    char buf[256];
    char *out = apr_pcalloc(p, CORE_MAX_ERR_DETAIL + 1);
    size_t used = 0;
    unsigned long e;
    const char *data;
    int flags;

    if (ocsp_reason)
        *ocsp_reason = 0;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *item;

        if (ocsp_reason && *ocsp_reason == 0 && ERR_GET_LIB(e) == ERR_LIB_OCSP)
            *ocsp_reason = ERR_GET_REASON(e);
        /* Keep draining even when the text is full. */
        if (used >= CORE_MAX_ERR_DETAIL)
            continue;
        ERR_error_string_n(e, buf, sizeof(buf));
        if (data && (flags & ERR_TXT_STRING) && *data)
            item = apr_psprintf(p, "%s%s (%s)", used ? "; " : "", buf, data);
        else
            item = apr_psprintf(p, "%s%s", used ? "; " : "", buf);
        apr_cpystrn(out + used, item, CORE_MAX_ERR_DETAIL + 1 - used);
        used = strlen(out);
    }
    return out;
}

int core_asn1_time_to_epoch(const ASN1_TIME *t, long long *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    /* Never with NULL: ASN1_TIME_to_tm would then report the clock. */
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    *out = (long long)timegm(&tm);
    return 1;
}

const char *core_time_iso(long long t, char *buf, apr_size_t size)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (size == 0)
        return buf;
    if (t == 0 || (long long)tt != t || !gmtime_r(&tt, &tm)
        || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        buf[0] = '\0';
    }
    return buf;
}
