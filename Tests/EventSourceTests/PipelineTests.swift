import CourierTestSupport
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres
import Synchronization
import Testing

/// The pipeline on a real Postgres and a real Tansu broker: append -> relay -> Kafka -> consumer.
@Suite("Event source pipeline (Postgres + Tansu)", .serialized, .sharedCluster)
struct PipelineTests {
  @Test("events appended in the caller's transaction are published in order per key and processed once")
  func appendRelayConsume() async throws {
    try await TansuBroker.with { broker in
      try await withStore { store in
        let schema = store.schema
        try await store.pool.execute(
          "CREATE TABLE \(identifier: schema).order_log (n bigint GENERATED ALWAYS AS IDENTITY, key text, idx int)")
        // A rolled-back transaction leaves no event behind.
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
          try await store.pool.withTransaction { tx in
            try await store.append(moved(0, key: "rolled-back"), in: tx)
            throw Abandon()
          }
        }
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: relayConfiguration())
        let consumer = EventConsumer(
          store: store, kafka: broker.configuration, events: Courier_Events_V1_Events_Event.self,
          configuration: consumerConfiguration(group: "pipeline")
        ) { event, consumed, tx in
          guard case .deliveryPayloadChangedLocation(let location) = event else { return }
          #expect(consumed.attempt == 1)
          try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(consumed.id))")
          try await tx.execute(
            "INSERT INTO \(identifier: schema).order_log (key, idx) VALUES (\(location.deliveryPayloadID), \(Int32(location.delivererID)!))")
        }
        let total = 300
        try await whileRunning([{ try await relay.run() }, { try await consumer.run() }]) {
          for index in 0..<total {
            try await store.pool.withTransaction { tx in
              try await store.append(moved(index, key: "payload-\(index % 10)"), in: tx, headers: ["request-id": "r-\(index)"])
            }
          }
          try await waitUntil("\(total) events processed") { try await store.processedCount(consumer: "pipeline") == total }
        }
        await relay.close()
        let counts = try await store.counts()
        #expect(counts == EventStoreCounts(appended: total, unpublished: 0, processed: total, deadLetters: 0))
        let effects = try await sideEffects(store)
        #expect(effects.total == total && effects.distinct == total)
        let rows = try await store.pool.query("SELECT key, idx FROM \(identifier: schema).order_log ORDER BY n")
        var last: [String: Int32] = [:]
        var outOfOrder = 0
        for row in rows {
          let (key, idx) = try row.decode((String, Int32).self)
          if let previous = last[key], previous >= idx { outOfOrder += 1 }
          last[key] = idx
        }
        #expect(outOfOrder == 0)
      }
    }
  }

  @Test("two relays at once publish every event exactly once and keep each key in order")
  func concurrentRelays() async throws {
    try await TansuBroker.with { broker in
      try await withStore { store in
        let configuration = EventRelay.Configuration(
          batchSize: 25, sweepInterval: .milliseconds(100), partitions: 4, retryBackoff: .milliseconds(20),
          topics: CourierContracts.events.bindings.map(\.topic))
        let first = EventRelay(store: store, kafka: broker.configuration, configuration: configuration)
        let second = EventRelay(store: store, kafka: broker.configuration, configuration: configuration)
        let total = 400
        try await whileRunning([{ try await first.run() }, { try await second.run() }]) {
          try await appendInLanes(store, total: total, lanes: 4)
          try await waitUntil("every event published") { try await store.counts().unpublished == 0 }
        }
        await first.close()
        await second.close()

        // Read the whole topic back.
        let (seen, outOfOrder) = try await readTopic(broker, total: total)
        #expect(seen.count == total)
        #expect(seen.values.filter { $0 > 1 }.count == 0)
        #expect(outOfOrder == 0)
      }
    }
  }

  @Test("a relay that finds the publishing lock taken stands by until its sweep, and takes over when the other stops")
  func standingBy() async throws {
    try await TansuBroker.with { broker in
      try await withStore { store in
        var configuration = relayConfiguration()
        configuration.sweepInterval = .milliseconds(400)
        let relays = [
          EventRelay(store: store, kafka: broker.configuration, configuration: configuration),
          EventRelay(store: store, kafka: broker.configuration, configuration: configuration),
        ]
        let tasks = relays.map { relay in Task { try await relay.run() } }
        defer { for task in tasks { task.cancel() } }
        try await store.append(moved(0, key: "first"))
        try await waitUntil("the first event published") { try await store.counts().unpublished == 0 }

        // While something else holds the lock, an append's NOTIFY finds it taken: both stand by,
        // and the event waits for a sweep, which publishes it once the lock is free.
        try await store.pool.withTransaction { tx in
          try await tx.execute("SELECT pg_advisory_xact_lock(\(store.relayLockKey))")
          try await store.append(moved(1, key: "held"))
          try await waitUntil("both relays standing by") { relays.allSatisfy(\.isStandingBy) }
          #expect(try await store.counts().unpublished == 1)
        }
        try await waitUntil("the held event published by a sweep") { try await store.counts().unpublished == 0 }

        // Appends one by one: a relay standing by tries the lock only at its sweeps, not at each
        // append's NOTIFY. Per sweep interval that is at most a miss at each relay's sweep and one
        // when the relay that got the lock there meets the other at the next append.
        let missesBefore = relays.map(\.lockMissCount).reduce(0, +)
        let started = ContinuousClock.now
        let total = 200
        for index in 0..<total { try await store.append(moved(index, key: "payload-\(index % 5)")) }
        try await waitUntil("\(total) events published") { try await store.counts().unpublished == 0 }
        let sweeps = Int((ContinuousClock.now - started) / configuration.sweepInterval) + 1
        let misses = relays.map(\.lockMissCount).reduce(0, +) - missesBefore
        #expect(misses <= 4 * (sweeps + 1), "\(misses) lock misses over \(total) appends and \(sweeps) sweeps")

        // The publishing relay stops: the one standing by takes over at its next sweep.
        guard let active = relays.firstIndex(where: { !$0.isStandingBy }) else {
          Issue.record("no relay is publishing")
          return
        }
        await stop([tasks[active]])
        let other = relays[1 - active]
        for index in 0..<20 { try await store.append(moved(index, key: "after-\(index % 3)")) }
        try await waitUntil("the events appended after the stop published") { try await store.counts().unpublished == 0 }
        #expect(!other.isStandingBy)
        await stop([tasks[1 - active]])
        for relay in relays { await relay.close() }

        let (seen, outOfOrder) = try await readTopic(broker, total: total + 22)
        #expect(seen.count == total + 22)
        #expect(seen.values.filter { $0 > 1 }.isEmpty)
        #expect(outOfOrder == 0)
      }
    }
  }

  @Test("a relay spaces its passes: the appends of one spacing go out in one pass")
  func passSpacing() async throws {
    try await TansuBroker.with { broker in
      try await withStore { store in
        var configuration = relayConfiguration()
        configuration.sweepInterval = .seconds(3600)  // only the appends' NOTIFYs wake it
        configuration.passSpacing = .seconds(1)
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: configuration)
        // Each pass marks its events in one transaction: the passes are the distinct xmin values.
        let passes: PostgresQuery = "SELECT count(DISTINCT xmin::text)::int8 FROM \(identifier: store.schema).events"
        let total = 12
        try await whileRunning([{ try await relay.run() }]) {
          // An append's NOTIFY starts a pass (no sweep comes within the test).
          try await store.append(moved(0, key: "lone"))
          try await waitUntil("the lone event published") { try await store.counts().unpublished == 0 }
          // Appends 100 ms apart, each its own transaction and NOTIFY: without the spacing each
          // would start a pass of its own; with it, those of each second share one.
          let started = ContinuousClock.now
          for index in 0..<total {
            try await store.append(moved(index, key: "payload-\(index % 4)"))
            try await Task.sleep(for: .milliseconds(100))
          }
          let appending = ContinuousClock.now - started
          try await waitUntil("\(total) events published") { try await store.counts().unpublished == 0 }
          let count = try await store.pool.query(passes)[0].decode(Int.self, at: 0)
          // The lone event's pass, then one per started second of appending, plus one for the
          // appends that came during the last pass.
          let bound = 2 + Int(appending / configuration.passSpacing) + 1
          #expect(count >= 2 && count <= bound, "\(count) passes for \(total + 1) events appended over \(appending)")
        }
        await relay.close()
        let (seen, outOfOrder) = try await readTopic(broker, total: total + 1)
        #expect(seen.count == total + 1 && outOfOrder == 0)
      }
    }
  }

  @Test("a failing handler is retried with backoff, dead-lettered after N attempts, and replayed")
  func retriesDeadLetterAndReplay() async throws {
    try await TansuBroker.with { broker in
      try await withStore { store in
        let schema = store.schema
        let broken = Mutex(true)
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: relayConfiguration())
        let consumer = EventConsumer(
          store: store, kafka: broker.configuration, registry: CourierContracts.events,
          configuration: consumerConfiguration(group: "retries", maxAttempts: 3)
        ) { consumed, tx in
          let event = try consumed.event(as: Courier_Events_V1_DeliveryPayloadChangedLocation.self)
          try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(consumed.id))")
          struct MailServerDown: Error, CustomStringConvertible { var description: String { "mail server down" } }
          if event.delivererID == "poison" && broken.withLock({ $0 }) { throw MailServerDown() }
        }
        var poisonID: UUID?
        try await whileRunning([{ try await relay.run() }, { try await consumer.run() }]) {
          for index in 0..<20 { try await store.append(moved(index, key: "payload-\(index % 3)")) }
          var poison = moved(0, key: "payload-poison")
          poison.delivererID = "poison"
          poisonID = try await store.append(poison)
          try await waitUntil("20 processed and 1 dead letter") {
            let processed = try await store.processedCount(consumer: "retries")
            let dead = try await store.counts().deadLetters
            return processed == 20 && dead == 1
          }
          let letters = try await store.deadLetters(consumer: "retries")
          #expect(letters.count == 1)
          #expect(letters.first?.eventID == poisonID)
          #expect(letters.first?.error == "mail server down")
          let state = try await store.pool.query(
            "SELECT status, attempts, last_error FROM \(identifier: schema).deliveries WHERE event_id = \(poisonID!)")
          let (status, attempts, lastError) = try state[0].decode((String, Int32, String?).self)
          #expect(status == "dead" && attempts == 3 && lastError == "mail server down")

          broken.withLock { $0 = false }
          #expect(try await store.replay(.ids([poisonID!]), consumer: "retries") == 1)
          try await waitUntil("the replayed event processed") { try await store.processedCount(consumer: "retries") == 21 }
        }
        await relay.close()
        // The failed attempts rolled back their side effects: one row per event.
        let effects = try await sideEffects(store)
        #expect(effects.total == 21 && effects.distinct == 21)
      }
    }
  }

  @Test("a relay with a connection of its own publishes while the service's pool is all held; close() ends it")
  func relayWithOwnConnection() async throws {
    try await TansuBroker.with { broker in
      let poolSize = 2
      try await withStore(connections: poolSize) { store in
        let total = 50
        for index in 0..<total { try await store.append(moved(index, key: "payload-\(index % 5)")) }
        // Another pool looks on, since the store's pool is about to be fully held.
        let observer = PostgresPool(configuration: PostgresConfiguration(
          connectionString: try TestDatabase.requireURL(), applicationName: "observer",
          pool: .init(maxConnections: 1, waitTimeout: .seconds(30))))
        let unpublished: PostgresQuery = "SELECT count(*)::int8 FROM \(identifier: store.schema).events WHERE published_at IS NULL"
        let relayConnections: PostgresQuery = "SELECT count(*)::int8 FROM pg_stat_activity WHERE application_name = 'own-relay'"
        // Requests or handlers holding every connection of the service's pool until released.
        let gates = (0..<poolSize).map { _ in AsyncStream.makeStream(of: Void.self) }
        let (held, holding) = AsyncStream.makeStream(of: Void.self)
        let holders = gates.map { gate in
          Task {
            try await store.pool.withTransaction { _ in
              holding.yield()
              for await _ in gate.stream { break }
            }
          }
        }
        var heldIterator = held.makeAsyncIterator()
        for _ in 0..<poolSize { _ = await heldIterator.next() }

        let relay = EventRelay.withOwnConnection(
          store: store, applicationName: "own-relay", kafka: broker.configuration, configuration: relayConfiguration())
        try await whileRunning([{ try await relay.run() }]) {
          try await waitUntil("every event published with the pool held") {
            try await observer.query(unpublished)[0].decode(Int.self, at: 0) == 0
          }
          // The pool's one connection and the one the relay listens for appends on.
          let open = try await observer.query(relayConnections)[0].decode(Int.self, at: 0)
          #expect(open == 2, "\(open) connections named own-relay")
        }
        for gate in gates { gate.continuation.finish() }
        for holder in holders { try await holder.value }
        await relay.close()
        try await waitUntil("the relay's own connections closed") {
          try await observer.query(relayConnections)[0].decode(Int.self, at: 0) == 0
        }
        await observer.close()
      }
    }
  }

  @Test("operator selections that make no sense are refused")
  func badSelections() async throws {
    try await withStore { store in
      await #expect(throws: EventSourceError.invalidSelection("no event id given")) { try await store.replay(.ids([])) }
      await #expect(throws: EventSourceError.invalidSelection("the event type is empty")) { try await store.replay(.type("")) }
      let now = Date()
      await #expect(throws: EventSourceError.self) { try await store.replay(.occurred(from: now, to: now, type: nil)) }
      var created = Courier_Events_V1_UserCreated()
      created.userID = "u-1"
      let id = try await store.append(created, occurredAt: now)
      #expect(try await store.replay(.type("courier.events.v1.UserCreated")) == 1)
      #expect(try await store.replay(.occurred(from: now.addingTimeInterval(-1), to: now.addingTimeInterval(1), type: nil)) == 1)
      #expect(try await store.replay(.ids([id, UUID()])) == 1)
      #expect(try await store.refill() == 0)  // nothing was published yet
    }
  }
}

/// Appends `total` location events from `lanes` concurrent tasks; keys are per lane, so each key's
/// append order is its index order.
func appendInLanes(_ store: EventStore, total: Int, lanes: Int) async throws {
  try await withThrowingTaskGroup(of: Void.self) { group in
    for lane in 0..<lanes {
      group.addTask {
        for index in stride(from: lane, to: total, by: lanes) {
          try await store.append(moved(index, key: "payload-\(lane)-\(index % 2)"))
        }
      }
    }
    try await group.waitForAll()
  }
}

/// Reads the location topic from the start until `total` distinct events and then an empty poll
/// were seen: how often each event is on the topic, and how many times a key went backwards.
func readTopic(_ broker: TansuBroker, total: Int) async throws -> (seen: [UUID: Int], outOfOrder: Int) {
  let topic = Courier_Events_V1_DeliveryPayloadChangedLocation.eventBinding.topic
  let reader = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing, groupId: nil)
  let admin = KafkaAdmin(configuration: broker.configuration)
  let count = try await admin.partitionCount(topic)
  await admin.close()
  try reader.assign(Dictionary(uniqueKeysWithValues: (0..<count).map { (TopicPartition(topic, Int32($0)), KafkaConsumer.StartOffset.earliest) }))
  let decoder = RecordDecoder(registry: CourierContracts.events)
  var seen: [UUID: Int] = [:]
  var lastIndex: [String: Int] = [:]
  var outOfOrder = 0
  var polls = 0
  while polls < 10_000 {
    polls += 1
    let records = try await reader.poll()
    if records.isEmpty && seen.count >= total { break }
    for record in records {
      let consumed = try decoder.decode(value: record.value)
      seen[consumed.id, default: 0] += 1
      let index = Int(try consumed.event(as: Courier_Events_V1_DeliveryPayloadChangedLocation.self).delivererID)!
      if let previous = lastIndex[consumed.key], previous >= index { outOfOrder += 1 }
      lastIndex[consumed.key] = index
    }
  }
  await reader.close()
  return (seen, outOfOrder)
}
