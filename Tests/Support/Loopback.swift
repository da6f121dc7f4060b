import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Plain TCP sockets on 127.0.0.1 for the tests' port checks, without an event loop.
package enum Loopback {
  /// Binds a socket to `port` (0: any) and closes it: the port it got, or nil.
  package static func bind(port: Int) -> Int? {
    withSocket(port: port) { fd, address, length in
      Glibc.bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
    }
  }

  /// Whether something accepts a TCP connection on `port` now.
  package static func acceptsConnections(port: Int) -> Bool {
    withSocket(port: port) { fd, address, length in connect(fd, address, length) == 0 } != nil
  }

  /// Runs `body` on a fresh socket and the address 127.0.0.1:`port`; the address' port after it
  /// (what `getsockname` wrote back), or nil when `body` returned false. The socket is closed.
  private static func withSocket(
    port: Int, _ body: (Int32, UnsafeMutablePointer<sockaddr>, inout socklen_t) -> Bool
  ) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let succeeded = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, &length) }
    }
    return succeeded ? Int(UInt16(bigEndian: address.sin_port)) : nil
  }
}
