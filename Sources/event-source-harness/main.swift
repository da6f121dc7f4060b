// Drives the event source outside the test process:
//   event-source-harness consume --database URL --bootstrap HOST:PORT --schema S --group G [--delay-ms N]
//     runs a consumer group whose handler writes one row per event into S.side_effects, until killed
//     (the fault tests kill it with SIGKILL mid-batch).
//   event-source-harness bench --database URL --bootstrap HOST:PORT [--events N] [--rate R] [--seconds S]
//     append -> relay -> Kafka -> consumer -> processed: sustained events/s, then p99 latency at R/s.
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres

struct Arguments {
  var values: [String: String] = [:]
  let command: String

  init(_ arguments: [String]) throws {
    guard let command = arguments.first else { throw HarnessError("usage: event-source-harness consume|bench --database URL --bootstrap HOST:PORT ...") }
    self.command = command
    var rest = arguments.dropFirst()
    while let name = rest.popFirst() {
      guard name.hasPrefix("--"), let value = rest.popFirst() else { throw HarnessError("expected --name value, got \(name)") }
      values[String(name.dropFirst(2))] = value
    }
  }

  func string(_ name: String, default fallback: String? = nil) throws -> String {
    guard let value = values[name] ?? fallback else { throw HarnessError("--\(name) is required") }
    return value
  }

  func int(_ name: String, default fallback: Int) throws -> Int {
    guard let text = values[name] else { return fallback }
    guard let value = Int(text), value >= 0 else { throw HarnessError("--\(name) \(text) is not a non-negative integer") }
    return value
  }
}

struct HarnessError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

func makePool(_ url: String, connections: Int) -> PostgresPool {
  PostgresPool(
    configuration: PostgresConfiguration(
      connectionString: url, applicationName: "event-source-harness",
      pool: .init(maxConnections: connections, waitTimeout: .seconds(30))))
}

func sideEffectsTable(_ store: EventStore) async throws {
  try await store.pool.execute(
    "CREATE TABLE IF NOT EXISTS \(identifier: store.schema).side_effects (event_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
}

func consumer(_ store: EventStore, kafka: KafkaConfiguration, group: String, delay: Duration, testing: Bool) -> EventConsumer {
  let schema = store.schema
  return EventConsumer(
    store: store, kafka: kafka, events: Courier_Events_V1_Events_Event.self,
    configuration: .init(group: group, kafkaConsumer: testing ? .testing : .defaults)
  ) { _, consumed, tx in
    if delay > .zero { try await Task.sleep(for: delay) }
    try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(consumed.id))")
  }
}

func runConsume(_ arguments: Arguments) async throws {
  let pool = makePool(try arguments.string("database"), connections: 6)
  let store = EventStore(pool: pool, schema: try arguments.string("schema"), producer: "harness")
  try await store.migrate()
  try await sideEffectsTable(store)
  let kafka = try KafkaConfiguration(bootstrap: try arguments.string("bootstrap"))
  let delay = Duration.milliseconds(try arguments.int("delay-ms", default: 0))
  FileHandle.standardError.write(Data("consuming\n".utf8))
  try await consumer(store, kafka: kafka, group: try arguments.string("group"), delay: delay, testing: true).run()
}

func event(_ index: Int, keys: Int) -> Courier_Events_V1_DeliveryPayloadChangedLocation {
  var moved = Courier_Events_V1_DeliveryPayloadChangedLocation()
  moved.deliveryPayloadID = "payload-\(index % keys)"
  moved.userID = "user-\(index % keys)"
  moved.delivererID = "deliverer-1"
  moved.location.accuracyMeters = Double(index % 100)
  return moved
}

func waitProcessed(_ store: EventStore, group: String, atLeast target: Int) async throws {
  while try await store.processedCount(consumer: group) < target {
    try await Task.sleep(for: .milliseconds(20))
  }
}

func runBench(_ arguments: Arguments) async throws {
  let url = try arguments.string("database")
  let total = try arguments.int("events", default: 20_000)
  let rate = try arguments.int("rate", default: 1000)
  let seconds = try arguments.int("seconds", default: 10)
  let pool = makePool(url, connections: 12)
  let schema = "bench_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased()
  let store = EventStore(pool: pool, schema: schema, producer: "bench")
  try await store.migrate()
  try await sideEffectsTable(store)
  let kafka = try KafkaConfiguration(bootstrap: try arguments.string("bootstrap"))
  let relay = EventRelay(store: store, kafka: kafka, configuration: .init(topics: CourierContracts.events.bindings.map(\.topic)))
  var consumerSettings = KafkaConsumerConfiguration.defaults
  consumerSettings.fetchMaxWait = .milliseconds(20)
  let group = "bench"
  let runner = EventConsumer(
    store: store, kafka: kafka, events: Courier_Events_V1_Events_Event.self,
    configuration: .init(group: group, kafkaConsumer: consumerSettings)
  ) { _, consumed, tx in
    try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(consumed.id))")
  }
  let relayTask = Task { try await relay.run() }
  let consumerTask = Task { try await runner.run() }

  // Warm-up: the group has joined and the pipeline delivers.
  try await store.append(event(0, keys: 1))
  try await waitProcessed(store, group: group, atLeast: 1)

  // 1. Sustained throughput: appenders as fast as they go (25 events per transaction).
  let appenders = 8
  let perTransaction = 25
  let clock = ContinuousClock()
  let started = clock.now
  try await withThrowingTaskGroup(of: Void.self) { tasks in
    for appender in 0..<appenders {
      tasks.addTask {
        var index = appender
        while index < total {
          try await pool.withTransaction { tx in
            for _ in 0..<perTransaction where index < total {
              try await store.append(event(index, keys: 500), in: tx)
              index += appenders
            }
          }
        }
      }
    }
    try await tasks.waitForAll()
  }
  let appended = clock.now - started
  try await waitProcessed(store, group: group, atLeast: total + 1)
  let elapsed = clock.now - started
  let perSecond = Double(total) / elapsed.seconds
  print(String(format: "event pipeline throughput: %d events appended in %.2f s, all processed in %.2f s: %.0f events/s (goal >= 5000)", total, appended.seconds, elapsed.seconds, perSecond))

  // 2. Latency at a fixed rate: one event per transaction, paced; commit-to-processed from the store.
  let latencyStart = Date()
  let count = rate * seconds
  let paceStart = clock.now
  try await withThrowingTaskGroup(of: Void.self) { tasks in
    let lanes = 8
    for lane in 0..<lanes {
      tasks.addTask {
        var index = lane
        while index < count {
          let due = paceStart + .nanoseconds(Int64(index) * 1_000_000_000 / Int64(rate))
          if due > clock.now { try await Task.sleep(until: due, clock: clock) }
          try await store.append(event(index, keys: 500))
          index += lanes
        }
      }
    }
    try await tasks.waitForAll()
  }
  let offered = Double(count) / (clock.now - paceStart).seconds
  try await waitProcessed(store, group: group, atLeast: total + 1 + count)
  let row = try await pool.query(
    """
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - appended_at)),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - appended_at)),
           max(extract(epoch FROM processed_at - appended_at))::float8
    FROM \(identifier: schema).events WHERE appended_at >= \(latencyStart)
    """)[0]
  let (p50, p99, worst) = try row.decode((Double, Double, Double).self)
  print(String(format: "event pipeline latency at %.0f events/s for %d s: commit-to-processed p50 %.1f ms, p99 %.1f ms (goal <= 50), max %.1f ms", offered, seconds, p50 * 1000, p99 * 1000, worst * 1000))

  relayTask.cancel()
  consumerTask.cancel()
  _ = try? await relayTask.value
  _ = try? await consumerTask.value
  await relay.close()
  try await pool.execute("DROP SCHEMA \(identifier: schema) CASCADE")
  await pool.close()
}

extension Duration {
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

do {
  let arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
  switch arguments.command {
  case "consume": try await runConsume(arguments)
  case "bench": try await runBench(arguments)
  default: throw HarnessError("unknown command \(arguments.command): use consume or bench")
  }
} catch {
  FileHandle.standardError.write(Data("event-source-harness: \(error)\n".utf8))
  exit(1)
}
