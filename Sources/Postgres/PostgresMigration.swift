public import Foundation

/// One numbered SQL file of a schema's migrations, e.g. `0003_add_receipts.sql`.
public struct PostgresMigration: Sendable, Hashable {
  public var version: Int
  public var name: String
  /// The file's SQL; may hold several statements. Qualify names with the schema (the migration
  /// also runs with `search_path` set to it).
  public var sql: String

  public init(version: Int, name: String, sql: String) {
    self.version = version
    self.name = name
    self.sql = sql
  }

  /// `0003_add_receipts.sql` for version 3, name `add_receipts`.
  public var fileName: String {
    let digits = String(version)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name + ".sql"
  }

  /// Loads every `NNNN_name.sql` file of `directory`. Other files are ignored.
  public static func load(directory: URL) throws -> [PostgresMigration] {
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    var migrations: [PostgresMigration] = []
    for file in files where file.hasSuffix(".sql") {
      let stem = file.dropLast(4)
      guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
        throw PostgresError(
          code: .migration,
          message: "migration file \(file) in \(directory.path) is not named NNNN_name.sql")
      }
      let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
      migrations.append(PostgresMigration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
    }
    return migrations.sorted { $0.version < $1.version }
  }
}

extension PostgresPool {
  /// Applies the pending migrations of `schema`, in version order, each in its own transaction,
  /// while holding an advisory lock so that replicas starting together apply each file once.
  ///
  /// Applied migrations are recorded in `<schema>.courier_migrations` with the SHA-256 of their
  /// SQL. The start stops with a `.migration` error, before anything is applied, when an applied
  /// migration was edited (checksum mismatch) or removed, when two files share a version, or when
  /// a new file is numbered below one already applied. Returns the versions applied now.
  @discardableResult
  public func migrate(
    schema: String, migrations: [PostgresMigration], file: String = #fileID, line: Int = #line
  ) async throws -> [Int] {
    let sorted = migrations.sorted { $0.version < $1.version }
    for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
      throw PostgresError(
        code: .migration,
        message: "schema \(schema): \(previous.fileName) and \(next.fileName) share version \(next.version)",
        file: file, line: line)
    }
    return try await withConnection(file: file, line: line) { connection in
      // Two-key advisory lock: a constant for "courier migrations" and the schema's hash.
      try await connection.query(
        "SELECT pg_advisory_lock(\(Int32(0x4D49_4752)), hashtext(\(schema)))", file: file, line: line)
      do {
        let applied = try await applyPending(
          schema: schema, migrations: sorted, connection: connection, file: file, line: line)
        try await connection.query(
          "SELECT pg_advisory_unlock(\(Int32(0x4D49_4752)), hashtext(\(schema)))", file: file, line: line)
        return applied
      } catch {
        // Unlock if the connection still works; a broken one released the lock with the session.
        _ = try? await connection.query(
          "SELECT pg_advisory_unlock(\(Int32(0x4D49_4752)), hashtext(\(schema)))", file: file, line: line)
        throw error
      }
    }
  }

  private func applyPending(
    schema: String, migrations: [PostgresMigration], connection: PostgresConnection, file: String, line: Int
  ) async throws -> [Int] {
    try await connection.execute("CREATE SCHEMA IF NOT EXISTS \(identifier: schema)", file: file, line: line)
    try await connection.execute(
      """
      CREATE TABLE IF NOT EXISTS \(identifier: schema).courier_migrations (
        version bigint PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )
      """, file: file, line: line)
    let rows = try await connection.query(
      "SELECT version, name, checksum FROM \(identifier: schema).courier_migrations ORDER BY version",
      file: file, line: line)
    var applied: [Int: (name: String, checksum: String)] = [:]
    for row in rows {
      let (version, name, checksum) = try row.decode((Int, String, String).self)
      applied[version] = (name, checksum)
    }

    var checksums: [Int: String] = [:]
    for migration in migrations {
      checksums[migration.version] = try await connection.query(
        "SELECT encode(sha256(\(Array(migration.sql.utf8))), 'hex')", file: file, line: line
      )[0].decode(String.self, at: 0)
    }

    let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
    for (version, record) in applied.sorted(by: { $0.key < $1.key }) {
      guard let migration = known[version] else {
        throw PostgresError(
          code: .migration,
          message: "schema \(schema): migration \(version) (\(record.name)) was applied but its file is missing",
          hint: "restore the file; never delete an applied migration", file: file, line: line)
      }
      if checksums[version] != record.checksum {
        throw PostgresError(
          code: .migration,
          message: "schema \(schema): migration \(migration.fileName) was edited after it was applied "
            + "(applied checksum \(record.checksum), file checksum \(checksums[version] ?? "?"))",
          hint: "restore the applied version of the file and put the change in a new migration",
          file: file, line: line)
      }
    }
    let highestApplied = applied.keys.max() ?? Int.min
    let pending = migrations.filter { applied[$0.version] == nil }
    if let early = pending.first(where: { $0.version < highestApplied }) {
      throw PostgresError(
        code: .migration,
        message: "schema \(schema): new migration \(early.fileName) is numbered below applied migration \(highestApplied)",
        hint: "renumber it above \(highestApplied)", file: file, line: line)
    }

    var appliedNow: [Int] = []
    for migration in pending {
      do {
        try await connection.transaction(file: file, line: line) { tx in
          try await tx.execute("SET LOCAL search_path TO \(identifier: schema)", file: file, line: line)
          try await connection.simple(migration.sql, file: file, line: line)
          try await tx.execute(
            """
            INSERT INTO \(identifier: schema).courier_migrations (version, name, checksum)
            VALUES (\(migration.version), \(migration.name), \(checksums[migration.version]!))
            """, file: file, line: line)
        }
      } catch var error as PostgresError {
        error.message = "schema \(schema): migration \(migration.fileName) failed: \(error.message)"
        if error.code == .server { error.code = .migration }
        throw error
      }
      appliedNow.append(migration.version)
    }
    return appliedNow
  }
}
