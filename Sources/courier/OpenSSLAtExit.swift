#if canImport(Glibc)
import Glibc
#endif

/// Turns off OpenSSL's clean-up at process exit. libcurl (Iris' SMTP client) and libpq load the
/// system's OpenSSL, which by default frees its global state in an `atexit` handler. A service
/// ends by returning from `main` while other threads (an SMTP send on its worker thread, a
/// database connection's thread) may still be inside OpenSSL, and such a thread then crashes on
/// freed state: Iris once ended with SIGSEGV in libcrypto on SIGTERM. With
/// `OPENSSL_INIT_NO_ATEXIT` the process exits without that clean-up; the kernel frees everything
/// anyway. The flag only counts in OpenSSL's first initialization, so this runs before a service
/// starts. The symbol is looked up at run time: the binary links OpenSSL only through those two
/// libraries.
func keepOpenSSLStateAtExit() {
  #if canImport(Glibc)
  guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "OPENSSL_init_crypto") else { return }
  typealias InitCrypto = @convention(c) (UInt64, UnsafeRawPointer?) -> Int32
  let noAtExit: UInt64 = 0x0008_0000  // OPENSSL_INIT_NO_ATEXIT, openssl/crypto.h
  _ = unsafeBitCast(symbol, to: InitCrypto.self)(noAtExit, nil)
  #endif
}
