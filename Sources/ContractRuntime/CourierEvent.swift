public import Foundation
public import SwiftProtobuf

/// An event message of the contracts: a protobuf message annotated with
/// `(courier.options.v1.event)`. protoc-gen-courier generates the conformance; nothing else should
/// conform.
public protocol CourierEvent: SwiftProtobuf.Message, Sendable {
  /// The event's topic, key field and full type name, from its annotation.
  static var eventBinding: EventBinding { get }
  /// The aggregate id that this event is about: the value of the binding's key field. It is the Kafka
  /// record key, so one aggregate's events stay in order on one partition.
  var eventKey: String { get }
}

/// Where an event type travels and how it is keyed.
public struct EventBinding: Sendable, Hashable, CustomStringConvertible {
  /// The full protobuf name of the event message: `courier.events.v1.UserCreated`.
  public let typeName: String
  /// The Kafka topic that carries every event of this type.
  public let topic: String
  /// The name of the field that holds the aggregate id.
  public let keyField: String

  public init(typeName: String, topic: String, keyField: String) {
    self.typeName = typeName
    self.topic = topic
    self.keyField = keyField
  }

  public var description: String { "\(typeName) on \(topic) keyed by \(keyField)" }
}

/// The message that wraps every event on the wire: a message annotated with
/// `(courier.options.v1.event_envelope)`. protoc-gen-courier generates the conformance.
public protocol EventEnvelopeMessage: SwiftProtobuf.Message {
  /// The full protobuf name of the payload's message.
  var eventType: String { get }
  /// The payload, binary protobuf encoded.
  var payload: Data { get }
}
