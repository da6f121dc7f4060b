import Generated
@testable import Hermes
import Testing

@Suite("PositionHub fan-out (no database)")
struct PositionHubTests {
  static func update(_ code: String) -> Courier_Hermes_V1_WatchPayloadPositionsResponse {
    var update = Courier_Hermes_V1_WatchPayloadPositionsResponse()
    update.payloadTrackingCode = code
    return update
  }

  @Test("a feed gets only its payloads; the per-user stream limit is freed on close")
  func filterAndLimit() async throws {
    let hub = PositionHub()
    let (id, feed) = try #require(hub.openPayloadFeed(user: "u", codes: ["AAAAAAAAAAAA"], limit: 1, buffer: 10))
    #expect(hub.openPayloadFeed(user: "u", codes: [], limit: 1, buffer: 10) == nil)
    hub.deliver(Self.update("BBBBBBBBBBBB"))
    hub.deliver(Self.update("AAAAAAAAAAAA"))
    hub.close(id, user: "u")
    var seen: [String] = []
    for await update in feed.stream { seen.append(update.payloadTrackingCode) }
    #expect(seen == ["AAAAAAAAAAAA"])
    #expect(!feed.overflowed)
    #expect(hub.openPayloadFeed(user: "u", codes: [], limit: 1, buffer: 10) != nil)
  }

  @Test("a reader that falls a whole buffer behind is ended as overflowed")
  func overflow() async throws {
    let hub = PositionHub()
    let (_, feed) = try #require(hub.openPayloadFeed(user: "u", codes: ["AAAAAAAAAAAA"], limit: 5, buffer: 2))
    for _ in 0..<3 { hub.deliver(Self.update("AAAAAAAAAAAA")) }
    var count = 0
    for await _ in feed.stream { count += 1 }
    #expect(count == 2)
    #expect(feed.overflowed)
  }

  @Test("shutting down ends every open feed after what it holds, and feeds opened later at once")
  func shutDownEndsFeeds() async throws {
    let hub = PositionHub()
    let (_, payloads) = try #require(hub.openPayloadFeed(user: "u", codes: ["AAAAAAAAAAAA"], limit: 5, buffer: 10))
    let (_, deliverers) = hub.openDelivererFeed(ids: [], buffer: 10)
    hub.deliver(Self.update("AAAAAAAAAAAA"))
    #expect(!hub.isShuttingDown)
    hub.shutDown()
    #expect(hub.isShuttingDown)
    var seen = 0
    for await _ in payloads.stream { seen += 1 }
    #expect(seen == 1 && !payloads.overflowed)
    for await _ in deliverers.stream { Issue.record("no deliverer position was sent") }
    let (_, late) = hub.openDelivererFeed(ids: [], buffer: 10)
    for await _ in late.stream { Issue.record("a feed opened after shutdown must end at once") }
  }

  @Test("deliverer feeds: all deliverers, or only the named ones")
  func delivererFeeds() async {
    let hub = PositionHub()
    let (allID, all) = hub.openDelivererFeed(ids: [], buffer: 10)
    let (oneID, one) = hub.openDelivererFeed(ids: ["d1"], buffer: 10)
    for id in ["d1", "d2"] {
      var position = Courier_Hermes_V1_WatchDelivererPositionsResponse()
      position.delivererID = id
      hub.deliver(position)
    }
    hub.close(allID)
    hub.close(oneID)
    var everyone: [String] = []
    for await position in all.stream { everyone.append(position.delivererID) }
    var named: [String] = []
    for await position in one.stream { named.append(position.delivererID) }
    #expect(everyone == ["d1", "d2"] && named == ["d1"])
  }

  @Test("a notification carries the message's bytes in base64; text that is not base64 is refused")
  func notificationText() throws {
    var update = Self.update("AAAAAAAAAAAA")
    update.location.point.latitude = 52.52
    update.location.point.longitude = -13.405
    let text = try PositionHub.notificationText(update)
    #expect(!text.contains("{"), "not proto JSON")
    #expect(try PositionHub.message(Courier_Hermes_V1_WatchPayloadPositionsResponse.self, fromNotification: text) == update)
    #expect(throws: PositionHubError.self) {
      try PositionHub.message(Courier_Hermes_V1_WatchPayloadPositionsResponse.self, fromNotification: #"{"payloadTrackingCode":"A"}"#)
    }
  }
}
