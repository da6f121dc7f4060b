public import ContractRuntime
public import Foundation
internal import Generated
internal import SwiftProtobuf

/// Turns a Kafka record's bytes into a ``ConsumedEvent`` or an error that says why it cannot be one.
/// No I/O: tested on its own.
public struct RecordDecoder: Sendable {
  public let registry: EventRegistry

  public init(registry: EventRegistry) {
    self.registry = registry
  }

  /// Why a record is malformed. `eventID` and `eventType` are set when the envelope could be read.
  public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
    public var eventID: UUID?
    public var eventType: String?
    public var reason: String
    public var description: String { reason }

    public init(eventID: UUID? = nil, eventType: String? = nil, reason: String) {
      self.eventID = eventID
      self.eventType = eventType
      self.reason = reason
    }
  }

  public func decode(value: [UInt8]?, attempt: Int = 1) throws(Malformed) -> ConsumedEvent {
    guard let value, !value.isEmpty else {
      throw Malformed(reason: "the record has no value (expected an EventEnvelope)")
    }
    let envelope: Courier_Events_V1_EventEnvelope
    do {
      envelope = try Courier_Events_V1_EventEnvelope(serializedBytes: value)
    } catch {
      throw Malformed(reason: "the record's value is not an EventEnvelope: \(error)")
    }
    guard let id = UUID(uuidString: envelope.eventID) else {
      throw Malformed(
        eventType: envelope.eventType.isEmpty ? nil : envelope.eventType,
        reason: "the envelope's event_id '\(envelope.eventID)' is not a UUID")
    }
    let event: any CourierEvent
    do {
      event = try registry.decode(typeName: envelope.eventType, payload: envelope.payload)
    } catch {
      throw Malformed(eventID: id, eventType: envelope.eventType, reason: error.description)
    }
    return ConsumedEvent(
      id: id, event: event, key: envelope.key, producer: envelope.producer,
      occurredAt: envelope.occurredAt.date, headers: envelope.headers, attempt: attempt)
  }
}
