// The one C entry point of the Postgres module: Debian's libpq-dev (pkg-config `libpq`,
// headers in /usr/include/postgresql).
#ifndef COURIER_CLIBPQ_SHIM_H
#define COURIER_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
