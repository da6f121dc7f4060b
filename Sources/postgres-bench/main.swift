// Point-select benchmark through the Postgres module, the counterpart of `pgbench -S`:
// `clients` tasks share a pool of `clients` connections and each runs
// `SELECT abalance FROM pgbench_accounts WHERE aid = $1` with a random aid for `seconds` seconds.
// Prints one line: `courier-postgres: clients=4 seconds=10 queries=... tps=...`.
// Usage: postgres-bench <conninfo-or-url> [clients] [seconds] [scale] [mode]
// mode `session` (default): each task leases one connection and runs every query on it;
// mode `lease`: each query is its own `pool.query` (lease, run, release).
import Postgres

#if canImport(Glibc)
  import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
  print("usage: postgres-bench <url> [clients=4] [seconds=10] [scale=1]")
  exit(2)
}
let url = arguments[1]
let clients = arguments.count > 2 ? Int(arguments[2]) ?? 4 : 4
let seconds = arguments.count > 3 ? Int(arguments[3]) ?? 10 : 10
let scale = arguments.count > 4 ? Int(arguments[4]) ?? 1 : 1
let accounts = Int32(100_000 * scale)
let leasePerQuery = arguments.count > 5 && arguments[5] == "lease"

let pool = PostgresPool(
  configuration: PostgresConfiguration(
    connectionString: url, applicationName: "postgres-bench",
    pool: .init(maxConnections: clients, waitTimeout: .seconds(30))))

// Warm up: open every connection and prepare the statement on each.
try await withThrowingTaskGroup(of: Void.self) { group in
  for _ in 0..<clients {
    group.addTask {
      try await pool.withConnection { connection in
        for _ in 0..<100 {
          _ = try await connection.query(
            "SELECT abalance FROM pgbench_accounts WHERE aid = \(Int32.random(in: 1...accounts))")
        }
      }
    }
  }
  try await group.waitForAll()
}

let clock = ContinuousClock()
let deadline = clock.now + .seconds(seconds)
let start = clock.now
let total = try await withThrowingTaskGroup(of: Int.self) { group in
  for _ in 0..<clients {
    group.addTask {
      var count = 0
      var checksum = 0
      if leasePerQuery {
        while clock.now < deadline {
          let rows = try await pool.query(
            "SELECT abalance FROM pgbench_accounts WHERE aid = \(Int32.random(in: 1...accounts))")
          checksum &+= try rows[0].decode(Int.self, at: 0)
          count += 1
        }
        return count + (checksum == Int.min ? 1 : 0)
      }
      try await pool.withConnection { connection in
        while clock.now < deadline {
          let rows = try await connection.query(
            "SELECT abalance FROM pgbench_accounts WHERE aid = \(Int32.random(in: 1...accounts))")
          checksum &+= try rows[0].decode(Int.self, at: 0)
          count += 1
        }
      }
      return count + (checksum == Int.min ? 1 : 0)
    }
  }
  var sum = 0
  for try await count in group { sum += count }
  return sum
}
let elapsed = start.duration(to: clock.now)
let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
await pool.close()
print(
  "courier-postgres (\(leasePerQuery ? "lease per query" : "one lease per client")): clients=\(clients) seconds=\(seconds) queries=\(total) tps=\(Int((Double(total) / elapsedSeconds).rounded()))"
)
