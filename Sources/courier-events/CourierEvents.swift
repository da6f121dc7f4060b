import ArgumentParser
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres

/// Operator commands of the event source. Each subcommand is a plain `AsyncParsableCommand`, so the
/// `courier` CLI can mount them under `courier events`.
@main
struct CourierEvents: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "courier-events",
    abstract: "Operate Courier's event store: migrate it, run a relay, replay events, refill a broker.",
    subcommands: [Migrate.self, Relay.self, Replay.self, Refill.self, DeadLetters.self, Counts.self])
}

struct StoreOptions: ParsableArguments {
  @Option(help: "Postgres connection URL of the event store (or COURIER_EVENTS_DATABASE_URL).")
  var database: String?

  @Option(help: "Schema of the event store.")
  var schema = "event_source"

  func store() throws -> EventStore {
    guard let url = database ?? ProcessInfo.processInfo.environment["COURIER_EVENTS_DATABASE_URL"], !url.isEmpty else {
      throw ValidationError("give the event store's database with --database or COURIER_EVENTS_DATABASE_URL")
    }
    let pool = PostgresPool(
      configuration: PostgresConfiguration(
        connectionString: url, applicationName: "courier-events", pool: .init(maxConnections: 4, waitTimeout: .seconds(10))))
    return EventStore(pool: pool, schema: schema, producer: "courier-events")
  }
}

struct BrokerOptions: ParsableArguments {
  @Option(help: "Kafka bootstrap servers, host:port[,host:port] (or COURIER_KAFKA_BOOTSTRAP).")
  var bootstrap: String?

  func kafka() throws -> KafkaConfiguration {
    guard let value = bootstrap ?? ProcessInfo.processInfo.environment["COURIER_KAFKA_BOOTSTRAP"], !value.isEmpty else {
      throw ValidationError("give the Kafka brokers with --bootstrap or COURIER_KAFKA_BOOTSTRAP")
    }
    do {
      return try KafkaConfiguration(bootstrap: value)
    } catch {
      throw ValidationError("--bootstrap \(value): \(error)")
    }
  }
}

struct Migrate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Create or update the event store's tables.")
  @OptionGroup var store: StoreOptions

  func run() async throws {
    let store = try store.store()
    let applied = try await store.migrate()
    await store.pool.close()
    print(applied.isEmpty ? "event store is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
  }
}

struct Relay: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Publish unpublished events to Kafka until interrupted (or once, with --once).")
  @OptionGroup var store: StoreOptions
  @OptionGroup var broker: BrokerOptions
  @Flag(help: "Publish what is pending, then exit.")
  var once = false
  @Option(help: "Partitions of an event topic this relay creates, \(EventRelay.partitionCounts.lowerBound) to \(EventRelay.partitionCounts.upperBound) (or COURIER_EVENT_PARTITIONS; default \(EventRelay.defaultPartitions)). Existing topics keep theirs.")
  var partitions: String?

  /// The partition count from `--partitions`, else `COURIER_EVENT_PARTITIONS`, else the default:
  /// a refill into an empty broker recreates the topics as the services would.
  func partitionCount() throws -> Int32 {
    let (value, source) = partitions.map { ($0, "--partitions") }
      ?? ProcessInfo.processInfo.environment["COURIER_EVENT_PARTITIONS"].map { ($0, "COURIER_EVENT_PARTITIONS") }
      ?? (String(EventRelay.defaultPartitions), "default")
    let counts = EventRelay.partitionCounts
    guard let count = Int(value), counts.contains(count) else {
      throw ValidationError(
        "\(source) \(value): give a whole number of partitions from \(counts.lowerBound) to \(counts.upperBound)")
    }
    return Int32(count)
  }

  func run() async throws {
    let partitions = try partitionCount()
    let store = try store.store()
    let relay = EventRelay(
      store: store, kafka: try broker.kafka(),
      configuration: .init(partitions: partitions, topics: CourierContracts.events.bindings.map(\.topic)))
    if once {
      let published = try await relay.publishPending()
      print("published \(published) event(s)")
    } else {
      try await relay.run()
    }
    await relay.close()
    await store.pool.close()
  }
}

struct Replay: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Publish events again and let consumers retry the ones they dead-lettered.",
    discussion: "Select by --id (repeatable), by --type, or by --from/--to (ISO 8601, optionally with --type).")
  @OptionGroup var store: StoreOptions
  @Option(name: .customLong("id"), help: "An event id (repeatable).")
  var ids: [String] = []
  @Option(help: "A full event type name, such as courier.events.v1.UserCreated.")
  var type: String?
  @Option(help: "Start of the occurred-at range (inclusive), ISO 8601.")
  var from: String?
  @Option(help: "End of the occurred-at range (exclusive), ISO 8601.")
  var to: String?
  @Option(help: "Clear dead-letter state only for this consumer group.")
  var consumer: String?

  func selection() throws -> EventSelection {
    if !ids.isEmpty {
      guard type == nil, from == nil, to == nil else { throw ValidationError("--id cannot be combined with --type, --from or --to") }
      return .ids(try ids.map { text in
        guard let id = UUID(uuidString: text) else { throw ValidationError("--id \(text) is not a UUID") }
        return id
      })
    }
    if from != nil || to != nil {
      guard let from, let to else { throw ValidationError("--from and --to go together") }
      return .occurred(from: try Self.date(from, "--from"), to: try Self.date(to, "--to"), type: type)
    }
    if let type { return .type(type) }
    throw ValidationError("select events with --id, --type, or --from and --to")
  }

  static func date(_ text: String, _ option: String) throws -> Date {
    let formatter = ISO8601DateFormatter()
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    throw ValidationError("\(option) \(text) is not an ISO 8601 date-time such as 2026-11-27T12:00:00Z")
  }

  func run() async throws {
    let selection = try selection()
    let store = try store.store()
    let count: Int
    do {
      count = try await store.replay(selection, consumer: consumer, requireAll: true)
    } catch let error as EventSourceError {
      await store.pool.close()
      throw ValidationError("\(error); nothing was replayed")
    }
    await store.pool.close()
    print("replaying \(count) event(s) (\(selection))")
  }
}

struct Refill: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Refill a broker that lost its data: mark every stored event for publishing again.")
  @OptionGroup var store: StoreOptions
  @Option(help: "Only events appended at or after this time (ISO 8601).")
  var since: String?

  func run() async throws {
    let since = try since.map { try Replay.date($0, "--since") }
    let store = try store.store()
    let count = try await store.refill(since: since)
    await store.pool.close()
    print("refilling \(count) event(s); running relays publish them")
  }
}

struct DeadLetters: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "dead-letters", abstract: "List dead-lettered events, newest first.")
  @OptionGroup var store: StoreOptions
  @Option(help: "Only this consumer group.")
  var consumer: String?
  @Option(help: "At most this many.")
  var limit = 50

  func run() async throws {
    let store = try store.store()
    let letters = try await store.deadLetters(consumer: consumer, limit: limit)
    await store.pool.close()
    for letter in letters {
      print(
        "\(letter.deadAt) \(letter.consumer) \(letter.topic)/\(letter.partition)@\(letter.offset) "
          + "\(letter.eventID?.uuidString.lowercased() ?? "-") \(letter.eventType ?? "-"): \(letter.error)")
    }
  }
}

struct Counts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print how many events are appended, unpublished, processed, dead.")
  @OptionGroup var store: StoreOptions

  func run() async throws {
    let store = try store.store()
    let counts = try await store.counts()
    await store.pool.close()
    print("appended=\(counts.appended) unpublished=\(counts.unpublished) processed=\(counts.processed) dead_letters=\(counts.deadLetters)")
  }
}
