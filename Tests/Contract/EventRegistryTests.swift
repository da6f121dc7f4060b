import ContractRuntime
import Foundation
import Generated
import SwiftProtobuf
import Testing

@Suite("Event bindings and the event registry")
struct EventRegistryTests {
  @Test("each event is bound to its topic and keyed by its aggregate id")
  func bindings() {
    #expect(Courier_Events_V1_UserCreated.eventBinding.topic == "courier.user-created.v1")
    #expect(Courier_Events_V1_UserCreated.eventBinding.keyField == "user_id")
    #expect(Courier_Events_V1_DeliveryPayloadRegistered.eventBinding.topic == "courier.delivery-payload-registered.v1")
    #expect(
      Courier_Events_V1_DeliveryPayloadChangedLocation.eventBinding
        == EventBinding(
          typeName: "courier.events.v1.DeliveryPayloadChangedLocation",
          topic: "courier.delivery-payload-changed-location.v1",
          keyField: "delivery_payload_id"
        )
    )
    var moved = Courier_Events_V1_DeliveryPayloadChangedLocation()
    moved.deliveryPayloadID = "payload-42"
    moved.userID = "user-7"
    #expect(moved.eventKey == "payload-42")
    #expect(CourierContracts.events.bindings.map(\.typeName) == [
      "courier.events.v1.DeliveryPayloadChangedLocation",
      "courier.events.v1.DeliveryPayloadRegistered",
      "courier.events.v1.DeliveryPayloadStatusChanged",
      "courier.events.v1.UserCreated",
    ])
    #expect(Courier_Events_V1_DeliveryPayloadStatusChanged.eventBinding.topic == "courier.delivery-payload-status-changed.v1")
  }

  @Test("an envelope decodes back into the typed event it carries")
  func envelopeRoundTrip() throws {
    var created = Courier_Events_V1_UserCreated()
    created.userID = "2b7e1516-28ae-4d2a-a6f1-0a3c9b1e5d11"
    created.email = "ada@example.com"
    created.displayName = "Ada"
    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventID = "0d7c1f0e-8a84-4d8e-9a59-8c1f4f0f3a01"
    envelope.eventType = Courier_Events_V1_UserCreated.eventBinding.typeName
    envelope.key = created.eventKey
    envelope.payload = try created.serializedBytes()

    let wire: [UInt8] = try envelope.serializedBytes()
    let received = try Courier_Events_V1_EventEnvelope(serializedBytes: wire)
    let event = try Courier_Events_V1_Events_Event(envelope: received)
    #expect(event == .userCreated(created))
    #expect(event.binding.topic == "courier.user-created.v1")

    let untyped = try CourierContracts.events.decode(envelope: received)
    #expect((untyped as? Courier_Events_V1_UserCreated) == created)
  }

  @Test("an unknown event type is an error that names the type")
  func unknownType() {
    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventType = "courier.events.v1.SomethingElse"
    #expect(throws: EventDecodingError.unknownType("courier.events.v1.SomethingElse")) {
      try CourierContracts.events.decode(envelope: envelope)
    }
  }

  @Test("a payload that is not a valid message of its type is an error, not an empty event")
  func malformedPayload() {
    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventType = "courier.events.v1.UserCreated"
    envelope.payload = Data([0x0A, 0x05, 0x61])  // a length-5 string with one byte present
    do {
      _ = try Courier_Events_V1_Events_Event(envelope: envelope)
      Issue.record("a truncated payload decoded")
    } catch {
      guard case .malformedPayload(let typeName, _) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(typeName == "courier.events.v1.UserCreated")
    }
  }

  @Test("registries merge, and refuse one topic bound to two types")
  func merging() throws {
    let left = EventRegistry([Courier_Events_V1_UserCreated.self])
    let right = EventRegistry([Courier_Events_V1_DeliveryPayloadRegistered.self, Courier_Events_V1_UserCreated.self])
    let merged = try left.merging(right)
    #expect(merged.bindings.count == 2)
    #expect(merged.binding(forTypeName: "courier.events.v1.DeliveryPayloadRegistered") != nil)
    #expect(throws: EventRegistryConflict.self) {
      try left.merging(EventRegistry([ImpostorEvent.self]))
    }
  }

  @Test("the contract index lists every file with its RPCs and REST mappings")
  func contractIndex() throws {
    let files = CourierContracts.files.map(\.protoFile)
    #expect(files.contains("courier/hermes/v1/hermes.proto"))
    #expect(files == files.sorted())
    let methods = CourierContracts.files.flatMap(\.methods)
    let subscribe = try #require(methods.first { $0.name == "CreatePayloadSubscription" })
    #expect(subscribe.http == HTTPBinding(verb: .post, pathTemplate: "/tracking/payload/{payload_tracking_code}", body: "*"))
    #expect(subscribe.path == "/courier.hermes.v1.TrackingService/CreatePayloadSubscription")
    let login = try #require(methods.first { $0.name == "Login" })
    #expect(login.access == .anyone)
    let register = try #require(methods.first { $0.name == "RegisterDeliveryPayload" })
    #expect(register.access == .anyRole(["admin"]))
    let report = try #require(methods.first { $0.name == "ReportLocation" })
    #expect(report.clientStreaming && !report.serverStreaming)
    let userData = try #require(methods.first { $0.name == "GetUserData" })
    #expect(userData.http == nil)
  }
}

/// A hand-written event that claims UserCreated's topic, to see the conflict reported.
private struct ImpostorEvent: CourierEvent {
  static let protoMessageName = "test.Impostor"
  static let eventBinding = EventBinding(typeName: "test.Impostor", topic: "courier.user-created.v1", keyField: "id")
  var eventKey: String { "" }
  var unknownFields = UnknownStorage()
  init() {}
  mutating func decodeMessage<D: SwiftProtobuf.Decoder>(decoder: inout D) throws {
    while try decoder.nextFieldNumber() != nil {}
  }
  func traverse<V: SwiftProtobuf.Visitor>(visitor: inout V) throws {}
  func isEqualTo(message: any SwiftProtobuf.Message) -> Bool { message is ImpostorEvent }
  static func == (lhs: ImpostorEvent, rhs: ImpostorEvent) -> Bool { true }
  func hash(into hasher: inout Hasher) {}
}
