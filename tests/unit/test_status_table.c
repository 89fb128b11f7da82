/* status_table: escaping, states and their precedence, totals, and the
 * exact output of every renderer for three sample certificates (one with a
 * hostile subject), plus a strict parser of the Prometheus text format that
 * the metrics output must pass. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <apr_general.h>
#include "status_table.h"
#include "core_util.h"

static apr_pool_t *test_pool;

static int pool_setup(void **state)
{
    apr_initialize();
    return apr_pool_create(&test_pool, NULL) == APR_SUCCESS ? 0 : -1;
}

static int pool_teardown(void **state)
{
    apr_pool_destroy(test_pool);
    apr_terminate();
    return 0;
}

#define NOW 1700000000LL            /* 2023-11-14T22:13:20Z */
/* Markup, both quotes, an ampersand, a newline and a trailing backslash. */
#define HOSTILE "CN=<script>alert(\"x\")</script>,O=Tom & Jerry's\nLtd\\"

static status_cert sample_certs[3];

/* good (hostile subject, two responders), revoked, no responder. */
static void sample_report(status_report *r)
{
    status_cert *c = sample_certs;
    memset(r, 0, sizeof(*r));
    memset(sample_certs, 0, sizeof(sample_certs));
    c[0].id_hex = "00112233445566778899aabbccddeeff00112233";
    c[0].vhosts = "evil.example:443, www.evil.example:443";
    c[0].subject = HOSTILE;
    c[0].serial = "0A1B";
    c[0].responders = "http://ocsp.example/a http://ocsp2.example/b";
    c[0].last_result = "ok";
    c[0].cert_status = STATUS_CS_GOOD;
    c[0].this_update = NOW - 1800;
    c[0].next_update = NOW + 1800;
    c[0].next_refresh = NOW + 65;
    c[0].last_fetch = NOW - 1800;
    c[0].last_success = NOW - 1800;
    c[0].fetches = 3;
    c[0].fetch_errors = 1;
    c[0].errors[1] = 1;             /* timeout */
    c[0].served = 42;
    c[0].unserved = 2;
    c[1].id_hex = "1111111111111111111111111111111111111111";
    c[1].vhosts = "revoked.example:8443";
    c[1].subject = "CN=revoked.example";
    c[1].serial = "01";
    c[1].responders = "http://ocsp.example/";
    c[1].last_result = "ok";
    c[1].cert_status = STATUS_CS_REVOKED;
    c[1].this_update = NOW - 3600;
    c[1].next_update = NOW + 3 * 86400;
    c[1].next_refresh = NOW + 86400 + 7200;
    c[1].last_fetch = NOW - 3600;
    c[1].last_success = NOW - 3600;
    c[1].fetches = 1;
    c[1].served = 5;
    c[2].id_hex = "2222222222222222222222222222222222222222";
    c[2].vhosts = "plain.example:443";
    c[2].subject = "CN=plain.example";
    c[2].serial = "02";
    c[2].responders = "";
    c[2].last_result = "no OCSP responder URL in the certificate";
    c[2].must_staple = 1;
    c[2].cert_status = STATUS_CS_NONE;
    c[2].unserved = 7;
    r->now = NOW;
    r->certs = sample_certs;
    r->ncerts = 3;
    status_report_finish(r);
}

/* ---- expected output ------------------------------------------------------ */

static const char EXPECT_AUTO[] =
    "OCSPStapleCertificates: 3\n"
    "OCSPStapleGood: 1\n"
    "OCSPStapleRevoked: 1\n"
    "OCSPStapleMissing: 0\n"
    "OCSPStapleNoResponder: 1\n"
    "OCSPStapleExpiring: 0\n"
    "OCSPStapleFailing: 0\n"
    "OCSPStapleFetches: 4\n"
    "OCSPStapleFetchErrors: 1\n"
    "OCSPStapleServed: 47\n"
    "OCSPStapleUnserved: 9\n"
    "OCSPStapleStoreErrors: 0\n"
    "OCSPStapleSharedCacheErrors: 0\n"
    "OCSPStapleSharedCacheDown: 0\n"
    "OCSPStapleRefresherTicks: 0\n"
    "OCSPStaple[0]Id: 00112233445566778899aabbccddeeff00112233\n"
    "OCSPStaple[0]Vhosts: evil.example:443, www.evil.example:443\n"
    "OCSPStaple[0]Subject: CN=<script>alert(\"x\")</script>,O=Tom & Jer"
    "ry's Ltd\\\n"
    "OCSPStaple[0]Serial: 0A1B\n"
    "OCSPStaple[0]Responder: http://ocsp.example/a http://ocsp2.example"
    "/b\n"
    "OCSPStaple[0]MustStaple: no\n"
    "OCSPStaple[0]State: good\n"
    "OCSPStaple[0]CertStatus: good\n"
    "OCSPStaple[0]ThisUpdate: 2023-11-14T21:43:20Z\n"
    "OCSPStaple[0]NextUpdate: 2023-11-14T22:43:20Z\n"
    "OCSPStaple[0]NextRefresh: 2023-11-14T22:14:25Z\n"
    "OCSPStaple[0]LastFetch: 2023-11-14T21:43:20Z\n"
    "OCSPStaple[0]LastSuccess: 2023-11-14T21:43:20Z\n"
    "OCSPStaple[0]LastResult: ok\n"
    "OCSPStaple[0]Failures: 0\n"
    "OCSPStaple[0]Fetches: 3\n"
    "OCSPStaple[0]FetchErrors: 1\n"
    "OCSPStaple[0]ErrorsNetwork: 0\n"
    "OCSPStaple[0]ErrorsTimeout: 1\n"
    "OCSPStaple[0]ErrorsHttpStatus: 0\n"
    "OCSPStaple[0]ErrorsTooLarge: 0\n"
    "OCSPStaple[0]ErrorsVerification: 0\n"
    "OCSPStaple[0]ErrorsResponderStatus: 0\n"
    "OCSPStaple[0]ErrorsPolicy: 0\n"
    "OCSPStaple[0]ErrorsOther: 0\n"
    "OCSPStaple[0]Served: 42\n"
    "OCSPStaple[0]Unserved: 2\n"
    "OCSPStaple[1]Id: 1111111111111111111111111111111111111111\n"
    "OCSPStaple[1]Vhosts: revoked.example:8443\n"
    "OCSPStaple[1]Subject: CN=revoked.example\n"
    "OCSPStaple[1]Serial: 01\n"
    "OCSPStaple[1]Responder: http://ocsp.example/\n"
    "OCSPStaple[1]MustStaple: no\n"
    "OCSPStaple[1]State: revoked\n"
    "OCSPStaple[1]CertStatus: revoked\n"
    "OCSPStaple[1]ThisUpdate: 2023-11-14T21:13:20Z\n"
    "OCSPStaple[1]NextUpdate: 2023-11-17T22:13:20Z\n"
    "OCSPStaple[1]NextRefresh: 2023-11-16T00:13:20Z\n"
    "OCSPStaple[1]LastFetch: 2023-11-14T21:13:20Z\n"
    "OCSPStaple[1]LastSuccess: 2023-11-14T21:13:20Z\n"
    "OCSPStaple[1]LastResult: ok\n"
    "OCSPStaple[1]Failures: 0\n"
    "OCSPStaple[1]Fetches: 1\n"
    "OCSPStaple[1]FetchErrors: 0\n"
    "OCSPStaple[1]ErrorsNetwork: 0\n"
    "OCSPStaple[1]ErrorsTimeout: 0\n"
    "OCSPStaple[1]ErrorsHttpStatus: 0\n"
    "OCSPStaple[1]ErrorsTooLarge: 0\n"
    "OCSPStaple[1]ErrorsVerification: 0\n"
    "OCSPStaple[1]ErrorsResponderStatus: 0\n"
    "OCSPStaple[1]ErrorsPolicy: 0\n"
    "OCSPStaple[1]ErrorsOther: 0\n"
    "OCSPStaple[1]Served: 5\n"
    "OCSPStaple[1]Unserved: 0\n"
    "OCSPStaple[2]Id: 2222222222222222222222222222222222222222\n"
    "OCSPStaple[2]Vhosts: plain.example:443\n"
    "OCSPStaple[2]Subject: CN=plain.example\n"
    "OCSPStaple[2]Serial: 02\n"
    "OCSPStaple[2]Responder: -\n"
    "OCSPStaple[2]MustStaple: yes\n"
    "OCSPStaple[2]State: no_responder\n"
    "OCSPStaple[2]CertStatus: none\n"
    "OCSPStaple[2]ThisUpdate: -\n"
    "OCSPStaple[2]NextUpdate: -\n"
    "OCSPStaple[2]NextRefresh: -\n"
    "OCSPStaple[2]LastFetch: -\n"
    "OCSPStaple[2]LastSuccess: -\n"
    "OCSPStaple[2]LastResult: no OCSP responder URL in the certificate\n"
    "OCSPStaple[2]Failures: 0\n"
    "OCSPStaple[2]Fetches: 0\n"
    "OCSPStaple[2]FetchErrors: 0\n"
    "OCSPStaple[2]ErrorsNetwork: 0\n"
    "OCSPStaple[2]ErrorsTimeout: 0\n"
    "OCSPStaple[2]ErrorsHttpStatus: 0\n"
    "OCSPStaple[2]ErrorsTooLarge: 0\n"
    "OCSPStaple[2]ErrorsVerification: 0\n"
    "OCSPStaple[2]ErrorsResponderStatus: 0\n"
    "OCSPStaple[2]ErrorsPolicy: 0\n"
    "OCSPStaple[2]ErrorsOther: 0\n"
    "OCSPStaple[2]Served: 0\n"
    "OCSPStaple[2]Unserved: 7\n";

static const char EXPECT_JSON[] =
    "{\n"
    "  \"time\": \"2023-11-14T22:13:20Z\",\n"
    "  \"totals\": {\n"
    "    \"certificates\": 3,\n"
    "    \"good\": 1,\n"
    "    \"revoked\": 1,\n"
    "    \"missing\": 0,\n"
    "    \"no_responder\": 1,\n"
    "    \"expiring\": 0,\n"
    "    \"failing\": 0,\n"
    "    \"fetches\": 4,\n"
    "    \"fetch_errors\": 1,\n"
    "    \"served\": 47,\n"
    "    \"unserved\": 9,\n"
    "    \"store_errors\": 0,\n"
    "    \"shared_cache_errors\": 0,\n"
    "    \"shared_cache_down\": 0,\n"
    "    \"refresher_ticks\": 0,\n"
    "    \"fetch_errors_by_class\": {\n"
    "      \"network\": 0,\n"
    "      \"timeout\": 1,\n"
    "      \"http_status\": 0,\n"
    "      \"too_large\": 0,\n"
    "      \"verification\": 0,\n"
    "      \"responder_status\": 0,\n"
    "      \"policy\": 0,\n"
    "      \"other\": 0\n"
    "    }\n"
    "  },\n"
    "  \"certificates\": [\n"
    "    {\n"
    "      \"id\": \"00112233445566778899aabbccddeeff00112233\",\n"
    "      \"vhosts\": \"evil.example:443, www.evil.example:443\",\n"
    "      \"subject\": \"CN=<script>alert(\\\"x\\\")</script>,O=Tom & "
    "Jerry's\\nLtd\\\\\",\n"
    "      \"serial\": \"0A1B\",\n"
    "      \"responder\": \"http://ocsp.example/a http://ocsp2.example/"
    "b\",\n"
    "      \"must_staple\": \"no\",\n"
    "      \"state\": \"good\",\n"
    "      \"cert_status\": \"good\",\n"
    "      \"this_update\": \"2023-11-14T21:43:20Z\",\n"
    "      \"next_update\": \"2023-11-14T22:43:20Z\",\n"
    "      \"next_refresh\": \"2023-11-14T22:14:25Z\",\n"
    "      \"last_fetch\": \"2023-11-14T21:43:20Z\",\n"
    "      \"last_success\": \"2023-11-14T21:43:20Z\",\n"
    "      \"last_result\": \"ok\",\n"
    "      \"failures\": 0,\n"
    "      \"fetches\": 3,\n"
    "      \"fetch_errors\": 1,\n"
    "      \"errors_network\": 0,\n"
    "      \"errors_timeout\": 1,\n"
    "      \"errors_http_status\": 0,\n"
    "      \"errors_too_large\": 0,\n"
    "      \"errors_verification\": 0,\n"
    "      \"errors_responder_status\": 0,\n"
    "      \"errors_policy\": 0,\n"
    "      \"errors_other\": 0,\n"
    "      \"served\": 42,\n"
    "      \"unserved\": 2\n"
    "    },\n"
    "    {\n"
    "      \"id\": \"1111111111111111111111111111111111111111\",\n"
    "      \"vhosts\": \"revoked.example:8443\",\n"
    "      \"subject\": \"CN=revoked.example\",\n"
    "      \"serial\": \"01\",\n"
    "      \"responder\": \"http://ocsp.example/\",\n"
    "      \"must_staple\": \"no\",\n"
    "      \"state\": \"revoked\",\n"
    "      \"cert_status\": \"revoked\",\n"
    "      \"this_update\": \"2023-11-14T21:13:20Z\",\n"
    "      \"next_update\": \"2023-11-17T22:13:20Z\",\n"
    "      \"next_refresh\": \"2023-11-16T00:13:20Z\",\n"
    "      \"last_fetch\": \"2023-11-14T21:13:20Z\",\n"
    "      \"last_success\": \"2023-11-14T21:13:20Z\",\n"
    "      \"last_result\": \"ok\",\n"
    "      \"failures\": 0,\n"
    "      \"fetches\": 1,\n"
    "      \"fetch_errors\": 0,\n"
    "      \"errors_network\": 0,\n"
    "      \"errors_timeout\": 0,\n"
    "      \"errors_http_status\": 0,\n"
    "      \"errors_too_large\": 0,\n"
    "      \"errors_verification\": 0,\n"
    "      \"errors_responder_status\": 0,\n"
    "      \"errors_policy\": 0,\n"
    "      \"errors_other\": 0,\n"
    "      \"served\": 5,\n"
    "      \"unserved\": 0\n"
    "    },\n"
    "    {\n"
    "      \"id\": \"2222222222222222222222222222222222222222\",\n"
    "      \"vhosts\": \"plain.example:443\",\n"
    "      \"subject\": \"CN=plain.example\",\n"
    "      \"serial\": \"02\",\n"
    "      \"responder\": \"\",\n"
    "      \"must_staple\": \"yes\",\n"
    "      \"state\": \"no_responder\",\n"
    "      \"cert_status\": \"none\",\n"
    "      \"this_update\": null,\n"
    "      \"next_update\": null,\n"
    "      \"next_refresh\": null,\n"
    "      \"last_fetch\": null,\n"
    "      \"last_success\": null,\n"
    "      \"last_result\": \"no OCSP responder URL in the certificate"
    "\",\n"
    "      \"failures\": 0,\n"
    "      \"fetches\": 0,\n"
    "      \"fetch_errors\": 0,\n"
    "      \"errors_network\": 0,\n"
    "      \"errors_timeout\": 0,\n"
    "      \"errors_http_status\": 0,\n"
    "      \"errors_too_large\": 0,\n"
    "      \"errors_verification\": 0,\n"
    "      \"errors_responder_status\": 0,\n"
    "      \"errors_policy\": 0,\n"
    "      \"errors_other\": 0,\n"
    "      \"served\": 0,\n"
    "      \"unserved\": 7\n"
    "    }\n"
    "  ]\n"
    "}\n";

static const char EXPECT_PROM[] =
    "# HELP ocspstaple_certificate_info Certificates stapled by mod_ocs"
    "pstaple; status is the state (good, expiring, failing, revoked, mi"
    "ssing, expired, no_responder)\n"
    "# TYPE ocspstaple_certificate_info gauge\n"
    "ocspstaple_certificate_info{id=\"00112233445566778899aabbccddeeff0"
    "0112233\",vhosts=\"evil.example:443, www.evil.example:443\",subjec"
    "t=\"CN=<script>alert(\\\"x\\\")</script>,O=Tom & Jerry's\\nLtd\\\\"
    "\",serial=\"0A1B\",responder=\"http://ocsp.example/a http://ocsp2."
    "example/b\",must_staple=\"no\",status=\"good\",cert_status=\"good"
    "\"} 1\n"
    "ocspstaple_certificate_info{id=\"111111111111111111111111111111111"
    "1111111\",vhosts=\"revoked.example:8443\",subject=\"CN=revoked.exa"
    "mple\",serial=\"01\",responder=\"http://ocsp.example/\",must_stapl"
    "e=\"no\",status=\"revoked\",cert_status=\"revoked\"} 1\n"
    "ocspstaple_certificate_info{id=\"222222222222222222222222222222222"
    "2222222\",vhosts=\"plain.example:443\",subject=\"CN=plain.example"
    "\",serial=\"02\",responder=\"\",must_staple=\"yes\",status=\"no_re"
    "sponder\",cert_status=\"none\"} 1\n"
    "# HELP ocspstaple_seconds_until_next_update nextUpdate of the resp"
    "onse in use; as a metric: seconds until then (negative once expire"
    "d)\n"
    "# TYPE ocspstaple_seconds_until_next_update gauge\n"
    "ocspstaple_seconds_until_next_update{id=\"00112233445566778899aabb"
    "ccddeeff00112233\"} 1800\n"
    "ocspstaple_seconds_until_next_update{id=\"111111111111111111111111"
    "1111111111111111\"} 259200\n"
    "# HELP ocspstaple_seconds_until_next_refresh next planned fetch; a"
    "s a metric: seconds until then\n"
    "# TYPE ocspstaple_seconds_until_next_refresh gauge\n"
    "ocspstaple_seconds_until_next_refresh{id=\"00112233445566778899aab"
    "bccddeeff00112233\"} 65\n"
    "ocspstaple_seconds_until_next_refresh{id=\"11111111111111111111111"
    "11111111111111111\"} 93600\n"
    "# HELP ocspstaple_seconds_since_last_fetch last fetch, successful "
    "or not; as a metric: seconds since then\n"
    "# TYPE ocspstaple_seconds_since_last_fetch gauge\n"
    "ocspstaple_seconds_since_last_fetch{id=\"00112233445566778899aabbc"
    "cddeeff00112233\"} 1800\n"
    "ocspstaple_seconds_since_last_fetch{id=\"1111111111111111111111111"
    "111111111111111\"} 3600\n"
    "# HELP ocspstaple_seconds_since_last_success last successful fetch"
    "; as a metric: seconds since then\n"
    "# TYPE ocspstaple_seconds_since_last_success gauge\n"
    "ocspstaple_seconds_since_last_success{id=\"00112233445566778899aab"
    "bccddeeff00112233\"} 1800\n"
    "ocspstaple_seconds_since_last_success{id=\"11111111111111111111111"
    "11111111111111111\"} 3600\n"
    "# HELP ocspstaple_consecutive_failures consecutive failed fetches\n"
    "# TYPE ocspstaple_consecutive_failures gauge\n"
    "ocspstaple_consecutive_failures{id=\"00112233445566778899aabbccdde"
    "eff00112233\"} 0\n"
    "ocspstaple_consecutive_failures{id=\"11111111111111111111111111111"
    "11111111111\"} 0\n"
    "ocspstaple_consecutive_failures{id=\"22222222222222222222222222222"
    "22222222222\"} 0\n"
    "# HELP ocspstaple_certificate_fetches_total responder exchanges\n"
    "# TYPE ocspstaple_certificate_fetches_total counter\n"
    "ocspstaple_certificate_fetches_total{id=\"00112233445566778899aabb"
    "ccddeeff00112233\"} 3\n"
    "ocspstaple_certificate_fetches_total{id=\"111111111111111111111111"
    "1111111111111111\"} 1\n"
    "ocspstaple_certificate_fetches_total{id=\"222222222222222222222222"
    "2222222222222222\"} 0\n"
    "# HELP ocspstaple_certificate_fetch_errors_total failed fetches\n"
    "# TYPE ocspstaple_certificate_fetch_errors_total counter\n"
    "ocspstaple_certificate_fetch_errors_total{id=\"0011223344556677889"
    "9aabbccddeeff00112233\"} 1\n"
    "ocspstaple_certificate_fetch_errors_total{id=\"1111111111111111111"
    "111111111111111111111\"} 0\n"
    "ocspstaple_certificate_fetch_errors_total{id=\"2222222222222222222"
    "222222222222222222222\"} 0\n"
    "# HELP ocspstaple_certificate_staples_served_total handshakes give"
    "n a staple\n"
    "# TYPE ocspstaple_certificate_staples_served_total counter\n"
    "ocspstaple_certificate_staples_served_total{id=\"00112233445566778"
    "899aabbccddeeff00112233\"} 42\n"
    "ocspstaple_certificate_staples_served_total{id=\"11111111111111111"
    "11111111111111111111111\"} 5\n"
    "ocspstaple_certificate_staples_served_total{id=\"22222222222222222"
    "22222222222222222222222\"} 0\n"
    "# HELP ocspstaple_certificate_handshakes_unstapled_total handshake"
    "s that asked for a staple and got none\n"
    "# TYPE ocspstaple_certificate_handshakes_unstapled_total counter\n"
    "ocspstaple_certificate_handshakes_unstapled_total{id=\"00112233445"
    "566778899aabbccddeeff00112233\"} 2\n"
    "ocspstaple_certificate_handshakes_unstapled_total{id=\"11111111111"
    "11111111111111111111111111111\"} 0\n"
    "ocspstaple_certificate_handshakes_unstapled_total{id=\"22222222222"
    "22222222222222222222222222222\"} 7\n"
    "# HELP ocspstaple_certificates Certificates by state\n"
    "# TYPE ocspstaple_certificates gauge\n"
    "ocspstaple_certificates{state=\"good\"} 1\n"
    "ocspstaple_certificates{state=\"expiring\"} 0\n"
    "ocspstaple_certificates{state=\"failing\"} 0\n"
    "ocspstaple_certificates{state=\"revoked\"} 1\n"
    "ocspstaple_certificates{state=\"missing\"} 0\n"
    "ocspstaple_certificates{state=\"expired\"} 0\n"
    "ocspstaple_certificates{state=\"no_responder\"} 1\n"
    "# HELP ocspstaple_fetches_total Responder exchanges of all certifi"
    "cates\n"
    "# TYPE ocspstaple_fetches_total counter\n"
    "ocspstaple_fetches_total 4\n"
    "# HELP ocspstaple_fetch_errors_total Failed fetches by class\n"
    "# TYPE ocspstaple_fetch_errors_total counter\n"
    "ocspstaple_fetch_errors_total{class=\"network\"} 0\n"
    "ocspstaple_fetch_errors_total{class=\"timeout\"} 1\n"
    "ocspstaple_fetch_errors_total{class=\"http_status\"} 0\n"
    "ocspstaple_fetch_errors_total{class=\"too_large\"} 0\n"
    "ocspstaple_fetch_errors_total{class=\"verification\"} 0\n"
    "ocspstaple_fetch_errors_total{class=\"responder_status\"} 0\n"
    "ocspstaple_fetch_errors_total{class=\"policy\"} 0\n"
    "ocspstaple_fetch_errors_total{class=\"other\"} 0\n"
    "# HELP ocspstaple_staples_served_total Handshakes given a staple\n"
    "# TYPE ocspstaple_staples_served_total counter\n"
    "ocspstaple_staples_served_total 47\n"
    "# HELP ocspstaple_handshakes_unstapled_total Handshakes that asked"
    " for a staple and got none\n"
    "# TYPE ocspstaple_handshakes_unstapled_total counter\n"
    "ocspstaple_handshakes_unstapled_total 9\n"
    "# HELP ocspstaple_store_write_errors_total Failed writes of store files\n"
    "# TYPE ocspstaple_store_write_errors_total counter\n"
    "ocspstaple_store_write_errors_total 0\n"
    "# HELP ocspstaple_shared_cache_errors_total Failed or timed-out calls to "
    "the shared cache\n"
    "# TYPE ocspstaple_shared_cache_errors_total counter\n"
    "ocspstaple_shared_cache_errors_total 0\n"
    "# HELP ocspstaple_shared_cache_down 1 while the shared cache fails and "
    "this server works alone\n"
    "# TYPE ocspstaple_shared_cache_down gauge\n"
    "ocspstaple_shared_cache_down 0\n"
    "# HELP ocspstaple_refresher_ticks_total Rounds of the background "
    "refresher\n"
    "# TYPE ocspstaple_refresher_ticks_total counter\n"
    "ocspstaple_refresher_ticks_total 0\n";

static const char EXPECT_HTML[] =
    "<hr />\n"
    "<h2 id=\"ocspstaple\">OCSP Stapling (mod_ocspstaple)</h2>\n"
    "<style>\n"
    "table.ocspstaple{border-collapse:collapse;font-size:85%}\n"
    "table.ocspstaple th,table.ocspstaple td{border:1px solid #bbb;padd"
    "ing:2px 5px;text-align:left;vertical-align:top}\n"
    "table.ocspstaple th{background:#e8e8e8}\n"
    "table.ocspstaple td.n{text-align:right}\n"
    "table.ocspstaple td.t{white-space:nowrap}\n"
    "table.ocspstaple td.w{word-break:break-all;min-width:7em}\n"
    "table.ocspstaple small{color:#555}\n"
    ".ocspstaple .st{font-weight:bold}\n"
    ".ocspstaple .st-good{background:#b9efb9}\n"
    ".ocspstaple .st-failing{background:#fff0a0}\n"
    ".ocspstaple .st-expiring{background:#ffc870}\n"
    ".ocspstaple .st-revoked{background:#e04040;color:#fff}\n"
    ".ocspstaple .st-missing,.ocspstaple .st-expired{background:#ffa8a8"
    "}\n"
    ".ocspstaple .st-no_responder{background:#ddd}\n"
    "</style>\n"
    "<p>3 certificates: 1 good, 1 revoked, 0 missing, 1 without OCSP re"
    "sponder (0 expiring, 0 failing).<br>\n"
    "4 fetches, 1 fetch error; 47 staples served, 9 handshakes without "
    "a staple. Times are UTC.</p>\n"
    "<table class=\"ocspstaple\">\n"
    "<tr><th title=\"virtual hosts using the certificate\">Virtual host"
    "s</th><th title=\"certificate subject\">Subject</th><th title=\"ce"
    "rtificate serial number, hex\">Serial</th><th title=\"OCSP respond"
    "er URL(s)\">Responder</th><th title=\"the certificate demands a st"
    "aple (TLS Feature status_request)\">Must-Staple</th><th title=\"go"
    "od, expiring, failing, revoked, missing, expired or no_responder\""
    ">State</th><th title=\"thisUpdate of the response in use\">thisUpd"
    "ate</th><th title=\"nextUpdate of the response in use; as a metric"
    ": seconds until then (negative once expired)\">nextUpdate</th><th "
    "title=\"next planned fetch; as a metric: seconds until then\">Next"
    " refresh</th><th title=\"last fetch, successful or not; as a metri"
    "c: seconds since then\">Last fetch</th><th title=\"result of the l"
    "ast fetch\">Last result</th><th title=\"consecutive failed fetches"
    "\">Failures</th><th title=\"handshakes given a staple\">Served</th"
    "><th title=\"handshakes that asked for a staple and got none\">Not"
    " stapled</th></tr>\n"
    "<tr class=\"row-good\" title=\"id 00112233445566778899aabbccddeeff"
    "00112233\"><td class=\"s\">evil.example:443, www.evil.example:443<"
    "/td><td class=\"s\">CN=&lt;script&gt;alert(&quot;x&quot;)&lt;/scri"
    "pt&gt;,O=Tom &amp; Jerry&#39;s\n"
    "Ltd\\</td><td class=\"w\">0A1B</td><td class=\"w\">http://ocsp.exa"
    "mple/a http://ocsp2.example/b</td><td class=\"s\">no</td><td class"
    "=\"st st-good\">good</td><td class=\"t\">2023-11-14<br>21:43:20<br"
    "><small>30m 0s ago</small></td><td class=\"t\">2023-11-14<br>22:43"
    ":20<br><small>in 30m 0s</small></td><td class=\"t\">2023-11-14<br>"
    "22:14:25<br><small>in 1m 5s</small></td><td class=\"t\">2023-11-14"
    "<br>21:43:20<br><small>30m 0s ago</small></td><td class=\"s\">ok</"
    "td><td class=\"n\">0</td><td class=\"n\">42</td><td class=\"n\">2<"
    "/td></tr>\n"
    "<tr class=\"row-revoked\" title=\"id 11111111111111111111111111111"
    "11111111111\"><td class=\"s\">revoked.example:8443</td><td class="
    "\"s\">CN=revoked.example</td><td class=\"w\">01</td><td class=\"w"
    "\">http://ocsp.example/</td><td class=\"s\">no</td><td class=\"st "
    "st-revoked\">revoked</td><td class=\"t\">2023-11-14<br>21:13:20<br"
    "><small>1h 0m ago</small></td><td class=\"t\">2023-11-17<br>22:13:"
    "20<br><small>in 3d 0h</small></td><td class=\"t\">2023-11-16<br>00"
    ":13:20<br><small>in 1d 2h</small></td><td class=\"t\">2023-11-14<b"
    "r>21:13:20<br><small>1h 0m ago</small></td><td class=\"s\">ok</td>"
    "<td class=\"n\">0</td><td class=\"n\">5</td><td class=\"n\">0</td>"
    "</tr>\n"
    "<tr class=\"row-no_responder\" title=\"id 222222222222222222222222"
    "2222222222222222\"><td class=\"s\">plain.example:443</td><td class"
    "=\"s\">CN=plain.example</td><td class=\"w\">02</td><td class=\"w\""
    ">-</td><td class=\"s\">yes</td><td class=\"st st-no_responder\">no"
    "_responder</td><td class=\"t\">-</td><td class=\"t\">-</td><td cla"
    "ss=\"t\">-</td><td class=\"t\">-</td><td class=\"s\">no OCSP respo"
    "nder URL in the certificate</td><td class=\"n\">0</td><td class=\""
    "n\">0</td><td class=\"n\">7</td></tr>\n"
    "</table>\n";

static const char EXPECT_HTML_NOTABLE[] =
    "<hr />\n"
    "<h2 id=\"ocspstaple\">OCSP Stapling (mod_ocspstaple)</h2>\n"
    "<p>3 certificates: 1 good, 1 revoked, 0 missing, 1 without OCSP re"
    "sponder (0 expiring, 0 failing).<br>\n"
    "4 fetches, 1 fetch error; 47 staples served, 9 handshakes without "
    "a staple. Times are UTC.</p>\n"
    "<dl class=\"ocspstaple\">\n"
    "<dt>Virtual hosts</dt><dd>evil.example:443, www.evil.example:443</"
    "dd>\n"
    "<dt>Subject</dt><dd>CN=&lt;script&gt;alert(&quot;x&quot;)&lt;/scri"
    "pt&gt;,O=Tom &amp; Jerry&#39;s\n"
    "Ltd\\</dd>\n"
    "<dt>Serial</dt><dd>0A1B</dd>\n"
    "<dt>Responder</dt><dd>http://ocsp.example/a http://ocsp2.example/b"
    "</dd>\n"
    "<dt>Must-Staple</dt><dd>no</dd>\n"
    "<dt>State</dt><dd>good</dd>\n"
    "<dt>thisUpdate</dt><dd>2023-11-14<br>21:43:20<br><small>30m 0s ago"
    "</small></dd>\n"
    "<dt>nextUpdate</dt><dd>2023-11-14<br>22:43:20<br><small>in 30m 0s<"
    "/small></dd>\n"
    "<dt>Next refresh</dt><dd>2023-11-14<br>22:14:25<br><small>in 1m 5s"
    "</small></dd>\n"
    "<dt>Last fetch</dt><dd>2023-11-14<br>21:43:20<br><small>30m 0s ago"
    "</small></dd>\n"
    "<dt>Last result</dt><dd>ok</dd>\n"
    "<dt>Failures</dt><dd>0</dd>\n"
    "<dt>Served</dt><dd>42</dd>\n"
    "<dt>Not stapled</dt><dd>2</dd>\n"
    "</dl>\n"
    "<dl class=\"ocspstaple\">\n"
    "<dt>Virtual hosts</dt><dd>revoked.example:8443</dd>\n"
    "<dt>Subject</dt><dd>CN=revoked.example</dd>\n"
    "<dt>Serial</dt><dd>01</dd>\n"
    "<dt>Responder</dt><dd>http://ocsp.example/</dd>\n"
    "<dt>Must-Staple</dt><dd>no</dd>\n"
    "<dt>State</dt><dd>revoked</dd>\n"
    "<dt>thisUpdate</dt><dd>2023-11-14<br>21:13:20<br><small>1h 0m ago<"
    "/small></dd>\n"
    "<dt>nextUpdate</dt><dd>2023-11-17<br>22:13:20<br><small>in 3d 0h</"
    "small></dd>\n"
    "<dt>Next refresh</dt><dd>2023-11-16<br>00:13:20<br><small>in 1d 2h"
    "</small></dd>\n"
    "<dt>Last fetch</dt><dd>2023-11-14<br>21:13:20<br><small>1h 0m ago<"
    "/small></dd>\n"
    "<dt>Last result</dt><dd>ok</dd>\n"
    "<dt>Failures</dt><dd>0</dd>\n"
    "<dt>Served</dt><dd>5</dd>\n"
    "<dt>Not stapled</dt><dd>0</dd>\n"
    "</dl>\n"
    "<dl class=\"ocspstaple\">\n"
    "<dt>Virtual hosts</dt><dd>plain.example:443</dd>\n"
    "<dt>Subject</dt><dd>CN=plain.example</dd>\n"
    "<dt>Serial</dt><dd>02</dd>\n"
    "<dt>Responder</dt><dd>-</dd>\n"
    "<dt>Must-Staple</dt><dd>yes</dd>\n"
    "<dt>State</dt><dd>no_responder</dd>\n"
    "<dt>thisUpdate</dt><dd>-</dd>\n"
    "<dt>nextUpdate</dt><dd>-</dd>\n"
    "<dt>Next refresh</dt><dd>-</dd>\n"
    "<dt>Last fetch</dt><dd>-</dd>\n"
    "<dt>Last result</dt><dd>no OCSP responder URL in the certificate</"
    "dd>\n"
    "<dt>Failures</dt><dd>0</dd>\n"
    "<dt>Served</dt><dd>0</dd>\n"
    "<dt>Not stapled</dt><dd>7</dd>\n"
    "</dl>\n";

/* ---- a strict parser of the Prometheus text format 0.0.4 ------------------ */

#define PROM_MAX_LABELS 16
#define PROM_MAX_SAMPLES 512
#define PROM_MAX_FAMILIES 64

typedef struct {
    char *name;
    int nlabels;
    char *label_name[PROM_MAX_LABELS];
    char *label_value[PROM_MAX_LABELS];   /* unescaped */
    double value;
    char *series;                          /* the line up to the value */
} prom_sample;

typedef struct {
    char name[128];
    int help, type, nsamples, closed;
} prom_family;

typedef struct {
    prom_sample samples[PROM_MAX_SAMPLES];
    int nsamples;
    prom_family families[PROM_MAX_FAMILIES];
    int nfamilies;
    char error[256];
} prom_doc;

static void prom_free(prom_doc *d)
{
    int i, k;
    for (i = 0; i < d->nsamples; ++i) {
        free(d->samples[i].name);
        free(d->samples[i].series);
        for (k = 0; k < d->samples[i].nlabels; ++k) {
            free(d->samples[i].label_name[k]);
            free(d->samples[i].label_value[k]);
        }
    }
    memset(d, 0, sizeof(*d));
}

static int prom_fail(prom_doc *d, int line, const char *why)
{
    snprintf(d->error, sizeof(d->error), "line %d: %s", line, why);
    return -1;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (colons: metric names only) */
static size_t prom_name_len(const char *s, int colons)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'
          || (colons && s[0] == ':'))) {
        return 0;
    }
    while (isalnum((unsigned char)s[n]) || s[n] == '_'
           || (colons && s[n] == ':')) {
        ++n;
    }
    return n;
}

static prom_family *prom_family_of(prom_doc *d, const char *name, size_t n)
{
    int i;
    for (i = 0; i < d->nfamilies; ++i) {
        if (strlen(d->families[i].name) == n
            && !strncmp(d->families[i].name, name, n)) {
            return &d->families[i];
        }
    }
    if (d->nfamilies == PROM_MAX_FAMILIES || n >= 128) {
        return NULL;
    }
    memcpy(d->families[d->nfamilies].name, name, n);
    return &d->families[d->nfamilies++];
}

static int prom_valid_utf8(const char *s)
{
    json_t *j = json_string(s);   /* jansson checks UTF-8 for us */
    json_decref(j);
    return j != NULL;
}

static int prom_value(const char *s, double *v)
{
    char *end;
    if (!strcmp(s, "NaN") || !strcmp(s, "+Inf") || !strcmp(s, "-Inf")) {
        *v = 0;
        return 0;
    }
    if (!*s || isspace((unsigned char)*s)) {
        return -1;
    }
    *v = strtod(s, &end);
    return *end ? -1 : 0;
}

/* Every line is a comment (# HELP / # TYPE / other) or
 * `name{label="value",...} value [timestamp]`; every family has one HELP
 * and one TYPE before its first sample; a family's samples are contiguous;
 * no series twice; label values use only the escapes \\ \" \n. */
static int prom_parse(prom_doc *d, const char *text)
{
    const char *line = text;
    int lineno = 0;
    prom_family *current = NULL;

    memset(d, 0, sizeof(*d));
    if (!prom_valid_utf8(text)) {
        return prom_fail(d, 0, "not UTF-8");
    }
    if (*text && text[strlen(text) - 1] != '\n') {
        return prom_fail(d, 0, "last line not terminated");
    }
    while (*line) {
        const char *eol = strchr(line, '\n'), *p = line;
        size_t n;
        ++lineno;
        if (eol == line) {
            line = eol + 1;            /* empty lines are allowed */
            continue;
        }
        if (*p == '#') {
            int help = !strncmp(p, "# HELP ", 7), type = !strncmp(p, "# TYPE ", 7);
            prom_family *f;
            if (!help && !type) {
                line = eol + 1;        /* a plain comment */
                continue;
            }
            p += 7;
            if (!(n = prom_name_len(p, 1)) || p[n] != ' ') {
                return prom_fail(d, lineno, "bad metric name in HELP/TYPE");
            }
            if (!(f = prom_family_of(d, p, n))) {
                return prom_fail(d, lineno, "too many families");
            }
            if (f->nsamples || f->closed) {
                return prom_fail(d, lineno, "HELP/TYPE after the samples");
            }
            if (help) {
                const char *q;
                if (f->help++) {
                    return prom_fail(d, lineno, "second HELP");
                }
                for (q = p + n + 1; q < eol; ++q) {
                    if (*q == '\\' && q[1] != '\\' && q[1] != 'n') {
                        return prom_fail(d, lineno, "bad escape in HELP");
                    }
                    q += *q == '\\';
                }
            }
            else {
                static const char *const types[] = {
                    "counter", "gauge", "histogram", "summary", "untyped"
                };
                size_t t, tl = (size_t)(eol - (p + n + 1));
                int ok = 0;
                if (f->type++) {
                    return prom_fail(d, lineno, "second TYPE");
                }
                for (t = 0; t < 5; ++t) {
                    ok |= strlen(types[t]) == tl
                          && !strncmp(p + n + 1, types[t], tl);
                }
                if (!ok) {
                    return prom_fail(d, lineno, "unknown TYPE");
                }
            }
            line = eol + 1;
            continue;
        }
        {
            prom_sample *s;
            prom_family *f;
            char value[64];
            const char *sp;
            int i;

            if (d->nsamples == PROM_MAX_SAMPLES) {
                return prom_fail(d, lineno, "too many samples");
            }
            s = &d->samples[d->nsamples];
            if (!(n = prom_name_len(p, 1))) {
                return prom_fail(d, lineno, "bad metric name");
            }
            if (!(f = prom_family_of(d, p, n)) || !f->help || !f->type) {
                return prom_fail(d, lineno, "sample without HELP and TYPE");
            }
            if (f->closed) {
                return prom_fail(d, lineno, "family samples not contiguous");
            }
            if (current && current != f) {
                current->closed = 1;
            }
            current = f;
            s->name = strndup(p, n);
            ++d->nsamples;             /* from here on prom_free frees it */
            p += n;
            if (*p == '{') {
                ++p;
                while (*p != '}') {
                    char *val, *o;
                    if (s->nlabels == PROM_MAX_LABELS) {
                        return prom_fail(d, lineno, "too many labels");
                    }
                    if (!(n = prom_name_len(p, 0)) || p[n] != '='
                        || p[n + 1] != '"') {
                        return prom_fail(d, lineno, "bad label");
                    }
                    s->label_name[s->nlabels] = strndup(p, n);
                    o = val = calloc(1, (size_t)(eol - p) + 1);
                    s->label_value[s->nlabels++] = val;
                    for (p += n + 2; *p != '"'; ++p) {
                        if (p >= eol) {
                            return prom_fail(d, lineno, "unterminated value");
                        }
                        if (*p == '\\') {
                            ++p;
                            if (*p == '\\' || *p == '"') {
                                *o++ = *p;
                            }
                            else if (*p == 'n') {
                                *o++ = '\n';
                            }
                            else {
                                return prom_fail(d, lineno, "bad escape");
                            }
                        }
                        else {
                            *o++ = *p;
                        }
                    }
                    ++p;
                    for (i = 0; i < s->nlabels - 1; ++i) {
                        if (!strcmp(s->label_name[i],
                                    s->label_name[s->nlabels - 1])) {
                            return prom_fail(d, lineno, "label twice");
                        }
                    }
                    if (*p == ',') {
                        ++p;
                    }
                    else if (*p != '}') {
                        return prom_fail(d, lineno, "expected , or }");
                    }
                }
                ++p;
            }
            if (*p != ' ') {
                return prom_fail(d, lineno, "expected a space before the value");
            }
            s->series = strndup(line, (size_t)(p - line));
            for (i = 0; i < d->nsamples - 1; ++i) {
                if (!strcmp(d->samples[i].series, s->series)) {
                    return prom_fail(d, lineno, "series twice");
                }
            }
            ++p;
            sp = memchr(p, ' ', (size_t)(eol - p));
            n = (size_t)((sp ? sp : eol) - p);
            if (n == 0 || n >= sizeof(value)) {
                return prom_fail(d, lineno, "bad value");
            }
            memcpy(value, p, n);
            value[n] = '\0';
            if (prom_value(value, &s->value)) {
                return prom_fail(d, lineno, "value is not a number");
            }
            if (sp) {              /* optional timestamp: an integer */
                const char *q = sp + 1;
                if (q == eol || *q == '-') {
                    ++q;
                }
                for (; q < eol; ++q) {
                    if (!isdigit((unsigned char)*q)) {
                        return prom_fail(d, lineno, "bad timestamp");
                    }
                }
            }
            f->nsamples++;
        }
        line = eol + 1;
    }
    return 0;
}

/* The value of the sample whose series (name{labels}) is given. */
static double prom_get(const prom_doc *d, const char *series)
{
    int i;
    for (i = 0; i < d->nsamples; ++i) {
        if (!strcmp(d->samples[i].series, series)) {
            return d->samples[i].value;
        }
    }
    fail_msg("no sample %s", series);
    return -1;
}

static const char *prom_label(const prom_sample *s, const char *name)
{
    int i;
    for (i = 0; i < s->nlabels; ++i) {
        if (!strcmp(s->label_name[i], name)) {
            return s->label_value[i];
        }
    }
    return NULL;
}

static void assert_prom_ok(const char *text, prom_doc *d)
{
    if (prom_parse(d, text) != 0) {
        fail_msg("Prometheus output does not parse: %s\n%s", d->error, text);
    }
}

static void assert_prom_bad(const char *text)
{
    prom_doc *d = calloc(1, sizeof(*d));
    assert_int_equal(prom_parse(d, text), -1);
    prom_free(d);
    free(d);
}

/* ---- helpers ------------------------------------------------------------- */

typedef void (*escaper)(status_buf *, const char *);

static char *escaped(escaper fn, const char *in)
{
    static char out[1024];
    status_buf b;
    status_buf_init(&b, test_pool);
    fn(&b, in);
    snprintf(out, sizeof(out), "%s", status_buf_text(&b));
    return out;
}

/* Renders into a NUL-terminated malloc'd string. */
static char *render(int which, status_report *r)
{
    status_buf b;
    char *s;
    status_buf_init(&b, test_pool);
    switch (which) {
    case 0: status_render_auto(&b, r); break;
    case 1: assert_int_equal(status_render_json(&b, r), 0); break;
    case 2: status_render_prometheus(&b, r); break;
    case 3: status_render_html(&b, r, 1); break;
    default: status_render_html(&b, r, 0); break;
    }
    s = strdup(status_buf_text(&b));
    assert_int_equal(strlen(s), b.len);
    return s;
}

static void assert_exact(int which, const char *expect)
{
    status_report r;
    char *got;
    sample_report(&r);
    got = render(which, &r);
    if (strcmp(got, expect)) {
        size_t i = 0;
        while (got[i] && got[i] == expect[i]) {
            ++i;
        }
        fail_msg("output differs at byte %zu:\n--- got:\n%s\n--- expected:\n"
                 "%s", i, got + (i > 40 ? i - 40 : 0),
                 expect + (i > 40 ? i - 40 : 0));
    }
    free(got);
}

/* ---- tests ----------------------------------------------------------------- */

static void html_escaping(void **state)
{
    assert_string_equal(escaped(status_buf_html, "<>&\"'"),
                        "&lt;&gt;&amp;&quot;&#39;");
    assert_string_equal(escaped(status_buf_html, "plain text 123"),
                        "plain text 123");
    assert_string_equal(escaped(status_buf_html, ""), "");
    assert_string_equal(escaped(status_buf_html, "a<b>c&&d\"e'f"),
                        "a&lt;b&gt;c&amp;&amp;d&quot;e&#39;f");
    assert_string_equal(escaped(status_buf_html, "&amp;"), "&amp;amp;");
    assert_string_equal(escaped(status_buf_html, "<"), "&lt;");
    assert_string_equal(escaped(status_buf_html, "caf\xc3\xa9"), "caf\xc3\xa9");
}

static void prometheus_label_escaping(void **state)
{
    assert_string_equal(escaped(status_buf_prom_label, "a\\b\"c\nd"),
                        "a\\\\b\\\"c\\nd");
    assert_string_equal(escaped(status_buf_prom_label, "<>&'{},="),
                        "<>&'{},=");
    assert_string_equal(escaped(status_buf_prom_label, ""), "");
    /* valid UTF-8 stays; invalid bytes become '?' */
    assert_string_equal(escaped(status_buf_prom_label, "caf\xc3\xa9"),
                        "caf\xc3\xa9");
    assert_string_equal(escaped(status_buf_prom_label, "a\xff" "b\xc3"),
                        "a?b?");
    assert_string_equal(escaped(status_buf_prom_label, "\xed\xa0\x80"),
                        "???");          /* a surrogate is not UTF-8 */
    assert_string_equal(escaped(status_buf_prom_label, "\xc0\xaf"), "??");
}

static void line_escaping(void **state)
{
    assert_string_equal(escaped(status_buf_line, "a\r\nb\tc\x7f" "d"),
                        "a  b c d");
    assert_string_equal(escaped(status_buf_line, "OCSPStapleGood: 99"),
                        "OCSPStapleGood: 99");
}

static void buffer_grows(void **state)
{
    status_buf b;
    char big[5000];
    const char *text;
    int i;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    status_buf_init(&b, test_pool);
    status_buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, sizeof(big) + 1);
    for (i = 0; i < 10000; ++i) {
        status_buf_printf(&b, "%d,", i % 10);
    }
    assert_int_equal(b.len, sizeof(big) + 1 + 20000);
    text = status_buf_text(&b);
    assert_int_equal(strlen(text), b.len);
    assert_int_equal(text[0], '[');
    assert_int_equal(text[sizeof(big)], ']');
    assert_memory_equal(text + b.len - 4, "8,9,", 4);
}

static void absurd_time_renders_as_unset(void **state)
{
    status_report r;
    char *html;
    sample_report(&r);
    sample_certs[1].next_refresh = LLONG_MAX;
    html = render(3, &r);
    assert_non_null(strstr(html, "<td class=\"t\">-</td>"));
    free(html);
}

static void keys_and_times(void **state)
{
    char buf[64];
    assert_string_equal(status_auto_key("this_update", buf, sizeof(buf)),
                        "ThisUpdate");
    assert_string_equal(status_auto_key("id", buf, sizeof(buf)), "Id");
    assert_string_equal(status_auto_key("errors_http_status", buf,
                                        sizeof(buf)), "ErrorsHttpStatus");
    assert_string_equal(status_auto_key("no_responder", buf, 5), "NoRe");
    assert_string_equal(core_time_iso(NOW, buf, sizeof(buf)),
                        "2023-11-14T22:13:20Z");
    assert_string_equal(core_time_iso(0, buf, sizeof(buf)), "");
    /* beyond what gmtime can express: empty, never garbage */
    assert_string_equal(core_time_iso(LLONG_MAX, buf, sizeof(buf)), "");
    assert_string_equal(status_state_name(STATUS_NO_RESPONDER),
                        "no_responder");
    assert_string_equal(status_err_class_name(4), "verification");
    assert_string_equal(status_err_class_name(99), "other");
}

/* Every field has a distinct key; metric and label names are well formed;
 * every metric name starts with ocspstaple_. */
static void field_table_consistent(void **state)
{
    int i, k;
    for (i = 0; i < status_nfields; ++i) {
        const status_field *f = &status_fields[i];
        assert_non_null(f->key);
        assert_non_null(f->get);
        assert_non_null(f->help);
        assert_null(strchr(f->help, '\n'));
        assert_null(strchr(f->help, '\\'));
        for (k = 0; k < i; ++k) {
            assert_string_not_equal(f->key, status_fields[k].key);
        }
        if (f->prom != STATUS_PROM_NONE) {
            assert_non_null(f->metric);
            assert_int_equal(strncmp(f->metric, "ocspstaple_", 11), 0);
            assert_int_equal(prom_name_len(f->metric, 1), strlen(f->metric));
            assert_true(f->kind == STATUS_KIND_COUNT
                        || f->kind == STATUS_KIND_TIME);
        }
        if (f->label) {
            assert_int_equal(prom_name_len(f->label, 0), strlen(f->label));
            assert_true(f->kind == STATUS_KIND_STRING
                        || f->kind == STATUS_KIND_ENUM);
        }
    }
}

typedef struct {
    const char *what;
    const char *responders;
    int cert_status;
    long long this_update, next_update;   /* relative to NOW */
    unsigned long failures;
    long long grace;
    status_state expect;
} state_case;

static void state_precedence(void **state)
{
    static const state_case cases[] = {
        { "no URL beats everything", "", STATUS_CS_GOOD, -10, 3600, 5, 0,
          STATUS_NO_RESPONDER },
        { "no URL, nothing fetched", "", STATUS_CS_NONE, 0, 0, 0, 0,
          STATUS_NO_RESPONDER },
        { "never fetched", "http://r/", STATUS_CS_NONE, 0, 0, 3, 0,
          STATUS_MISSING },
        { "unknown is never stapled", "http://r/", STATUS_CS_UNKNOWN, -10,
          3600, 0, 0, STATUS_MISSING },
        { "expired good", "http://r/", STATUS_CS_GOOD, -7200, -1, 4, 0,
          STATUS_EXPIRED },
        { "expired revoked", "http://r/", STATUS_CS_REVOKED, -7200, -1, 0, 0,
          STATUS_EXPIRED },
        { "past nextUpdate, inside the grace", "http://r/", STATUS_CS_GOOD,
          -7200, -10, 0, 60, STATUS_EXPIRING },
        { "past nextUpdate and the grace", "http://r/", STATUS_CS_GOOD,
          -7200, -61, 0, 60, STATUS_EXPIRED },
        { "expiry second itself is still valid", "http://r/", STATUS_CS_GOOD,
          -3600, 0, 0, 0, STATUS_EXPIRING },
        { "revoked beats failing", "http://r/", STATUS_CS_REVOKED, -10, 3600,
          9, 0, STATUS_REVOKED },
        { "revoked beats expiring", "http://r/", STATUS_CS_REVOKED, -3500,
          100, 0, 0, STATUS_REVOKED },
        { "expiring beats failing", "http://r/", STATUS_CS_GOOD, -3500, 100,
          3, 0, STATUS_EXPIRING },
        /* margin: 10% of 1 h = 360 s */
        { "1 h validity, 359 s left", "http://r/", STATUS_CS_GOOD, -3241, 359,
          0, 0, STATUS_EXPIRING },
        { "1 h validity, 360 s left", "http://r/", STATUS_CS_GOOD, -3240, 360,
          0, 0, STATUS_GOOD },
        /* margin: capped at 1 h for a 7-day response */
        { "7 d validity, 3599 s left", "http://r/", STATUS_CS_GOOD,
          -7 * 86400 + 3599, 3599, 0, 0, STATUS_EXPIRING },
        { "7 d validity, 3600 s left", "http://r/", STATUS_CS_GOOD,
          -7 * 86400 + 3600, 3600, 0, 0, STATUS_GOOD },
        { "fresh but the last refresh failed", "http://r/", STATUS_CS_GOOD,
          -1000, 86400, 1, 0, STATUS_FAILING },
        { "good", "http://r/", STATUS_CS_GOOD, -1000, 86400, 0, 0,
          STATUS_GOOD },
        { "revoked", "http://r/", STATUS_CS_REVOKED, -1000, 86400, 0, 0,
          STATUS_REVOKED },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        const state_case *t = &cases[i];
        status_cert c;
        status_state got;
        memset(&c, 0, sizeof(c));
        c.responders = t->responders;
        c.cert_status = t->cert_status;
        c.this_update = t->cert_status == STATUS_CS_NONE ? 0
                        : NOW + t->this_update;
        c.next_update = t->cert_status == STATUS_CS_NONE ? 0
                        : NOW + t->next_update;
        c.failures = t->failures;
        got = status_state_of(&c, NOW, t->grace);
        if (got != t->expect) {
            fail_msg("%s: got %s, expected %s", t->what,
                     status_state_name(got), status_state_name(t->expect));
        }
    }
    /* a NULL responder string is "no responder" too */
    {
        status_cert c;
        memset(&c, 0, sizeof(c));
        c.cert_status = STATUS_CS_GOOD;
        assert_int_equal(status_state_of(&c, NOW, 0), STATUS_NO_RESPONDER);
    }
}

static void totals_add_up(void **state)
{
    status_cert c[7];
    status_report r;
    int i;
    memset(c, 0, sizeof(c));
    memset(&r, 0, sizeof(r));
    for (i = 0; i < 7; ++i) {
        c[i].responders = "http://r/";
        c[i].cert_status = STATUS_CS_GOOD;
        c[i].this_update = NOW - 100;
        c[i].next_update = NOW + 86400;
        c[i].fetches = (unsigned long)i;
        c[i].fetch_errors = 1;
        c[i].errors[i] = 1;
        c[i].served = 10;
        c[i].unserved = (unsigned long)i;
    }
    c[1].failures = 2;                                  /* failing */
    c[2].next_update = NOW + 10;                        /* expiring */
    c[3].cert_status = STATUS_CS_REVOKED;               /* revoked */
    c[4].cert_status = STATUS_CS_NONE;                  /* missing */
    c[5].next_update = NOW - 10;                        /* expired */
    c[6].responders = "";                               /* no responder */
    r.now = NOW;
    r.certs = c;
    r.ncerts = 7;
    status_report_finish(&r);
    for (i = 0; i < STATUS_STATES; ++i) {
        assert_int_equal(r.totals.states[i], 1);
    }
    assert_int_equal(c[0].state, STATUS_GOOD);
    assert_int_equal(c[6].state, STATUS_NO_RESPONDER);
    assert_int_equal(r.totals.certificates, 7);
    assert_int_equal(r.totals.good, 3);       /* good, failing, expiring */
    assert_int_equal(r.totals.revoked, 1);
    assert_int_equal(r.totals.missing, 2);    /* missing, expired */
    assert_int_equal(r.totals.no_responder, 1);
    assert_int_equal(r.totals.good + r.totals.revoked + r.totals.missing
                     + r.totals.no_responder, r.totals.certificates);
    assert_int_equal(r.totals.fetches, 21);
    assert_int_equal(r.totals.fetch_errors, 7);
    assert_int_equal(r.totals.served, 70);
    assert_int_equal(r.totals.unserved, 21);
    for (i = 0; i < 7; ++i) {
        assert_int_equal(r.totals.errors[i], 1);
    }
    assert_int_equal(r.totals.errors[7], 0);
}

static void auto_exact(void **state)
{
    assert_exact(0, EXPECT_AUTO);
}

static void json_exact(void **state)
{
    assert_exact(1, EXPECT_JSON);
}

static void prometheus_exact(void **state)
{
    assert_exact(2, EXPECT_PROM);
}

static void html_exact(void **state)
{
    assert_exact(3, EXPECT_HTML);
}

static void html_notable_exact(void **state)
{
    assert_exact(4, EXPECT_HTML_NOTABLE);
}


/* ---- filtering by state (issue 14) --------------------------------------- */

static void filter_parsing(void **state)
{
    status_filter f;

    memset(&f, 0, sizeof(f));
    assert_null(status_filter_add(&f, "failing", test_pool));
    assert_int_equal(f.active, 1);
    assert_int_equal(f.states, 1u << STATUS_FAILING);
    assert_null(status_filter_add(&f, "expiring,revoked", test_pool));
    assert_null(status_filter_add(&f, " missing, ,expired ", test_pool));
    assert_int_equal(f.states, (1u << STATUS_FAILING) | (1u << STATUS_EXPIRING)
                     | (1u << STATUS_REVOKED) | (1u << STATUS_MISSING)
                     | (1u << STATUS_EXPIRED));
    assert_null(f.error);

    memset(&f, 0, sizeof(f));
    assert_null(status_filter_add(&f, "none", test_pool));
    assert_int_equal(f.active, 1);
    assert_int_equal(f.states, 0);
    assert_null(status_filter_add(&f, "", test_pool));
    assert_null(status_filter_add(&f, "good,no_responder", test_pool));
    assert_int_equal(f.states, (1u << STATUS_GOOD)
                               | (1u << STATUS_NO_RESPONDER));

    memset(&f, 0, sizeof(f));
    assert_non_null(status_filter_add(&f, "good,Failing", test_pool));
    assert_non_null(strstr(f.error, "unknown state 'Failing'"));
    assert_non_null(strstr(f.error, "no_responder"));
    memset(&f, 0, sizeof(f));
    assert_non_null(status_filter_add(&f, "goo", test_pool));
    memset(&f, 0, sizeof(f));
    assert_non_null(status_filter_add(&f, "goodx", test_pool));
}

/* The unfiltered output without the lines of the certificates left out
 * (every renderer lists a certificate on lines that name its id or its
 * ?auto index). */
static char *without_lines(const char *text, const char *const *drop,
                           int ndrop, const char *after, const char *insert)
{
    char *out = calloc(1, strlen(text) + (insert ? strlen(insert) : 0) + 1);
    const char *line = text;
    int k;

    while (*line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        int keep = 1;
        for (k = 0; k < ndrop; ++k) {
            const char *hit = strstr(line, drop[k]);
            if (hit && hit < line + n)
                keep = 0;
        }
        if (keep)
            strncat(out, line, n);
        if (after && insert && !strncmp(line, after, strlen(after)))
            strcat(out, insert);
        line += n;
    }
    return out;
}

static void filtered_auto_and_metrics(void **state)
{
    static const char *const drop_auto[] = { "OCSPStaple[0]",
                                             "OCSPStaple[2]" };
    static const char *const drop_prom[] = {
        "00112233445566778899aabbccddeeff00112233",
        "2222222222222222222222222222222222222222" };
    status_report r;
    char *got, *want;

    sample_report(&r);
    assert_null(status_filter_add(&r.filter, "revoked", test_pool));
    assert_int_equal(status_report_shown(&r), 1);
    /* the totals as before, then how many are listed, then the revoked
     * certificate under its own index */
    got = render(0, &r);
    want = without_lines(EXPECT_AUTO, drop_auto, 2,
                         "OCSPStapleRefresherTicks:", "OCSPStapleListed: 1\n");
    assert_string_equal(got, want);
    free(got);
    free(want);
    /* per-certificate series of the revoked one only; the server-wide
     * ones complete */
    got = render(2, &r);
    want = without_lines(EXPECT_PROM, drop_prom, 2, NULL, NULL);
    assert_string_equal(got, want);
    assert_non_null(strstr(got, "ocspstaple_certificates{state=\"good\"} 1"));
    free(got);
    free(want);

    /* none: the totals alone */
    sample_report(&r);
    assert_null(status_filter_add(&r.filter, "none", test_pool));
    got = render(0, &r);
    assert_null(strstr(got, "OCSPStaple["));
    assert_non_null(strstr(got, "OCSPStapleCertificates: 3\n"));
    assert_non_null(strstr(got, "OCSPStapleListed: 0\n"));
    free(got);
    got = render(2, &r);
    assert_null(strstr(got, "{id="));
    assert_non_null(strstr(got, "ocspstaple_fetches_total 4\n"));
    free(got);

    /* an unknown state: said, nothing listed */
    sample_report(&r);
    assert_non_null(status_filter_add(&r.filter, "bad\nname", test_pool));
    got = render(0, &r);
    assert_null(strstr(got, "OCSPStaple["));
    assert_non_null(strstr(got, "OCSPStapleFilterError: unknown state "
                                "'bad name' (state= takes"));
    free(got);
}

static void filtered_json(void **state)
{
    status_report r;
    char *got;
    json_t *doc, *unfiltered, *certs, *filter;
    json_error_t err;

    sample_report(&r);
    got = render(1, &r);
    unfiltered = json_loads(got, 0, &err);
    assert_non_null(unfiltered);
    free(got);
    assert_null(status_filter_add(&r.filter, "good,no_responder", test_pool));
    got = render(1, &r);
    doc = json_loads(got, JSON_PRESERVE_ORDER, &err);
    assert_non_null(doc);
    /* totals unchanged, the filter said, two certificates of three */
    assert_true(json_equal(json_object_get(doc, "totals"),
                           json_object_get(unfiltered, "totals")));
    filter = json_object_get(doc, "filter");
    assert_non_null(filter);
    assert_int_equal(json_integer_value(json_object_get(filter, "listed")), 2);
    assert_string_equal(json_string_value(json_array_get(
        json_object_get(filter, "state"), 0)), "good");
    assert_string_equal(json_string_value(json_array_get(
        json_object_get(filter, "state"), 1)), "no_responder");
    certs = json_object_get(doc, "certificates");
    assert_int_equal(json_array_size(certs), 2);
    assert_true(json_equal(json_array_get(certs, 0), json_array_get(
        json_object_get(unfiltered, "certificates"), 0)));
    assert_true(json_equal(json_array_get(certs, 1), json_array_get(
        json_object_get(unfiltered, "certificates"), 2)));
    /* the filter comes before the certificates */
    assert_true(strstr(got, "\"filter\"") < strstr(got,
                                                    "\"certificates\": ["));
    assert_true(strstr(got, "\"totals\"") < strstr(got, "\"filter\""));
    json_decref(doc);
    json_decref(unfiltered);
    free(got);
}

static void filtered_html(void **state)
{
    status_report r;
    char *got;

    sample_report(&r);
    assert_null(status_filter_add(&r.filter, "revoked", test_pool));
    got = render(3, &r);
    /* the summary line as before; then the states, each a link when it
     * has certificates; then what is listed */
    assert_non_null(strstr(got, "<p>3 certificates: 1 good, 1 revoked, "));
    assert_non_null(strstr(got, "<tr><td class=\"st st-good\"><a href=\""
                                "?state=good\">good</a></td><td class=\"n\">"
                                "1</td></tr>\n"));
    assert_non_null(strstr(got, "<tr><td class=\"st st-failing\">failing"
                                "</td><td class=\"n\">0</td></tr>\n"));
    assert_non_null(strstr(got, "<a href=\"?state=expiring,failing,revoked,"
                                "missing,expired\">needing attention</a>"
                                "</td><td class=\"n\">1</td></tr>\n"));
    assert_non_null(strstr(got, "<a href=\"?\">all</a></td><td class=\"n\">3"
                                "</td></tr>\n"));
    assert_non_null(strstr(got, "<p>Listed below: 1 of 3 (state revoked). "
                                "<a href=\"?\">List all</a></p>\n"));
    assert_true(strstr(got, "Listed below") < strstr(got,
                                                     "<table class=\"ocspstaple\">\n<tr><th title="));
    assert_non_null(strstr(got, "title=\"id 1111111111111111111111111111111111111111\""));
    assert_null(strstr(got, "title=\"id 0011"));
    assert_null(strstr(got, "title=\"id 2222"));
    free(got);
    got = render(4, &r);
    assert_non_null(strstr(got, "<a href=\"?state=revoked\">revoked</a>: 1"
                                "<br>\n"));
    assert_non_null(strstr(got, "<dd>CN=revoked.example</dd>"));
    assert_null(strstr(got, "<dd>CN=plain.example</dd>"));
    free(got);

    /* an unknown state: said (escaped), no rows */
    sample_report(&r);
    assert_non_null(status_filter_add(&r.filter, "<b>", test_pool));
    got = render(3, &r);
    assert_non_null(strstr(got, "<p><strong>unknown state &#39;&lt;b&gt;&#39;"));
    assert_null(strstr(got, "title=\"id "));
    free(got);
}

/* Up to STATUS_HTML_SUMMARY_MIN certificates the page is as it always was;
 * above, the states come first. */
static void html_states_at_scale(void **state)
{
    int n = STATUS_HTML_SUMMARY_MIN + 1, i;
    status_cert *c = calloc((size_t)n, sizeof(*c));
    status_report r;
    char *got;

    for (i = 0; i < n; ++i) {
        c[i].id_hex = "ab";
        c[i].vhosts = c[i].subject = c[i].serial = c[i].last_result = "x";
        c[i].responders = "http://r/";
        c[i].cert_status = STATUS_CS_GOOD;
        c[i].this_update = NOW - 100;
        c[i].next_update = NOW + 86400;
    }
    c[3].failures = 1;
    memset(&r, 0, sizeof(r));
    r.now = NOW;
    r.certs = c;
    r.ncerts = n - 1;
    status_report_finish(&r);
    got = render(3, &r);
    assert_null(strstr(got, "?state="));
    free(got);
    r.ncerts = n;
    status_report_finish(&r);
    got = render(3, &r);
    assert_non_null(strstr(got, "<a href=\"?state=good\">good</a></td><td "
                                "class=\"n\">50</td>"));
    assert_non_null(strstr(got, "<a href=\"?state=failing\">failing</a></td>"
                                "<td class=\"n\">1</td>"));
    assert_null(strstr(got, "Listed below"));     /* no filter: all listed */
    free(got);
    free(c);
}

/* Whatever the subject holds, it never becomes markup, never breaks an
 * ?auto line, and comes back unchanged from JSON and Prometheus. */
static void hostile_strings_stay_data(void **state)
{
    status_report r;
    char *html, *notable, *autotext, *json, *prom, *line;
    json_t *doc;
    json_error_t err;
    prom_doc *d = calloc(1, sizeof(*d));
    int i, lines = 0, found = 0;

    sample_report(&r);
    html = render(3, &r);
    notable = render(4, &r);
    autotext = render(0, &r);
    json = render(1, &r);
    prom = render(2, &r);

    assert_null(strstr(html, "<script"));
    assert_null(strstr(notable, "<script"));
    assert_null(strstr(html, "Jerry's"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)"));

    for (line = strtok(autotext, "\n"); line; line = strtok(NULL, "\n")) {
        const char *colon = strstr(line, ": ");
        size_t k;
        ++lines;
        assert_non_null(colon);
        assert_int_equal(strncmp(line, "OCSPStaple", 10), 0);
        for (k = 10; line + k < colon; ++k) {
            assert_true(isalnum((unsigned char)line[k]) || line[k] == '['
                        || line[k] == ']');
        }
    }
    assert_int_equal(lines, 15 + 3 * status_nfields);

    doc = json_loads(json, 0, &err);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_array_get(
        json_object_get(doc, "certificates"), 0), "subject")), HOSTILE);
    assert_int_equal(json_array_size(json_object_get(doc, "certificates")),
                     3);
    json_decref(doc);

    assert_prom_ok(prom, d);
    for (i = 0; i < d->nsamples; ++i) {
        const prom_sample *s = &d->samples[i];
        if (!strcmp(s->name, "ocspstaple_certificate_info")
            && !strcmp(prom_label(s, "id"), sample_certs[0].id_hex)) {
            assert_string_equal(prom_label(s, "subject"), HOSTILE);
            assert_string_equal(prom_label(s, "status"), "good");
            assert_true(s->value == 1);
            ++found;
        }
    }
    assert_int_equal(found, 1);
    prom_free(d);
    free(d);
    free(html);
    free(notable);
    free(autotext);
    free(json);
    free(prom);
}

/* The metrics parse strictly and carry the numbers of the sample. */
static void prometheus_parses_with_values(void **state)
{
    status_report r;
    char *prom;
    prom_doc *d = calloc(1, sizeof(*d));
    int i, info = 0;

    sample_report(&r);
    prom = render(2, &r);
    assert_prom_ok(prom, d);
    for (i = 0; i < d->nfamilies; ++i) {
        assert_true(d->families[i].help && d->families[i].type);
        assert_int_equal(strncmp(d->families[i].name, "ocspstaple_", 11), 0);
    }
    for (i = 0; i < d->nsamples; ++i) {
        info += !strcmp(d->samples[i].name, "ocspstaple_certificate_info");
    }
    assert_int_equal(info, 3);
    assert_true(prom_get(d, "ocspstaple_seconds_until_next_update{id=\""
                            "00112233445566778899aabbccddeeff00112233\"}")
                == 1800);
    assert_true(prom_get(d, "ocspstaple_seconds_since_last_success{id=\""
                            "1111111111111111111111111111111111111111\"}")
                == 3600);
    assert_true(prom_get(d, "ocspstaple_consecutive_failures{id=\""
                            "2222222222222222222222222222222222222222\"}")
                == 0);
    assert_true(prom_get(d, "ocspstaple_certificate_staples_served_total{id=\""
                            "00112233445566778899aabbccddeeff00112233\"}")
                == 42);
    assert_true(prom_get(d, "ocspstaple_fetches_total") == 4);
    assert_true(prom_get(d, "ocspstaple_fetch_errors_total{class=\"timeout\"}")
                == 1);
    assert_true(prom_get(d, "ocspstaple_fetch_errors_total{class=\"network\"}")
                == 0);
    assert_true(prom_get(d, "ocspstaple_staples_served_total") == 47);
    assert_true(prom_get(d, "ocspstaple_handshakes_unstapled_total") == 9);
    assert_true(prom_get(d, "ocspstaple_certificates{state=\"revoked\"}")
                == 1);
    /* no response: no "seconds until nextUpdate" sample at all */
    for (i = 0; i < d->nsamples; ++i) {
        if (!strcmp(d->samples[i].name,
                    "ocspstaple_seconds_until_next_update")) {
            assert_string_not_equal(prom_label(&d->samples[i], "id"),
                                    sample_certs[2].id_hex);
        }
    }
    prom_free(d);
    free(d);
    free(prom);
}

/* The parser is strict: it refuses what the format forbids. */
static void prometheus_parser_is_strict(void **state)
{
    prom_doc *d = calloc(1, sizeof(*d));
    static const char ok[] =
        "# HELP m_total a counter\n# TYPE m_total counter\n"
        "m_total{a=\"x\\\\y\\\"z\\n\",b=\"\"} 1.5e3 1700000000000\n"
        "m_total 7\n\n# a comment\n"
        "# HELP g g\n# TYPE g gauge\ng -Inf\n";
    assert_int_equal(prom_parse(d, ok), 0);
    assert_string_equal(prom_label(&d->samples[0], "a"), "x\\y\"z\n");
    assert_true(d->samples[0].value == 1500);
    prom_free(d);
    free(d);
    assert_prom_bad("m 1\n");                                   /* no HELP */
    assert_prom_bad("# HELP m x\nm 1\n");                       /* no TYPE */
    assert_prom_bad("# TYPE m gauge\nm 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm{a=\"b\\q\"} 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm{a=\"b\"c\"} 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm{a=b} 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm{a=\"1\",a=\"2\"} 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm one\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm 1");         /* no \n */
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm 1\nm 2\n");  /* twice */
    assert_prom_bad("# HELP m x\n# TYPE m thing\nm 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm 1\n# HELP m y\n");
    assert_prom_bad("# HELP 1m x\n# TYPE 1m gauge\n1m 1\n");
    assert_prom_bad("# HELP m x\n# TYPE m gauge\n# HELP n x\n# TYPE n gauge\n"
                    "m{a=\"1\"} 1\nn 1\nm{a=\"2\"} 1\n");        /* split */
    assert_prom_bad("# HELP m x\n# TYPE m gauge\nm{a=\"\xff\"} 1\n");
}

/* No certificates: everything renders, empty but valid. */
static void empty_report_is_valid(void **state)
{
    status_report r;
    char *autotext, *json, *prom, *html, *line;
    json_t *doc;
    json_error_t err;
    prom_doc *d = calloc(1, sizeof(*d));
    int lines = 0, i;

    memset(&r, 0, sizeof(r));
    r.now = NOW;
    status_report_finish(&r);
    autotext = render(0, &r);
    json = render(1, &r);
    prom = render(2, &r);
    html = render(3, &r);

    for (line = strtok(autotext, "\n"); line; line = strtok(NULL, "\n")) {
        ++lines;
        assert_int_equal(strncmp(line, "OCSPStaple", 10), 0);
        assert_non_null(strstr(line, ": 0"));
    }
    assert_int_equal(lines, 15);

    doc = json_loads(json, 0, &err);
    assert_non_null(doc);
    assert_true(json_is_array(json_object_get(doc, "certificates")));
    assert_int_equal(json_array_size(json_object_get(doc, "certificates")),
                     0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
        doc, "totals"), "certificates")), 0);
    json_decref(doc);

    assert_prom_ok(prom, d);
    for (i = 0; i < d->nsamples; ++i) {
        assert_true(d->samples[i].value == 0);
    }
    assert_true(prom_get(d, "ocspstaple_fetches_total") == 0);
    prom_free(d);
    free(d);

    assert_non_null(strstr(html, "<p>0 certificates: 0 good"));
    assert_non_null(strstr(html, "</th></tr>\n</table>\n"));
    assert_null(strstr(html, "<td"));
    free(autotext);
    free(json);
    free(prom);
    free(html);
}

/* A subject that is not UTF-8 still renders (as '?'), in JSON too. */
static void invalid_utf8_renders(void **state)
{
    status_report r;
    char *json, *prom;
    json_t *doc;
    json_error_t err;
    prom_doc *d = calloc(1, sizeof(*d));

    sample_report(&r);
    sample_certs[1].subject = "CN=caf\xe9 \xc3\xa9";   /* Latin-1, then UTF-8 */
    json = render(1, &r);
    prom = render(2, &r);
    doc = json_loads(json, 0, &err);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_array_get(
        json_object_get(doc, "certificates"), 1), "subject")),
        "CN=caf? \xc3\xa9");
    json_decref(doc);
    assert_prom_ok(prom, d);
    assert_non_null(strstr(prom, "subject=\"CN=caf? \xc3\xa9\""));
    prom_free(d);
    free(d);
    free(json);
    free(prom);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(html_escaping),
        cmocka_unit_test(prometheus_label_escaping),
        cmocka_unit_test(line_escaping),
        cmocka_unit_test(buffer_grows),
        cmocka_unit_test(keys_and_times),
        cmocka_unit_test(absurd_time_renders_as_unset),
        cmocka_unit_test(field_table_consistent),
        cmocka_unit_test(state_precedence),
        cmocka_unit_test(totals_add_up),
        cmocka_unit_test(auto_exact),
        cmocka_unit_test(json_exact),
        cmocka_unit_test(prometheus_exact),
        cmocka_unit_test(html_exact),
        cmocka_unit_test(html_notable_exact),
        cmocka_unit_test(hostile_strings_stay_data),
        cmocka_unit_test(prometheus_parses_with_values),
        cmocka_unit_test(prometheus_parser_is_strict),
        cmocka_unit_test(empty_report_is_valid),
        cmocka_unit_test(invalid_utf8_renders),
        cmocka_unit_test(filter_parsing),
        cmocka_unit_test(filtered_auto_and_metrics),
        cmocka_unit_test(filtered_json),
        cmocka_unit_test(filtered_html),
        cmocka_unit_test(html_states_at_scale),
    };
    return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
