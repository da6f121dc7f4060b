public import Foundation
import Synchronization

/// Reads settings from environment variables, each with a documented default.
///
/// Every read is recorded (first read of a name wins) so that `--help` or a README can list the
/// variables a service reads, in the order it reads them. An empty value counts as unset everywhere.
/// Values that do not parse throw `ConfigurationError` naming the variable and the expected form.
public struct ServiceEnvironment: Sendable {
  private let values: [String: String]
  private let reads = Reads()

  public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
    self.values = values
  }

  /// A text setting.
  public func string(_ name: String, default defaultValue: String, _ doc: String) -> String {
    record(name, defaultValue, doc)
    return value(name) ?? defaultValue
  }

  /// A text setting without a default; empty counts as unset.
  public func optionalString(_ name: String, _ doc: String) -> String? {
    record(name, "", doc)
    return value(name)
  }

  /// A whole number within `range`.
  public func int(
    _ name: String,
    default defaultValue: Int,
    in range: ClosedRange<Int>,
    _ doc: String
  ) throws(ConfigurationError) -> Int {
    record(name, String(defaultValue), doc)
    guard let text = value(name) else { return defaultValue }
    guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
      throw ConfigurationError(variable: name, message: "must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
    }
    guard range.contains(number) else {
      throw ConfigurationError(variable: name, message: "must be in \(range.lowerBound)...\(range.upperBound), got \(number)")
    }
    return number
  }

  /// A switch: `true`/`false`, `1`/`0` or `yes`/`no`, in any case.
  public func bool(_ name: String, default defaultValue: Bool, _ doc: String) throws(ConfigurationError) -> Bool {
    record(name, String(defaultValue), doc)
    guard let text = value(name) else { return defaultValue }
    switch text.trimmingCharacters(in: .whitespaces).lowercased() {
    case "true", "1", "yes": return true
    case "false", "0", "no": return false
    default:
      throw ConfigurationError(variable: name, message: "must be one of true, false, 1, 0, yes, no, got '\(text)'")
    }
  }

  /// A non-negative duration: a whole number with a unit, `250ms`, `30s`, `5m` or `1h`.
  public func duration(_ name: String, default defaultValue: Duration, _ doc: String) throws(ConfigurationError) -> Duration {
    record(name, Self.format(defaultValue), doc)
    guard let text = value(name) else { return defaultValue }
    guard let parsed = Self.parseDuration(text.trimmingCharacters(in: .whitespaces)) else {
      throw ConfigurationError(variable: name, message: "must be a whole number with a unit (250ms, 30s, 5m, 1h), got '\(text)'")
    }
    return parsed
  }

  /// A `host:port` address (`[::1]:50051` for IPv6).
  public func address(
    _ name: String, default defaultValue: String, _ doc: String
  ) throws(ConfigurationError) -> (host: String, port: Int) {
    record(name, defaultValue, doc)
    return try Self.parseAddress(value(name) ?? defaultValue, variable: name)
  }

  /// Splits `host:port` (`[::1]:50051` for IPv6); the error names `variable`.
  public static func parseAddress(_ text: String, variable: String) throws(ConfigurationError) -> (host: String, port: Int) {
    guard let colon = text.lastIndex(of: ":") else {
      throw ConfigurationError(variable: variable, message: "must be host:port, got '\(text)'")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else {
      throw ConfigurationError(variable: variable, message: "must be host:port with a port in 1...65535, got '\(text)'")
    }
    return (host, port)
  }

  /// The variables read so far, in read order, with their defaults as text ("" when there is none).
  public var documentation: [(name: String, defaultValue: String, doc: String)] {
    reads.entries.withLock { $0.map { ($0.name, $0.defaultValue, $0.doc) } }
  }

  // MARK: Helpers

  private func value(_ name: String) -> String? {
    guard let text = values[name], !text.isEmpty else { return nil }
    return text
  }

  private func record(_ name: String, _ defaultValue: String, _ doc: String) {
    reads.entries.withLock { entries in
      if !entries.contains(where: { $0.name == name }) {
        entries.append(Reads.Entry(name: name, defaultValue: defaultValue, doc: doc))
      }
    }
  }

  static func parseDuration(_ text: String) -> Duration? {
    let digits = text.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, let amount = Int64(digits) else { return nil }
    switch text.dropFirst(digits.count) {
    case "ms": return .milliseconds(amount)
    case "s": return amount <= Int64.max / 1_000 ? .seconds(amount) : nil
    case "m": return amount <= Int64.max / 60_000 ? .seconds(amount * 60) : nil
    case "h": return amount <= Int64.max / 3_600_000 ? .seconds(amount * 3_600) : nil
    default: return nil
    }
  }

  static func format(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if attoseconds == 0 {
      if seconds != 0, seconds % 3_600 == 0 { return "\(seconds / 3_600)h" }
      if seconds != 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
      return "\(seconds)s"
    }
    return "\(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)ms"
  }
}

/// The record of reads, shared by copies of one `ServiceEnvironment`.
private final class Reads: Sendable {
  struct Entry {
    var name: String
    var defaultValue: String
    var doc: String
  }

  let entries = Mutex<[Entry]>([])
}
