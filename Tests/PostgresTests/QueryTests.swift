import Foundation
import Testing

@testable import Postgres

@Suite("PostgresQuery and PostgresError (no server)")
struct QueryTests {
  @Test func interpolatedValuesBecomeParameters() {
    let id = 42
    let name: String? = nil
    let query: PostgresQuery = "SELECT * FROM t WHERE id = \(id) AND name = \(name) AND flag = \(true)"
    #expect(query.sql == "SELECT * FROM t WHERE id = $1 AND name = $2 AND flag = $3")
    #expect(query.bindings.count == 3)
    #expect(query.bindings.types == [PostgresDataType.int8.rawValue, PostgresDataType.text.rawValue, PostgresDataType.bool.rawValue])
    #expect(query.bindings.lengths == [8, -1, 1])
  }

  @Test func hostileStringStaysAParameter() {
    let evil = "x'; DROP TABLE users; --"
    let query: PostgresQuery = "SELECT \(evil)"
    #expect(query.sql == "SELECT $1")
    #expect(query.bindings.bytes == Array(evil.utf8))
  }

  @Test func identifiersAreQuoted() {
    let schema = "we\"ird"
    let query: PostgresQuery = "SELECT 1 FROM \(identifier: schema).t"
    #expect(query.sql == "SELECT 1 FROM \"we\"\"ird\".t")
    #expect(query.bindings.count == 0)
  }

  @Test func retriableClassification() {
    #expect(PostgresError(code: .server, sqlState: "40001", message: "").isRetriable)
    #expect(PostgresError(code: .server, sqlState: "40P01", message: "").isRetriable)
    #expect(PostgresError(code: .connectionLost, message: "").isRetriable)
    #expect(!PostgresError(code: .server, sqlState: "42601", message: "").isRetriable)
    #expect(!PostgresError(code: .commitOutcomeUnknown, message: "").isRetriable)
    #expect(!PostgresError(code: .poolTimeout, message: "").isRetriable)
  }

  @Test func descriptionNamesEverything() {
    let error = PostgresError(
      code: .server, sqlState: "42601", message: "syntax error", detail: "d", hint: "h",
      statement: "SELEC 1", file: "Hermes/Store.swift", line: 12)
    let text = String(describing: error)
    for part in ["42601", "syntax error", "d", "h", "SELEC 1", "Hermes/Store.swift:12"] {
      #expect(text.contains(part))
    }
  }
}
