import Foundation
import Postgres
import Testing

extension IntegrationTests {
  @Suite("Statements and decoding")
  struct StatementTests {
    @Test func roundTripsEveryBuiltInType() async throws {
      try await withPool { pool in
        let id = UUID()
        let bytes: [UInt8] = [0, 1, 2, 254, 255]
        let when = Date(timeIntervalSince1970: 1_790_000_000.123456)
        let json = PostgresJSONB(json: #"{"a": 1}"#)
        let missing: String? = nil
        let rows = try await pool.query(
          """
          SELECT \("héllo") AS t, \(Int32(7)) AS i, \(Int(9_000_000_000)) AS b, \(true) AS f,
                 \(2.5) AS d, \(id) AS u, \(bytes) AS y, \(when) AS ts, \(json) AS j, \(missing) AS n,
                 \(Int16(3)) AS s
          """)
        #expect(rows.count == 1)
        let row = rows[0]
        #expect(try row.decode(String.self, column: "t") == "héllo")
        #expect(try row.decode(Int32.self, column: "i") == 7)
        #expect(try row.decode(Int.self, column: "i") == 7)
        #expect(try row.decode(Int.self, column: "b") == 9_000_000_000)
        #expect(try row.decode(Bool.self, column: "f"))
        #expect(try row.decode(Double.self, column: "d") == 2.5)
        #expect(try row.decode(UUID.self, column: "u") == id)
        #expect(try row.decode([UInt8].self, column: "y") == bytes)
        #expect(try row.decode(Data.self, column: "y") == Data(bytes))
        let decodedDate = try row.decode(Date.self, column: "ts")
        #expect(abs(decodedDate.timeIntervalSince1970 - when.timeIntervalSince1970) < 0.000_001)
        #expect(try row.decode(PostgresJSONB.self, column: "j") == json)
        #expect(try row.decode(String?.self, column: "n") == nil)
        #expect(try row.decode(Int16.self, column: "s") == 3)
        let (t, i, b) = try row.decode((String, Int, Int).self)
        #expect(t == "héllo" && i == 7 && b == 9_000_000_000)
      }
    }

    @Test func serverComputedTypesDecode() async throws {
      try await withPool { pool in
        let row = try await pool.query(
          """
          SELECT gen_random_uuid(), now(), '{"k": [1,2]}'::jsonb, 'abc'::varchar, 1.5::real,
                 '\\x0102'::bytea, NULL::int
          """)[0]
        _ = try row.decode(UUID.self, at: 0)
        _ = try row.decode(Date.self, at: 1)
        #expect(try row.decode(PostgresJSONB.self, at: 2).json == #"{"k": [1, 2]}"#)
        #expect(try row.decode(String.self, at: 3) == "abc")
        #expect(try row.decode(Double.self, at: 4) == 1.5)
        #expect(try row.decode([UInt8].self, at: 5) == [1, 2])
        #expect(try row.decode(Int?.self, at: 6) == nil)
        #expect(throws: PostgresError.self) { try row.decode(Int.self, at: 6) }
      }
    }

    @Test func insertUpdateAndAffectedRows() async throws {
      try await withPool { pool in
        let table = uniqueName("items")
        try await pool.execute("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY, name text NOT NULL)")
        for id in 1...3 {
          #expect(try await pool.execute("INSERT INTO \(identifier: table) (id, name) VALUES (\(id), \("n\(id)"))") == 1)
        }
        #expect(try await pool.execute("UPDATE \(identifier: table) SET name = \("x") WHERE id >= \(2)") == 2)
        let rows = try await pool.query("SELECT id, name FROM \(identifier: table) ORDER BY id")
        #expect(rows.map { try! $0.decode(Int.self, at: 0) } == [1, 2, 3])
        #expect(try rows.map { try $0.decode(String.self, column: "name") } == ["n1", "x", "x"])
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test func statementsArePreparedOncePerConnection() async throws {
      try await withPool(maxConnections: 1) { pool in
        try await pool.withConnection { connection in
          for value in 1...5 {
            let row = try await connection.query("SELECT \(value) + 1")[0]
            #expect(try row.decode(Int.self, at: 0) == value + 1)
          }
          let prepared = try await connection.query(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = \("SELECT $1 + 1")")
          #expect(try prepared[0].decode(Int.self, at: 0) == 1)
        }
      }
    }

    @Test func badSQLCarriesSQLStateStatementAndCallSite() async throws {
      try await withPool { pool in
        let error = await #expect(throws: PostgresError.self) {
          try await pool.query("SELEC 1")
        }
        #expect(error?.code == .server)
        #expect(error?.sqlState == "42601")
        #expect(error?.statement == "SELEC 1")
        #expect(error?.file.hasSuffix("StatementTests.swift") == true)
        #expect(error?.position == 1)
        #expect(error?.isRetriable == false)
        // The connection is still usable afterwards.
        let one = try await pool.query("SELECT 1")[0].decode(Int.self, at: 0)
        #expect(one == 1)
      }
    }

    @Test func wrongParameterTypeIsRejectedByTheServer() async throws {
      try await withPool { pool in
        let table = uniqueName("typed")
        try await pool.execute("CREATE TABLE \(identifier: table) (id integer PRIMARY KEY)")
        let error = await #expect(throws: PostgresError.self) {
          try await pool.query("SELECT id FROM \(identifier: table) WHERE id = \("1")")
        }
        #expect(error?.sqlState == "42883")  // operator does not exist: integer = text
        #expect(error?.hint != nil)
        #expect(error?.statement?.contains("WHERE id = $1") == true)
        let insertError = await #expect(throws: PostgresError.self) {
          try await pool.execute("INSERT INTO \(identifier: table) (id) VALUES (\(true))")
        }
        #expect(insertError?.sqlState == "42804")  // column is integer but expression is boolean
        try await pool.execute("DROP TABLE \(identifier: table)")
      }
    }

    @Test func cancellingTheTaskCancelsTheStatementOnTheServer() async throws {
      let application = uniqueName("cancel")
      try await withPool(maxConnections: 2, applicationName: application) { pool in
        let sleeper = Task { try await pool.query("SELECT pg_sleep(600)") }
        var running = false
        for _ in 0..<1000 where !running {
          running = try await pool.query(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE application_name = \(application) AND wait_event = \("PgSleep")
            """)[0].decode(Int.self, at: 0) == 1
          if !running { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(running, "the statement never showed up in pg_stat_activity")
        sleeper.cancel()
        let result = await sleeper.result
        guard case .failure(let failure) = result, let error = failure as? PostgresError else {
          Issue.record("the cancelled statement did not fail with a PostgresError: \(result)")
          return
        }
        #expect(error.sqlState == "57014")
        #expect(error.statement == "SELECT pg_sleep(600)")
        // Both connections are still fine.
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
          for value in 1...4 { group.addTask { try await pool.query("SELECT \(value)")[0].decode(Int.self, at: 0) } }
          var values: [Int] = []
          for try await value in group { values.append(value) }
          return values.sorted()
        }
        #expect(values == [1, 2, 3, 4])
      }
    }

    @Test func decodingIntoTheWrongSwiftTypeNamesTheColumn() async throws {
      try await withPool { pool in
        let row = try await pool.query("SELECT 'abc'::text AS label")[0]
        let error = #expect(throws: PostgresError.self) { try row.decode(Int.self, column: "label") }
        #expect(error?.code == .decoding)
        #expect(error?.message.contains("label") == true)
        #expect(error?.statement == "SELECT 'abc'::text AS label")
      }
    }
  }
}
