public import ContractRuntime
public import Foundation
internal import Generated
internal import Kafka
internal import SwiftProtobuf

/// One stored event, as the relay reads it and puts it on the wire.
public struct EventRecord: Sendable, Hashable {
  public var seq: Int64
  public var id: UUID
  public var topic: String
  public var key: String
  public var type: String
  public var producer: String
  public var payload: Data
  public var headers: [String: String]
  public var occurredAt: Date

  public init(
    seq: Int64 = 0, id: UUID, topic: String, key: String, type: String, producer: String,
    payload: Data, headers: [String: String], occurredAt: Date
  ) {
    self.seq = seq
    self.id = id
    self.topic = topic
    self.key = key
    self.type = type
    self.producer = producer
    self.payload = payload
    self.headers = headers
    self.occurredAt = occurredAt
  }

  /// A new record for `event`, validated: it must have a key, header keys must be lowercase.
  public init(
    _ event: some CourierEvent, producer: String, headers: [String: String], occurredAt: Date
  ) throws {
    let binding = Swift.type(of: event).eventBinding
    let key = event.eventKey
    guard !key.isEmpty else {
      throw EventSourceError.invalidEvent("\(binding.typeName) has an empty key field '\(binding.keyField)'")
    }
    guard !producer.isEmpty else {
      throw EventSourceError.invalidEvent("the producer's name is empty")
    }
    for name in headers.keys where name.isEmpty || name != name.lowercased() {
      throw EventSourceError.invalidEvent("header key '\(name)' must be non-empty and lowercase")
    }
    let payload: Data
    do {
      payload = try event.serializedBytes()
    } catch {
      throw EventSourceError.invalidEvent("\(binding.typeName) does not encode: \(error)")
    }
    self.init(
      id: UUID(), topic: binding.topic, key: key, type: binding.typeName, producer: producer,
      payload: payload, headers: headers, occurredAt: occurredAt)
  }

  /// The headers as a JSON object, keys in byte order. Written by hand: `JSONSerialization` cost
  /// Hermes 4 % of its CPU at 1,000 appends/s.
  var headersJSON: String {
    let members = headers.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
      .map { JSONText.quoted($0.key) + ":" + JSONText.quoted($0.value) }
    return "{" + members.joined(separator: ",") + "}"
  }

  static func headers(fromJSON json: String, id: UUID) throws -> [String: String] {
    guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
      let headers = object as? [String: String]
    else {
      throw EventSourceError.corruptRow(id: id, reason: "headers are not a JSON object of strings: \(json)")
    }
    return headers
  }

  /// The envelope that travels as the Kafka record's value.
  var envelope: Courier_Events_V1_EventEnvelope {
    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventID = id.uuidString.lowercased()
    envelope.eventType = type
    envelope.key = key
    envelope.producer = producer
    envelope.occurredAt = Google_Protobuf_Timestamp(microsecondsOf: occurredAt)
    envelope.payload = payload
    envelope.headers = headers
    return envelope
  }

  /// The Kafka record: keyed by the aggregate id, the envelope as value, id and type as headers too.
  func producerRecord() throws -> ProducerRecord {
    let value: [UInt8] = try envelope.serializedBytes()
    return ProducerRecord(
      topic: topic, key: Array(key.utf8), value: value,
      headers: [KafkaHeader(key: "event-id", value: id.uuidString.lowercased()), KafkaHeader(key: "event-type", value: type)])
  }
}
