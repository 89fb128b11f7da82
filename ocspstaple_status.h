/* Status: the server-status section, and the JSON, metrics and
 * refresh-on-demand handlers. */
#ifndef OCSPSTAPLE_STATUS_H
#define OCSPSTAPLE_STATUS_H

#include "mod_ocspstaple.h"

void os_status_register_hooks(void);

#endif
