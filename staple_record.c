#include "staple_record.h"

#include <string.h>

/* Layout (big-endian): magic "OSR1" | status u8 | reserved u8 | flags u16 |
 * thisUpdate i64 | nextUpdate i64 | fetched i64 | id_len u8 | id |
 * der_len u32 | der. The DER length must match the rest exactly, so a
 * truncated or padded file is refused. */
static const unsigned char MAGIC[4] = { 'O', 'S', 'R', '1' };
#define FIXED_LEN (4 + 1 + 1 + 2 + 8 + 8 + 8 + 1)
typedef char fixed_len_matches_header[
    FIXED_LEN + STAPLE_RECORD_MAX_ID + 4 == STAPLE_RECORD_MAX_OVERHEAD ? 1 : -1];

static unsigned char *put_u64(unsigned char *b, unsigned long long v)
{
    int i;
    for (i = 7; i >= 0; --i) {
        *b++ = (unsigned char)(v >> (i * 8));
    }
    return b;
}

static unsigned long long get_u64(const unsigned char *b)
{
    unsigned long long v = 0;
    int i;
    for (i = 0; i < 8; ++i) {
        v = (v << 8) | b[i];
    }
    return v;
}

apr_status_t staple_record_encode(const staple_record *r, unsigned char **buf,
                                  apr_size_t *len, apr_pool_t *p)
{
    apr_size_t n;
    unsigned char *b;

    if (!r->id || r->id_len == 0 || r->id_len > STAPLE_RECORD_MAX_ID
        || !r->der || r->der_len == 0 || r->der_len > 0xffffffffUL
        || r->cert_status < 0 || r->cert_status > 255) {
        return APR_EINVAL;
    }
    n = FIXED_LEN + r->id_len + 4 + r->der_len;
    *buf = b = apr_palloc(p, n);
    memcpy(b, MAGIC, 4);
    b += 4;
    *b++ = (unsigned char)r->cert_status;
    *b++ = 0;
    *b++ = (unsigned char)(r->flags >> 8);
    *b++ = (unsigned char)r->flags;
    b = put_u64(b, (unsigned long long)r->this_update);
    b = put_u64(b, (unsigned long long)r->next_update);
    b = put_u64(b, (unsigned long long)r->fetched_at);
    *b++ = (unsigned char)r->id_len;
    memcpy(b, r->id, r->id_len);
    b += r->id_len;
    *b++ = (unsigned char)(r->der_len >> 24);
    *b++ = (unsigned char)(r->der_len >> 16);
    *b++ = (unsigned char)(r->der_len >> 8);
    *b++ = (unsigned char)r->der_len;
    memcpy(b, r->der, r->der_len);
    *len = n;
    return APR_SUCCESS;
}

const char *staple_record_decode(staple_record *r, const unsigned char *buf,
                                 apr_size_t len)
{
    const unsigned char *b = buf;
    apr_size_t rest, der_len;

    memset(r, 0, sizeof(*r));
    if (!buf || len < FIXED_LEN) {
        return "truncated header";
    }
    if (memcmp(b, MAGIC, 4)) {
        return "not a mod_ocspstaple record (bad magic)";
    }
    b += 4;
    r->cert_status = *b++;
    b++;
    r->flags = ((unsigned)b[0] << 8) | b[1];
    b += 2;
    r->this_update = (long long)get_u64(b);
    r->next_update = (long long)get_u64(b + 8);
    r->fetched_at = (long long)get_u64(b + 16);
    b += 24;
    r->id_len = *b++;
    rest = len - FIXED_LEN;
    if (r->id_len == 0 || r->id_len > STAPLE_RECORD_MAX_ID
        || rest < r->id_len + 4) {
        return "truncated or invalid certificate id";
    }
    r->id = b;
    b += r->id_len;
    rest -= r->id_len + 4;
    der_len = ((apr_size_t)b[0] << 24) | ((apr_size_t)b[1] << 16)
              | ((apr_size_t)b[2] << 8) | b[3];
    b += 4;
    if (der_len == 0 || der_len != rest) {
        return der_len > rest ? "truncated response" : "bytes after the response";
    }
    r->der = b;
    r->der_len = der_len;
    if (r->next_update < r->this_update) {
        return "nextUpdate before thisUpdate";
    }
    return NULL;
}
