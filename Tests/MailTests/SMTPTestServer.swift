import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `Tests/Python/support/smtp_server.py`, started for one test: an aiosmtpd server on a free
/// loopback port that stores each accepted mail as `.eml` (+ envelope `.json`) in ``maildir``.
///
/// Python is `$COURIER_PYTHON`, else `.venv/bin/python3` under the package root; when it is
/// missing the test fails with a message saying how to make it.
final class SMTPTestServer: Sendable {
  struct StartError: Error, CustomStringConvertible {
    var description: String
  }

  let process: Process
  let port: Int
  let directory: URL
  var maildir: URL { directory.appendingPathComponent("mail") }

  static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let script = packageRoot.appendingPathComponent("Tests/Python/support/smtp_server.py")

  static func python() throws -> String {
    let configured = ProcessInfo.processInfo.environment["COURIER_PYTHON"]
    let path = configured ?? packageRoot.appendingPathComponent(".venv/bin/python3").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw StartError(
        description: "no Python for the SMTP test server at \(path)"
          + (configured == nil ? " (set COURIER_PYTHON, or run scripts/setup.sh in \(packageRoot.path))" : " (from COURIER_PYTHON)"))
    }
    return path
  }

  /// Runs `smtp_server.py --gen-cert` into `directory`; returns the cert and key paths.
  static func makeCertificate(in directory: URL) throws -> (cert: String, key: String) {
    let cert = directory.appendingPathComponent("cert.pem").path
    let key = directory.appendingPathComponent("key.pem").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try python())
    process.arguments = [script.path, "--gen-cert", cert, key]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: cert) else {
      throw StartError(description: "smtp_server.py --gen-cert exited with \(process.terminationStatus)")
    }
    return (cert, key)
  }

  private init(process: Process, port: Int, directory: URL) {
    self.process = process
    self.port = port
    self.directory = directory
  }

  /// Starts the server with `arguments` (after the maildir) and waits up to 20 s for `listening <port>`.
  static func start(_ arguments: [String] = [], directory: URL) async throws -> SMTPTestServer {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try python())
    process.arguments = [script.path, directory.appendingPathComponent("mail").path] + arguments
    let output = Pipe()
    let errorLog = directory.appendingPathComponent("server.log")
    _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil)
    process.standardOutput = output
    process.standardError = try FileHandle(forWritingTo: errorLog)
    try process.run()

    let reader = output.fileHandleForReading
    let line: String? = await withCheckedContinuation { continuation in
      let once = ResumeOnce(continuation)
      DispatchQueue.global().asyncAfter(deadline: .now() + 20) {
        if once.resume(nil) { kill(process.processIdentifier, SIGKILL) }
      }
      Thread.detachNewThread {
        var buffer = Data()
        while true {
          let chunk = reader.availableData
          if chunk.isEmpty {
            _ = once.resume(nil)
            return
          }
          buffer.append(chunk)
          if let newline = buffer.firstIndex(of: 0x0A) {
            _ = once.resume(String(decoding: buffer[..<newline], as: UTF8.self))
            return
          }
        }
      }
    }
    guard let line, line.hasPrefix("listening "), let port = Int(line.dropFirst("listening ".count)) else {
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
      let log = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""
      throw StartError(
        description: "smtp_server.py \(arguments.joined(separator: " ")) did not start (printed \(line.map { "'\($0)'" } ?? "nothing")): \(log)")
    }
    return SMTPTestServer(process: process, port: port, directory: directory)
  }

  /// SIGTERM, then SIGKILL if the server has not exited within 5 s.
  func stop() {
    guard process.isRunning else { return }
    process.terminate()
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }

  /// The stored mails: raw bytes and the envelope JSON, oldest first.
  func storedMails() throws -> [(raw: [UInt8], envelope: [String: Any])] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: maildir.path)) ?? []
    return try names.filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }.sorted().map { name in
      let raw = Array(try Data(contentsOf: maildir.appendingPathComponent(name)))
      let json = try Data(contentsOf: maildir.appendingPathComponent(String(name.dropLast(4)) + ".json"))
      let envelope = try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]
      return (raw, envelope)
    }
  }
}

/// Resumes a continuation once, from whichever thread gets there first.
private final class ResumeOnce: @unchecked Sendable {
  private let lock = NSLock()
  private var continuation: CheckedContinuation<String?, Never>?

  init(_ continuation: CheckedContinuation<String?, Never>) { self.continuation = continuation }

  func resume(_ value: String?) -> Bool {
    lock.lock()
    let pending = continuation
    continuation = nil
    lock.unlock()
    pending?.resume(returning: value)
    return pending != nil
  }
}
