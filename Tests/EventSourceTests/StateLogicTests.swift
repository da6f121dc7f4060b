import ContractRuntime
import EventSource
import Foundation
import Generated
import SwiftProtobuf
import Testing

@Suite("Event source state logic (no I/O)")
struct StateLogicTests {
  @Test("a relay batch marks acknowledged events, but never one after a failed event of its key")
  func relayPlan() {
    #expect(RelayPlan.publishable(keys: [], succeeded: []) == [])
    #expect(RelayPlan.publishable(keys: ["a", "b", "a"], succeeded: [true, true, true]) == [0, 1, 2])
    // a's first failed: its later event stays unpublished too; b is independent.
    #expect(RelayPlan.publishable(keys: ["a", "b", "a", "b"], succeeded: [false, true, true, true]) == [1, 3])
    #expect(RelayPlan.publishable(keys: ["a", "a", "a"], succeeded: [true, false, true]) == [0])
    #expect(RelayPlan.publishable(keys: ["a", "b"], succeeded: [false, false]) == [])
  }

  @Test("processed and dead events are skipped on redelivery; new and failed ones are handled")
  func shouldHandle() {
    let policy = DeliveryPolicy.defaults
    #expect(policy.shouldHandle(stored: nil))
    #expect(policy.shouldHandle(stored: .failed))
    #expect(!policy.shouldHandle(stored: .processed))
    #expect(!policy.shouldHandle(stored: .dead))
  }

  @Test("failures back off exponentially up to a cap, then dead-letter after maxAttempts")
  func afterFailure() {
    let policy = DeliveryPolicy(maxAttempts: 4, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(300))
    #expect(policy.afterFailure(attempts: 1) == .retry(after: .milliseconds(100)))
    #expect(policy.afterFailure(attempts: 2) == .retry(after: .milliseconds(200)))
    #expect(policy.afterFailure(attempts: 3) == .retry(after: .milliseconds(300)))
    #expect(policy.afterFailure(attempts: 4) == .deadLetter)
    #expect(policy.afterFailure(attempts: 9) == .deadLetter)
    #expect(DeliveryPolicy(maxAttempts: 0).maxAttempts == 1)
    #expect(DeliveryPolicy(maxAttempts: 1).afterFailure(attempts: 1) == .deadLetter)
  }

  @Test("a stored event travels as an envelope and decodes back into the typed event")
  func envelopeRoundTrip() throws {
    var created = Courier_Events_V1_UserCreated()
    created.userID = "user-1"
    created.email = "ada@example.com"
    let occurred = Date(timeIntervalSince1970: 1_800_000_000)
    let record = try EventRecord(created, producer: "asgardian", headers: ["request-id": "r-1"], occurredAt: occurred)
    #expect(record.topic == "courier.user-created.v1")
    #expect(record.key == "user-1")
    #expect(record.type == "courier.events.v1.UserCreated")

    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventID = record.id.uuidString.lowercased()
    envelope.eventType = record.type
    envelope.key = record.key
    envelope.producer = record.producer
    envelope.payload = record.payload
    envelope.headers = record.headers
    envelope.occurredAt = Google_Protobuf_Timestamp(date: occurred)
    let bytes: [UInt8] = try envelope.serializedBytes()
    let consumed = try RecordDecoder(registry: CourierContracts.events).decode(value: bytes)
    #expect(consumed.id == record.id)
    #expect(try consumed.event(as: Courier_Events_V1_UserCreated.self) == created)
    #expect(consumed.headers == ["request-id": "r-1"])
    #expect(consumed.occurredAt == occurred)
    #expect(try Courier_Events_V1_Events_Event(consumed.event) == .userCreated(created))
    #expect(consumed.idempotencyKey(recipient: "mail:ada") == record.id.uuidString.lowercased() + ":mail:ada")
    #expect(throws: EventDecodingError.self) { try consumed.event(as: Courier_Events_V1_DeliveryPayloadRegistered.self) }
  }

  @Test("malformed records are reported with what could be read and why")
  func malformedRecords() throws {
    let decoder = RecordDecoder(registry: CourierContracts.events)
    #expect(throws: RecordDecoder.Malformed(reason: "the record has no value (expected an EventEnvelope)")) {
      try decoder.decode(value: nil)
    }
    do {
      _ = try decoder.decode(value: [0xff, 0xff, 0xff])
      Issue.record("garbage decoded")
    } catch {
      #expect(error.eventID == nil)
      #expect(error.reason.hasPrefix("the record's value is not an EventEnvelope"))
    }
    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventID = "not-a-uuid"
    envelope.eventType = "courier.events.v1.UserCreated"
    let badID: [UInt8] = try envelope.serializedBytes()
    #expect(throws: RecordDecoder.Malformed(eventType: "courier.events.v1.UserCreated", reason: "the envelope's event_id 'not-a-uuid' is not a UUID")) {
      try decoder.decode(value: badID)
    }
    let id = UUID()
    envelope.eventID = id.uuidString
    envelope.eventType = "courier.events.v1.Nope"
    let unknown: [UInt8] = try envelope.serializedBytes()
    do {
      _ = try decoder.decode(value: unknown)
      Issue.record("unknown type decoded")
    } catch {
      #expect(error.eventID == id)
      #expect(error.reason == "no event type named 'courier.events.v1.Nope' is registered")
    }
    envelope.eventType = "courier.events.v1.UserCreated"
    envelope.payload = Data([0x0a, 0x05, 0x61])  // field 1, length 5, one byte
    let truncated: [UInt8] = try envelope.serializedBytes()
    do {
      _ = try decoder.decode(value: truncated)
      Issue.record("truncated payload decoded")
    } catch {
      #expect(error.eventID == id)
      #expect(error.reason.hasPrefix("the payload is not a valid courier.events.v1.UserCreated"))
    }
  }

  @Test("events without a key or with bad header keys are refused with a clear error")
  func badEvents() {
    let keyless = Courier_Events_V1_UserCreated()
    #expect(throws: EventSourceError.invalidEvent("courier.events.v1.UserCreated has an empty key field 'user_id'")) {
      try EventRecord(keyless, producer: "asgardian", headers: [:], occurredAt: Date())
    }
    var created = Courier_Events_V1_UserCreated()
    created.userID = "u"
    #expect(throws: EventSourceError.invalidEvent("header key 'Request-ID' must be non-empty and lowercase")) {
      try EventRecord(created, producer: "asgardian", headers: ["Request-ID": "x"], occurredAt: Date())
    }
    #expect(throws: EventSourceError.invalidEvent("the producer's name is empty")) {
      try EventRecord(created, producer: "", headers: [:], occurredAt: Date())
    }
  }
}
