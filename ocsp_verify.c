/* ocsp_verify: decides whether a responder's answer may be stapled for a
 * certificate (design section 4.3). See ocsp_verify.h. No httpd here.
 *
 * The checks run in a fixed order so that the first failure names the real
 * cause: size, DER, trailing bytes, responder status, basic response,
 * signature and signer authorisation, matching SingleResponse, validity
 * window, certificate status. */
#include <limits.h>
#include <string.h>
#include <time.h>

#include <apr_strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509_vfy.h>

#include "ocsp_verify.h"
#include "core_util.h"


void ocsp_verify_params_default(ocsp_verify_params *params)
{
    if (params == NULL)
        return;
    memset(params, 0, sizeof(*params));
    params->now = (long long)time(NULL);
    params->skew = 300;
    params->expired_grace = 0;
    params->no_next_update_max_age = 3600;
    params->max_size = 65536;
}

/* RFC 6960 spellings; OCSP_response_status_str() gives lower-case ones
 * ("trylater") that match nothing an operator would search for. */
static const char *responder_status_name(int s)
{
    switch (s) {
    case OCSP_RESPONSE_STATUS_SUCCESSFUL:       return "successful";
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST: return "malformedRequest";
    case OCSP_RESPONSE_STATUS_INTERNALERROR:    return "internalError";
    case OCSP_RESPONSE_STATUS_TRYLATER:         return "tryLater";
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:      return "sigRequired";
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:     return "unauthorized";
    }
    return OCSP_response_status_str(s);
}


/* " (OpenSSL: ...)" or "" for appending to a message. */
static const char *openssl_detail(apr_pool_t *p, int *ocsp_reason)
{
    const char *d = core_openssl_errors(p, ocsp_reason);
    return *d ? apr_pstrcat(p, " (OpenSSL: ", d, ")", NULL) : "";
}


static const char *fmt_time(apr_pool_t *p, long long t)
{
    char buf[32];
    return *core_time_iso(t, buf, sizeof(buf))
           ? apr_pstrdup(p, buf)
           : apr_psprintf(p, "@%" APR_INT64_T_FMT, (apr_int64_t)t);
}

/* Explains why OCSP_basic_verify refused, from the first OCSP error. */
static const char *signature_reason(int reason)
{
    switch (reason) {
    case OCSP_R_SIGNER_CERTIFICATE_NOT_FOUND:
        return "signer certificate not found: the responder ID names neither "
               "the issuer nor a certificate included in the response";
    case OCSP_R_SIGNATURE_FAILURE:
    case OCSP_R_NO_SIGNER_KEY:
        return "the response signature does not verify with the signer's key";
    case OCSP_R_CERTIFICATE_VERIFY_ERROR:
        return "signer is not the issuer and not a delegated responder "
               "issued by it (its certificate does not chain to the issuer, "
               "or is not valid now)";
    case OCSP_R_MISSING_OCSPSIGNING_USAGE:
    case OCSP_R_ROOT_CA_NOT_TRUSTED:
        return "signer is not the issuer and not a delegated responder with "
               "id-kp-OCSPSigning issued by it";
    case OCSP_R_RESPONSE_CONTAINS_NO_REVOCATION_DATA:
        return "the response contains no SingleResponse";
    }
    return "signature or signer authorisation check failed";
}

/* The BasicOCSPResponse inside a successful OCSPResponse (DER that
 * d2i_OCSP_RESPONSE accepted), parsed in the keyless library context: the
 * certificates it carries come without their public keys, which OpenSSL
 * 3.0 would otherwise decode at great cost although the one that matters,
 * the signer's, is remembered parsed per issuer (ocsp_issuer_signer). The
 * same template as OCSP_response_get1_basic, only another library context.
 * NULL whenever anything is unusual: the caller then takes the usual way,
 * which gives the same answer or the proper error. */
static OCSP_BASICRESP *basic_keyless(const unsigned char *der, long len,
                                     OSSL_LIB_CTX *keyless)
{
    /* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED,
     *     responseBytes [0] EXPLICIT SEQUENCE { responseType OID,
     *                                           response OCTET STRING } } */
    const unsigned char *p = der, *end = der + len;
    const ASN1_OBJECT *basic = OBJ_nid2obj(NID_id_pkix_OCSP_basic);
    OCSP_BASICRESP *bs = NULL;
    long l;
    int tag, cls;

    if (!keyless || !basic)
        return NULL;
    ERR_set_mark();
#define STEP(cons, want_cls, want_tag)                                     \
    (ASN1_get_object(&p, &l, &tag, &cls, (long)(end - p)) == (cons)       \
     && cls == (want_cls) && tag == (want_tag))
    if (STEP(V_ASN1_CONSTRUCTED, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE)
        && (end = p + l, STEP(0, V_ASN1_UNIVERSAL, V_ASN1_ENUMERATED))
        && (p += l, STEP(V_ASN1_CONSTRUCTED, V_ASN1_CONTEXT_SPECIFIC, 0))
        && STEP(V_ASN1_CONSTRUCTED, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE)
        && STEP(0, V_ASN1_UNIVERSAL, V_ASN1_OBJECT)
        && l == (long)OBJ_length(basic)
        && memcmp(p, OBJ_get0_data(basic), (size_t)l) == 0
        && (p += l, STEP(0, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING)))
        bs = (OCSP_BASICRESP *)ASN1_item_d2i_ex(NULL, &p, l,
                                                ASN1_ITEM_rptr(OCSP_BASICRESP),
                                                keyless, NULL);
#undef STEP
    /* One certificate at most: it can only be the signer (whose full copy
     * OpenSSL takes from `certs`) or of no use. With more, one of them
     * might be needed, with its key, on the way from the signer to the
     * issuer; let OpenSSL parse them all as usual. */
    if (bs && sk_X509_num(OCSP_resp_get0_certs(bs)) > 1) {
        OCSP_BASICRESP_free(bs);
        bs = NULL;
    }
    ERR_pop_to_mark();
    return bs;
}

static void result_init(ocsp_verify_result *res)
{
    memset(res, 0, sizeof(*res));
    res->error = OCSP_VERIFY_INTERNAL;
    res->message = "internal error";
    res->responder_status = -1;
    res->cert_status = -1;
    res->revocation_reason = -1;
}

/* Records the failure and jumps to the single cleanup path. */
#define FAIL(code, ...)                                      \
    do {                                                     \
        res->error = (code);                                 \
        res->message = apr_psprintf(p, __VA_ARGS__);         \
        goto done;                                           \
    } while (0)

ocsp_verify_error ocsp_verify_window(ocsp_verify_result *res,
                                     const ocsp_verify_params *params,
                                     apr_pool_t *p)
{
    long long now = params->now, skew = params->skew > 0 ? params->skew : 0;
    long grace = params->expired_grace > 0 ? params->expired_grace : 0;

    res->expired = 0;
    if (res->this_update > now + skew)
        FAIL(OCSP_VERIFY_NOT_YET_VALID, "thisUpdate %s is %" APR_INT64_T_FMT
             " s in the future (clock skew tolerated: %" APR_INT64_T_FMT " s)",
             fmt_time(p, res->this_update),
             (apr_int64_t)(res->this_update - now), (apr_int64_t)skew);
    if (res->has_next_update) {
        if (res->next_update < now - skew - grace)
            FAIL(OCSP_VERIFY_EXPIRED, "nextUpdate %s is %" APR_INT64_T_FMT
                 " s in the past (tolerated: %" APR_INT64_T_FMT " s skew + "
                 "%ld s grace)", fmt_time(p, res->next_update),
                 (apr_int64_t)(now - res->next_update), (apr_int64_t)skew,
                 grace);
        if (res->next_update < now - skew)
            res->expired = 1;       /* accepted only thanks to the grace */
    }
    else if (now > res->next_update + skew) {
        FAIL(OCSP_VERIFY_TOO_OLD, "no nextUpdate, and thisUpdate %s is "
             "%" APR_INT64_T_FMT " s old, over the maximum age of %ld s",
             fmt_time(p, res->this_update),
             (apr_int64_t)(now - res->this_update),
             params->no_next_update_max_age);
    }
    res->error = OCSP_VERIFY_OK;
    return OCSP_VERIFY_OK;
done:
    return res->error;
}

ocsp_verify_error ocsp_verify_response(const ocsp_cert *cert,
                                       const unsigned char *der,
                                       apr_size_t len,
                                       const ocsp_verify_params *params,
                                       ocsp_verify_result *res,
                                       apr_pool_t *p)
{
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    X509_STORE *store = NULL;
    STACK_OF(X509) *certs = NULL;
    X509 *signer = NULL;            /* remembered responder certificate */
    int signer_known = 0, all_ours = 0, known_ok = 0;
    OCSP_CERTID *cid = NULL;        /* CertID recomputed with cid_md */
    const EVP_MD *cid_md = NULL;
    OCSP_SINGLERESP *single = NULL;
    ASN1_GENERALIZEDTIME *revtime = NULL, *thisupd = NULL, *nextupd = NULL;
    ocsp_verify_params defaults;
    const unsigned char *q;
    int status, reason = -1, i, n, unsupported = 0, why;

    /* Start from an empty queue so that the detail below is ours. */
    ERR_clear_error();
    if (res == NULL)
        return OCSP_VERIFY_INTERNAL;
    result_init(res);
    if (p == NULL)
        return OCSP_VERIFY_INTERNAL;
    if (cert == NULL || cert->leaf == NULL || cert->issuer == NULL
        || cert->certid == NULL)
        FAIL(OCSP_VERIFY_INTERNAL, "internal error: no certificate or issuer "
             "to check the response against");
    if (params == NULL) {
        ocsp_verify_params_default(&defaults);
        params = &defaults;
    }

    /* 1. Size cap before touching the bytes. */
    if (params->max_size && len > params->max_size)
        FAIL(OCSP_VERIFY_TOO_LARGE, "response of %" APR_SIZE_T_FMT " bytes "
             "exceeds the limit of %" APR_SIZE_T_FMT " bytes",
             len, params->max_size);

    /* 2. DER of exactly one OCSPResponse. */
    if (der == NULL || len == 0)
        FAIL(OCSP_VERIFY_PARSE, "response is empty");
    if (len > (apr_size_t)LONG_MAX)
        FAIL(OCSP_VERIFY_TOO_LARGE, "response of %" APR_SIZE_T_FMT " bytes "
             "is too large to parse", len);
    q = der;
    resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    if (resp == NULL)
        FAIL(OCSP_VERIFY_PARSE, "%" APR_SIZE_T_FMT " bytes are not a DER "
             "OCSPResponse (truncated or garbage)%s", len,
             openssl_detail(p, NULL));
    if (q != der + len)
        FAIL(OCSP_VERIFY_TRAILING, "%" APR_SIZE_T_FMT " trailing byte(s) "
             "after the OCSPResponse of %ld bytes",
             len - (apr_size_t)(q - der), (long)(q - der));

    /* 3. Responder status. */
    status = OCSP_response_status(resp);
    res->responder_status = status;
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        FAIL(OCSP_VERIFY_RESPONDER_STATUS, "responder status %s (%d)",
             responder_status_name(status), status);

    /* 4. A basic response inside. */
    if (cert->shared)
        bs = basic_keyless(der, (long)len, ocsp_issuer_keyless(cert->shared));
    if (bs == NULL)
        bs = OCSP_response_get1_basic(resp);
    if (bs == NULL)
        FAIL(OCSP_VERIFY_NOT_BASIC, "successful response without a basic "
             "OCSP response inside%s", openssl_detail(p, NULL));
    if (!core_asn1_time_to_epoch(OCSP_resp_get0_produced_at(bs), &res->produced_at))
        res->produced_at = 0;       /* informational only */

    /* 5. Signature and signer authorisation. The only trust anchor is the
     * certificate's issuer (usually an intermediate, hence PARTIAL_CHAIN):
     * the signer must be the issuer itself, or a certificate the issuer
     * signed that carries id-kp-OCSPSigning; OpenSSL checks both. The issuer
     * also goes into `certs` so that a response it signed without embedding
     * any certificate finds its signer. No OCSP_TRUSTOTHER: that would skip
     * the chain check for whatever `certs` holds. */
    if (cert->shared) {
        /* The issuer's own store, and the responder certificate OpenSSL
         * will pick from the response, parsed in full once per issuer:
         * put after the issuer in `certs`, where OpenSSL looks first, it is
         * the same certificate (same DER) that it would have taken from the
         * response, and everything below is checked as before. */
        int by_issuer = ocsp_issuer_is_responder(cert->shared, bs);
        store = ocsp_issuer_store(cert->shared);
        certs = sk_X509_new_null();
        if (store == NULL || certs == NULL
            || !sk_X509_push(certs, cert->issuer))
            FAIL(OCSP_VERIFY_INTERNAL, "cannot set up signature "
                 "verification%s", openssl_detail(p, NULL));
        if (!by_issuer) {
            X509 *seen = NULL;
            ERR_set_mark();
            if (OCSP_resp_get0_signer(bs, &seen, NULL) && seen
                && (signer = ocsp_issuer_signer(cert->shared, seen,
                                                &signer_known))
                && !sk_X509_push(certs, signer)) {
                X509_free(signer);
                signer = NULL;
            }
            ERR_pop_to_mark();
        }
        all_ours = ocsp_issuer_named_by_all(cert->shared, bs);
        /* The signer's authority, known: the issuer itself, or a
         * responder certificate (these very bytes) that OpenSSL's full
         * check already accepted for this issuer, for answers about this
         * issuer's certificates only. What that check found cannot have
         * changed but for the time: the validity periods are checked now,
         * the CertIDs of this answer are, and OpenSSL checks its signature
         * with the signer's key (OCSP_NOVERIFY leaves out only the chain
         * and authority checks). Only for answers that carry no other
         * certificate (any other might change how OpenSSL builds the
         * chain); anything else takes the full check. */
        n = sk_X509_num(OCSP_resp_get0_certs(bs));
        if (all_ours && (by_issuer ? n == 0 : (signer && signer_known
                                               && n == 1))
            && ocsp_issuer_valid_now(cert->shared, by_issuer ? NULL : signer)) {
            ERR_set_mark();
            known_ok = OCSP_basic_verify(bs, certs, store, OCSP_NOVERIFY) > 0;
            ERR_pop_to_mark();
        }
    }
    else {
        store = X509_STORE_new();
        certs = sk_X509_new_null();
        if (store == NULL || certs == NULL
            || !X509_STORE_add_cert(store, cert->issuer)
            || !X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN)
            || !sk_X509_push(certs, cert->issuer))
            FAIL(OCSP_VERIFY_INTERNAL, "cannot set up signature "
                 "verification%s", openssl_detail(p, NULL));
    }
    if (!known_ok && OCSP_basic_verify(bs, certs, store, 0) <= 0) {
        const char *detail = openssl_detail(p, &why);
        FAIL(OCSP_VERIFY_SIGNATURE, "%s%s", signature_reason(why), detail);
    }
    /* Remembered only as an authority for this issuer's certificates:
     * OpenSSL accepted it for an answer that names this issuer alone. */
    if (signer && !signer_known && all_ours)
        ocsp_issuer_remember(cert->shared, signer);
    /* Success can leave notes behind (e.g. a failed lookup that a later
     * one made up for). */
    ERR_clear_error();

    /* 6. The SingleResponse for this certificate. Each one is compared with
     * a CertID recomputed with its own hash algorithm, so SHA-1 (RFC 5019)
     * and SHA-256 CertIDs both match. */
    n = OCSP_resp_count(bs);
    for (i = 0; i < n && single == NULL; i++) {
        OCSP_SINGLERESP *s = OCSP_resp_get0(bs, i);
        const OCSP_CERTID *sid = s ? OCSP_SINGLERESP_get0_id(s) : NULL;
        ASN1_OBJECT *md_oid = NULL;
        const EVP_MD *md;

        if (sid == NULL
            || !OCSP_id_get0_info(NULL, &md_oid, NULL, NULL,
                                  (OCSP_CERTID *)sid)
            || (md = EVP_get_digestbyobj(md_oid)) == NULL) {
            unsupported++;
            continue;
        }
        if (EVP_MD_type(md) == NID_sha1) {
            if (OCSP_id_cmp(cert->certid, sid) == 0)
                single = s;
            continue;
        }
        if (cid == NULL || EVP_MD_type(cid_md) != EVP_MD_type(md)) {
            OCSP_CERTID_free(cid);
            cid_md = md;
            cid = OCSP_cert_to_id(md, cert->leaf, cert->issuer);
            if (cid == NULL)
                FAIL(OCSP_VERIFY_INTERNAL, "cannot compute a CertID with %s%s",
                     OBJ_nid2sn(EVP_MD_type(md)), openssl_detail(p, NULL));
        }
        if (OCSP_id_cmp(cid, sid) == 0)
            single = s;
    }
    if (single == NULL)
        FAIL(OCSP_VERIFY_NO_MATCH, "no SingleResponse for this certificate "
             "(serial %s) among the %d in the response%s",
             cert->serial_hex ? cert->serial_hex : "?", n,
             unsupported ? apr_psprintf(p, "; %d with an unsupported CertID "
                                        "hash", unsupported) : "");

    /* 7. Validity window, against params->now (never the clock: callers
     * decide what "now" is, tests pin it). */
    status = OCSP_single_get0_status(single, &reason, &revtime, &thisupd,
                                     &nextupd);
    if (status < 0)
        FAIL(OCSP_VERIFY_PARSE, "the SingleResponse has no certificate "
             "status%s", openssl_detail(p, NULL));
    res->cert_status = status;
    if (!core_asn1_time_to_epoch(thisupd, &res->this_update))
        FAIL(OCSP_VERIFY_PARSE, "thisUpdate is not a valid time%s",
             openssl_detail(p, NULL));
    if (nextupd) {
        if (!core_asn1_time_to_epoch(nextupd, &res->next_update))
            FAIL(OCSP_VERIFY_PARSE, "nextUpdate is not a valid time%s",
                 openssl_detail(p, NULL));
        res->has_next_update = 1;
        if (res->next_update < res->this_update)
            FAIL(OCSP_VERIFY_PARSE, "nextUpdate %s is before thisUpdate %s",
                 fmt_time(p, res->next_update),
                 fmt_time(p, res->this_update));
    }
    else {
        /* Without nextUpdate the responder promises nothing; give the
         * answer a bounded lifetime from thisUpdate. */
        res->next_update = res->this_update + params->no_next_update_max_age;
        res->has_next_update = 0;
    }
    if (ocsp_verify_window(res, params, p) != OCSP_VERIFY_OK)
        goto done;

    /* 8. Certificate status. */
    if (status == V_OCSP_CERTSTATUS_REVOKED) {
        res->revocation_reason = reason;
        if (!core_asn1_time_to_epoch(revtime, &res->revoked_at))
            FAIL(OCSP_VERIFY_PARSE, "revocationTime is not a valid time%s",
                 openssl_detail(p, NULL));
    }
    else if (status != V_OCSP_CERTSTATUS_GOOD) {
        FAIL(OCSP_VERIFY_UNKNOWN_STATUS, "the responder does not know the "
             "certificate (status %s)", OCSP_cert_status_str(status));
    }
    res->error = OCSP_VERIFY_OK;
    res->message = "ok";

done:
    OCSP_CERTID_free(cid);
    sk_X509_free(certs);            /* does not own the issuer */
    X509_free(signer);
    X509_STORE_free(store);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    /* Whatever path we took, leave nothing in this thread's queue. */
    ERR_clear_error();
    return res->error;
}
