import Foundation
import Postgres
import Testing

extension IntegrationTests {
  @Suite("Array parameters")
  struct ArrayParameterTests {
    @Test func arraysUnnestInOrderWithNulls() async throws {
      try await withPool { pool in
        let ids = [UUID(), UUID(), UUID()]
        let owners: [UUID?] = [UUID(), nil, UUID()]
        let when = [Date(timeIntervalSince1970: 1_790_000_000.123456), Date(timeIntervalSince1970: 0), Date()]
        let rows = try await pool.query(
          """
          SELECT * FROM unnest(\(PostgresArray(ids)), \(PostgresArray(owners)), \(PostgresArray([1.5, -0.25, 1e300])),
                               \(PostgresArray(["a", "", "ü'\""])), \(PostgresArray([Int32(1), nil, Int32(-3)])),
                               \(PostgresArray(when))) WITH ORDINALITY AS t (id, owner, x, s, i, ts, n)
          ORDER BY n
          """)
        #expect(rows.count == 3)
        for (index, row) in rows.enumerated() {
          #expect(try row.decode(UUID.self, column: "id") == ids[index])
          #expect(try row.decode(UUID?.self, column: "owner") == owners[index])
          #expect(try row.decode(Double.self, column: "x") == [1.5, -0.25, 1e300][index])
          #expect(try row.decode(String.self, column: "s") == ["a", "", "ü'\""][index])
          #expect(try row.decode(Int32?.self, column: "i") == [1, nil, -3][index])
          let date = try row.decode(Date.self, column: "ts")
          #expect(abs(date.timeIntervalSince1970 - when[index].timeIntervalSince1970) < 0.000_001)
        }
        let empty = try await pool.query("SELECT cardinality(\(PostgresArray([UUID]())))")
        #expect(try empty[0].decode(Int32.self, at: 0) == 0)
      }
    }
  }
}
