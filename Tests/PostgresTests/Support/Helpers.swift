import CourierTestSupport
import Foundation
import Postgres

/// Creates a pool on the test server, runs `body`, closes the pool.
func withPool<T>(
  maxConnections: Int = 4, waitTimeout: Duration = .seconds(10), url: String? = nil,
  applicationName: String = "courier-tests",
  _ body: (PostgresPool) async throws -> T
) async throws -> T {
  let url = try url ?? TestDatabase.requireURL()
  let pool = PostgresPool(
    configuration: PostgresConfiguration(
      connectionString: url, applicationName: applicationName, pool: .init(maxConnections: maxConnections, waitTimeout: waitTimeout)))
  do {
    let result = try await body(pool)
    await pool.close()
    return result
  } catch {
    await pool.close()
    throw error
  }
}

/// A unique, valid identifier for a table or schema of one test.
func uniqueName(_ prefix: String) -> String {
  prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
}

/// Lets `parties` tasks wait for each other once.
actor Barrier {
  private let parties: Int
  private var arrived = 0
  private var waiting: [CheckedContinuation<Void, Never>] = []

  init(parties: Int) { self.parties = parties }

  func arriveAndWait() async {
    arrived += 1
    if arrived >= parties {
      for continuation in waiting { continuation.resume() }
      waiting = []
      return
    }
    await withCheckedContinuation { waiting.append($0) }
  }
}

actor Counter {
  private(set) var value = 0
  func increment() -> Int {
    value += 1
    return value
  }
}
