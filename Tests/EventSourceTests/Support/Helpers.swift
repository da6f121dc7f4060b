import CourierTestSupport
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A pool on `url` and a store in a schema of its own, migrated; closed after `body`.
func withStore<T>(
  url: String? = nil, connections: Int = 8, _ body: (EventStore) async throws -> T
) async throws -> T {
  let url = try url ?? TestDatabase.requireURL()
  let pool = PostgresPool(
    configuration: PostgresConfiguration(
      connectionString: url, applicationName: "event-source-tests",
      pool: .init(maxConnections: connections, waitTimeout: .seconds(30))))
  let schema = "es_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
  let store = EventStore(pool: pool, schema: schema, producer: "tests")
  do {
    try await store.migrate()
    try await pool.execute(
      "CREATE TABLE \(identifier: schema).side_effects (event_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    let result = try await body(store)
    await pool.close()
    return result
  } catch {
    await pool.close()
    throw error
  }
}

/// Probes `condition` until it holds. The bound only turns a hang into a failure that says what was
/// awaited; no assertion depends on timing.
func waitUntil(
  _ what: String, bound: Duration = .seconds(180), sourceLocation: SourceLocation = #_sourceLocation,
  _ condition: () async throws -> Bool
) async throws {
  let clock = ContinuousClock()
  let deadline = clock.now + bound
  var lastError: (any Error)?
  while clock.now < deadline {
    do {
      if try await condition() { return }
      lastError = nil
    } catch {
      lastError = error  // the database may be restarting
    }
    try await Task.sleep(for: .milliseconds(25))
  }
  Issue.record("gave up waiting for \(what)\(lastError.map { " (last error: \($0))" } ?? "")", sourceLocation: sourceLocation)
  throw CancellationError()
}

/// A location event for aggregate `key`, carrying `index` so that order can be checked.
func moved(_ index: Int, key: String) -> Courier_Events_V1_DeliveryPayloadChangedLocation {
  var event = Courier_Events_V1_DeliveryPayloadChangedLocation()
  event.deliveryPayloadID = key
  event.userID = "user-" + key
  event.delivererID = String(index)
  return event
}

/// Side-effect rows written by handlers: total and distinct event ids.
func sideEffects(_ store: EventStore) async throws -> (total: Int, distinct: Int) {
  let row = try await store.pool.query(
    "SELECT count(*), count(DISTINCT event_id) FROM \(identifier: store.schema).side_effects")[0]
  let (total, distinct) = try row.decode((Int, Int).self)
  return (total, distinct)
}

/// The standard handler of these tests: one side-effect row per handled event, in the transaction.
func recordingHandler(_ store: EventStore) -> EventConsumer.Handler {
  let schema = store.schema
  return { consumed, tx in
    try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(consumed.id))")
  }
}

func consumerConfiguration(group: String, maxAttempts: Int = 5) -> EventConsumer.Configuration {
  var kafka = KafkaConsumerConfiguration.testing
  kafka.fetchMaxWait = .milliseconds(50)
  return .init(
    group: group, policy: DeliveryPolicy(maxAttempts: maxAttempts, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)),
    kafkaConsumer: kafka, partitions: 4, infrastructureBackoff: .milliseconds(50))
}

func relayConfiguration() -> EventRelay.Configuration {
  .init(batchSize: 200, sweepInterval: .milliseconds(200), partitions: 4, retryBackoff: .milliseconds(50),
        topics: CourierContracts.events.bindings.map(\.topic))
}

/// Runs `body` with tasks running the given loops; cancels and awaits them afterwards. A loop
/// that has not stopped 30 s after its cancellation fails the test (and is left behind) instead
/// of hanging the whole run.
func whileRunning<T>(
  _ loops: [@Sendable () async throws -> Void], sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> T
) async throws -> T {
  let tasks = loops.map { loop in Task { try await loop() } }
  let result: T
  do {
    result = try await body()
  } catch {
    await stop(tasks, sourceLocation: sourceLocation)
    throw error
  }
  await stop(tasks, sourceLocation: sourceLocation)
  return result
}

/// Cancels the loops' tasks and awaits them; one that has not stopped 30 s after its cancellation
/// fails the test (and is left behind).
func stop(_ tasks: [Task<Void, any Error>], sourceLocation: SourceLocation = #_sourceLocation) async {
  for task in tasks { task.cancel() }
  for (index, task) in tasks.enumerated() {
    let stopped = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
      let answer = FirstAnswer(continuation)
      let timer = Task {
        guard (try? await Task.sleep(for: .seconds(30))) != nil else { return }
        answer.give(false)
      }
      Task {
        _ = try? await task.value
        timer.cancel()
        answer.give(true)
      }
    }
    if !stopped {
      Issue.record("background loop \(index + 1) of \(tasks.count) did not stop within 30 s of its cancellation", sourceLocation: sourceLocation)
    }
  }
}

/// Resumes a continuation with the first answer given; later ones are dropped.
private final class FirstAnswer: Sendable {
  private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

  init(_ continuation: CheckedContinuation<Bool, Never>) {
    self.continuation = Mutex(continuation)
  }

  func give(_ value: Bool) {
    continuation.withLock { $0.take() }?.resume(returning: value)
  }
}

/// A child process started with posix_spawn, stopped by its PID only.
final class ChildProcess: @unchecked Sendable {
  let pid: pid_t
  let logPath: String
  private var reaped = false

  private init(pid: pid_t, logPath: String) {
    self.pid = pid
    self.logPath = logPath
  }

  static func start(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
    let logPath = NSTemporaryDirectory() + "/courier-child-\(UUID().uuidString.prefix(8)).log"
    let pid = try Program.spawn(executable, arguments, input: "/dev/null", output: logPath, errors: nil)
    return ChildProcess(pid: pid, logPath: logPath)
  }

  /// SIGKILL, then reap it.
  func kill9() {
    guard !reaped else { return }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    reaped = true
  }

  var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  deinit {
    kill9()
    try? FileManager.default.removeItem(atPath: logPath)
  }

  /// An executable built next to the test bundle (`.build/<triple>/debug/<name>`).
  static func builtProduct(_ name: String) throws -> String {
    let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    var candidates = [bundle.appendingPathComponent(name).path]
    candidates.append(bundle.deletingLastPathComponent().appendingPathComponent(name).path)
    candidates.append(bundle.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(name).path)
    if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
    throw TestCluster.StartError(description: "\(name) is not built (looked at \(candidates.joined(separator: ", "))): run swift build --build-tests")
  }
}
