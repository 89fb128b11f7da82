/* Seed writer for the staple_record fuzz target, run by fuzz/make_seeds.py:
 * wraps one DER file into a record with the module's own encoder.
 *
 *   make_record_seeds IN.der OUT status flags thisUpdate nextUpdate fetched
 *                     id_len
 *
 * The id is id_len bytes counting up from 0xA0 (a SHA-1 id is 20). */
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "staple_record.h"

int main(int argc, char **argv)
{
    static unsigned char der[1 << 20], id[STAPLE_RECORD_MAX_ID];
    apr_pool_t *p;
    staple_record r = { 0 };
    unsigned char *buf;
    apr_size_t len, i;
    FILE *f;

    if (argc != 9) {
        fprintf(stderr, "usage: %s IN OUT status flags this next fetched "
                "id_len\n", argv[0]);
        return 2;
    }
    if (!(f = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        return 1;
    }
    r.der_len = fread(der, 1, sizeof(der), f);
    fclose(f);
    r.der = der;
    r.cert_status = atoi(argv[3]);
    r.flags = (unsigned)strtoul(argv[4], NULL, 0);
    r.this_update = strtoll(argv[5], NULL, 10);
    r.next_update = strtoll(argv[6], NULL, 10);
    r.fetched_at = strtoll(argv[7], NULL, 10);
    r.id_len = (apr_size_t)atoi(argv[8]);
    for (i = 0; i < sizeof(id); ++i)
        id[i] = (unsigned char)(0xA0 + i);
    r.id = id;
    apr_initialize();
    apr_pool_create(&p, NULL);
    if (staple_record_encode(&r, &buf, &len, p) != APR_SUCCESS) {
        fprintf(stderr, "staple_record_encode refused\n");
        return 1;
    }
    if (!(f = fopen(argv[2], "wb")) || fwrite(buf, 1, len, f) != len
        || fclose(f)) {
        perror(argv[2]);
        return 1;
    }
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}
