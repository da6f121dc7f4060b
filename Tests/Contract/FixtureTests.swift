import ContractRuntime
import Foundation
import Generated
import SwiftProtobuf
import Testing

@Suite("Golden fixtures")
struct FixtureTests {
  static let messageTypes: [String: any SwiftProtobuf.Message.Type] = Dictionary(
    CourierContracts.files.flatMap(\.messageTypes).map { ($0.protoMessageName, $0) },
    uniquingKeysWith: { first, _ in first }
  )

  /// Every RPC request and response of our packages, every event and the envelope.
  static var contractMessageNames: Set<String> {
    var names: Set<String> = [Courier_Events_V1_EventEnvelope.protoMessageName]
    for file in CourierContracts.files where file.protoPackage.hasPrefix("courier.") {
      for method in file.methods {
        names.insert(method.inputType.protoMessageName)
        names.insert(method.outputType.protoMessageName)
      }
      for event in file.eventTypes {
        names.insert(event.protoMessageName)
      }
    }
    return names
  }

  @Test("every RPC message, event and the envelope has a binary and a JSON fixture")
  func everyContractMessageHasAFixture() {
    let present = Set(Fixtures.names())
    let missing = Self.contractMessageNames.subtracting(present).sorted()
    #expect(Self.contractMessageNames.count > 50)
    #expect(missing.isEmpty, "no fixture for: \(missing.joined(separator: ", ")); run scripts/make_fixtures.py")
    for name in present {
      #expect(FileManager.default.fileExists(atPath: Fixtures.directory.appending(path: "\(name).json").path))
    }
  }

  @Test("every fixture decodes, re-encodes to the same bytes, matches its JSON and keeps unknown fields",
        arguments: Fixtures.names())
  func fixtureRoundTrips(name: String) throws {
    let type = try #require(Self.messageTypes[name], "\(name) has a fixture but no generated Swift type")
    let problems = FixtureChecker.problems(type: type, binary: try Fixtures.binary(name), json: try Fixtures.json(name))
    #expect(problems.isEmpty, "\(name): \(problems.joined(separator: "; "))")
  }

  @Test("the checker reports broken fixtures")
  func brokenFixturesAreReported() throws {
    let name = Courier_Events_V1_UserCreated.protoMessageName
    let binary = try Fixtures.binary(name)
    let json = try Fixtures.json(name)
    let type = Courier_Events_V1_UserCreated.self
    #expect(FixtureChecker.problems(type: type, binary: binary, json: json).isEmpty)

    // A truncated binary fixture does not decode.
    let truncated = Array(binary.dropLast(3))
    #expect(FixtureChecker.problems(type: type, binary: truncated, json: json).first?.contains("does not decode") == true)

    // A changed byte inside a string: still decodes, but no longer matches the JSON.
    var changed = binary
    let index = try #require(changed.firstIndex(of: UInt8(ascii: "e")))
    changed[index] = UInt8(ascii: "E")
    #expect(FixtureChecker.problems(type: type, binary: changed, json: json).contains { $0.contains("JSON") })

    // A JSON fixture with another value.
    let otherJSON = json.replacingOccurrences(of: "UserCreated.email", with: "someone@example.com")
    #expect(!FixtureChecker.problems(type: type, binary: binary, json: otherJSON).isEmpty)

    // A JSON fixture naming a field the contract does not have.
    let unknownJSON = json.replacingOccurrences(of: "{", with: "{\"notAField\": 1,")
    #expect(!FixtureChecker.problems(type: type, binary: binary, json: unknownJSON).isEmpty)
  }

  @Test("canonical instances equal their fixtures")
  func canonicalInstances() throws {
    // scripts/make_fixtures.py: 2026-11-20T10:00:00Z plus the nesting depth in seconds, plus 0.25 s.
    let occurredAt = Google_Protobuf_Timestamp(seconds: 1_795_168_801, nanos: 250_000_000)

    var userCreated = Courier_Events_V1_UserCreated()
    userCreated.userID = "UserCreated.user_id"
    userCreated.email = "UserCreated.email"
    userCreated.displayName = "UserCreated.display_name"
    userCreated.occurredAt = occurredAt
    #expect(try Courier_Events_V1_UserCreated(serializedBytes: Fixtures.binary("courier.events.v1.UserCreated")) == userCreated)

    var registered = Courier_Events_V1_DeliveryPayloadRegistered()
    registered.deliveryPayloadID = "DeliveryPayloadRegistered.delivery_payload_id"
    registered.trackingCode = "DeliveryPayloadRegistered.tracking_code"
    registered.recipientUserID = "DeliveryPayloadRegistered.recipient_user_id"
    registered.occurredAt = occurredAt
    #expect(
      try Courier_Events_V1_DeliveryPayloadRegistered(
        serializedBytes: Fixtures.binary("courier.events.v1.DeliveryPayloadRegistered")
      ) == registered
    )

    var moved = Courier_Events_V1_DeliveryPayloadChangedLocation()
    moved.userID = "DeliveryPayloadChangedLocation.user_id"
    moved.deliveryPayloadID = "DeliveryPayloadChangedLocation.delivery_payload_id"
    moved.location.point.latitude = 1.25
    moved.location.point.longitude = 2.25
    moved.location.accuracyMeters = 2.25
    moved.location.speedMetersPerSecond = 3.25
    moved.location.headingDegrees = 4.25
    moved.location.altitudeMeters = 5.25
    moved.location.recordedAt = Google_Protobuf_Timestamp(seconds: 1_795_168_802, nanos: 250_000_000)
    moved.delivererID = "DeliveryPayloadChangedLocation.deliverer_id"
    moved.occurredAt = occurredAt
    #expect(
      try Courier_Events_V1_DeliveryPayloadChangedLocation(
        serializedBytes: Fixtures.binary("courier.events.v1.DeliveryPayloadChangedLocation")
      ) == moved
    )

    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventID = "EventEnvelope.event_id"
    envelope.eventType = "EventEnvelope.event_type"
    envelope.key = "EventEnvelope.key"
    envelope.producer = "EventEnvelope.producer"
    envelope.occurredAt = occurredAt
    envelope.payload = Data("payload".utf8) + Data([0x00, 0xFF])
    envelope.headers = ["EventEnvelope.key": "EventEnvelope.value"]
    #expect(try Courier_Events_V1_EventEnvelope(serializedBytes: Fixtures.binary("courier.events.v1.EventEnvelope")) == envelope)

    var subscribe = Courier_Hermes_V1_CreatePayloadSubscriptionRequest()
    subscribe.payloadTrackingCode = "CreatePayloadSubscriptionRequest.payload_tracking_code"
    subscribe.title = "CreatePayloadSubscriptionRequest.title"
    #expect(
      try Courier_Hermes_V1_CreatePayloadSubscriptionRequest(
        serializedBytes: Fixtures.binary("courier.hermes.v1.CreatePayloadSubscriptionRequest")
      ) == subscribe
    )

    var userData = Courier_Asgardian_V1_GetUserDataRequest()
    userData.userID = "GetUserDataRequest.user_id"
    #expect(
      try Courier_Asgardian_V1_GetUserDataRequest(
        serializedBytes: Fixtures.binary("courier.asgardian.v1.GetUserDataRequest")
      ) == userData
    )
  }
}
