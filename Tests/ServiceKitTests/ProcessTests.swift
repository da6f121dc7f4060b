import Foundation
import Generated
import GRPCCore
import Testing
import Transport

#if canImport(Glibc)
import Glibc
#endif

@Suite("servicekit-sample process")
struct ProcessTests {
  /// The sample executable, built next to the test bundle by `swift build --build-tests`.
  static func sampleExecutable() throws -> String {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<3 {
      let candidate = directory.appendingPathComponent("servicekit-sample").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    throw HarnessError(message: "servicekit-sample is not built next to the tests; run swift build --build-tests")
  }

  /// The JSON objects of the lines written so far; fails on a line that is not one.
  static func lines(of path: String) throws -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return try text.split(separator: "\n").map { line in
      guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw HarnessError(message: "stdout line is not a JSON object: \(line)")
      }
      return object
    }
  }

  @Test("writes only JSON lines to stdout, serves, and exits 0 after SIGTERM")
  func sigterm() async throws {
    let outPath = NSTemporaryDirectory() + "servicekit-sample-\(UUID().uuidString.prefix(8)).out"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try Self.sampleExecutable())
    process.environment = ["SAMPLE_GRPC_PORT": "0", "SAMPLE_HTTP_PORT": "0", "SAMPLE_SHUTDOWN_GRACE": "3s", "LOG_LEVEL": "info"]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    var listening: [String: Any]?
    let deadline = ContinuousClock.now + .seconds(20)
    while listening == nil, ContinuousClock.now < deadline, process.isRunning {
      try await Task.sleep(for: .milliseconds(50))
      listening = try Self.lines(of: outPath).first { $0["message"] as? String == "listening" }
    }
    let written = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let found = try #require(listening, "servicekit-sample did not log listening; stdout: \(written)")
    #expect(found["service"] as? String == "sample")
    let grpcPort = try #require(Int(found["grpc_port"] as? String ?? ""))
    let httpPort = try #require(Int(found["http_port"] as? String ?? ""))

    try await Harness.withClient(port: grpcPort) { client in
      _ = try await Grpc_Testing_TestService.Client(wrapping: client).emptyCall(Grpc_Testing_Empty())
    }
    #expect(try await Harness.get(port: httpPort, path: "/healthz").status == 200)

    kill(process.processIdentifier, SIGTERM)
    let exitDeadline = ContinuousClock.now + .seconds(10)
    while process.isRunning, ContinuousClock.now < exitDeadline {
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(!process.isRunning, "still running 10 s after SIGTERM")
    #expect(process.terminationReason == .exit)
    #expect(process.terminationStatus == 0)
    let lines = try Self.lines(of: outPath)
    #expect(lines.contains { $0["message"] as? String == "shutting down" })
    #expect(lines.contains { $0["message"] as? String == "stopped" })
    #expect(lines.contains { $0["message"] as? String == "rpc" && $0["grpc_code"] as? String == "OK" })
  }
}
