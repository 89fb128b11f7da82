/* core_util: small helpers the core files share (OpenSSL's error queue,
 * ASN.1 times, time as text). No httpd here. */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H

#include <apr_pools.h>
#include <openssl/asn1.h>

/* Empties this thread's OpenSSL error queue (later TLS calls on it must not
 * see our leftovers) and returns its lines joined with "; ", at most about
 * 600 characters, or "" when it was empty. *ocsp_reason (if given) gets the
 * reason code of the first OCSP-library error, or 0. */
const char *core_openssl_errors(apr_pool_t *p, int *ocsp_reason);

/* Seconds since the epoch of an ASN.1 time; 0 for NULL or unreadable. */
int core_asn1_time_to_epoch(const ASN1_TIME *t, long long *out);

/* "2025-11-23T20:04:05Z" into buf (>= 21 bytes); "" for 0 or a time that
 * cannot be shown. Returns buf. */
const char *core_time_iso(long long t, char *buf, apr_size_t size);

#endif
