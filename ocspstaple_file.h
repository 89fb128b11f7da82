/* OCSPStapleFile: responses an operator supplies from outside (a server
 * that may not reach its CA's responder). At start the parent matches each
 * file to its certificate by the CertID inside and checks that it verifies
 * (a configuration check of files the configuration names, like mod_ssl's
 * certificates); from then on only the workers read them, as the User,
 * when they change. */
#ifndef OCSPSTAPLE_FILE_H
#define OCSPSTAPLE_FILE_H

#include "mod_ocspstaple.h"

/* Parent, post_config: matches every vhost's files to its certificates and
 * decides which certificates also ask responders. A file that matches no
 * certificate of its vhost, or does not verify, stops the start with a
 * message naming it. */
apr_status_t os_files_match(os_global *g, apr_pool_t *ptemp, server_rec *s);

#endif
