import NIOCore

extension SocketAddress {
  /// The peer in gRPC's text form, as GRPCCore's `ServerContext.remotePeer` documents it:
  /// `ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`, `unix:/path`.
  var grpcPeer: String {
    switch self {
    case .v4: "ipv4:\(ipAddress ?? "?"):\(port ?? 0)"
    case .v6: "ipv6:[\(ipAddress ?? "?")]:\(port ?? 0)"
    case .unixDomainSocket: "unix:\(pathname ?? "")"
    }
  }
}
