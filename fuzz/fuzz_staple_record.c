/* libFuzzer target: the store/cache record decoder, staple_record_decode(),
 * which reads store files and shared-cache entries written by anyone who
 * could write there.
 *
 * Besides the sanitizers (the input is copied into a buffer of exactly its
 * length, so any read past it is caught), it aborts when a promise breaks:
 * an accepted record has an id of 1..STAPLE_RECORD_MAX_ID bytes and a
 * non-empty DER, both inside the input, nextUpdate not before thisUpdate;
 * and staple_record_encode() of what was decoded gives back the input
 * (except the reserved byte, which the decoder ignores). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "staple_record.h"

static apr_pool_t *root_pool;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz_staple_record: broken promise: %s\n",     \
                    #cond);                                                 \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* Offset of the reserved byte: after the magic and the status. */
#define RESERVED_AT 5

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&root_pool, NULL) != APR_SUCCESS)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1), *again = NULL;
    apr_size_t again_len = 0;
    staple_record r;
    const char *why;
    apr_pool_t *p;

    if (copy == NULL)
        abort();
    memcpy(copy, data, len);
    why = staple_record_decode(&r, copy, len);
    if (why == NULL) {
        CHECK(r.id_len >= 1 && r.id_len <= STAPLE_RECORD_MAX_ID);
        CHECK(r.id >= copy && r.id + r.id_len <= copy + len);
        CHECK(r.der_len >= 1);
        CHECK(r.der >= r.id + r.id_len && r.der + r.der_len == copy + len);
        CHECK(r.next_update >= r.this_update);
        CHECK(r.cert_status >= 0 && r.cert_status <= 255);
        CHECK(r.flags <= 0xffff);
        if (apr_pool_create(&p, root_pool) != APR_SUCCESS)
            abort();
        CHECK(staple_record_encode(&r, &again, &again_len, p)
              == APR_SUCCESS);
        CHECK(again_len == len);
        CHECK(memcmp(again, copy, RESERVED_AT) == 0);
        CHECK(memcmp(again + RESERVED_AT + 1, copy + RESERVED_AT + 1,
                     len - RESERVED_AT - 1) == 0);
        apr_pool_destroy(p);
    }
    else {
        CHECK(*why != '\0');
    }
    free(copy);
    return 0;
}
