public import Foundation
import SwiftProtobuf

/// Turns an event's type name and payload bytes back into a typed event.
///
/// Each generated file that declares events has a registry of its own; a consumer that reads events
/// from several files merges them.
public struct EventRegistry: Sendable {
  private let types: [String: any CourierEvent.Type]

  /// A registry of the given event types. A type listed twice counts once.
  public init(_ types: [any CourierEvent.Type]) {
    var byName: [String: any CourierEvent.Type] = [:]
    for type in types {
      byName[type.eventBinding.typeName] = type
    }
    self.types = byName
  }

  /// Every binding in the registry, ordered by type name.
  public var bindings: [EventBinding] {
    types.values.map { $0.eventBinding }.sorted { $0.typeName < $1.typeName }
  }

  /// The event type registered under a full protobuf name, if any.
  public func eventType(named typeName: String) -> (any CourierEvent.Type)? {
    types[typeName]
  }

  /// The binding of the event type registered under a full protobuf name, if any.
  public func binding(forTypeName typeName: String) -> EventBinding? {
    types[typeName]?.eventBinding
  }

  /// Decodes a payload of the named type.
  ///
  /// - Throws: `EventDecodingError.unknownType` when no event of that name is registered,
  ///   `.malformedPayload` when the bytes are not a valid message of that type.
  public func decode(typeName: String, payload: Data) throws(EventDecodingError) -> any CourierEvent {
    guard let type = types[typeName] else {
      throw .unknownType(typeName)
    }
    do {
      return try type.init(serializedBytes: payload)
    } catch {
      throw .malformedPayload(typeName: typeName, reason: String(describing: error))
    }
  }

  /// Decodes the event that an envelope carries.
  public func decode(envelope: some EventEnvelopeMessage) throws(EventDecodingError) -> any CourierEvent {
    try decode(typeName: envelope.eventType, payload: envelope.payload)
  }

  /// A registry with the events of both. Two registries may not bind one type name to different
  /// topics, nor one topic to two types.
  public func merging(_ other: EventRegistry) throws(EventRegistryConflict) -> EventRegistry {
    var merged = types
    var topics: [String: String] = [:]
    for type in types.values {
      topics[type.eventBinding.topic] = type.eventBinding.typeName
    }
    for (name, type) in other.types {
      if let existing = merged[name], existing.eventBinding != type.eventBinding {
        throw EventRegistryConflict(
          message: "\(name) is bound twice: \(existing.eventBinding) and \(type.eventBinding)"
        )
      }
      if let owner = topics[type.eventBinding.topic], owner != name {
        throw EventRegistryConflict(
          message: "topic \(type.eventBinding.topic) is bound to both \(owner) and \(name)"
        )
      }
      merged[name] = type
      topics[type.eventBinding.topic] = name
    }
    return EventRegistry(Array(merged.values))
  }
}

/// Why an event could not be decoded.
public enum EventDecodingError: Error, Equatable, CustomStringConvertible {
  /// No event with this full type name is registered.
  case unknownType(String)
  /// The payload is not a valid binary encoding of the named type.
  case malformedPayload(typeName: String, reason: String)
  /// The decoded event is not of the type that was asked for.
  case unexpectedType(expected: String, actual: String)

  public var description: String {
    switch self {
    case .unknownType(let name):
      return "no event type named '\(name)' is registered"
    case .malformedPayload(let name, let reason):
      return "the payload is not a valid \(name): \(reason)"
    case .unexpectedType(let expected, let actual):
      return "expected an event of type \(expected), got \(actual)"
    }
  }
}

/// Two registries that disagree about a type or a topic.
public struct EventRegistryConflict: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}
