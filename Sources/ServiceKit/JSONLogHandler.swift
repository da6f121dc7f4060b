import ContractRuntime
import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes one JSON object per line:
///
/// ```json
/// {"time":"2026-11-27T15:48:18.123Z","level":"info","service":"iris","logger":"iris.mail",
///  "message":"sent","request_id":"…","recipient_count":2,"error":"…"}
/// ```
///
/// `request_id` comes from the metadata or else from `CallContext.current`. Metadata is flattened
/// into the object (nested dictionaries and arrays stay JSON objects and arrays); a key that clashes
/// with one of the fixed keys is written as `metadata.<key>`. Values under keys that look secret
/// (`password`, `token`, `secret`, `authorization`, `cookie`, `reset_url`, `body`, anywhere in the
/// key, any case) are written as `"[redacted]"`. Each line reaches the output in one write, so lines
/// from different threads never interleave.
public struct JSONLogHandler: LogHandler {
  /// Where finished lines go: the bytes of one line, newline included.
  public typealias Output = @Sendable ([UInt8]) -> Void

  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level
  public var metadataProvider: Logger.MetadataProvider?

  private let label: String
  private let service: String
  private let output: Output

  /// - Parameters:
  ///   - label: the logger's label (`logger` in the line).
  ///   - service: the service's name (`service` in the line).
  ///   - output: where lines go; standard output by default.
  public init(
    label: String,
    service: String,
    level: Logger.Level = .info,
    metadataProvider: Logger.MetadataProvider? = nil,
    output: @escaping Output = JSONLogHandler.standardOutput
  ) {
    self.label = label
    self.service = service
    self.logLevel = level
    self.metadataProvider = metadataProvider
    self.output = output
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var merged = metadata
    if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
    if let extra = event.metadata { merged.merge(extra) { _, new in new } }
    if merged["error"] == nil, let error = event.error { merged["error"] = .string("\(error)") }
    output(line(level: event.level, message: event.message.description, metadata: merged))
  }

  /// The keys every line has; metadata under these names is renamed.
  static let fixedKeys: Set<String> = ["time", "level", "service", "logger", "message", "request_id"]

  /// Fragments of keys whose values are never written.
  static let secretFragments = ["password", "token", "secret", "authorization", "cookie", "reset_url", "body"]

  func line(level: Logger.Level, message: String, metadata: Logger.Metadata, now: timespec = Self.now()) -> [UInt8] {
    var json = JSONWriter()
    json.bytes.reserveCapacity(256)
    json.open()
    json.field("time", string: Self.timestamp(now))
    json.field("level", string: level.rawValue)
    json.field("service", string: service)
    json.field("logger", string: label)
    json.field("message", string: message)
    let requestID: String? =
      switch metadata["request_id"] {
      case .string(let text)?: text
      case .stringConvertible(let value)?: value.description
      default: CallContext.current?.requestID
      }
    if let requestID { json.field("request_id", string: requestID) }
    for key in metadata.keys.sorted() where key != "request_id" {
      let name = Self.fixedKeys.contains(key) ? "metadata.\(key)" : key
      json.key(name)
      Self.write(metadata[key]!, named: key, into: &json)
    }
    json.close()
    json.bytes.append(UInt8(ascii: "\n"))
    return json.bytes
  }

  /// Whether `key` holds a secret fragment, ASCII letters compared without case. Bytes, not
  /// `String.contains`: with Foundation imported that is a locale-aware `range(of:)`, a tenth of
  /// Iris' CPU when it logged a line per push.
  static func isSecret(_ key: String) -> Bool {
    let lowered = key.utf8.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 | 0x20 : $0 }
    return secretFragmentBytes.contains { fragment in
      guard lowered.count >= fragment.count else { return false }
      return (0...(lowered.count - fragment.count)).contains { start in
        lowered[start..<(start + fragment.count)].elementsEqual(fragment)
      }
    }
  }

  private static let secretFragmentBytes = secretFragments.map { Array($0.utf8) }

  private static func write(_ value: Logger.Metadata.Value, named key: String, into json: inout JSONWriter) {
    if isSecret(key) {
      json.string("[redacted]")
      return
    }
    switch value {
    case .string(let text): json.string(text)
    case .stringConvertible(let convertible): json.string(convertible.description)
    case .array(let values):
      json.bytes.append(UInt8(ascii: "["))
      for (index, element) in values.enumerated() {
        if index > 0 { json.bytes.append(UInt8(ascii: ",")) }
        write(element, named: "", into: &json)
      }
      json.bytes.append(UInt8(ascii: "]"))
    case .dictionary(let dictionary):
      json.open()
      for name in dictionary.keys.sorted() {
        json.key(name)
        write(dictionary[name]!, named: name, into: &json)
      }
      json.close()
    }
  }

  // MARK: Time

  static func now() -> timespec {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return spec
  }

  /// RFC 3339 in UTC with milliseconds: `2026-11-27T15:48:18.123Z`.
  static func timestamp(_ spec: timespec) -> String {
    var seconds = spec.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int, _ width: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
      + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
      + ".\(pad(Int(spec.tv_nsec) / 1_000_000, 3))Z"
  }

  // MARK: Output

  /// Writes lines to standard output (file descriptor 1), one `write(2)` per line; a process-wide
  /// lock keeps a line that needs several writes (a short write on a pipe) in one piece.
  public static let standardOutput: Output = { bytes in
    FileDescriptorOutput.standardOutput.write(bytes)
  }
}
