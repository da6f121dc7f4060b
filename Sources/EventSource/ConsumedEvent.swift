public import ContractRuntime
public import Foundation

/// An event as a consumer's handler receives it.
public struct ConsumedEvent: Sendable {
  /// The event's id: the idempotency key of side effects outside the database.
  public var id: UUID
  /// The decoded event.
  public var event: any CourierEvent
  /// The aggregate id (the Kafka key).
  public var key: String
  /// The service that produced it.
  public var producer: String
  /// When the recorded change happened.
  public var occurredAt: Date
  /// Request context (`request-id`, `traceparent`).
  public var headers: [String: String]
  /// Which attempt this is, counted over restarts: 1 the first time.
  public var attempt: Int

  /// The key for a side effect outside the database (a mail, a push) aimed at one recipient: the
  /// same event and recipient always give the same key, so a retried call is recognised.
  public func idempotencyKey(recipient: String = "") -> String {
    recipient.isEmpty ? id.uuidString.lowercased() : id.uuidString.lowercased() + ":" + recipient
  }

  /// The event as a given type, or an error that names both types.
  public func event<E: CourierEvent>(as type: E.Type) throws(EventDecodingError) -> E {
    guard let typed = event as? E else {
      throw .unexpectedType(
        expected: E.eventBinding.typeName, actual: Swift.type(of: event).eventBinding.typeName)
    }
    return typed
  }
}

/// A closed set of events decoded into one enum, such as the generated `Courier_Events_V1_Events_Event`:
/// lets a handler switch over typed cases.
public protocol CourierEventSet: Sendable {
  static var registry: EventRegistry { get }
  init(_ event: any CourierEvent) throws(EventDecodingError)
}
