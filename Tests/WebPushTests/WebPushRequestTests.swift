import Crypto
import Testing
import WebPush

@Suite("Topic derivation")
struct TopicTests {
  @Test("Any tag gives a stable 32-character base64url topic", arguments: ["delivery-42", "", "ünïcødé tag with spaces", String(repeating: "x", count: 500)])
  func derive(tag: String) throws {
    let topic = WebPushRequest.topic(forTag: tag)
    #expect(topic.count == 32)
    #expect(throws: Never.self) { try WebPushRequest.validateTopic(topic) }
    #expect(WebPushRequest.topic(forTag: tag) == topic)
    let digest = Array(SHA256.hash(data: Array(tag.utf8)))
    #expect(Base64URL.decode(topic) == Array(digest.prefix(24)))
  }

  @Test("Different tags give different topics")
  func distinct() {
    #expect(WebPushRequest.topic(forTag: "delivery-1") != WebPushRequest.topic(forTag: "delivery-2"))
  }

  @Test("Topics outside the base64url alphabet or longer than 32 are refused", arguments: ["", "has space", "a/b", "é", String(repeating: "a", count: 33)])
  func invalid(topic: String) {
    #expect(throws: WebPushError.self) { try WebPushRequest.validateTopic(topic) }
  }
}
