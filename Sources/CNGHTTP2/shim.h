// libnghttp2 (Debian libnghttp2-dev) for the Transport module. Nothing else lives here.
#ifndef COURIER_CNGHTTP2_SHIM_H
#define COURIER_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
