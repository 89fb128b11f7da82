/* carry_merge: what a restarted generation keeps of the previous one's
 * per-certificate state (ocspstaple_carry.c moves it across). Counters add
 * up; an outage goes on, with its failure count, last result and backoff,
 * unless this start found a newer response. No httpd here. */
#ifndef CARRY_MERGE_H
#define CARRY_MERGE_H

#include "status_table.h"

#define CARRY_RESULT_LEN 192

typedef struct {
    unsigned long served, unserved, fetches, fetch_errors;
    unsigned long errors[STATUS_ERR_CLASSES];
    unsigned long failures;             /* consecutive failed fetches */
    int cert_status;                    /* of the response in use, or -1 */
    long long this_update;              /* of the response in use */
    long long last_fetch, next_refresh;
    int notified;                       /* state last told, + 1; 0 none */
    char last_result[CARRY_RESULT_LEN];
} carry_state;

/* Merges old (before the restart) into cur (after this start's work). */
void carry_merge(carry_state *cur, const carry_state *old);

#endif
