public import ContractRuntime
public import Kafka
public import Logging
public import Postgres
import Foundation

/// Runs one service's consumer group: reads its topics, decodes each record through the event
/// registry, and calls the handler inside a transaction that also claims the event for the group.
///
/// For each record, in order per partition (partitions run side by side):
/// 1. A record that is not a readable envelope of a registered event is dead-lettered with the
///    reason (`dead_letters`), and the consumer moves on.
/// 2. In one transaction: the event is claimed for the group in `deliveries` (skipped if the group
///    already processed or dead-lettered it: a redelivery is a no-op), the handler's writes run,
///    and the event's summary row is marked processed. A record's offset is committed only after
///    it and every earlier record of its partition are handled, so a crash anywhere means
///    redelivery, never loss. Up to ``Configuration/maxBatchRecords`` readable records of a
///    partition share that transaction; if any of them fails, it rolls back and they are handled
///    one transaction each, so one bad event never holds back the others.
/// 3. If the handler throws, the attempt is recorded (`attempts`, `last_error`), and it is tried
///    again after the policy's backoff; after ``DeliveryPolicy/maxAttempts`` it is dead-lettered.
///    Lost database connections are waited out without counting as attempts.
public final class EventConsumer: Sendable {
  public typealias Handler = @Sendable (ConsumedEvent, PostgresTransaction) async throws -> Void

  /// Handles several claimed events of one partition, in order, in one transaction: what
  /// ``Handler`` does for each, with the chance to share statements and calls among them. Throwing
  /// rolls the batch back; its events are then handled one by one through ``Handler``.
  public struct BatchHandler: Sendable {
    /// The statements the batch needs first (its reads and row locks), made from the events about
    /// to be claimed. They travel with the claim, in one round trip, and run after it; their rows
    /// go to ``handle`` in order. The claim may skip some of those events (a redelivery), so they
    /// may read a little more than the claimed events need.
    public var reads: @Sendable (_ events: [ConsumedEvent]) -> [PostgresQuery]
    /// Handles the claimed events (two or more), given the rows of ``reads``.
    public var handle: @Sendable (_ events: [ConsumedEvent], _ reads: [PostgresRows], PostgresTransaction) async throws -> Void

    public init(
      reads: @escaping @Sendable (_ events: [ConsumedEvent]) -> [PostgresQuery],
      handle: @escaping @Sendable (_ events: [ConsumedEvent], _ reads: [PostgresRows], PostgresTransaction) async throws -> Void
    ) {
      self.reads = reads
      self.handle = handle
    }

    /// A batch handler that reads nothing with the claim.
    public init(_ handle: @escaping @Sendable (_ events: [ConsumedEvent], PostgresTransaction) async throws -> Void) {
      self.init(reads: { _ in [] }, handle: { events, _, tx in try await handle(events, tx) })
    }
  }

  public struct Configuration: Sendable {
    /// The consumer group: the service's name. State in the store is kept per group.
    public var group: String
    public var policy: DeliveryPolicy
    public var kafkaConsumer: KafkaConsumerConfiguration
    /// Partitions of topics this consumer creates when they do not exist yet: as the relay,
    /// ``EventRelay/defaultPartitions`` unless set.
    public var partitions: Int32
    /// Wait between tries when the database or broker is unreachable.
    public var infrastructureBackoff: Duration
    /// Most records of one partition handled in one transaction.
    public var maxBatchRecords: Int
    /// Fetching pauses while this many fetched records wait to be handled.
    public var maxBufferedRecords: Int
    /// How often the offsets of handled records are committed (and before every rejoin).
    public var commitInterval: Duration

    public init(
      group: String, policy: DeliveryPolicy = .defaults, kafkaConsumer: KafkaConsumerConfiguration = .defaults,
      partitions: Int32 = EventRelay.defaultPartitions, infrastructureBackoff: Duration = .milliseconds(200), maxBatchRecords: Int = 500,
      maxBufferedRecords: Int = 5_000, commitInterval: Duration = .milliseconds(200)
    ) {
      self.group = group
      self.policy = policy
      self.kafkaConsumer = kafkaConsumer
      self.partitions = partitions
      self.infrastructureBackoff = infrastructureBackoff
      self.maxBatchRecords = max(1, maxBatchRecords)
      self.maxBufferedRecords = max(1, maxBufferedRecords)
      self.commitInterval = commitInterval
    }
  }

  /// What became of one record.
  public enum Outcome: Sendable, Hashable {
    case processed, skipped, deadLettered
  }

  public let store: EventStore
  public let configuration: Configuration
  public let decoder: RecordDecoder
  private let kafka: KafkaConfiguration
  private let handler: Handler
  private let batchHandler: BatchHandler?
  private let logger: Logger

  /// A consumer of every event in `registry`. With `batchHandler`, a partition's claimed events of
  /// one transaction go to it together (two or more); `handler` still takes single events and the
  /// one-by-one path after a failed batch.
  public init(
    store: EventStore, kafka: KafkaConfiguration, registry: EventRegistry, configuration: Configuration,
    logger: Logger = Logger(label: "courier.event-source.consumer"), batchHandler: BatchHandler? = nil,
    handler: @escaping Handler
  ) {
    self.store = store
    self.kafka = kafka
    self.decoder = RecordDecoder(registry: registry)
    self.configuration = configuration
    self.handler = handler
    self.batchHandler = batchHandler
    self.logger = logger
  }

  /// A consumer whose handler receives a typed event set, such as `Courier_Events_V1_Events_Event`.
  public convenience init<Events: CourierEventSet>(
    store: EventStore, kafka: KafkaConfiguration, events: Events.Type, configuration: Configuration,
    logger: Logger = Logger(label: "courier.event-source.consumer"),
    handler: @escaping @Sendable (Events, ConsumedEvent, PostgresTransaction) async throws -> Void
  ) {
    self.init(store: store, kafka: kafka, registry: Events.registry, configuration: configuration, logger: logger) {
      consumed, tx in
      try await handler(try Events(consumed.event), consumed, tx)
    }
  }

  /// The topics this consumer reads: one per event type of its registry.
  public var topics: [String] { decoder.registry.bindings.map(\.topic) }

  /// Runs until the task is cancelled. Broker and database outages are logged and waited out.
  ///
  /// Fetching and handling overlap: each poll's records join their partition's lane
  /// (``PartitionLanes``) and the next poll starts as soon as some lane runs empty; one worker per
  /// busy partition handles its lane in order, up to ``Configuration/maxBatchRecords`` per
  /// transaction. The offsets of handled records are committed every
  /// ``Configuration/commitInterval``, and the lanes are drained and committed before the group is
  /// joined again, so a rebalance redelivers little.
  public func run() async throws {
    EventMetrics.startHandling(group: configuration.group)
    let admin = KafkaAdmin(configuration: kafka)
    await ensureTopics(admin)
    await admin.close()
    let lanes = PartitionLanes()
    var consumer = try makeConsumer()
    // The assignment the lanes' offsets belong to; a replaced consumer starts a new one at once.
    var epoch = consumer.assignmentEpoch
    var lastCommit = ContinuousClock.now
    var stoppedWorkers = 0
    do {
      try await withThrowingDiscardingTaskGroup { group in
        func replaceConsumer() async throws {
          try await lanes.wait(until: .idle)
          consumer = try await replace(consumer)
          lanes.newAssignment()
          epoch = consumer.assignmentEpoch
        }
        while !Task.isCancelled {
          // Fetch again once some partition is ready for more: fetching while every lane is still
          // busy would only bring records in ones and twos, each fetch costing the broker a pass
          // over all partitions, and handling them in transactions too small to pay.
          try await lanes.wait(until: .workerStopped(after: stoppedWorkers))
          try await lanes.wait(until: .below(configuration.maxBufferedRecords))
          if consumer.rejoinPending {
            // Hand in what this member handled before its partitions go elsewhere.
            try await lanes.wait(until: .idle)
            await commitHandled(lanes, consumer, epoch: epoch, ignoringFailure: true)
          }
          let batch: [ConsumerRecord]
          do {
            batch = try await consumer.poll()
          } catch is CancellationError {
            break
          } catch {
            logger.warning("poll failed; joining the group again", metadata: ["error": "\(error)"])
            try await lanes.wait(until: .idle)
            await commitHandled(lanes, consumer, epoch: epoch, ignoringFailure: true)
            try await replaceConsumer()
            continue
          }
          EventMetrics.lag(group: configuration.group, consumer.lag())
          EventMetrics.partitions(group: configuration.group, consumer.assignment.count)
          if consumer.assignmentEpoch != epoch {
            lanes.newAssignment()
            epoch = consumer.assignmentEpoch
          }
          stoppedWorkers = lanes.stoppedWorkers
          for tp in lanes.enqueue(batch) {
            group.addTask { await self.work(lane: tp, lanes) }
          }
          guard ContinuousClock.now - lastCommit >= configuration.commitInterval else { continue }
          lastCommit = .now
          if await commitHandled(lanes, consumer, epoch: epoch, ignoringFailure: false) { continue }
          // The records come again and are skipped as processed. A broker that failed may have
          // been replaced by an empty one that knows neither the group nor the old offsets: join
          // afresh, so positions come from the (new) committed offsets instead of the old broker's.
          try await replaceConsumer()
        }
        try await lanes.wait(until: .idle)
      }
    } catch {
      await consumer.close()
      if error is CancellationError { return }
      throw error
    }
    await consumer.close()
  }

  /// One partition's lane worker: handles its queued records until the lane is empty.
  private func work(lane tp: TopicPartition, _ lanes: PartitionLanes) async {
    while let (assignment, records) = lanes.take(tp, max: configuration.maxBatchRecords) {
      do {
        try await handle(partition: records)
        lanes.finished(tp, assignment: assignment, records)
      } catch {
        lanes.fail(error)
        return
      }
    }
  }

  /// Commits the offsets of records handled since the last commit. Returns false if that failed.
  /// Commits nothing when the consumer's assignment is no longer `epoch`, the one the lanes'
  /// offsets belong to (a poll that rejoined and then failed): under the new generation the
  /// broker would take them, and they may point past records the new assignment has not read.
  @discardableResult
  private func commitHandled(
    _ lanes: PartitionLanes, _ consumer: KafkaConsumer, epoch: Int, ignoringFailure: Bool
  ) async -> Bool {
    guard consumer.assignmentEpoch == epoch else { return true }
    let offsets = lanes.takeHandled()
    do {
      try await consumer.commit(offsets)
      return true
    } catch {
      if !ignoringFailure {
        logger.warning("offset commit failed; joining the group again", metadata: ["error": "\(error)"])
      }
      return false
    }
  }

  private func makeConsumer() throws -> KafkaConsumer {
    let consumer = KafkaConsumer(configuration: kafka, consumerConfiguration: configuration.kafkaConsumer, groupId: configuration.group)
    try consumer.subscribe(topics: topics)
    return consumer
  }

  private func replace(_ consumer: KafkaConsumer) async throws -> KafkaConsumer {
    await consumer.close()
    try await Task.sleep(for: configuration.infrastructureBackoff)
    // A replaced broker knows none of the topics: without them the group's leader cannot plan an
    // assignment, so the group would never settle.
    let admin = KafkaAdmin(configuration: kafka)
    await ensureTopics(admin)
    await admin.close()
    return try makeConsumer()
  }

  private func ensureTopics(_ admin: KafkaAdmin) async {
    for topic in topics {
      while !Task.isCancelled {
        do {
          try await admin.createTopic(topic, partitions: configuration.partitions, ifNotExists: true)
          break
        } catch {
          logger.warning("cannot create topic; retrying", metadata: ["topic": "\(topic)", "error": "\(error)"])
          try? await Task.sleep(for: configuration.infrastructureBackoff)
        }
      }
    }
  }

  /// Handles a poll batch: each partition's records in order, partitions side by side.
  public func handle(_ batch: [ConsumerRecord]) async throws {
    var byPartition: [TopicPartition: [ConsumerRecord]] = [:]
    for record in batch { byPartition[TopicPartition(record.topic, record.partition), default: []].append(record) }
    if byPartition.count == 1 {
      try await handle(partition: batch)
      return
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
      for records in byPartition.values {
        group.addTask { try await self.handle(partition: records) }
      }
      try await group.waitForAll()
    }
  }

  /// One partition's records, in order. Readable records first go through one transaction
  /// together (claim all, run each handler, mark all processed); if anything in it fails, it rolls
  /// back and each record takes the one-at-a-time path, which counts attempts and dead-letters.
  private func handle(partition records: [ConsumerRecord]) async throws {
    if records.count > 1, let events = try? records.map({ try decoder.decode(value: $0.value) }) {
      do {
        try await attempt(together: events)
        return
      } catch is CancellationError {
        throw CancellationError()
      } catch {
        logger.debug("batch transaction failed; handling its records one by one", metadata: ["error": "\(error)"])
      }
    }
    for record in records { _ = try await handle(record) }
  }

  private func attempt(together events: [ConsumedEvent]) async throws {
    let schema = store.schema
    let group = configuration.group
    var seen: Set<UUID> = []
    let unique = events.filter { seen.insert($0.id).inserted }  // a refill may deliver an event twice
    let ids = "{" + unique.map { $0.id.uuidString.lowercased() }.joined(separator: ",") + "}"
    let reads = batchHandler?.reads(unique) ?? []
    let claimedCount = try await store.pool.withTransaction(retry: .never) { tx -> Int in
      let results = try await tx.query(all: [
        """
        INSERT INTO \(identifier: schema).deliveries AS d (consumer, event_id, status, attempts, processed_at)
        SELECT \(group), id, 'processed', 1, clock_timestamp() FROM unnest(\(ids)::uuid[]) AS id
        ON CONFLICT (consumer, event_id) DO UPDATE
          SET status = 'processed', attempts = d.attempts + 1, last_error = NULL,
              processed_at = clock_timestamp(), updated_at = clock_timestamp()
          WHERE d.status = 'failed'
        RETURNING d.event_id, d.attempts
        """
      ] + reads)
      let claimed = results[0]
      if claimed.isEmpty { return 0 }
      var attempts: [UUID: Int] = [:]
      for row in claimed {
        let (id, count) = try row.decode((UUID, Int32).self)
        attempts[id] = Int(count)
      }
      var claimedEvents: [ConsumedEvent] = []
      for var event in unique {
        guard let attempt = attempts[event.id] else { continue }
        event.attempt = attempt
        claimedEvents.append(event)
      }
      if let batchHandler, claimedEvents.count > 1 {
        try await timed(claimedEvents) { try await batchHandler.handle(claimedEvents, Array(results.dropFirst()), tx) }
      } else {
        for event in claimedEvents {
          try await timed(event) { try await handler(event, tx) }
        }
      }
      let processed = "{" + attempts.keys.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
      try tx.enqueue(  // with the COMMIT
        """
        UPDATE \(identifier: schema).events
        SET processed = true, processed_at = COALESCE(processed_at, clock_timestamp()), attempts = attempts + 1
        WHERE id = ANY(\(processed)::uuid[])
        """)
      return attempts.count
    }
    EventMetrics.handled(group: group, outcome: "processed", count: claimedCount)
    EventMetrics.handled(group: group, outcome: "skipped", count: unique.count - claimedCount)
  }

  /// Runs one handler call, recording its time and the event's age.
  private func timed(_ event: ConsumedEvent, _ body: () async throws -> Void) async throws {
    let started = ContinuousClock.now
    EventMetrics.age(group: configuration.group, occurredAt: event.occurredAt)
    try await body()
    let elapsed = ContinuousClock.now - started
    EventMetrics.handling(
      group: configuration.group,
      seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
  }

  /// Runs one batch handler call, recording each event's age and its share of the time.
  private func timed(_ events: [ConsumedEvent], _ body: () async throws -> Void) async throws {
    let started = ContinuousClock.now
    for event in events { EventMetrics.age(group: configuration.group, occurredAt: event.occurredAt) }
    try await body()
    let elapsed = ContinuousClock.now - started
    let share = (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / Double(events.count)
    for _ in events { EventMetrics.handling(group: configuration.group, seconds: share) }
  }

  /// Handles one record. Throws only `CancellationError`.
  public func handle(_ record: ConsumerRecord) async throws -> Outcome {
    let event: ConsumedEvent
    do {
      event = try decoder.decode(value: record.value)
    } catch {
      logger.error("malformed record dead-lettered", metadata: ["topic": "\(record.topic)", "offset": "\(record.offset)", "error": "\(error.reason)"])
      try await untilStored { try await self.deadLetter(record, malformed: error) }
      EventMetrics.handled(group: configuration.group, outcome: "dead_lettered")
      return .deadLettered
    }
    while true {
      try Task.checkCancellation()
      do {
        let outcome = try await attempt(event)
        EventMetrics.handled(group: configuration.group, outcome: outcome == .processed ? "processed" : "skipped")
        return outcome
      } catch let error as PostgresError where error.isRetriable || error.code == .commitOutcomeUnknown {
        // Not the handler's fault. After an unknown commit outcome the next attempt's claim finds
        // out: a committed attempt makes it a skip.
        logger.debug("database unavailable; retrying", metadata: ["error": "\(error)"])
        try await Task.sleep(for: configuration.infrastructureBackoff)
        continue
      } catch is CancellationError {
        throw CancellationError()
      } catch {
        let reason = String(describing: error)
        EventMetrics.handled(group: configuration.group, outcome: "failed")
        let attempts = try await untilStored { try await self.recordFailure(event, reason: reason) }
        guard let attempts else {
          EventMetrics.handled(group: configuration.group, outcome: "skipped")
          return .skipped
        }
        switch configuration.policy.afterFailure(attempts: attempts) {
        case .retry(let wait):
          logger.info("handler failed; retrying", metadata: ["event": "\(event.id)", "attempts": "\(attempts)", "error": "\(reason)"])
          try await Task.sleep(for: wait)
        case .deadLetter:
          logger.error("handler keeps failing; dead-lettered", metadata: ["event": "\(event.id)", "attempts": "\(attempts)", "error": "\(reason)"])
          try await untilStored { try await self.deadLetter(event, record: record, reason: reason) }
          EventMetrics.handled(group: configuration.group, outcome: "dead_lettered")
          return .deadLettered
        }
      }
    }
  }

  /// Runs a store write until it gets through (the database may be restarting).
  private func untilStored<T>(_ body: () async throws -> T) async throws -> T {
    while true {
      try Task.checkCancellation()
      do {
        return try await body()
      } catch let error as PostgresError where error.isRetriable || error.code == .commitOutcomeUnknown {
        try await Task.sleep(for: configuration.infrastructureBackoff)
      }
    }
  }

  private func attempt(_ event: ConsumedEvent) async throws -> Outcome {
    let schema = store.schema
    let group = configuration.group
    return try await store.pool.withTransaction { tx in
      let claimed = try await tx.query(
        """
        INSERT INTO \(identifier: schema).deliveries AS d (consumer, event_id, status, attempts, processed_at)
        VALUES (\(group), \(event.id), 'processed', 1, clock_timestamp())
        ON CONFLICT (consumer, event_id) DO UPDATE
          SET status = 'processed', attempts = d.attempts + 1, last_error = NULL,
              processed_at = clock_timestamp(), updated_at = clock_timestamp()
          WHERE d.status = 'failed'
        RETURNING d.attempts
        """)
      guard let row = claimed.first else { return .skipped }
      var event = event
      event.attempt = try row.decode(Int32.self, at: 0).asInt
      try await timed(event) { try await handler(event, tx) }
      try tx.enqueue(  // with the COMMIT
        """
        UPDATE \(identifier: schema).events
        SET processed = true, processed_at = COALESCE(processed_at, clock_timestamp()), attempts = attempts + 1
        WHERE id = \(event.id)
        """)
      return .processed
    }
  }

  /// Records a failed attempt; returns the group's attempt count, or nil if the event was
  /// processed or dead-lettered meanwhile.
  private func recordFailure(_ event: ConsumedEvent, reason: String) async throws -> Int? {
    let schema = store.schema
    let group = configuration.group
    return try await store.pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        INSERT INTO \(identifier: schema).deliveries AS d (consumer, event_id, status, attempts, last_error)
        VALUES (\(group), \(event.id), 'failed', 1, \(reason))
        ON CONFLICT (consumer, event_id) DO UPDATE
          SET attempts = d.attempts + 1, last_error = EXCLUDED.last_error, updated_at = clock_timestamp()
          WHERE d.status = 'failed'
        RETURNING d.attempts
        """)
      guard let row = rows.first else { return nil }
      try await tx.execute(
        "UPDATE \(identifier: schema).events SET attempts = attempts + 1, last_error = \(reason) WHERE id = \(event.id)")
      return try row.decode(Int32.self, at: 0).asInt
    }
  }

  private func deadLetter(_ event: ConsumedEvent, record: ConsumerRecord, reason: String) async throws {
    let schema = store.schema
    let group = configuration.group
    try await store.pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        UPDATE \(identifier: schema).deliveries SET status = 'dead', updated_at = clock_timestamp()
        WHERE consumer = \(group) AND event_id = \(event.id) AND status = 'failed'
        RETURNING event_id
        """)
      guard !rows.isEmpty else { return }
      try await tx.execute(
        """
        INSERT INTO \(identifier: schema).dead_letters (consumer, topic, kafka_partition, kafka_offset, event_id, event_type, error)
        VALUES (\(group), \(record.topic), \(record.partition), \(record.offset), \(event.id),
                \(type(of: event.event).eventBinding.typeName), \(reason))
        """)
    }
  }

  private func deadLetter(_ record: ConsumerRecord, malformed: RecordDecoder.Malformed) async throws {
    let schema = store.schema
    let group = configuration.group
    let raw = record.value.map { Data($0) }
    try await store.pool.withTransaction { tx in
      if let id = malformed.eventID {
        let rows = try await tx.query(
          """
          INSERT INTO \(identifier: schema).deliveries AS d (consumer, event_id, status, attempts, last_error)
          VALUES (\(group), \(id), 'dead', 1, \(malformed.reason))
          ON CONFLICT (consumer, event_id) DO UPDATE
            SET status = 'dead', attempts = d.attempts + 1, last_error = EXCLUDED.last_error, updated_at = clock_timestamp()
            WHERE d.status = 'failed'
          RETURNING event_id
          """)
        guard !rows.isEmpty else { return }
        try await tx.execute(
          """
          INSERT INTO \(identifier: schema).dead_letters (consumer, topic, kafka_partition, kafka_offset, event_id, event_type, error, record)
          VALUES (\(group), \(record.topic), \(record.partition), \(record.offset), \(id), \(malformed.eventType), \(malformed.reason), \(raw))
          """)
        try await tx.execute(
          "UPDATE \(identifier: schema).events SET last_error = \(malformed.reason) WHERE id = \(id)")
      } else {
        try await tx.execute(
          """
          INSERT INTO \(identifier: schema).dead_letters (consumer, topic, kafka_partition, kafka_offset, event_type, error, record)
          VALUES (\(group), \(record.topic), \(record.partition), \(record.offset), \(malformed.eventType), \(malformed.reason), \(raw))
          ON CONFLICT (consumer, topic, kafka_partition, kafka_offset) WHERE event_id IS NULL DO NOTHING
          """)
      }
    }
  }
}

extension Int32 {
  fileprivate var asInt: Int { Int(self) }
}
