import Mail
import Testing

@Suite("MailAddress validation")
struct MailAddressTests {
  @Test(
    "valid addresses pass unchanged",
    arguments: [
      MailAddress(address: "ann@example.com"),
      MailAddress(address: "a.b+tag_1@mail.example.co.uk", name: "Ann B."),
      MailAddress(address: "zoe@bücher.de", name: "Zoë Ångström"),
      MailAddress(address: "x@xn--bcher-kva.example", name: "Doe, John"),
      MailAddress(address: "o'neil@sub-domain.example.org"),
    ])
  func valid(address: MailAddress) throws {
    #expect(try address.validated(field: "to") == address)
  }

  @Test(
    "each invalid kind names the field and the fault",
    arguments: [
      (MailAddress(address: ""), "recipient.address: empty"),
      (MailAddress(address: "annexample.com"), "recipient.address: missing '@'"),
      (MailAddress(address: "a@b@example.com"), "recipient.address: more than one '@'"),
      (MailAddress(address: "@example.com"), "recipient.address: empty local part"),
      (MailAddress(address: "an n@example.com"), "recipient.address: local part contains a space or control character"),
      (MailAddress(address: "an\u{01}n@example.com"), "recipient.address: local part contains a space or control character"),
      (MailAddress(address: "a<b@example.com"), "recipient.address: local part contains '<'"),
      (MailAddress(address: "ann@"), "recipient.address: empty domain"),
      (MailAddress(address: "ann@localhost"), "recipient.address: domain 'localhost' needs at least one dot"),
      (MailAddress(address: "ann@example..com"), "recipient.address: domain 'example..com' has an empty label"),
      (MailAddress(address: "ann@exa_mple.com"), "recipient.address: domain label 'exa_mple' contains '_'"),
      (MailAddress(address: "ann@-example.com"), "recipient.address: domain label '-example' starts or ends with '-'"),
      (MailAddress(address: "ann@" + String(repeating: "a", count: 64) + ".com"),
       "recipient.address: domain label '\(String(repeating: "a", count: 64))' is longer than 63 characters"),
      (MailAddress(address: String(repeating: "a", count: 245) + "@example.com"),
       "recipient.address: too long (257 characters, at most 254)"),
      (MailAddress(address: "ann@example.com\r\nBcc: eve@example.com"), "recipient.address: contains a line break"),
      (MailAddress(address: "ann@example.com", name: "Ann\nBcc: eve@example.com"), "recipient.name: contains a line break"),
      (MailAddress(address: "ann@example.com", name: "Ann\u{07}"), "recipient.name: contains a control character"),
      (MailAddress(address: "ann@example.com", name: String(repeating: "n", count: 101)),
       "recipient.name: too long (101 characters, at most 100)"),
    ])
  func invalid(address: MailAddress, message: String) {
    let error = #expect(throws: MailError.self) { try address.validated(field: "recipient") }
    #expect(error?.description == message)
  }

  @Test("the error's field and reason are separate")
  func errorParts() {
    do {
      _ = try MailAddress(address: "nobody").validated(field: "from")
      Issue.record("an address without '@' was accepted")
    } catch {
      #expect(error.field == "from.address")
      #expect(error.reason == "missing '@'")
    }
  }
}
