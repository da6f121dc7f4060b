// bench-server: one unary RPC, /bench.Users/GetUserData, with a small request and a ~120-byte
// protobuf-encoded response (strings, a repeated string, an int64, a bool), served by the same
// handler code on either transport.
// Usage: bench-server --transport nghttp2|nio --port N [--handlers adaptive|loop|pool]
// (--handlers: where our transport runs stream handlers; adaptive, the default, always on the
// event loop, or always on Swift's pool)
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Transport

struct RawBytes: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] {
    bytes.withUnsafeBytes { Array($0) }
  }
}

/// GetUserData's response, protobuf wire format: 1 user_id (string), 2 email (string),
/// 3 display_name (string), 4 roles (repeated string), 5 created_at_unix (int64), 6 verified (bool).
func encodeUser(id: String) -> [UInt8] {
  var out: [UInt8] = []
  func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
    out.append(UInt8(v))
  }
  func string(_ field: UInt64, _ s: String) {
    varint(field << 3 | 2); varint(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8)
  }
  string(1, id)
  string(2, "ada.lovelace@example.org")
  string(3, "Ada Lovelace")
  for role in ["recipient", "subscriber", "beta"] { string(4, role) }
  varint(5 << 3); varint(1_767_225_600)
  varint(6 << 3); varint(1)
  string(7, "Europe/London, en-GB, notifications: mail+push")
  return out
}

struct UsersService: RegistrableRPCService {
  static let getUserData = MethodDescriptor(fullyQualifiedService: "bench.Users", method: "GetUserData")
  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(forMethod: Self.getUserData, deserializer: RawBytes(), serializer: RawBytes()) {
      request, _ in
      let message = try await request.messages.first(where: { _ in true }) ?? []
      let id = String(decoding: message.dropFirst(2), as: UTF8.self)
      return StreamingServerResponse(single: ServerResponse(message: encodeUser(id: id)))
    }
  }
}

var transportName = "nghttp2"
var port = 50051
var handlers = NGHTTP2ServerTransport.Config.HandlerExecution.adaptive
var index = 1
let arguments = CommandLine.arguments
while index < arguments.count {
  switch arguments[index] {
  case "--transport": index += 1; transportName = arguments[index]
  case "--port": index += 1; port = Int(arguments[index]) ?? port
  case "--handlers":
    index += 1
    handlers = ["pool": .globalExecutor, "loop": .eventLoop][arguments[index]] ?? .adaptive
  default: ()
  }
  index += 1
}

FileHandle.standardError.write(Data("bench-server \(transportName) on 127.0.0.1:\(port)\n".utf8))
switch transportName {
case "nio":
  let transport = HTTP2ServerTransport.Posix(
    address: .ipv4(host: "127.0.0.1", port: port),
    transportSecurity: .plaintext
  )
  try await GRPCServer(transport: transport, services: [UsersService()]).serve()
default:
  var config = NGHTTP2ServerTransport.Config.defaults
  config.handlerExecution = handlers
  let transport = NGHTTP2ServerTransport(address: .init(host: "127.0.0.1", port: port), config: config)
  try await GRPCServer(transport: transport, services: [UsersService()]).serve()
}
