public import Kafka
public import Logging
internal import Postgres
import Foundation
import Synchronization

/// Publishes unpublished events from the store to Kafka, in `seq` order, and marks them published.
///
/// It wakes on the store's NOTIFY (sent when an append commits) and on a periodic sweep, because
/// notifications sent while its listener reconnects are lost. Several relays may run at once (one
/// per replica): each batch is claimed inside a transaction that first takes a transaction-level
/// advisory lock keyed by the store's schema, so only one relay publishes at a time. That is what
/// keeps a key's events in order across relays (row locks with SKIP LOCKED alone would let a second
/// relay publish a key's next event while the first still holds its predecessor) and it means no
/// row is published by two relays at once.
///
/// The others stand by: a relay that finds the lock taken stops answering NOTIFYs and only tries
/// again at its sweep, and becomes the publishing one when it gets the lock there. So a relay that
/// stops is replaced within a ``Configuration/sweepInterval``, and a second relay on the same store
/// does not open a transaction for every append only to find the lock taken. (Hermes and Asgardian
/// run relays on one store. In `scripts/bench-pipeline.sh`'s paced run at 1,000 fixes/s, the two
/// relays made 5,218 lock attempts for 1,343 batches when both answered every NOTIFY.)
///
/// The claimed rows are locked when selected (`FOR NO KEY UPDATE`, in `seq` order), before they are
/// sent. A consumer that gets an event from the broker before this transaction commits then only
/// waits for the commit when it marks the row processed. Locking them only at the final UPDATE let
/// a consumer batch lock some of the batch's rows first, and the two transactions deadlocked until
/// Postgres' `deadlock_timeout` (1 s) aborted one: the pipeline's second-long latency outliers.
///
/// Delivery is at least once: if the relay dies after the broker acknowledged a batch and before
/// its transaction committed, the batch is sent again; consumers skip what they processed.
public final class EventRelay: Sendable {
  public struct Configuration: Sendable {
    /// Most events claimed and sent per transaction.
    public var batchSize: Int
    /// How often the relay looks for unpublished events without being woken.
    public var sweepInterval: Duration
    /// The least time from one pass's start to the next one's. A wake-up after a quiet spell
    /// starts a pass at once; under load, the appends of that time go out together, as one
    /// broker batch per partition instead of several small ones. On two cores,
    /// `scripts/bench-pipeline.sh` at 1,000 fixes/s gave a fix-to-processed p99 of 87-99 ms with
    /// 10 ms against 106-129 ms with none (three runs each, in turn): about 100 passes a second
    /// of 9 events had kept the relay, the database and the broker busy with per-pass work, and
    /// the test broker reads a partition in time that grows with its stored batches.
    public var passSpacing: Duration
    /// Partitions of each topic the relay creates (``EventRelay/defaultPartitions`` unless set):
    /// the most consumer processes of one group that share the work, and the handlers one process
    /// runs side by side. A topic that exists keeps its own.
    public var partitions: Int32
    /// Wait after a failed pass (database or broker unreachable) before the next one.
    public var retryBackoff: Duration
    /// Topics created before the first pass (usually every topic of the event registry). Topics of
    /// stored events not listed here are created before their first event is sent.
    public var topics: [String]

    public init(
      batchSize: Int = 1000, sweepInterval: Duration = .seconds(1), passSpacing: Duration = .milliseconds(10),
      partitions: Int32 = EventRelay.defaultPartitions, retryBackoff: Duration = .milliseconds(200), topics: [String] = []
    ) {
      self.batchSize = max(1, batchSize)
      self.sweepInterval = sweepInterval
      self.passSpacing = max(.zero, passSpacing)
      self.partitions = partitions
      self.retryBackoff = retryBackoff
      self.topics = topics
    }

    public static var defaults: Self { Self() }
  }

  /// Partitions of a new event topic: 4. More partitions let more consumer processes share a
  /// group's work, but each one a process handles is a transaction of its own side by side with
  /// the others, and each batch the relay sends splits into one stored batch per partition. On two
  /// cores, `scripts/bench-pipeline.sh` at 1,000 fixes/s with a 100 ms fetch wait gave a
  /// fix-to-processed p99 of 304–697 ms with 12 partitions, 259–286 ms with 4 and 220–282 ms with
  /// 2 (three runs or more each), and sustained 2,500–4,400 fixes/s with any of them. Set it per
  /// deployment before the topics are first created (`COURIER_EVENT_PARTITIONS`).
  public static let defaultPartitions: Int32 = 4

  /// The partition counts that settings may ask for (`COURIER_EVENT_PARTITIONS`, `--partitions`).
  public static let partitionCounts: ClosedRange<Int> = 1...1_000

  /// The producer's defaults without linger: the relay hands over whole batches, so waiting for
  /// more records would only delay them.
  public static var producerDefaults: KafkaProducerConfiguration {
    var configuration = KafkaProducerConfiguration.defaults
    configuration.linger = .zero
    return configuration
  }

  public let store: EventStore
  public let configuration: Configuration
  private let producer: KafkaProducer
  private let admin: KafkaAdmin
  private let createdTopics = Mutex<Set<String>>([])
  private let lastBacklogSample = Mutex<ContinuousClock.Instant?>(nil)
  /// Whether another relay held the publishing lock at this relay's last try: NOTIFYs are then
  /// ignored until a sweep gets the lock.
  private let standingBy = Atomic<Bool>(false)
  /// Transactions that found the publishing lock taken.
  private let lockMisses = Atomic<Int>(0)
  private let logger: Logger
  /// The pool that ``withOwnConnection(store:applicationName:kafka:configuration:logger:)``
  /// opened for this relay, closed by ``close()``.
  private let ownPool: PostgresPool?

  public convenience init(
    store: EventStore, kafka: KafkaConfiguration, configuration: Configuration = .defaults,
    producerConfiguration: KafkaProducerConfiguration = EventRelay.producerDefaults,
    logger: Logger = Logger(label: "courier.event-source.relay")
  ) {
    self.init(
      store: store, kafka: kafka, configuration: configuration, producerConfiguration: producerConfiguration,
      logger: logger, ownPool: nil)
  }

  private init(
    store: EventStore, kafka: KafkaConfiguration, configuration: Configuration,
    producerConfiguration: KafkaProducerConfiguration, logger: Logger, ownPool: PostgresPool?
  ) {
    self.store = store
    self.configuration = configuration
    self.producer = KafkaProducer(configuration: kafka, producerConfiguration: producerConfiguration)
    self.admin = KafkaAdmin(configuration: kafka)
    self.logger = logger
    self.ownPool = ownPool
  }

  /// A relay that reads `store`'s events through a pool of its own: one connection to the same
  /// database (besides the one it listens for appends on, as every relay does), shown in
  /// `pg_stat_activity` as `applicationName`. A service's requests and event handlers can hold
  /// every connection of its pool at once; the events are then not held back. ``close()`` closes
  /// that pool too.
  public static func withOwnConnection(
    store: EventStore, applicationName: String, kafka: KafkaConfiguration,
    configuration: Configuration = .defaults,
    logger: Logger = Logger(label: "courier.event-source.relay")
  ) -> EventRelay {
    var database = store.pool.configuration
    database.applicationName = applicationName
    database.pool = .init(maxConnections: 1, waitTimeout: .seconds(10))
    let pool = PostgresPool(configuration: database)
    return EventRelay(
      store: EventStore(pool: pool, schema: store.schema, producer: store.producer), kafka: kafka,
      configuration: configuration, producerConfiguration: EventRelay.producerDefaults, logger: logger, ownPool: pool)
  }

  /// Runs until the task is cancelled: publishes on every wake-up and sweep. Failures are logged
  /// and retried after ``Configuration/retryBackoff``; they never end the loop.
  public func run() async throws {
    EventMetrics.startRelaying()
    let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    wake.yield()
    await withTaskGroup(of: Void.self) { group in
      group.addTask { [self] in await self.listen(wake: wake) }
      group.addTask { [configuration] in
        while !Task.isCancelled {
          try? await Task.sleep(for: configuration.sweepInterval)
          wake.yield()
        }
      }
      var lastPass: ContinuousClock.Instant?
      for await _ in wakeups {
        if Task.isCancelled { break }
        if let lastPass, lastPass + configuration.passSpacing > .now {
          do { try await Task.sleep(until: lastPass + configuration.passSpacing, clock: .continuous) } catch { break }
        }
        lastPass = .now
        do {
          try await ensureTopics(configuration.topics)
          _ = try await publishPending()
          try await sampleBacklog()
        } catch is CancellationError {
          break
        } catch {
          logger.warning("relay pass failed; retrying", metadata: ["error": "\(error)"])
          try? await Task.sleep(for: configuration.retryBackoff)
          wake.yield()
        }
      }
      group.cancelAll()
      wake.finish()
    }
  }

  private func listen(wake: AsyncStream<Void>.Continuation) async {
    while !Task.isCancelled {
      do {
        let notifications = try await store.pool.listen(to: store.channel)
        wake.yield()  // anything appended before LISTEN was active
        for await _ in notifications where !standingBy.load(ordering: .relaxed) { wake.yield() }
      } catch {
        logger.debug("relay listener failed; the sweep covers it", metadata: ["error": "\(error)"])
      }
      try? await Task.sleep(for: configuration.retryBackoff)
    }
  }

  /// Publishes batches until none is left (or another relay holds the publishing lock). Returns
  /// the number of events this call marked published.
  @discardableResult
  public func publishPending() async throws -> Int {
    var total = 0
    while true {
      let batch: (published: Int, full: Bool, failure: (any Error)?)
      do {
        batch = try await publishBatch()
      } catch {
        forgetTopics()
        throw error
      }
      total += batch.published
      if let failure = batch.failure {
        // The acknowledged part is committed; the rest waits for the next pass, topics re-checked.
        forgetTopics()
        throw failure
      }
      if !batch.full { return total }
    }
  }

  /// Whether this relay stands by because another one held the publishing lock at its last try
  /// (also `courier_relay_publishing`).
  public var isStandingBy: Bool { standingBy.load(ordering: .relaxed) }

  /// How many of this relay's transactions found the publishing lock taken by another relay (also
  /// `courier_relay_lock_misses_total`, which sums every relay of the process).
  public var lockMissCount: Int { lockMisses.load(ordering: .relaxed) }

  /// Releases the broker connections, and the relay's own pool if it has one.
  public func close() async {
    await producer.close()
    await admin.close()
    await ownPool?.close()
  }

  private func publishBatch() async throws -> (published: Int, full: Bool, failure: (any Error)?) {
    let schema = store.schema
    let limit = configuration.batchSize
    return try await store.pool.withTransaction(retry: .never) { tx in
      // The lock and the read in one statement (one round trip): the read runs only when the lock
      // was got, so a relay that stands by locks no rows. The LEFT JOIN keeps one row (of NULL
      // event columns) when the lock was missed or nothing waits; `locked` is the last column.
      let rows = try await tx.query(
        """
        WITH publishing AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(\(store.relayLockKey)) AS locked)
        SELECT e.seq, e.id, e.topic, e.key, e.type, e.producer, e.payload, e.headers, e.occurred_at, publishing.locked
        FROM publishing LEFT JOIN LATERAL (
          SELECT seq, id, topic, key, type, producer, payload, headers::text AS headers, occurred_at
          FROM \(identifier: schema).events WHERE publishing.locked AND published_at IS NULL ORDER BY seq LIMIT \(limit)
          FOR NO KEY UPDATE
        ) AS e ON true
        """)
      let locked = try rows[0].decode(Bool.self, at: 9)
      EventMetrics.relayLock(got: locked)
      guard locked else {
        lockMisses.add(1, ordering: .relaxed)
        if !standingBy.exchange(true, ordering: .relaxed) {
          logger.debug("another relay publishes; standing by until a sweep gets the lock")
        }
        return (0, false, nil)
      }
      if standingBy.exchange(false, ordering: .relaxed) {
        logger.debug("got the publishing lock; publishing on appends again")
      }
      if try rows[0].decode(Int64?.self, at: 0) == nil { return (0, false, nil) }
      var events: [EventRecord] = []
      events.reserveCapacity(rows.count)
      for row in rows {
        let (seq, id, topic, key, type, producer, payload, headers, occurredAt) = try row.decode(
          (Int64, UUID, String, String, String, String, Data, String, Date).self)
        events.append(
          EventRecord(
            seq: seq, id: id, topic: topic, key: key, type: type, producer: producer, payload: payload,
            headers: try EventRecord.headers(fromJSON: headers, id: id), occurredAt: occurredAt))
      }
      try await ensureTopics(Array(Set(events.map(\.topic))))
      let results = try await producer.send(try events.map { try $0.producerRecord() })
      let succeeded = results.map { if case .success = $0 { true } else { false } }
      let publishable = RelayPlan.publishable(keys: events.map(\.key), succeeded: succeeded)
      var perTopic: [String: Int] = [:]
      for index in publishable { perTopic[events[index].topic, default: 0] += 1 }
      for (topic, count) in perTopic { EventMetrics.published(topic: topic, count: count) }
      if !publishable.isEmpty {
        let seqs = "{" + publishable.map { String(events[$0].seq) }.joined(separator: ",") + "}"
        try tx.enqueue(  // with the COMMIT
          """
          UPDATE \(identifier: schema).events SET published_at = clock_timestamp()
          WHERE seq = ANY(\(seqs)::bigint[]) AND published_at IS NULL
          """)
      }
      var failure: (any Error)?
      for case .failure(let error) in results {
        logger.warning(
          "broker refused events; they stay unpublished",
          metadata: ["unpublished": "\(events.count - publishable.count)", "error": "\(error)"])
        failure = error
        break
      }
      return (publishable.count, rows.count == limit, failure)
    }
  }

  /// Sets `courier_outbox_backlog` to the unpublished events, at most once a second (the count runs
  /// over the partial index of unpublished rows).
  private func sampleBacklog() async throws {
    let now = ContinuousClock.now
    let due = lastBacklogSample.withLock { last in
      guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
      last = now
      return true
    }
    guard due else { return }
    let rows = try await store.pool.query(
      "SELECT count(*)::int8 FROM \(identifier: store.schema).events WHERE published_at IS NULL")
    EventMetrics.backlog(Int(try rows[0].decode(Int64.self, at: 0)))
  }

  /// Creates the topics this relay has not created yet (never relying on auto-creation).
  func ensureTopics(_ topics: [String]) async throws {
    let missing = createdTopics.withLock { created in topics.filter { !created.contains($0) } }
    for topic in missing {
      try await admin.createTopic(topic, partitions: configuration.partitions, ifNotExists: true)
      _ = createdTopics.withLock { $0.insert(topic) }
    }
  }

  /// Forgets which topics exist, so the next pass creates them again (after the broker was replaced).
  public func forgetTopics() {
    createdTopics.withLock { $0.removeAll() }
  }
}
