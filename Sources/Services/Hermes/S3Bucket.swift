public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// A bucket on the S3 API (AWS S3, MinIO, moto ...), path-style (`<endpoint>/<bucket>/<key>`),
/// every request signed with SigV4 and its body's SHA-256.
public struct S3Bucket: Bucket {
  public var endpoint: URL
  public var bucket: String
  public var signer: SigV4Signer
  public var timeout: Duration
  private let client: HTTPClient

  /// - Parameters:
  ///   - endpoint: scheme, host and port, such as `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:9000`.
  ///   - client: the HTTP client; `HTTPClient.shared` by default.
  public init(
    endpoint: URL, bucket: String, region: String, credentials: SigV4Signer.Credentials,
    timeout: Duration = .seconds(30), client: HTTPClient = .shared
  ) {
    self.endpoint = endpoint
    self.bucket = bucket
    self.signer = SigV4Signer(credentials: credentials, region: region, service: "s3")
    self.timeout = timeout
    self.client = client
  }

  public func put(key: String, data: Data, contentType: String) async throws {
    try BucketError.check(key)
    let response = try await send(method: .PUT, path: "/\(bucket)/\(key)", body: data, extraHeaders: [("content-type", contentType)])
    guard (200..<300).contains(response.status) else {
      throw BucketError.failed("PUT \(key): HTTP \(response.status): \(String(decoding: response.body.prefix(500), as: UTF8.self))")
    }
  }

  public func get(key: String) async throws -> Data? {
    try BucketError.check(key)
    let response = try await send(method: .GET, path: "/\(bucket)/\(key)", body: Data(), extraHeaders: [])
    if response.status == 404 { return nil }
    guard (200..<300).contains(response.status) else {
      throw BucketError.failed("GET \(key): HTTP \(response.status): \(String(decoding: response.body.prefix(500), as: UTF8.self))")
    }
    return response.body
  }

  /// Creates the bucket (`PUT /<bucket>`); an existing bucket of ours is fine.
  public func create() async throws {
    let response = try await send(method: .PUT, path: "/\(bucket)", body: Data(), extraHeaders: [])
    let text = String(decoding: response.body.prefix(500), as: UTF8.self)
    guard (200..<300).contains(response.status) || text.contains("BucketAlreadyOwnedByYou") else {
      throw BucketError.failed("create bucket \(bucket): HTTP \(response.status): \(text)")
    }
  }

  private func send(
    method: HTTPMethod, path: String, body: Data, extraHeaders: [(String, String)]
  ) async throws -> (status: Int, body: Data) {
    let date = Date()
    let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
    let payloadHash = SigV4Signer.hexSHA256(body)
    var headers = [("host", host), ("x-amz-date", SigV4Signer.timestamps(date).amzDate), ("x-amz-content-sha256", payloadHash)]
    headers += extraHeaders
    let signature = signer.sign(method: method.rawValue, path: path, headers: headers, payloadHash: payloadHash, date: date)
    let base = endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString
    var request = HTTPClientRequest(url: base + SigV4Signer.encode(path, keepSlash: true))
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.headers.add(name: "authorization", value: signature.authorization)
    if !body.isEmpty || method == .PUT {
      // The client sets Content-Length from the buffer.
      request.body = .bytes(ByteBuffer(bytes: body))
    }
    let seconds = timeout.components.seconds
    let response = try await client.execute(request, timeout: .seconds(seconds))
    let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
    return (Int(response.status.code), Data(bytes.readableBytesView))
  }
}
