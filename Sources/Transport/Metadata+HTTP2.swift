internal import GRPCCore

extension Metadata {
  /// Header names that belong to the gRPC protocol itself and never surface as metadata.
  /// (`grpc-timeout` does surface: GRPCCore reads the deadline from it.)
  static func isReservedHeader(_ name: String) -> Bool {
    if name.utf8.first == UInt8(ascii: ":") { return true }
    switch name {
    case "content-type", "te", "grpc-encoding", "grpc-accept-encoding", "grpc-status",
      "grpc-message", "content-length", "connection", "host":
      return true
    default:
      return false
    }
  }

  /// Metadata from received header fields: `-bin` values are base64-decoded.
  init(http2Headers headers: HTTP2Headers) {
    self.init()
    self.reserveCapacity(headers.count)
    for (name, value) in headers where !Self.isReservedHeader(name) {
      if name.hasSuffix("-bin") {
        if let bytes = Base64.decode(value) {
          self.addBinary(bytes, forKey: name)
        }
      } else {
        self.addString(value, forKey: name)
      }
    }
  }

  /// Appends this metadata as header fields: lowercase names, `-bin` values in base64.
  func appendHeaders(to headers: inout HTTP2Headers) {
    for (key, value) in self {
      let name = key.lowercased()
      if Self.isReservedHeader(name) { continue }
      switch value {
      case .string(let string):
        headers.append((name, string))
      case .binary(let bytes):
        headers.append((name, Base64.encode(bytes)))
      }
    }
  }
}
