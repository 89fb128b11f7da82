/* responder_http: asks OCSP responders over HTTP with libcurl's multi
 * interface, many certificates in parallel (design section 4.9). It knows
 * nothing of OCSP beyond the transport: a caller-supplied check decides
 * whether an answer is acceptable, and an unacceptable answer makes it try
 * the certificate's next URL. No httpd here. */
#ifndef RESPONDER_HTTP_H
#define RESPONDER_HTTP_H

#include <apr_pools.h>
#include <apr.h>

/* RFC 5019: requests whose base64+URL-encoded form is shorter than this go
 * by GET, so that caches in front of responders can answer them. */
#define RESPONDER_HTTP_GET_LIMIT 255

typedef enum {
    RESPONDER_HTTP_OK = 0,
    RESPONDER_HTTP_NETWORK,    /* resolve, connect, TLS, reset */
    RESPONDER_HTTP_TIMEOUT,    /* per-exchange or overall deadline */
    RESPONDER_HTTP_STATUS,     /* HTTP status other than 200 */
    RESPONDER_HTTP_TOO_LARGE,  /* body over max_size */
    RESPONDER_HTTP_REJECTED,   /* the caller's check refused the body */
    RESPONDER_HTTP_BAD_URL,    /* not http(s), or a redirect elsewhere */
    RESPONDER_HTTP_INTERNAL
} responder_http_error;

typedef struct responder_http_job responder_http_job;

/* Called once per received HTTP 200 body. Returns 1 to accept it (the job is
 * done), 0 to reject it (the job goes on with its next URL); on 0 it may set
 * *why to a sentence kept in job->message. */
typedef int responder_http_check_fn(responder_http_job *job,
                                    const unsigned char *body, apr_size_t len,
                                    const char **why);

struct responder_http_job {
    /* in */
    const char * const *urls;  /* responder URLs, tried in order */
    int nurls;
    const unsigned char *request; /* DER of the OCSP request */
    apr_size_t request_len;
    responder_http_check_fn *check;
    void *baton;               /* for the caller */
    /* out */
    responder_http_error error;/* of the last URL tried, OK when accepted */
    const char *message;       /* what went wrong, naming the URL */
    const char *url;           /* URL of the last attempt */
    long http_status;          /* of the last attempt, 0 when none */
    int used_post;             /* the last attempt went by POST */
    unsigned char *body;       /* accepted body (pool memory) or NULL */
    apr_size_t body_len;
    int attempts;              /* exchanges made */
};

typedef struct {
    long exchange_timeout_ms;  /* one connect+send+receive, per URL */
    long long deadline_ms;     /* absolute, ms since the epoch; 0 = none */
    const char *proxy;         /* "http://host:port" or NULL for none */
    apr_size_t max_size;       /* larger bodies are refused */
    int max_parallel;          /* transfers at once (all hosts) */
    int max_per_host;          /* transfers at once to one host */
    const char *user_agent;
    volatile apr_uint32_t *cancel; /* when non-NULL and non-zero, the run
                                      ends as at the deadline, within
                                      100 ms (set from another thread) */
} responder_http_config;

/* GET URL for this request at base, or NULL when it must go by POST. */
const char *responder_http_get_url(const char *base,
                                   const unsigned char *request,
                                   apr_size_t len, apr_pool_t *p);

/* Runs all jobs to completion (accepted, every URL failed, or the deadline).
 * Returns APR_SUCCESS when the run itself worked, whatever the jobs' own
 * outcomes; each job tells its own. */
apr_status_t responder_http_run(responder_http_job *jobs, int njobs,
                                const responder_http_config *cfg,
                                apr_pool_t *p);

/* Short stable name of an error class, for metrics labels. */
const char *responder_http_error_name(responder_http_error e);

/* curl_global_init once per process, before threads exist. */
apr_status_t responder_http_global_init(void);

#endif
