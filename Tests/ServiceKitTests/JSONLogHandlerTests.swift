import ContractRuntime
import Foundation
import Logging
import Synchronization
import Testing

@testable import ServiceKit

@Suite("JSONLogHandler")
struct JSONLogHandlerTests {
  /// Collects the lines a handler writes.
  final class Lines: Sendable {
    let lines = Mutex<[[UInt8]]>([])
    var output: JSONLogHandler.Output { { bytes in self.lines.withLock { $0.append(bytes) } } }

    func objects() throws -> [[String: Any]] {
      try lines.withLock { $0 }.map { line in
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false)
        return try #require(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
      }
    }
  }

  @Test("a line is one JSON object with the fixed keys, flattened metadata and secrets redacted")
  func lineShape() throws {
    let lines = Lines()
    var logger = Logger(label: "iris.mail") { label in
      JSONLogHandler(label: label, service: "iris", level: .debug, output: lines.output)
    }
    logger[metadataKey: "component"] = "sender"
    logger.info(
      "sent \"quoted\"\n\tnext line \u{1} é 漢字 🚚",
      metadata: [
        "request_id": "req-1",
        "recipient_count": .stringConvertible(2),
        "password": "hunter2",
        "Authorization": "Bearer abc",
        "reset_url": "https://x/reset?t=1",
        "access_token": "t",
        "request_body": "{}",
        "nested": ["token": "inner-secret", "kind": "mail"],
        "list": ["a", "b"],
        "error": "smtp said 451",
        "level": "shadowed",
      ]
    )
    logger.debug("below", metadata: [:])
    logger.trace("dropped")
    let objects = try lines.objects()
    #expect(objects.count == 2)
    let line = objects[0]
    #expect(line["level"] as? String == "info")
    #expect(line["service"] as? String == "iris")
    #expect(line["logger"] as? String == "iris.mail")
    #expect(line["message"] as? String == "sent \"quoted\"\n\tnext line \u{1} é 漢字 🚚")
    #expect(line["request_id"] as? String == "req-1")
    #expect(line["recipient_count"] as? String == "2")
    #expect(line["component"] as? String == "sender")
    for key in ["password", "Authorization", "reset_url", "access_token", "request_body"] {
      #expect(line[key] as? String == "[redacted]", "\(key)")
    }
    #expect((line["nested"] as? [String: Any])?["token"] as? String == "[redacted]")
    #expect((line["nested"] as? [String: Any])?["kind"] as? String == "mail")
    #expect(line["list"] as? [String] == ["a", "b"])
    #expect(line["error"] as? String == "smtp said 451")
    #expect(line["metadata.level"] as? String == "shadowed")
    let time = try #require(line["time"] as? String)
    #expect(time.count == 24 && time.hasSuffix("Z"))
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let parsed = try #require(formatter.date(from: time))
    #expect(abs(parsed.timeIntervalSinceNow) < 60)
    #expect(objects[1]["request_id"] == nil)
  }

  @Test("request_id comes from CallContext.current when the metadata has none")
  func requestIDFromCallContext() throws {
    let lines = Lines()
    let logger = Logger(label: "t") { JSONLogHandler(label: $0, service: "s", output: lines.output) }
    CallContext.$current.withValue(CallContext(caller: nil, requestID: "from-context")) {
      logger.info("inside")
    }
    #expect(try lines.objects()[0]["request_id"] as? String == "from-context")
  }

  @Test("the timestamp is RFC 3339 UTC with milliseconds")
  func timestamp() {
    var spec = timespec()
    spec.tv_sec = 1_795_794_498  // 2026-11-27T15:48:18Z
    spec.tv_nsec = 7_000_000
    #expect(JSONLogHandler.timestamp(spec) == "2026-11-27T15:48:18.007Z")
  }

  @Test("lines written from many threads to a pipe never interleave, even past PIPE_BUF")
  func noInterleaving() async throws {
    var descriptors: [Int32] = [0, 0]
    // Close-on-exec, so that a process another test starts meanwhile does not keep the write end.
    #expect(pipe(&descriptors) == 0)
    #expect(fcntl(descriptors[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(descriptors[1], F_SETFD, FD_CLOEXEC) == 0)
    let (reader, writer) = (descriptors[0], descriptors[1])
    let output = FileDescriptorOutput(descriptor: writer)
    // The blocking reads run on a thread of their own, never on one of Swift's pool threads.
    let (collected, done) = AsyncStream.makeStream(of: [UInt8].self)
    Thread.detachNewThread {
      var all: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 65_536)
      while true {
        let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        all.append(contentsOf: buffer[0..<count])
      }
      done.yield(all)
      done.finish()
    }
    let writers = 8
    let perWriter = 50
    await withTaskGroup(of: Void.self) { group in
      for index in 0..<writers {
        group.addTask {
          let logger = Logger(label: "w\(index)") { JSONLogHandler(label: $0, service: "s", output: output.write) }
          for number in 0..<perWriter {
            logger.info("\(String(repeating: Character(UnicodeScalar(UInt8(65 + index))), count: 9_000)) \(number)")
          }
        }
      }
    }
    close(writer)
    var result = collected.makeAsyncIterator()
    let bytes = await result.next() ?? []
    close(reader)
    let lines = bytes.split(separator: UInt8(ascii: "\n"))
    #expect(lines.count == writers * perWriter)
    for line in lines {
      let object = try #require(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
      let message = try #require(object["message"] as? String)
      #expect(Set(message.prefix(9_000)).count == 1)
    }
  }
}
