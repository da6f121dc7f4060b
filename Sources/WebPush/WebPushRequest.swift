internal import Crypto

/// One push message for one subscription: what ``WebPushSender/send(_:)`` POSTs.
public struct WebPushRequest: Sendable {
  /// The subscription's endpoint: an absolute `https` URL (see ``validateEndpoint(_:)``).
  public var endpoint: String
  /// The subscription's keys; the payload is encrypted to them.
  public var keys: PushSubscriptionKeys
  /// The plaintext, at most ``WebPushEncryption/maxPlaintextSize`` bytes.
  public var payload: [UInt8]
  /// How long the push service keeps an undelivered message, in seconds (the `TTL` header); 0 means
  /// deliver now or drop.
  public var ttlSeconds: Int
  /// The `Urgency` header.
  public var urgency: PushUrgencyLevel
  /// The `Topic` header: a newer message with the same topic replaces an undelivered older one.
  /// At most 32 base64url characters; ``topic(forTag:)`` derives one from any tag.
  public var topic: String?

  public init(
    endpoint: String,
    keys: PushSubscriptionKeys,
    payload: [UInt8],
    ttlSeconds: Int = 24 * 3600,
    urgency: PushUrgencyLevel = .normal,
    topic: String? = nil
  ) {
    self.endpoint = endpoint
    self.keys = keys
    self.payload = payload
    self.ttlSeconds = ttlSeconds
    self.urgency = urgency
    self.topic = topic
  }

  /// Throws a ``WebPushError`` saying what is wrong unless `endpoint` is an absolute `https` URL
  /// with a host, of at most 2048 characters. Use it when a browser registers a subscription.
  public static func validateEndpoint(_ endpoint: String) throws(WebPushError) {
    _ = try PushEndpoint(endpoint)
  }

  /// A `Topic` value for any tag (a delivery id, a notification tag): the first 24 bytes of the
  /// tag's SHA-256 in base64url, 32 characters. The same tag always gives the same topic, and the
  /// push service does not learn the tag.
  public static func topic(forTag tag: String) -> String {
    let digest = SHA256.hash(data: Array(tag.utf8))
    return Base64URL.encode(Array(digest).prefix(24))
  }

  /// Throws unless `topic` is 1 to 32 characters of the base64url alphabet (RFC 8030 section 5.4).
  public static func validateTopic(_ topic: String) throws(WebPushError) {
    guard !topic.isEmpty, topic.utf8.count <= 32 else {
      throw WebPushError("topic must be 1 to 32 characters (got \(topic.utf8.count)); use WebPushRequest.topic(forTag:)")
    }
    let allowed = topic.utf8.allSatisfy { byte in
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
        true
      default:
        false
      }
    }
    guard allowed else {
      throw WebPushError("topic '\(topic)' has characters outside the base64url alphabet; use WebPushRequest.topic(forTag:)")
    }
  }
}
