public import Foundation

/// One stored mail in a mail drop, as listed.
public struct MailDropEntry: Sendable, Hashable {
  /// The file's uuid (`<uuid>.eml`): the id to pass to ``MailDropTransport/read(id:)``.
  public var messageID: String
  /// The mail's `X-Courier-Delivery-Id` header, empty when it has none.
  public var deliveryID: String
  public var from: MailAddress
  public var to: MailAddress
  public var subject: String
  /// When the mail drop stored it.
  public var receivedAt: Date
  public var sizeBytes: Int

  public init(
    messageID: String, deliveryID: String, from: MailAddress, to: MailAddress, subject: String, receivedAt: Date,
    sizeBytes: Int
  ) {
    self.messageID = messageID
    self.deliveryID = deliveryID
    self.from = from
    self.to = to
    self.subject = subject
    self.receivedAt = receivedAt
    self.sizeBytes = sizeBytes
  }
}

/// One stored mail, read back whole.
public struct MailDropMessage: Sendable {
  public var entry: MailDropEntry
  /// The `text/plain` body, `\n` line ends.
  public var text: String
  /// The `text/html` body, empty when the mail has none.
  public var html: String
  /// The file as stored (CRLF line ends).
  public var raw: String

  public init(entry: MailDropEntry, text: String, html: String, raw: String) {
    self.entry = entry
    self.text = text
    self.html = html
    self.raw = raw
  }
}
