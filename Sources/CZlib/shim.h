// zlib (Debian zlib1g-dev) for gRPC message compression in the Transport module. zlib's init
// functions are macros, which Swift cannot call: these inline functions stand in for them.
#ifndef COURIER_CZLIB_SHIM_H
#define COURIER_CZLIB_SHIM_H
#include <zlib.h>

static inline int CZlib_inflateInit2(z_streamp stream, int windowBits) {
  return inflateInit2(stream, windowBits);
}

static inline int CZlib_deflateInit2(z_streamp stream, int level, int windowBits) {
  return deflateInit2(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
