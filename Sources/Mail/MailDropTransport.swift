public import Foundation

/// A local mail drop: instead of sending, stores each mail as `<uuid>.eml` in a folder, where
/// developers (and the local admin client) can read it.
///
/// A mail is written under a temporary dot-name, flushed to disk (`fsync`), then renamed, so a
/// reader never sees half a file; the folder itself is synced after the rename. The stored file
/// starts with an `X-Courier-Received-At` field (ISO 8601, microseconds), which orders the list;
/// files without it are ordered by their modification time.
public final class MailDropTransport: MailTransport {
  public let directory: URL
  /// Keeps the receive times of this instance strictly increasing, so that two mails stored in
  /// the same microsecond still list in the order they came.
  private let clock = LastStamp()

  /// Creates the folder (and its parents) if needed.
  public init(directory: URL) throws {
    self.directory = directory
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  public func send(_ message: MailMessage) async -> MailSendOutcome {
    let validated: MailMessage
    do {
      validated = try message.validated()
    } catch {
      return .permanent("invalid message: \(error)")
    }
    let id = UUID().uuidString.lowercased()
    let stamp = clock.next()
    var bytes = Array("X-Courier-Received-At: \(Self.format(stamp))\r\n".utf8)
    bytes += validated.rendered()
    do {
      try write(bytes, id: id)
      return .sent(detail: id)
    } catch {
      return .transient("mail drop \(directory.path): \(error)")
    }
  }

  /// Stored mails, newest first: `limit` of them from `offset`, and how many there are in all.
  /// Files that are not mails (unreadable, no header fields) are left out.
  public func list(offset: Int, limit: Int) throws -> (entries: [MailDropEntry], total: Int) {
    guard offset >= 0 else { throw MailError(field: "offset", reason: "must not be negative (\(offset))") }
    guard limit >= 0 else { throw MailError(field: "limit", reason: "must not be negative (\(limit))") }
    var entries: [MailDropEntry] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
      guard name.hasSuffix(".eml"), !name.hasPrefix(".") else { continue }
      let id = String(name.dropLast(4))
      guard let bytes = try? Data(contentsOf: fileURL(id)), let entry = try? Self.entry(id: id, raw: Array(bytes), file: fileURL(id)) else {
        continue
      }
      entries.append(entry.entry)
    }
    entries.sort { ($0.receivedAt, $0.messageID) > ($1.receivedAt, $1.messageID) }
    let page = entries.dropFirst(offset).prefix(limit)
    return (Array(page), entries.count)
  }

  /// The mail stored as `<id>.eml`, or nil when there is none. Throws for an id that is not a
  /// UUID (nothing outside the folder can be named) and for a file that is not a readable mail.
  public func read(id: String) throws -> MailDropMessage? {
    guard let uuid = UUID(uuidString: id) else { throw MailError(field: "id", reason: "'\(id)' is not a UUID") }
    let canonical = uuid.uuidString.lowercased()
    let url = fileURL(canonical)
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    let bytes = Array(try Data(contentsOf: url))
    return try Self.entry(id: canonical, raw: bytes, file: url)
  }

  private func fileURL(_ id: String) -> URL { directory.appendingPathComponent(id + ".eml") }

  private static func entry(id: String, raw: [UInt8], file: URL) throws -> MailDropMessage {
    let parsed = try MIMEReader.parse(raw)
    let (rawHeaders, _) = try MIMEReader.split(raw[...], field: "message")
    func rawValue(_ name: String) -> String {
      rawHeaders.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value ?? ""
    }
    func decoded(_ name: String) -> String {
      parsed.headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1 ?? ""
    }
    let receivedAt =
      parse(decoded("X-Courier-Received-At"))
      ?? ((try? FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate]) as? Date)
      ?? Date(timeIntervalSince1970: 0)
    let entry = MailDropEntry(
      messageID: id,
      deliveryID: decoded("X-Courier-Delivery-Id"),
      from: MIMEReader.mailbox(rawValue("From")),
      to: MIMEReader.mailbox(rawValue("To")),
      subject: decoded("Subject"),
      receivedAt: receivedAt,
      sizeBytes: raw.count)
    return MailDropMessage(entry: entry, text: parsed.text, html: parsed.html, raw: String(decoding: raw, as: UTF8.self))
  }

  /// Temporary dot-name, write, fsync, rename, fsync the folder.
  private func write(_ bytes: [UInt8], id: String) throws {
    let temporary = directory.appendingPathComponent(".\(id).eml.tmp")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw MailError(field: "directory", reason: "cannot create \(temporary.path)")
    }
    do {
      let handle = try FileHandle(forWritingTo: temporary)
      defer { try? handle.close() }
      try handle.write(contentsOf: bytes)
      try handle.synchronize()
      try handle.close()
      try FileManager.default.moveItem(at: temporary, to: fileURL(id))
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw error
    }
    if let folder = FileHandle(forReadingAtPath: directory.path) {
      try? folder.synchronize()
      try? folder.close()
    }
  }

  /// `2026-11-27T15:48:03.123456Z`.
  private static func format(_ date: Date) -> String {
    let micros = Int((date.timeIntervalSince1970 * 1_000_000).rounded())
    let (seconds, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
    let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)  // 2026-11-27T15:48:03Z
    let digits = String(fraction)
    return whole.dropLast() + "." + String(repeating: "0", count: 6 - digits.count) + digits + "Z"
  }

  private static func parse(_ text: String) -> Date? {
    guard text.hasSuffix("Z"), let dot = text.firstIndex(of: ".") else { return nil }
    guard let whole = try? Date(String(text[..<dot]) + "Z", strategy: .iso8601) else { return nil }
    let digits = text[text.index(after: dot)..<text.index(before: text.endIndex)]
    guard digits.count == 6, let fraction = Int(digits) else { return nil }
    let micros = Int(whole.timeIntervalSince1970) * 1_000_000 + fraction
    return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
  }
}

/// The last receive time handed out by a mail drop, behind a lock.
private final class LastStamp: @unchecked Sendable {
  private let lock = NSLock()
  private var last = Date(timeIntervalSince1970: 0)

  func next() -> Date {
    lock.lock()
    defer { lock.unlock() }
    var now = Date()
    let floor = last.addingTimeInterval(0.000_001)
    if now < floor { now = floor }
    // Keep whole microseconds, so the stored text gives back exactly this value's order.
    now = Date(timeIntervalSince1970: (now.timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
    last = now
    return now
  }
}
