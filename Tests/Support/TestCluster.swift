import Foundation
import Synchronization
package import Testing

#if canImport(Glibc)
  package import Glibc
#endif

/// A throwaway Postgres 15 cluster: `initdb` in a temporary folder owned by `postgres`, started
/// on a free loopback port (see ``serverPort()``), stopped by `pg_ctl stop` on exactly this data
/// directory, then deleted.
package final class TestCluster: Sendable {
  package static let binaries = "/usr/lib/postgresql/15/bin"

  package let directory: String
  package let port: Int
  package var dataDirectory: String { directory + "/data" }
  package var logFile: String { directory + "/server.log" }
  package var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

  package struct StartError: Error, CustomStringConvertible {
    package var description: String
    /// The server's log says its port was taken.
    package var portInUse = false
    package init(description: String) { self.description = description }
  }

  private init(directory: String, port: Int) {
    self.directory = directory
    self.port = port
  }

  package static func start() throws -> TestCluster {
    var template = Array((NSTemporaryDirectory() + "/courier-pg-XXXXXX").utf8CString)
    guard let created = mkdtemp(&template) else {
      throw StartError(description: "cannot create a temporary folder for the test Postgres cluster")
    }
    let directory = String(cString: created)
    do {
      if getuid() == 0 {
        let (status, output) = try run("/bin/chown", ["postgres:postgres", directory])
        guard status == 0 else { throw StartError(description: "chown of \(directory) failed: \(output)") }
      }
      let (initStatus, initOutput) = try Self.asPostgres(
        "initdb", ["-D", directory + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
      guard initStatus == 0 else {
        throw StartError(description: "initdb of the test Postgres cluster in \(directory) failed: \(initOutput)")
      }
      // A port can still be taken between the check and the server's bind (by a process outside
      // this one); then the next candidate is tried, on the same data directory.
      var attempt = 0
      while true {
        let cluster = TestCluster(directory: directory, port: try serverPort())
        do {
          try cluster.startServer()
          return cluster
        } catch let error as StartError where error.portInUse && attempt < 2 {
          attempt += 1
        } catch {
          cluster.stop()
          throw error
        }
      }
    } catch {
      try? FileManager.default.removeItem(atPath: directory)
      throw error
    }
  }

  /// `pg_ctl start -w` waits until the server accepts connections; `pg_isready` confirms it.
  private func startServer() throws {
    let options =
      "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory) -c fsync=off -c synchronous_commit=off "
      + "-c full_page_writes=off -c max_connections=100"
    let (status, output) = try Self.asPostgres(
      "pg_ctl", ["start", "-w", "-t", "60", "-D", dataDirectory, "-l", logFile, "-o", options])
    let (ready, readyOutput) = try Self.asPostgres("pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-t", "10"])
    guard status == 0, ready == 0 else {
      let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "(no server log)"
      var error = StartError(
        description: "the test Postgres server (postgres 15, data \(dataDirectory), 127.0.0.1:\(port)) did not start: "
          + "pg_ctl: \(output) pg_isready: \(readyOutput) log: \(log.suffix(2000))")
      error.portInUse = log.contains("Address already in use")
      throw error
    }
  }

  /// Fast restart on the same port: every backend is terminated, connections break.
  package func restart() throws {
    let (stopStatus, stopOutput) = try Self.asPostgres("pg_ctl", ["stop", "-w", "-m", "fast", "-D", dataDirectory])
    guard stopStatus == 0 else { throw StartError(description: "pg_ctl stop failed: \(stopOutput)") }
    try startServer()
  }

  /// Stops the server started from this data directory (by its postmaster PID) and deletes the folder.
  package func stop() {
    if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
      _ = try? Self.asPostgres("pg_ctl", ["stop", "-w", "-m", "fast", "-D", dataDirectory])
    }
    try? FileManager.default.removeItem(atPath: directory)
  }

  private static func asPostgres(_ tool: String, _ arguments: [String]) throws -> (Int32, String) {
    let path = Self.binaries + "/" + tool
    if getuid() == 0 {
      return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
    }
    return try Self.run(path, arguments)
  }

  /// Runs a program to completion; its status and its output and errors together.
  package static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let result = try Program.run(executable, arguments, mergeErrors: true)
    return (result.status, result.output)
  }

  /// Ports handed to clusters by this process, never handed out twice.
  private static let handedOut = Mutex(Set<Int>())

  /// A port for a cluster's server, below the kernel's ephemeral range. A port from that range
  /// (what binding port 0 gives) can be taken at any moment as the local end of some outgoing
  /// connection; a server that restarts on its port (``restart()``) then cannot bind it again.
  /// Below the range only listeners take ports, so one that binds now stays free for the server.
  private static func serverPort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
      .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    let ephemeralLow = range?.first ?? 32768
    let candidates = 20000..<max(ephemeralLow, 20001)
    for _ in 0..<200 {
      let port = Int.random(in: candidates)
      let fresh = handedOut.withLock { $0.insert(port).inserted }
      if fresh, Loopback.bind(port: port) != nil { return port }
    }
    throw StartError(description: "no free port for a test Postgres server in \(candidates) on 127.0.0.1")
  }

  /// A port that was free a moment ago on 127.0.0.1 (bind to port 0, read it back, close).
  package static func freePort() throws -> Int {
    guard let port = Loopback.bind(port: 0) else { throw StartError(description: "cannot bind a free port on 127.0.0.1") }
    return port
  }
}

/// The server address the integration tests use, set by ``SharedClusterTrait``.
package enum TestDatabase {
  @TaskLocal package static var url: String?

  package static func requireURL() throws -> String {
    try #require(url, "integration tests must run inside a suite with the .sharedCluster trait")
  }
}

/// Starts one cluster for the whole suite (unless COURIER_PG_URL names a server) and stops it at the end.
package struct SharedClusterTrait: SuiteTrait, TestScoping {
  package var isRecursive: Bool { false }

  package func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    if let url = ProcessInfo.processInfo.environment["COURIER_PG_URL"], !url.isEmpty {
      try await TestDatabase.$url.withValue(url) { try await function() }
      return
    }
    let cluster = try TestCluster.start()
    defer { cluster.stop() }
    try await TestDatabase.$url.withValue(cluster.url) { try await function() }
  }
}

extension Trait where Self == SharedClusterTrait {
  package static var sharedCluster: Self { SharedClusterTrait() }
}
