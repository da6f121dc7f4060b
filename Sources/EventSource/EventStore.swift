public import ContractRuntime
public import Foundation
public import Postgres

/// The event store: `event_source.events` in Postgres, the outbox that the relay publishes from and
/// the history that replays and broker refills read.
///
/// Producers append inside their own transaction, so the state change and its event commit or roll
/// back together:
///
/// ```swift
/// try await pool.withTransaction { tx in
///   try await tx.execute("INSERT INTO asgardian.users (id, email) VALUES (\(id), \(email))")
///   try await store.append(created, in: tx, headers: ["request-id": requestID])
/// }
/// ```
public struct EventStore: Sendable {
  /// The pool the relay, the consumers and the operator commands use.
  public let pool: PostgresPool
  /// The schema that holds the store's tables; `event_source` in production.
  public let schema: String
  /// The name of the service that appends through this store (the envelope's `producer`).
  public let producer: String

  /// - Parameters:
  ///   - schema: `event_source` unless tests isolate themselves in a schema of their own.
  ///   - producer: the appending service's name: `asgardian`, `iris` or `hermes`.
  public init(pool: PostgresPool, schema: String = "event_source", producer: String) {
    self.pool = pool
    self.schema = schema
    self.producer = producer
  }

  /// The channel that every append notifies when its transaction commits.
  public var channel: String { schema + "_appended" }

  /// Creates or updates the store's tables (numbered migrations under an advisory lock).
  @discardableResult
  public func migrate() async throws -> [Int] {
    try await pool.migrate(schema: schema, migrations: Self.migrations)
  }

  /// Appends an event in the caller's transaction and returns its id.
  ///
  /// The row becomes visible to the relay when `transaction` commits, and the relay is woken then.
  /// The INSERT and the NOTIFY are queued (`PostgresTransaction.enqueue`): they travel with the
  /// transaction's next statement or its COMMIT, where a database error surfaces.
  /// - Parameters:
  ///   - headers: request context such as `request-id` or `traceparent`; keys must be lowercase.
  ///   - occurredAt: when the recorded change happened; now by default.
  /// - Throws: ``EventSourceError/invalidEvent(_:)`` for an event without a key or with a header key
  ///   that is not lowercase, or the database's error.
  @discardableResult
  public func append(
    _ event: some CourierEvent, in transaction: PostgresTransaction,
    headers: [String: String] = [:], occurredAt: Date = Date(),
    file: String = #fileID, line: Int = #line
  ) async throws -> UUID {
    let record = try EventRecord(event, producer: producer, headers: headers, occurredAt: occurredAt)
    try transaction.enqueue(
      """
      INSERT INTO \(identifier: schema).events (id, topic, key, type, producer, payload, headers, occurred_at)
      VALUES (\(record.id), \(record.topic), \(record.key), \(record.type), \(record.producer), \(record.payload),
              \(PostgresJSONB(json: record.headersJSON)), \(record.occurredAt))
      """, file: file, line: line)
    try await transaction.notify(channel: channel, file: file, line: line)
    EventMetrics.appended(type: record.type, count: 1)
    return record.id
  }

  /// Appends several events of one type in the caller's transaction, in order, with one statement
  /// and one notification however many there are; returns their ids in the same order.
  ///
  /// The events get increasing `seq` in array order, so the relay publishes them in that order.
  /// Validation is ``append(_:in:headers:occurredAt:file:line:)``'s, for every event, before
  /// anything is written.
  @discardableResult
  public func append<Event: CourierEvent>(
    contentsOf events: [Event], in transaction: PostgresTransaction,
    headers: [String: String] = [:], occurredAt: Date = Date(),
    file: String = #fileID, line: Int = #line
  ) async throws -> [UUID] {
    try await append(
      contentsOf: events.map { ($0, headers) }, in: transaction, occurredAt: occurredAt, file: file, line: line)
  }

  /// ``append(contentsOf:in:headers:occurredAt:file:line:)`` with headers of each event's own (the
  /// events of several calls, each with its request id, in one statement).
  @discardableResult
  public func append<Event: CourierEvent>(
    contentsOf events: [(event: Event, headers: [String: String])], in transaction: PostgresTransaction,
    occurredAt: Date = Date(), file: String = #fileID, line: Int = #line
  ) async throws -> [UUID] {
    let records = try events.map {
      try EventRecord($0.event, producer: producer, headers: $0.headers, occurredAt: occurredAt)
    }
    guard let first = records.first else { return [] }
    // One type means one topic and one type name; ids, keys and payloads travel as binary array
    // parameters (no text to build here or to parse on the server), the headers as JSON text.
    try transaction.enqueue(
      """
      INSERT INTO \(identifier: schema).events (id, topic, key, type, producer, payload, headers, occurred_at)
      SELECT e.id, \(first.topic), e.key, \(first.type), \(first.producer), e.payload, e.headers::jsonb,
             \(first.occurredAt)
      FROM unnest(\(PostgresArray(records.map(\.id))), \(PostgresArray(records.map(\.key))),
                  \(PostgresArray(records.map(\.payload))), \(PostgresArray(records.map(\.headersJSON))))
           WITH ORDINALITY AS e(id, key, payload, headers, position)
      ORDER BY e.position
      """, file: file, line: line)
    try await transaction.notify(channel: channel, file: file, line: line)
    EventMetrics.appended(type: first.type, count: records.count)
    return records.map(\.id)
  }

  /// Appends in a transaction of its own, for callers that have no state change to go with it.
  @discardableResult
  public func append(
    _ event: some CourierEvent, headers: [String: String] = [:], occurredAt: Date = Date(),
    file: String = #fileID, line: Int = #line
  ) async throws -> UUID {
    try await pool.withTransaction(file: file, line: line) { tx in
      try await append(event, in: tx, headers: headers, occurredAt: occurredAt, file: file, line: line)
    }
  }
}

/// Errors of the event source that are not the database's or the broker's.
public enum EventSourceError: Error, Equatable, CustomStringConvertible {
  /// The event cannot be stored: no key, bad headers.
  case invalidEvent(String)
  /// An operator command was given a selection that matches nothing sensible.
  case invalidSelection(String)
  /// A stored row cannot be turned into a record (edited by hand, or a bug).
  case corruptRow(id: UUID, reason: String)
  /// Event ids that name no stored event.
  case unknownEvents([UUID])

  public var description: String {
    switch self {
    case .invalidEvent(let reason): "cannot append the event: \(reason)"
    case .invalidSelection(let reason): "invalid event selection: \(reason)"
    case .corruptRow(let id, let reason): "stored event \(id) is unreadable: \(reason)"
    case .unknownEvents(let ids): "no stored event has the id \(ids.map { $0.uuidString.lowercased() }.joined(separator: ", "))"
    }
  }
}

extension EventStore {
  /// The advisory lock that serializes publishing across relays of this store (FNV-1a of the schema).
  package var relayLockKey: Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in ("courier.event-source.relay:" + schema).utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return Int64(bitPattern: hash)
  }
}
