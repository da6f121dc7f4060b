import Foundation
import Postgres
import Testing

extension IntegrationTests {
  @Suite("Migrations")
  struct MigrationTests {
    static let first = PostgresMigration(
      version: 1, name: "create_payloads",
      sql: """
        CREATE TABLE payloads (id uuid PRIMARY KEY, title text NOT NULL);
        CREATE INDEX payloads_title ON payloads (title);
        """)
    static let second = PostgresMigration(
      version: 2, name: "add_status", sql: "ALTER TABLE payloads ADD COLUMN status text NOT NULL DEFAULT 'new';")
    static let third = PostgresMigration(
      version: 3, name: "create_receipts", sql: "CREATE TABLE receipts (payload_id uuid PRIMARY KEY);")

    @Test func appliesPendingMigrationsOnce() async throws {
      try await withPool { pool in
        let schema = uniqueName("svc")
        #expect(try await pool.migrate(schema: schema, migrations: [Self.second, Self.first]) == [1, 2])
        #expect(try await pool.migrate(schema: schema, migrations: [Self.first, Self.second]) == [])
        #expect(try await pool.migrate(schema: schema, migrations: [Self.first, Self.second, Self.third]) == [3])
        // The migrations ran in the schema.
        try await pool.execute("INSERT INTO \(identifier: schema).payloads (id, title) VALUES (\(UUID()), \("x"))")
        let status = try await pool.query("SELECT status FROM \(identifier: schema).payloads")[0].decode(String.self, at: 0)
        #expect(status == "new")
        let recorded = try await pool.query(
          "SELECT version, length(checksum) FROM \(identifier: schema).courier_migrations ORDER BY version")
        #expect(try recorded.map { try $0.decode((Int, Int).self) }.map { $0.0 } == [1, 2, 3])
        #expect(try recorded.allSatisfy { try $0.decode(Int.self, at: 1) == 64 })
      }
    }

    @Test func editedAppliedMigrationStopsTheStart() async throws {
      try await withPool { pool in
        let schema = uniqueName("svc")
        try await pool.migrate(schema: schema, migrations: [Self.first, Self.second])
        var edited = Self.second
        edited.sql = "ALTER TABLE payloads ADD COLUMN status text NOT NULL DEFAULT 'fresh';"
        let error = await #expect(throws: PostgresError.self) {
          try await pool.migrate(schema: schema, migrations: [Self.first, edited, Self.third])
        }
        #expect(error?.code == .migration)
        #expect(error?.message.contains("0002_add_status.sql was edited after it was applied") == true)
        #expect(error?.hint != nil)
        // Nothing after the mismatch was applied.
        let exists = try await pool.query("SELECT to_regclass(\(schema + ".receipts")) IS NOT NULL")[0].decode(Bool.self, at: 0)
        #expect(!exists)
      }
    }

    @Test func removedOrLowerNumberedMigrationsAreRefused() async throws {
      try await withPool { pool in
        let schema = uniqueName("svc")
        try await pool.migrate(schema: schema, migrations: [Self.first, Self.third])
        let missing = await #expect(throws: PostgresError.self) {
          try await pool.migrate(schema: schema, migrations: [Self.third])
        }
        #expect(missing?.message.contains("file is missing") == true)
        let early = await #expect(throws: PostgresError.self) {
          try await pool.migrate(schema: schema, migrations: [Self.first, Self.second, Self.third])
        }
        #expect(early?.message.contains("numbered below") == true)
      }
    }

    @Test func failingMigrationRollsBackAndNamesTheFile() async throws {
      try await withPool { pool in
        let schema = uniqueName("svc")
        let broken = PostgresMigration(version: 2, name: "broken", sql: "CREATE TABLE t (id int); SELEC 1;")
        let error = await #expect(throws: PostgresError.self) {
          try await pool.migrate(schema: schema, migrations: [Self.first, broken])
        }
        #expect(error?.code == .migration)
        #expect(error?.sqlState == "42601")
        #expect(error?.message.contains("0002_broken.sql") == true)
        let versions = try await pool.query("SELECT version FROM \(identifier: schema).courier_migrations")
          .map { try $0.decode(Int.self, at: 0) }
        #expect(versions == [1])
        let tableExists = try await pool.query("SELECT to_regclass(\(schema + ".t")) IS NOT NULL")[0].decode(Bool.self, at: 0)
        #expect(!tableExists)
      }
    }

    @Test func concurrentStartsApplyEachMigrationOnce() async throws {
      try await withPool(maxConnections: 4) { pool in
        let schema = uniqueName("svc")
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
          for _ in 0..<4 {
            group.addTask { try await pool.migrate(schema: schema, migrations: [Self.first, Self.second, Self.third]) }
          }
          return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(applied.sorted() == [1, 2, 3])
      }
    }

    @Test func loadsNumberedFilesFromAFolder() throws {
      let folder = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("migrations"))
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: folder) }
      try "SELECT 2;".write(to: folder.appendingPathComponent("0002_second.sql"), atomically: true, encoding: .utf8)
      try "SELECT 1;".write(to: folder.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
      try "notes".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
      let migrations = try PostgresMigration.load(directory: folder)
      #expect(migrations.map(\.version) == [1, 2])
      #expect(migrations.map(\.fileName) == ["0001_first.sql", "0002_second.sql"])
      try "x".write(to: folder.appendingPathComponent("third.sql"), atomically: true, encoding: .utf8)
      #expect(throws: PostgresError.self) { try PostgresMigration.load(directory: folder) }
    }
  }
}
