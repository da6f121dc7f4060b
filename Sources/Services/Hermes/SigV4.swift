public import Foundation
import Crypto

/// AWS Signature Version 4 for request headers (`Authorization: AWS4-HMAC-SHA256 ...`), as S3 and
/// every S3-compatible store accept it. Paths are encoded once, as S3 wants (not normalised or
/// double-encoded as other AWS services want).
public struct SigV4Signer: Sendable {
  /// An access key pair.
  public struct Credentials: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public init(accessKeyID: String, secretAccessKey: String) {
      self.accessKeyID = accessKeyID
      self.secretAccessKey = secretAccessKey
    }
  }

  public var credentials: Credentials
  public var region: String
  public var service: String

  public init(credentials: Credentials, region: String, service: String = "s3") {
    self.credentials = credentials
    self.region = region
    self.service = service
  }

  /// The hex SHA-256 of an empty body.
  public static let emptyPayloadHash = hexSHA256(Data())

  /// What signing produced, with the intermediate strings for tests and debugging.
  public struct Signature: Sendable {
    public var canonicalRequest: String
    public var stringToSign: String
    public var signedHeaders: String
    /// Hex HMAC-SHA256 of the string to sign.
    public var signature: String
    /// The `Authorization` header's value.
    public var authorization: String
  }

  /// Signs a request.
  /// - Parameters:
  ///   - path: the absolute path, not yet percent-encoded (`/bucket/receipts/a.pdf`).
  ///   - query: the query parameters, not yet encoded.
  ///   - headers: every header to sign, including `host` and `x-amz-date` (names in any case).
  ///   - payloadHash: the hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
  ///   - date: the request's time; must match its `x-amz-date`.
  public func sign(
    method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
    payloadHash: String, date: Date
  ) -> Signature {
    let (amzDate, day) = Self.timestamps(date)
    let canonicalHeaders = headers
      .map { ($0.0.lowercased(), Self.trimmed($0.1)) }
      .sorted { $0.0 < $1.0 }
    let signedHeaders = canonicalHeaders.map(\.0).joined(separator: ";")
    let encodedQuery: [(name: String, value: String)] = query.map { item in
      (Self.encode(item.0, keepSlash: false), Self.encode(item.1, keepSlash: false))
    }
    let sortedQuery = encodedQuery.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
    let canonicalQuery = sortedQuery.map { item in item.name + "=" + item.value }.joined(separator: "&")
    let canonicalRequest = [
      method.uppercased(),
      Self.encode(path.isEmpty ? "/" : path, keepSlash: true),
      canonicalQuery,
      canonicalHeaders.map { "\($0.0):\($0.1)\n" }.joined(),
      signedHeaders,
      payloadHash,
    ].joined(separator: "\n")
    let scope = "\(day)/\(region)/\(service)/aws4_request"
    let stringToSign = [
      "AWS4-HMAC-SHA256", amzDate, scope, Self.hexSHA256(Data(canonicalRequest.utf8)),
    ].joined(separator: "\n")
    let key = signingKey(day: day)
    let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    let authorization =
      "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"
    return Signature(
      canonicalRequest: canonicalRequest, stringToSign: stringToSign, signedHeaders: signedHeaders,
      signature: signature, authorization: authorization)
  }

  /// The derived key of one day: HMAC chain over date, region, service and `aws4_request`.
  func signingKey(day: String) -> SymmetricKey {
    var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
    for part in [day, region, service, "aws4_request"] {
      key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
    }
    return key
  }

  /// `x-amz-date` (`20130524T000000Z`) and the scope's day (`20130524`) of `date`, in UTC.
  public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
    let day = String(format: "%04d", c.year ?? 0) + two(c.month) + two(c.day)
    return (day + "T" + two(c.hour) + two(c.minute) + two(c.second) + "Z", day)
  }

  /// RFC 3986 percent-encoding of everything but unreserved characters (and `/` in paths).
  static func encode(_ text: String, keepSlash: Bool) -> String {
    var out = ""
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
        out.append(Character(Unicode.Scalar(byte)))
      case UInt8(ascii: "/") where keepSlash:
        out.append("/")
      default:
        out += String(format: "%%%02X", byte)
      }
    }
    return out
  }

  /// A header value with surrounding spaces removed and inner runs of spaces collapsed to one.
  static func trimmed(_ value: String) -> String {
    value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
      .trimmingCharacters(in: .whitespaces)
  }

  public static func hexSHA256(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

  static func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
  }
}
