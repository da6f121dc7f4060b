internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL

/// Sends push messages: encrypts each payload to its subscription (RFC 8291), signs a VAPID token for
/// the endpoint's origin (RFC 8292) and POSTs the result to the push service (RFC 8030).
///
/// One sender holds one HTTP client with its connection pool; share it and call ``shutdown()`` once
/// when done. ``send(_:)`` never throws: every failure becomes a ``WebPushOutcome`` that says what the
/// caller must do.
public final class WebPushSender: Sendable {
  private let client: HTTPClient
  private let vapid: VAPIDKey
  private let subject: String
  private let timeout: Duration

  /// - Parameters:
  ///   - vapid: the application server's key; browsers subscribed with its public key.
  ///   - subject: the contact for the push service: a `mailto:` or `https:` URL.
  ///   - timeout: the limit for connecting and for the whole request.
  ///   - trustRootsPEMFile: extra CA certificates (PEM) to trust besides the system roots, so
  ///     tests can run an https push service with their own CA.
  /// - Throws: ``WebPushError`` for a bad subject or timeout, or a PEM file that cannot be read.
  public init(vapid: VAPIDKey, subject: String, timeout: Duration = .seconds(10), trustRootsPEMFile: String? = nil) throws {
    try VAPIDKey.validateSubject(subject)
    guard timeout > .zero else {
      throw WebPushError("timeout must be positive (got \(timeout))")
    }
    var tls = TLSConfiguration.makeClientConfiguration()
    if let trustRootsPEMFile {
      let certificates: [NIOSSLCertificate]
      do {
        certificates = try NIOSSLCertificate.fromPEMFile(trustRootsPEMFile)
      } catch {
        throw WebPushError("cannot read trust roots from '\(trustRootsPEMFile)': \(error)")
      }
      guard !certificates.isEmpty else {
        throw WebPushError("trust roots file '\(trustRootsPEMFile)' holds no PEM certificate")
      }
      tls.additionalTrustRoots = [.certificates(certificates)]
    }
    let amount = Self.timeAmount(timeout)
    let configuration = HTTPClient.Configuration(
      tlsConfiguration: tls,
      redirectConfiguration: .disallow,
      timeout: .init(connect: amount, read: amount)
    )
    self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    self.vapid = vapid
    self.subject = subject
    self.timeout = timeout
  }

  /// POSTs one message with the headers `TTL`, `Urgency`, `Topic` (when set), `Content-Encoding:
  /// aes128gcm`, `Content-Type: application/octet-stream` and `Authorization: vapid ...`.
  ///
  /// A request that fails local checks (bad endpoint, payload too large, bad topic or TTL) is
  /// `.rejected(status: 0, ...)` without touching the network.
  public func send(_ request: WebPushRequest) async -> WebPushOutcome {
    let prepared: HTTPClientRequest
    do {
      prepared = try prepare(request)
    } catch {
      return .rejected(status: 0, reason: error.description)
    }
    do {
      let response = try await client.execute(prepared, timeout: Self.timeAmount(timeout))
      var body: [UInt8] = []
      for try await chunk in response.body where body.count < WebPushOutcome.quotedBodyLimit {
        body += chunk.readableBytesView.prefix(WebPushOutcome.quotedBodyLimit - body.count)
      }
      return WebPushOutcome.classify(
        status: Int(response.status.code),
        retryAfter: response.headers.first(name: "Retry-After"),
        body: body
      )
    } catch {
      return .retryLater(reason: "push service at \(Self.origin(of: request.endpoint)) did not answer: \(error)", retryAfter: nil)
    }
  }

  /// Closes the HTTP client's connections. Call it once, when no send is in flight.
  public func shutdown() async throws {
    try await client.shutdown()
  }

  /// The HTTP request for `request`, or the reason it cannot be sent.
  func prepare(_ request: WebPushRequest, now: Date = Date()) throws(WebPushError) -> HTTPClientRequest {
    let endpoint = try PushEndpoint(request.endpoint)
    guard request.ttlSeconds >= 0 else {
      throw WebPushError("TTL must not be negative (got \(request.ttlSeconds))")
    }
    if let topic = request.topic {
      try WebPushRequest.validateTopic(topic)
    }
    let body = try WebPushEncryption.encrypt(request.payload, for: request.keys)
    let authorization = try vapid.authorizationHeader(endpoint: endpoint.url, subject: subject, now: now)

    var http = HTTPClientRequest(url: endpoint.url)
    http.method = .POST
    http.headers.add(name: "TTL", value: String(request.ttlSeconds))
    http.headers.add(name: "Urgency", value: request.urgency.rawValue)
    if let topic = request.topic {
      http.headers.add(name: "Topic", value: topic)
    }
    http.headers.add(name: "Content-Encoding", value: "aes128gcm")
    http.headers.add(name: "Content-Type", value: "application/octet-stream")
    http.headers.add(name: "Content-Length", value: String(body.count))
    http.headers.add(name: "Authorization", value: authorization)
    http.body = .bytes(body)
    return http
  }

  private static func origin(of endpoint: String) -> String {
    (try? PushEndpoint(endpoint).origin) ?? "'\(endpoint)'"
  }

  private static func timeAmount(_ duration: Duration) -> TimeAmount {
    let (seconds, attoseconds) = duration.components
    return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
  }
}
