import Foundation
import Postgres
import Testing

extension IntegrationTests {
  /// `PostgresTransaction.enqueue` and the deferred BEGIN: statements that travel with the next
  /// one in a libpq pipeline.
  @Suite("Pipelined statements")
  struct PipelineTests {
    @Test("enqueued statements run before the next statement, inside the transaction")
    func order() async throws {
      try await withPool(maxConnections: 1) { pool in
        let table = uniqueName("pipe")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
          try await pool.withTransaction { tx in
            try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(1))")
            try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(2))")
            let count = try await tx.query("SELECT count(*) FROM \(identifier: table)").first!.decode(Int.self, at: 0)
            #expect(count == 2)
            throw Abort()
          }
        }
        let count = try await pool.query("SELECT count(*) FROM \(identifier: table)").first!.decode(Int.self, at: 0)
        #expect(count == 0)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("an enqueued statement that fails fails the next statement with its own error and place")
    func failureBeforeNext() async throws {
      try await withPool(maxConnections: 1) { pool in
        let table = uniqueName("pipe")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        try await pool.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
        // Caught by hand: inside #expect's closure, #line would name the macro's line.
        var error: PostgresError?
        var enqueuedAt = 0
        do {
          try await pool.withTransaction(retry: .never) { tx in
            try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(2))")
            enqueuedAt = #line + 1
            try tx.enqueue("INSERT INTO \(identifier: table) SELECT \(1)")  // a duplicate key
            try await tx.query("SELECT 1")
          }
        } catch let failure as PostgresError {
          error = failure
        }
        #expect(error?.sqlState == "23505")
        #expect(error?.statement?.hasSuffix("SELECT $1") == true)
        #expect(error?.line == enqueuedAt)
        let ids = try await pool.query("SELECT id FROM \(identifier: table)").map { try $0.decode(Int.self, at: 0) }
        #expect(ids == [1])
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("an enqueued statement that fails at COMMIT fails the commit, keeps nothing, and the connection stays in use")
    func failureAtCommit() async throws {
      try await withPool(maxConnections: 1) { pool in
        let table = uniqueName("pipe")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        try await pool.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
        let backend = try await pool.query("SELECT pg_backend_pid()").first!.decode(Int32.self, at: 0)
        let error = await #expect(throws: PostgresError.self) {
          try await pool.withTransaction(retry: .never) { tx in
            try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(3))")
            try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(4))")
            try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(1))")  // a duplicate key
          }
        }
        #expect(error?.sqlState == "23505")
        let ids = try await pool.query("SELECT id FROM \(identifier: table) ORDER BY id").map { try $0.decode(Int.self, at: 0) }
        #expect(ids == [1])
        // Rolled back, not discarded: the pool's one connection is the same backend.
        #expect(try await pool.query("SELECT pg_backend_pid()").first!.decode(Int32.self, at: 0) == backend)
        try await pool.withTransaction { tx in try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(5))") }
        let after = try await pool.query("SELECT id FROM \(identifier: table) ORDER BY id").map { try $0.decode(Int.self, at: 0) }
        #expect(after == [1, 5])
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("a statement whose preparation failed in a pipeline is prepared again next time")
    func failedPreparation() async throws {
      try await withPool(maxConnections: 1) { pool in
        let table = uniqueName("pipe")
        let error = await #expect(throws: PostgresError.self) {
          try await pool.withTransaction(retry: .never) { tx in
            try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(1))")  // no such table yet
            try await tx.query("SELECT 1")
          }
        }
        #expect(error?.sqlState == "42P01")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        try await pool.withTransaction { tx in
          try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(1))")
          try await tx.query("SELECT 1")
        }
        let ids = try await pool.query("SELECT id FROM \(identifier: table)").map { try $0.decode(Int.self, at: 0) }
        #expect(ids == [1])
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("sendQueued sends the queued statements at once; one that fails throws its own error and place")
    func sendQueued() async throws {
      try await withPool(maxConnections: 2) { pool in
        let table = uniqueName("pipe")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        try await pool.withTransaction { tx in
          let pid = try await tx.query("SELECT pg_backend_pid()").first!.decode(Int32.self, at: 0)
          let lastStatement: PostgresQuery = "SELECT query FROM pg_stat_activity WHERE pid = \(pid)"
          try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(1))")
          try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(2))")
          // Seen from another session, the transaction's last statement is still the first one.
          #expect(try await pool.query(lastStatement).first!.decode(String.self, at: 0) == "SELECT pg_backend_pid()")
          try await tx.sendQueued()
          #expect(try await pool.query(lastStatement).first!.decode(String.self, at: 0).hasPrefix("INSERT INTO"))
          try await tx.sendQueued()  // nothing queued: nothing sent
        }
        #expect(try await pool.query("SELECT count(*) FROM \(identifier: table)").first!.decode(Int.self, at: 0) == 2)

        // Caught by hand: inside #expect's closure, #line would name the macro's line.
        var error: PostgresError?
        var enqueuedAt = 0
        do {
          try await pool.withTransaction(retry: .never) { tx in
            enqueuedAt = #line + 1
            try tx.enqueue("INSERT INTO \(identifier: table) SELECT \(1)")  // a duplicate key
            try await tx.sendQueued()
            Issue.record("a duplicate key was sent without an error")
          }
        } catch let failure as PostgresError {
          error = failure
        }
        #expect(error?.sqlState == "23505")
        #expect(error?.line == enqueuedAt)
        #expect(try await pool.query("SELECT count(*) FROM \(identifier: table)").first!.decode(Int.self, at: 0) == 2)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("several queries in one round trip: each one's rows in order, after the enqueued statements")
    func severalQueries() async throws {
      try await withPool(maxConnections: 1) { pool in
        let table = uniqueName("pipe")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY, name text)")
        let results = try await pool.withTransaction { tx in
          try tx.enqueue("INSERT INTO \(identifier: table) VALUES (\(1), \("one")), (\(2), \("two"))")
          return try await tx.query(all: [
            "SELECT id FROM \(identifier: table) ORDER BY id FOR UPDATE",
            "UPDATE \(identifier: table) SET name = upper(name) WHERE id = \(2) RETURNING name",
            "SELECT name FROM \(identifier: table) WHERE id > \(5)",
            "SELECT name FROM \(identifier: table) ORDER BY id",
          ])
        }
        #expect(results.count == 4)
        #expect(try results[0].map { try $0.decode(Int.self, at: 0) } == [1, 2])
        #expect(try results[1].map { try $0.decode(String.self, at: 0) } == ["TWO"])
        #expect(results[2].isEmpty)
        #expect(try results[3].map { try $0.decode(String.self, at: 0) } == ["one", "TWO"])
        // One query, and none.
        let one = try await pool.withTransaction { tx in try await tx.query(all: ["SELECT \(7)::int8"]) }
        #expect(try one[0].first!.decode(Int.self, at: 0) == 7)
        let none = try await pool.withTransaction { tx in try await tx.query(all: []) }
        #expect(none.isEmpty)
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("a query that fails among several throws its own error and statement, the later ones do not run, nothing is kept")
    func severalQueriesFailure() async throws {
      try await withPool(maxConnections: 1) { pool in
        let table = uniqueName("pipe")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY)")
        var error: PostgresError?
        do {
          try await pool.withTransaction(retry: .never) { tx in
            _ = try await tx.query(all: [
              "INSERT INTO \(identifier: table) VALUES (\(1))",
              "INSERT INTO \(identifier: table) SELECT 1 / \(0)",  // division by zero
              "INSERT INTO \(identifier: table) VALUES (\(3))",
            ])
          }
        } catch let failure as PostgresError {
          error = failure
        }
        #expect(error?.sqlState == "22012")
        #expect(error?.statement?.contains("1 / $1") == true)
        let ids = try await pool.query("SELECT id FROM \(identifier: table)").map { try $0.decode(Int.self, at: 0) }
        #expect(ids.isEmpty)
        // The connection serves the next transaction.
        try await pool.withTransaction { tx in
          _ = try await tx.query(all: ["INSERT INTO \(identifier: table) VALUES (\(4))", "SELECT 1"])
        }
        let after = try await pool.query("SELECT id FROM \(identifier: table)").map { try $0.decode(Int.self, at: 0) }
        #expect(after == [4])
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test("a transaction that runs no statement commits, and BEGIN (with its isolation level) takes effect with the first one")
    func lazyBegin() async throws {
      try await withPool(maxConnections: 1) { pool in
        try await pool.withTransaction { _ in }
        try await pool.withTransaction(isolation: .serializable) { tx in
          let level = try await tx.query("SHOW transaction_isolation").first!.decode(String.self, at: 0)
          #expect(level == "serializable")
          try await tx.query("SELECT pg_sleep(0.01)")
          let later = try await tx.query("SELECT now() < statement_timestamp()").first!.decode(Bool.self, at: 0)
          #expect(later)  // now() is the transaction's start: the statements share one transaction
        }
      }
    }
  }
}
