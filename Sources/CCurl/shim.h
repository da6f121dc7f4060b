// The one C entry point of the Mail module: Debian's libcurl4-openssl-dev (pkg-config `libcurl`).
#ifndef COURIER_CCURL_SHIM_H
#define COURIER_CCURL_SHIM_H
#include <curl/curl.h>
#endif
