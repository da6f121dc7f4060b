import CourierTestSupport
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The operator command `courier-events`, run as the built executable against a real Postgres and
/// real Tansu brokers: what it selects is counted on the topics, what it refuses changes nothing.
@Suite("courier-events command (Postgres + Tansu)", .serialized, .sharedCluster)
struct CourierEventsCommandTests {
  /// The outcome of one run of the command.
  struct Run: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status), stdout: \(stdout.debugDescription), stderr: \(stderr.debugDescription)" }
  }

  /// Runs the built `courier-events` with `arguments` and waits for it (bounded: a hang fails).
  static func courierEvents(_ arguments: [String]) async throws -> Run {
    let executable = try ChildProcess.builtProduct("courier-events")
    let directory = NSTemporaryDirectory() + "courier-events-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let outPath = directory + "/stdout", errPath = directory + "/stderr"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["COURIER_EVENTS_DATABASE_URL"] = nil
    environment["COURIER_KAFKA_BOOTSTRAP"] = nil
    environment["COURIER_EVENT_PARTITIONS"] = nil
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    try process.run()
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(60)
    while process.isRunning {
      if clock.now > deadline {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        Issue.record("courier-events \(arguments.joined(separator: " ")) did not exit within 60 s")
        throw CancellationError()
      }
      try await Task.sleep(for: .milliseconds(10))
    }
    process.waitUntilExit()
    return Run(
      status: process.terminationStatus,
      stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
  }

  /// How many times each event id is on the given topics, read from the start until every
  /// partition is at its end (an empty poll after `atLeast` records).
  static func onTopics(_ broker: TansuBroker, _ topics: [String], atLeast: Int) async throws -> [UUID: Int] {
    let reader = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing, groupId: nil)
    var partitions: [TopicPartition: KafkaConsumer.StartOffset] = [:]
    let admin = KafkaAdmin(configuration: broker.configuration)
    for topic in topics {
      // The command's relay creates topics with its default partition count; ask the broker.
      for partition in 0..<(try await admin.partitionCount(topic)) {
        partitions[TopicPartition(topic, Int32(partition))] = .earliest
      }
    }
    await admin.close()
    try reader.assign(partitions)
    let decoder = RecordDecoder(registry: CourierContracts.events)
    var seen: [UUID: Int] = [:]
    var records = 0
    var polls = 0
    while polls < 2_000 {
      polls += 1
      let batch = try await reader.poll()
      if batch.isEmpty && records >= atLeast { break }
      for record in batch {
        seen[try decoder.decode(value: record.value).id, default: 0] += 1
        records += 1
      }
    }
    await reader.close()
    #expect(records >= atLeast, "only \(records) of \(atLeast) records on \(topics)")
    return seen
  }

  @Test("replay by id, type and time range re-publishes exactly the selection; refill fills a new broker; bad arguments change nothing")
  func replayAndRefill() async throws {
    let url = try TestDatabase.requireURL()
    _ = try ChildProcess.builtProduct("courier-events")  // fails clearly before any server starts
    let locationTopic = Courier_Events_V1_DeliveryPayloadChangedLocation.eventBinding.topic
    let userTopic = Courier_Events_V1_UserCreated.eventBinding.topic
    let topics = [locationTopic, userTopic]
    try await TansuBroker.with { broker in
      try await withStore { store in
        let base = ["--database", url, "--schema", store.schema]
        // Two days apart, so a range selects one day: 6 location events on day one, 4 user events
        // on day two, and 2 location events on day two.
        let dayOne = Date(timeIntervalSince1970: 1_800_000_000)
        let dayTwo = dayOne.addingTimeInterval(86_400)
        var locations: [UUID] = []
        var users: [UUID] = []
        for index in 0..<6 { locations.append(try await store.append(moved(index, key: "p-\(index % 2)"), occurredAt: dayOne)) }
        for index in 0..<4 {
          var created = Courier_Events_V1_UserCreated()
          created.userID = "user-\(index)"
          created.email = "u\(index)@example.com"
          users.append(try await store.append(created, occurredAt: dayTwo))
        }
        let late = [
          try await store.append(moved(6, key: "p-0"), occurredAt: dayTwo.addingTimeInterval(60)),
          try await store.append(moved(7, key: "p-1"), occurredAt: dayTwo.addingTimeInterval(120)),
        ]
        let all = locations + users + late
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: relayConfiguration())
        #expect(try await relay.publishPending() == all.count)
        var expected = Dictionary(uniqueKeysWithValues: all.map { ($0, 1) })
        #expect(try await Self.onTopics(broker, topics, atLeast: all.count) == expected)

        /// Runs the command, publishes what it marked, and checks the topics hold `expected` after.
        func replay(_ arguments: [String], selects selected: [UUID]) async throws {
          let run = try await Self.courierEvents(["replay"] + base + arguments)
          #expect(run.status == 0, "\(arguments): \(run)")
          #expect(run.stdout.contains("replaying \(selected.count) event(s)"), "\(arguments): \(run)")
          #expect(try await relay.publishPending() == selected.count, "\(arguments)")
          for id in selected { expected[id, default: 0] += 1 }
          let total = expected.values.reduce(0, +)
          #expect(try await Self.onTopics(broker, topics, atLeast: total) == expected, "\(arguments)")
        }

        try await replay(["--id", locations[2].uuidString, "--id", users[1].uuidString], selects: [locations[2], users[1]])
        try await replay(["--type", Courier_Events_V1_UserCreated.eventBinding.typeName], selects: users)
        let iso = ISO8601DateFormatter()
        try await replay(
          ["--from", iso.string(from: dayTwo.addingTimeInterval(-1)), "--to", iso.string(from: dayTwo.addingTimeInterval(3_600))],
          selects: users + late)
        try await replay(
          ["--from", iso.string(from: dayOne.addingTimeInterval(-1)), "--to", iso.string(from: dayTwo.addingTimeInterval(3_600)),
           "--type", Courier_Events_V1_DeliveryPayloadChangedLocation.eventBinding.typeName],
          selects: locations + late)

        // Bad arguments: non-zero exit, a message on stderr naming the problem, nothing marked.
        let unknown = UUID()
        let refusals: [([String], String)] = [
          (["replay"] + base + ["--id", locations[0].uuidString, "--id", unknown.uuidString], unknown.uuidString.lowercased()),
          (["replay"] + base + ["--id", "not-a-uuid"], "--id not-a-uuid is not a UUID"),
          (["replay"] + base + ["--from", "yesterday", "--to", "2027-01-01T00:00:00Z"], "--from yesterday is not an ISO 8601 date-time"),
          (["replay"] + base + ["--from", "2027-01-01T00:00:00Z"], "--from and --to go together"),
          (["replay"] + base, "select events with --id, --type, or --from and --to"),
          (["refill"] + base + ["--since", "soon"], "--since soon is not an ISO 8601 date-time"),
          (["replay", "--schema", store.schema, "--type", "x"], "give the event store's database"),
        ]
        for (arguments, message) in refusals {
          let run = try await Self.courierEvents(arguments)
          #expect(run.status != 0, "\(arguments): \(run)")
          #expect(run.stderr.contains(message), "\(arguments): \(run)")
          #expect(!run.stdout.contains("replaying") && !run.stdout.contains("refilling"), "\(arguments): \(run)")
        }
        #expect(try await store.counts().unpublished == 0, "a refused command marked events for publishing")
        #expect(try await relay.publishPending() == 0)
        #expect(try await Self.onTopics(broker, topics, atLeast: expected.values.reduce(0, +)) == expected)
        await relay.close()

        // Refill: a new, empty broker gets every stored event once, published by the command's relay.
        try await TansuBroker.with { empty in
          let refill = try await Self.courierEvents(["refill"] + base)
          #expect(refill.status == 0, "\(refill)")
          #expect(refill.stdout.contains("refilling \(all.count) event(s)"), "\(refill)")
          // A partition count that is not 1 to 1000 is refused before anything is published.
          for bad in ["0", "1001", "many"] {
            let refused = try await Self.courierEvents(["relay", "--once", "--partitions", bad, "--bootstrap", empty.bootstrap] + base)
            #expect(refused.status != 0, "\(refused)")
            #expect(refused.stderr.contains("--partitions \(bad): give a whole number of partitions from 1 to 1000"), "\(refused)")
          }
          let publish = try await Self.courierEvents(
            ["relay", "--once", "--partitions", "3", "--bootstrap", empty.bootstrap] + base)
          #expect(publish.status == 0, "\(publish)")
          #expect(publish.stdout.contains("published \(all.count) event(s)"), "\(publish)")
          let admin = KafkaAdmin(configuration: empty.configuration)
          for topic in topics { #expect(try await admin.partitionCount(topic) == 3, "\(topic)") }
          await admin.close()
          #expect(try await Self.onTopics(empty, topics, atLeast: all.count) == Dictionary(uniqueKeysWithValues: all.map { ($0, 1) }))
          let counts = try await Self.courierEvents(["counts"] + base)
          #expect(counts.stdout.contains("appended=\(all.count) unpublished=0"), "\(counts)")
        }
      }
    }
  }
}
