import Foundation
import Mail
import Testing

@Suite("MailDropTransport")
struct MailDropTests {
  func mail(_ number: Int) -> MailMessage {
    MailMessage(
      from: MailAddress(address: "noreply@courier.example", name: "Zoë, Courier"),
      to: MailAddress(address: "ann\(number)@example.com", name: "Ann \(number)"),
      subject: "Mail nümber \(number)", text: "Text \(number)\nsecond line", html: "<p>HTML \(number)</p>",
      extraHeaders: [(name: "X-Courier-Delivery-Id", value: "delivery-\(number)")])
  }

  @Test("stores, lists newest first with paging, and reads back")
  func roundTrip() async throws {
    let directory = try temporaryDirectory("maildrop").appendingPathComponent("nested/drop")
    defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent().deletingLastPathComponent()) }
    let drop = try MailDropTransport(directory: directory)
    var ids: [String] = []
    for number in 1...5 {
      guard case .sent(let id) = await drop.send(mail(number)) else {
        Issue.record("mail \(number) was not stored")
        return
      }
      ids.append(id)
    }

    let first = try drop.list(offset: 0, limit: 2)
    #expect(first.total == 5)
    #expect(first.entries.map(\.messageID) == [ids[4], ids[3]])
    let last = try drop.list(offset: 4, limit: 2)
    #expect(last.entries.map(\.messageID) == [ids[0]])
    #expect(try drop.list(offset: 5, limit: 2).entries.isEmpty)
    let all = try drop.list(offset: 0, limit: 100).entries
    #expect(all.map(\.deliveryID) == (1...5).reversed().map { "delivery-\($0)" })
    #expect(zip(all, all.dropFirst()).allSatisfy { $0.receivedAt > $1.receivedAt })

    let entry = all[2]
    #expect(entry.subject == "Mail nümber 3")
    #expect(entry.from == MailAddress(address: "noreply@courier.example", name: "Zoë, Courier"))
    #expect(entry.to == MailAddress(address: "ann3@example.com", name: "Ann 3"))
    #expect(abs(entry.receivedAt.timeIntervalSinceNow) < 60)
    let file = directory.appendingPathComponent("\(entry.messageID).eml")
    #expect(entry.sizeBytes == (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int))

    let message = try #require(try drop.read(id: entry.messageID))
    #expect(message.entry == entry)
    #expect(message.text == "Text 3\nsecond line")
    #expect(message.html == "<p>HTML 3</p>")
    #expect(message.raw == String(decoding: try Data(contentsOf: file), as: UTF8.self))
    #expect(message.raw.contains("\r\nX-Courier-Delivery-Id: delivery-3\r\n"))
    #expect(try drop.read(id: entry.messageID.uppercased())?.entry == entry)
  }

  @Test("unknown ids give nil, ids that are not UUIDs are refused")
  func unknown() async throws {
    let directory = try temporaryDirectory("maildrop")
    defer { try? FileManager.default.removeItem(at: directory) }
    let drop = try MailDropTransport(directory: directory)
    #expect(try drop.read(id: UUID().uuidString) == nil)
    let error = #expect(throws: MailError.self) { try drop.read(id: "../../etc/passwd") }
    #expect(error?.field == "id")
    #expect(try drop.list(offset: 0, limit: 10).total == 0)
    #expect(throws: MailError.self) { try drop.list(offset: -1, limit: 10) }
  }

  @Test("writes are atomic: only finished .eml files remain; invalid mail is refused")
  func atomic() async throws {
    let directory = try temporaryDirectory("maildrop")
    defer { try? FileManager.default.removeItem(at: directory) }
    let drop = try MailDropTransport(directory: directory)
    await withTaskGroup(of: MailSendOutcome.self) { group in
      for number in 1...20 { group.addTask { await drop.send(self.mail(number)) } }
      for await outcome in group {
        guard case .sent = outcome else {
          Issue.record("not stored: \(outcome)")
          continue
        }
      }
    }
    var bad = mail(0)
    bad.to = MailAddress(address: "nobody")
    let outcome = await drop.send(bad)
    #expect(outcome == .permanent("invalid message: to.address: missing '@'"))

    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    #expect(names.count == 20)
    #expect(names.allSatisfy { $0.hasSuffix(".eml") && !$0.hasPrefix(".") && UUID(uuidString: String($0.dropLast(4))) != nil })
    #expect(try drop.list(offset: 0, limit: 50).total == 20)

    // A half-written file under the temporary name is never listed.
    try Data("From: x".utf8).write(to: directory.appendingPathComponent(".\(UUID().uuidString.lowercased()).eml.tmp"))
    #expect(try drop.list(offset: 0, limit: 50).total == 20)
  }
}
