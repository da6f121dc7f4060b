public import Foundation
internal import Postgres

/// Which stored events an operator command acts on.
public enum EventSelection: Sendable, Hashable, CustomStringConvertible {
  /// These events.
  case ids([UUID])
  /// Every event of one full type name (`courier.events.v1.UserCreated`).
  case type(String)
  /// Every event that occurred in `[from, to)`, optionally of one type.
  case occurred(from: Date, to: Date, type: String?)

  public var description: String {
    switch self {
    case .ids(let ids): "\(ids.count) event id(s)"
    case .type(let type): "events of type \(type)"
    case .occurred(let from, let to, let type):
      "events\(type.map { " of type \($0)" } ?? "") that occurred in [\(from), \(to))"
    }
  }

  func validate() throws {
    switch self {
    case .ids(let ids) where ids.isEmpty: throw EventSourceError.invalidSelection("no event id given")
    case .type(let type) where type.isEmpty: throw EventSourceError.invalidSelection("the event type is empty")
    case .occurred(let from, let to, _) where from >= to:
      throw EventSourceError.invalidSelection("the time range is empty: \(from) is not before \(to)")
    default: break
    }
  }
}

/// What the store holds, counted.
public struct EventStoreCounts: Sendable, Hashable {
  public var appended: Int
  public var unpublished: Int
  /// Events whose summary row says processed (by at least one group).
  public var processed: Int
  /// Dead-letter entries (for all groups), including unreadable records.
  public var deadLetters: Int

  public init(appended: Int, unpublished: Int, processed: Int, deadLetters: Int) {
    self.appended = appended
    self.unpublished = unpublished
    self.processed = processed
    self.deadLetters = deadLetters
  }
}

/// One dead-letter entry, as operators see it.
public struct DeadLetter: Sendable, Hashable {
  public var consumer: String
  public var topic: String
  public var partition: Int32
  public var offset: Int64
  public var eventID: UUID?
  public var eventType: String?
  public var error: String
  public var deadAt: Date
}

extension EventStore {
  /// Sends the selected events through the broker again, and lets consumers process the ones they
  /// had dead-lettered or not yet finished.
  ///
  /// The events become unpublished, so the relay publishes them again in their original order; for
  /// `consumer` (every group when nil) their `failed` and `dead` delivery state is cleared. Events a
  /// group already processed stay processed: their redelivery is a no-op for that group. Returns
  /// the number of events selected. With `requireAll`, ids that name no stored event throw
  /// ``EventSourceError/unknownEvents(_:)`` and nothing changes.
  @discardableResult
  public func replay(_ selection: EventSelection, consumer: String? = nil, requireAll: Bool = false) async throws -> Int {
    try selection.validate()
    return try await pool.withTransaction { tx in
      let rows: PostgresRows
      switch selection {
      case .ids(let ids):
        let list = "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
        rows = try await tx.query(
          "UPDATE \(identifier: schema).events SET published_at = NULL WHERE id = ANY(\(list)::uuid[]) RETURNING id")
      case .type(let type):
        rows = try await tx.query(
          "UPDATE \(identifier: schema).events SET published_at = NULL WHERE type = \(type) RETURNING id")
      case .occurred(let from, let to, let type):
        rows = try await tx.query(
          """
          UPDATE \(identifier: schema).events SET published_at = NULL
          WHERE occurred_at >= \(from) AND occurred_at < \(to) AND (\(type)::text IS NULL OR type = \(type))
          RETURNING id
          """)
      }
      let ids = try rows.map { try $0.decode(UUID.self, at: 0) }
      if requireAll, case .ids(let wanted) = selection {
        let found = Set(ids)
        let missing = wanted.filter { !found.contains($0) }
        if !missing.isEmpty { throw EventSourceError.unknownEvents(missing) }  // rolls the update back
      }
      if ids.isEmpty { return 0 }
      let list = "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
      try await tx.execute(
        """
        DELETE FROM \(identifier: schema).deliveries
        WHERE event_id = ANY(\(list)::uuid[]) AND status IN ('failed', 'dead') AND (\(consumer)::text IS NULL OR consumer = \(consumer))
        """)
      try await tx.notify(channel: channel)
      return ids.count
    }
  }

  /// Refills an empty broker (one that lost its data) from the store: every event, or every event
  /// appended since `since`, is marked unpublished, and the relays publish them all again in order.
  /// Consumers skip what they had processed. Returns the number of events to publish.
  @discardableResult
  public func refill(since: Date? = nil) async throws -> Int {
    try await pool.withTransaction { tx in
      let count = try await tx.execute(
        """
        UPDATE \(identifier: schema).events SET published_at = NULL
        WHERE published_at IS NOT NULL AND (\(since)::timestamptz IS NULL OR appended_at >= \(since))
        """)
      try await tx.notify(channel: channel)
      return count
    }
  }

  /// Counts of the whole store.
  public func counts() async throws -> EventStoreCounts {
    let row = try await pool.query(
      """
      SELECT (SELECT count(*) FROM \(identifier: schema).events),
             (SELECT count(*) FROM \(identifier: schema).events WHERE published_at IS NULL),
             (SELECT count(*) FROM \(identifier: schema).events WHERE processed),
             (SELECT count(*) FROM \(identifier: schema).dead_letters)
      """)[0]
    let (appended, unpublished, processed, dead) = try row.decode((Int, Int, Int, Int).self)
    return EventStoreCounts(appended: appended, unpublished: unpublished, processed: processed, deadLetters: dead)
  }

  /// How many events one consumer group processed.
  public func processedCount(consumer: String) async throws -> Int {
    try await pool.query(
      "SELECT count(*) FROM \(identifier: schema).deliveries WHERE consumer = \(consumer) AND status = 'processed'"
    )[0].decode(Int.self, at: 0)
  }

  /// The newest dead-letter entries, newest first.
  public func deadLetters(consumer: String? = nil, limit: Int = 100) async throws -> [DeadLetter] {
    let rows = try await pool.query(
      """
      SELECT consumer, topic, kafka_partition, kafka_offset, event_id, event_type, error, dead_at
      FROM \(identifier: schema).dead_letters
      WHERE \(consumer)::text IS NULL OR consumer = \(consumer)
      ORDER BY id DESC LIMIT \(limit)
      """)
    return try rows.map { row in
      let (consumer, topic, partition, offset, eventID, eventType, error, deadAt) = try row.decode(
        (String, String, Int32, Int64, UUID?, String?, String, Date).self)
      return DeadLetter(
        consumer: consumer, topic: topic, partition: partition, offset: offset, eventID: eventID,
        eventType: eventType, error: error, deadAt: deadAt)
    }
  }
}
