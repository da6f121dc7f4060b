// The one C entry point of the Mail module: Debian's libcurl4-openssl-dev (pkg-config `libcurl`).
#ifndef COURIER_CCURL_SHIM_H
#define COURIER_CCURL_SHIM_H
#include <curl/curl.h>

// `curl_easy_setopt` and `curl_easy_getinfo` are variadic, which Swift cannot call. These fixed
// signatures let the C compiler make the variadic call correctly on every ABI.
static inline CURLcode courier_curl_setopt_long(CURL *handle, CURLoption option, long value) {
  return curl_easy_setopt(handle, option, value);
}

static inline CURLcode courier_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
  return curl_easy_setopt(handle, option, value);
}

static inline CURLcode courier_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
  return curl_easy_getinfo(handle, info, value);
}
#endif
