import CourierTestSupport
import Foundation
@testable import Hermes
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The S3 bucket against real S3 software: signatures compared with botocore's signer, and a
/// round trip through a `moto` S3 server. Both come from the project's Python venv (`.venv`, made
/// by scripts/setup.sh from scripts/requirements.txt), or from `HERMES_PYTHON` / `HERMES_MOTO_SERVER`.
@Suite("S3 bucket (botocore signer, moto server)", .serialized)
struct S3Tests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static func tool(_ variable: String, venv name: String) -> String? {
    if let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty { return path }
    let path = root.appendingPathComponent(".venv/bin/\(name)").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
  }

  static let botocoreScript = """
    import sys, json
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    spec = json.load(sys.stdin)
    req = AWSRequest(method=spec['method'], url=spec['url'], data=b'')
    for k, v in spec['headers']:
        req.headers[k] = v
    req.context['timestamp'] = spec['amz_date']
    auth = S3SigV4Auth(Credentials(spec['key'], spec['secret']), 's3', spec['region'])
    print(auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req))
    """

  /// botocore's signature for the same request.
  static func botocore(
    python: String, method: String, path: String, query: [(String, String)], headers: [(String, String)],
    amzDate: String, secret: String, region: String
  ) throws -> String {
    let encodedQuery = query.map { SigV4Signer.encode($0.0, keepSlash: false) + "=" + SigV4Signer.encode($0.1, keepSlash: false) }
      .joined(separator: "&")
    let url = "http://127.0.0.1:9000" + SigV4Signer.encode(path, keepSlash: true) + (query.isEmpty ? "" : "?" + encodedQuery)
    let spec: [String: Any] = [
      "method": method, "url": url, "headers": headers.map { [$0.0, $0.1] }, "amz_date": amzDate, "key": "AKIDEXAMPLE",
      "secret": secret, "region": region,
    ]
    let run = try Program.run(python, ["-c", botocoreScript], input: try JSONSerialization.data(withJSONObject: spec))
    guard run.status == 0 else { throw BotocoreFailed(description: run.errors) }
    return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  struct BotocoreFailed: Error, CustomStringConvertible { var description: String }

  @Test("our signatures equal botocore's S3 signer's, for keys with spaces, non-ASCII, queries, untrimmed headers")
  func matchesBotocore() throws {
    let python = try #require(Self.tool("HERMES_PYTHON", venv: "python"), "no Python venv with botocore: run scripts/setup.sh")
    let cases: [(String, String, [(String, String)], [(String, String)])] = [
      ("PUT", "/receipts/receipt-7K3M9QX2T4VA.pdf", [], [("content-type", "application/pdf")]),
      ("GET", "/b/a b/ü~x.pdf", [("x", "1 2"), ("a", "b/c")], [("Range", "bytes=0-9")]),
      ("PUT", "/bucket", [], [("Content-Type", "  text/plain   with  spaces ")]),
    ]
    for (index, (method, path, query, extra)) in cases.enumerated() {
      let date = Date(timeIntervalSince1970: 1_700_000_000 + Double(index) * 86_400)
      let amzDate = SigV4Signer.timestamps(date).amzDate
      let headers = [("host", "127.0.0.1:9000"), ("x-amz-date", amzDate), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)]
        + extra
      let signer = SigV4Signer(
        credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret-\(index)"), region: "eu-central-1")
      let ours = signer.sign(
        method: method, path: path, query: query, headers: headers, payloadHash: SigV4Signer.emptyPayloadHash, date: date)
      let theirs = try Self.botocore(
        python: python, method: method, path: path, query: query, headers: headers, amzDate: amzDate,
        secret: "secret-\(index)", region: "eu-central-1")
      #expect(ours.signature == theirs, "case \(index): \(method) \(path)\n\(ours.canonicalRequest)")
    }
  }

  @Test("put, get, replace and a missing key through a moto S3 server")
  func motoRoundTrip() async throws {
    let motoServer = try #require(
      Self.tool("HERMES_MOTO_SERVER", venv: "moto_server"), "no moto_server: run scripts/setup.sh (moto[server] in requirements)")
    let port = try TestCluster.freePort()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: motoServer)
    process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer {
      // moto_server (werkzeug) does not always end on SIGTERM.
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    let bucket = S3Bucket(
      endpoint: URL(string: "http://127.0.0.1:\(port)")!, bucket: "receipts-\(port)", region: "us-east-1",
      credentials: .init(accessKeyID: "testing", secretAccessKey: "testing"), timeout: .seconds(10))
    // moto takes a moment to listen.
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
      do {
        try await bucket.create()
        break
      } catch {
        guard ContinuousClock.now < deadline, process.isRunning else {
          Issue.record("moto_server did not start on port \(port): \(error)")
          return
        }
        try await Task.sleep(for: .milliseconds(200))
      }
    }
    let pdf = Receipt.document(trackingCode: "7K3M9QX2T4VA", title: "Moto", recipientUserID: "u", registeredAt: Date())
    try await bucket.put(key: "receipts/receipt-7K3M9QX2T4VA.pdf", data: pdf, contentType: "application/pdf")
    #expect(try await bucket.get(key: "receipts/receipt-7K3M9QX2T4VA.pdf") == pdf)
    try await bucket.put(key: "receipts/receipt-7K3M9QX2T4VA.pdf", data: Data("v2".utf8), contentType: "application/pdf")
    #expect(try await bucket.get(key: "receipts/receipt-7K3M9QX2T4VA.pdf") == Data("v2".utf8))
    #expect(try await bucket.get(key: "receipts/none.pdf") == nil)
    await #expect(throws: BucketError.invalidKey("../x")) { try await bucket.get(key: "../x") }
    let missingBucket = S3Bucket(
      endpoint: URL(string: "http://127.0.0.1:\(port)")!, bucket: "no-such-bucket-\(port)", region: "us-east-1",
      credentials: .init(accessKeyID: "testing", secretAccessKey: "testing"))
    await #expect(throws: BucketError.self) {
      try await missingBucket.put(key: "a.pdf", data: Data("x".utf8), contentType: "application/pdf")
    }
  }
}
