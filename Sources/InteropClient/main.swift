// interop-client: runs interop test cases against a grpc.testing.TestService server.
// Usage: interop-client --server_port N [--server_host H] [--test_case NAME|all]
//                       [--request_compression gzip|deflate]
// Prints "PASS name" or "FAIL name: reason" per case; exits non-zero if any failed.
import Foundation
import GRPCCore
import Interop
import Transport

var host = "127.0.0.1"
var port = 0
var testCase = "all"
var compression = CompressionAlgorithm.none
let arguments = Array(CommandLine.arguments.dropFirst())
var index = 0
while index < arguments.count {
  let argument = arguments[index]
  index += 1
  var name = argument
  var value: String?
  if let equals = argument.firstIndex(of: "=") {
    name = String(argument[..<equals])
    value = String(argument[argument.index(after: equals)...])
  } else if index < arguments.count {
    value = arguments[index]
    index += 1
  }
  switch name {
  case "--server_port": port = Int(value ?? "") ?? 0
  case "--server_host": host = value ?? host
  case "--test_case": testCase = value ?? testCase
  case "--request_compression":
    switch value {
    case "gzip": compression = .gzip
    case "deflate": compression = .deflate
    case "identity", "none": compression = .none
    default:
      print("unknown --request_compression \(value ?? ""): use gzip, deflate or identity")
      exit(2)
    }
  default: ()
  }
}

let cases: [InteropTestCase]
if testCase == "all" {
  cases = InteropTestCase.allCases
} else if let one = InteropTestCase(rawValue: testCase) {
  cases = [one]
} else {
  print("unknown test case \(testCase)")
  exit(2)
}

var config = NGHTTP2ClientTransport.Config.defaults
config.compression.algorithm = compression
let transport = try NGHTTP2ClientTransport(target: .init(host: host, port: port), config: config)
let failures = try await withGRPCClient(transport: transport) { client in
  var failures = 0
  for interopCase in cases {
    do {
      try await interopCase.run(using: client)
      print("PASS \(interopCase.rawValue)")
    } catch {
      failures += 1
      print("FAIL \(interopCase.rawValue): \(error)")
    }
  }
  return failures
}
exit(failures == 0 ? 0 : 1)
