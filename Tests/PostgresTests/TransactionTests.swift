import Foundation
import Postgres
import Testing

extension IntegrationTests {
  @Suite("Transactions and locks")
  struct TransactionTests {
    @Test func commitsOrRollsBack() async throws {
      try await withPool { pool in
        let table = uniqueName("tx")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        try await pool.withTransaction { tx in
          try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
        }
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
          try await pool.withTransaction { tx in
            try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(2))")
            throw Abort()
          }
        }
        let ids = try await pool.query("SELECT id FROM \(identifier: table)").map { try $0.decode(Int.self, at: 0) }
        #expect(ids == [1])
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test func caughtErrorInsideTransactionStillRollsBack() async throws {
      try await withPool { pool in
        let error = await #expect(throws: PostgresError.self) {
          try await pool.withTransaction { tx in
            _ = try? await tx.query("SELECT 1/0")
          }
        }
        #expect(error?.sqlState == "25P02")
      }
    }

    /// Write skew under SERIALIZABLE: both transactions read before either writes, so one of them
    /// fails with 40001; withTransaction runs it again and both end up committed.
    @Test func serializationFailureIsRetried() async throws {
      try await withPool(maxConnections: 2) { pool in
        let table = uniqueName("skew")
        try await pool.execute("CREATE TABLE \(identifier: table) (class int NOT NULL, value int NOT NULL)")
        try await pool.execute("INSERT INTO \(identifier: table) VALUES (1, 10), (2, 20)")
        let barrier = Barrier(parties: 2)
        let attempts = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
          for (readClass, writeClass) in [(Int32(1), Int32(2)), (Int32(2), Int32(1))] {
            group.addTask {
              var firstAttempt = true
              try await pool.withTransaction(isolation: .serializable) { tx in
                _ = await attempts.increment()
                let sum = try await tx.query(
                  "SELECT sum(value)::int FROM \(identifier: table) WHERE class = \(readClass)"
                )[0].decode(Int32.self, at: 0)
                if firstAttempt {
                  firstAttempt = false
                  await barrier.arriveAndWait()
                }
                try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(writeClass), \(sum))")
              }
            }
          }
          try await group.waitForAll()
        }
        // At least one transaction failed to serialize and ran again; the final rows prove that each
        // committed exactly once.
        let serializationAttempts = await attempts.value
        #expect(serializationAttempts >= 3, "attempts: \(serializationAttempts)")
        let count = try await pool.query("SELECT count(*) FROM \(identifier: table)")[0].decode(Int.self, at: 0)
        #expect(count == 4)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    /// Two transactions lock two rows in opposite order; the server aborts one with 40P01 and
    /// withTransaction runs it again.
    @Test func deadlockIsRetried() async throws {
      try await withPool(maxConnections: 2) { pool in
        let table = uniqueName("locks")
        try await pool.execute("CREATE TABLE \(identifier: table) (id int PRIMARY KEY, hits int NOT NULL)")
        try await pool.execute("INSERT INTO \(identifier: table) VALUES (1, 0), (2, 0)")
        let barrier = Barrier(parties: 2)
        let attempts = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
          for (first, second) in [(Int32(1), Int32(2)), (Int32(2), Int32(1))] {
            group.addTask {
              var firstAttempt = true
              try await pool.withTransaction { tx in
                _ = await attempts.increment()
                try await tx.execute("UPDATE \(identifier: table) SET hits = hits + 1 WHERE id = \(first)")
                if firstAttempt {
                  firstAttempt = false
                  await barrier.arriveAndWait()
                }
                try await tx.execute("UPDATE \(identifier: table) SET hits = hits + 1 WHERE id = \(second)")
              }
            }
          }
          try await group.waitForAll()
        }
        // At least one transaction was aborted and run again. Usually exactly one, but on a loaded
        // machine the server may pick a victim more than once; what must hold is the final state.
        let deadlockAttempts = await attempts.value
        #expect(deadlockAttempts >= 3, "attempts: \(deadlockAttempts)")
        let hits = try await pool.query("SELECT sum(hits)::int FROM \(identifier: table)")[0].decode(Int.self, at: 0)
        #expect(hits == 4)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test func noRetryPolicySurfacesTheSerializationFailure() async throws {
      try await withPool(maxConnections: 2) { pool in
        let table = uniqueName("skew")
        try await pool.execute("CREATE TABLE \(identifier: table) (class int NOT NULL, value int NOT NULL)")
        try await pool.execute("INSERT INTO \(identifier: table) VALUES (1, 10), (2, 20)")
        let barrier = Barrier(parties: 2)
        let outcomes = await withTaskGroup(of: PostgresError?.self) { group in
          for (readClass, writeClass) in [(Int32(1), Int32(2)), (Int32(2), Int32(1))] {
            group.addTask {
              do {
                try await pool.withTransaction(isolation: .serializable, retry: .never) { tx in
                  let sum = try await tx.query(
                    "SELECT sum(value)::int FROM \(identifier: table) WHERE class = \(readClass)"
                  )[0].decode(Int32.self, at: 0)
                  await barrier.arriveAndWait()
                  try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(writeClass), \(sum))")
                }
                return nil
              } catch {
                return error as? PostgresError
              }
            }
          }
          return await group.reduce(into: [PostgresError?]()) { $0.append($1) }
        }
        let failures = outcomes.compactMap { $0 }
        #expect(failures.count == 1)
        #expect(failures.first?.sqlState == SQLState.serializationFailure)
        #expect(failures.first?.isRetriable == true)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test func skipLockedClaimsDisjointRows() async throws {
      try await withPool(maxConnections: 2) { pool in
        let table = uniqueName("queue")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY, done bool NOT NULL DEFAULT false)")
        try await pool.execute("INSERT INTO \(identifier: table) (id) SELECT generate_series(1, 3)")
        let claim: PostgresQuery =
          "SELECT id FROM \(identifier: table) WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        let (first, second) = try await pool.withTransaction { outer in
          let first = try await outer.query(claim)[0].decode(Int.self, at: 0)
          let second = try await pool.withTransaction { inner in
            try await inner.query(claim)[0].decode(Int.self, at: 0)
          }
          return (first, second)
        }
        #expect(first == 1)
        #expect(second == 2)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test func advisoryLocksExcludeOtherSessions() async throws {
      try await withPool(maxConnections: 2) { pool in
        let key = Int64.random(in: 1...Int64.max)
        try await pool.withConnection { owner in
          try await owner.advisoryLock(key)
          let takenElsewhere = try await pool.withConnection { other in try await other.tryAdvisoryLock(key) }
          #expect(!takenElsewhere)
          #expect(try await owner.advisoryUnlock(key))
        }
        let takenAfterwards = try await pool.withConnection { other in
          let taken = try await other.tryAdvisoryLock(key)
          try await other.advisoryUnlock(key)
          return taken
        }
        #expect(takenAfterwards)
        // Transaction-level locks end with the transaction.
        try await pool.withTransaction { tx in
          try await tx.advisoryLock(key)
          let other = try await pool.withTransaction { inner in try await inner.tryAdvisoryLock(key) }
          #expect(!other)
        }
        #expect(try await pool.withTransaction { tx in try await tx.tryAdvisoryLock(key) })
      }
    }
  }
}
