import CourierTestSupport
import Foundation
import Postgres
import Testing

/// Restarts its own server, so it never disturbs the shared one.
@Suite("Server restart")
struct RestartTests {
  @Test func poolSurvivesARestartAndTheInFlightStatementFailsRetriably() async throws {
    let cluster = try TestCluster.start()
    defer { cluster.stop() }
    try await withPool(maxConnections: 3, url: cluster.url) { pool in
      // Open three connections so that idle ones are broken by the restart too.
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<3 { group.addTask { try await pool.query("SELECT pg_sleep(0.05)") } }
        try await group.waitForAll()
      }
      let notifications = try await pool.listen(to: "after_restart")

      let inFlight = Task { try await pool.query("SELECT pg_sleep(600)") }
      // Wait until the statement is running on the server (bounded probe, not a timed assertion).
      var running = false
      for _ in 0..<1000 where !running {
        running = try await pool.query(
          "SELECT count(*) FROM pg_stat_activity WHERE wait_event = \("PgSleep")")[0].decode(Int.self, at: 0) == 1
        if !running { try await Task.sleep(for: .milliseconds(10)) }
      }
      #expect(running, "the in-flight statement never showed up in pg_stat_activity")

      try cluster.restart()

      let result = await inFlight.result
      guard case .failure(let failure) = result, let error = failure as? PostgresError else {
        Issue.record("the in-flight statement did not fail with a PostgresError: \(result)")
        return
      }
      #expect(error.code == .connectionLost)
      #expect(error.isRetriable)
      #expect(error.statement == "SELECT pg_sleep(600)")

      // Every pooled connection is stale now; the pool replaces them transparently.
      for value in 1...6 {
        #expect(try await pool.query("SELECT \(value)")[0].decode(Int.self, at: 0) == value)
      }
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<3 { group.addTask { try await pool.query("SELECT pg_sleep(0.01)") } }
        try await group.waitForAll()
      }
      let total = try await pool.withTransaction { tx in
        try await tx.query("SELECT \(40) + \(2)")[0].decode(Int.self, at: 0)
      }
      #expect(total == 42)

      // The listener reconnects by itself; notifications sent before it has re-listened are
      // lost by design, so keep notifying until one arrives.
      let sender = Task {
        for index in 0..<2000 {
          try await pool.notify(channel: "after_restart", payload: String(index))
          try await Task.sleep(for: .milliseconds(10))
        }
      }
      var iterator = notifications.makeAsyncIterator()
      let first = await iterator.next()
      sender.cancel()
      #expect(first?.channel == "after_restart")
    }
  }
}
