import CourierTestSupport
import Foundation
import Postgres
import Testing

extension IntegrationTests {
  @Suite("Pool")
  struct PoolTests {
    @Test func exhaustedPoolFailsWithWaitTimeout() async throws {
      try await withPool(maxConnections: 1, waitTimeout: .milliseconds(50)) { pool in
        try await pool.withConnection { held in
          _ = try await held.query("SELECT 1")
          let error = await #expect(throws: PostgresError.self) {
            try await pool.query("SELECT 2")
          }
          #expect(error?.code == .poolTimeout)
          #expect(error?.isRetriable == false)
        }
        // Once the holder is done the pool serves again.
        #expect(try await pool.query("SELECT 3")[0].decode(Int.self, at: 0) == 3)
      }
    }

    @Test func waitersAreServedWhenConnectionsComeBack() async throws {
      let application = uniqueName("waiters")
      try await withPool(maxConnections: 2, applicationName: application) { pool in
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
          for value in 1...40 {
            group.addTask { try await pool.query("SELECT \(value)")[0].decode(Int.self, at: 0) }
          }
          return try await group.reduce(0, +)
        }
        #expect(total == (1...40).reduce(0, +))
        let backends = try await pool.query(
          "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(application) AND datname = current_database()")
        #expect(try backends[0].decode(Int.self, at: 0) <= 2)
      }
    }

    @Test func closedPoolRefusesWork() async throws {
      let url = try TestDatabase.requireURL()
      let pool = PostgresPool(configuration: PostgresConfiguration(connectionString: url))
      _ = try await pool.query("SELECT 1")
      await pool.close()
      let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
      #expect(error?.code == .poolClosed)
    }

    @Test func unreachableServerFailsRetriably() async throws {
      let port = try TestCluster.freePort()
      try await withPool(url: "postgresql://postgres@127.0.0.1:\(port)/postgres") { pool in
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isRetriable == true)
      }
    }
  }
}
