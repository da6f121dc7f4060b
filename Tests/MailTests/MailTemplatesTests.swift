import Foundation
import Mail
import Testing

@Suite("MailTemplates")
struct MailTemplatesTests {
  static let variables: [String: [(name: String, value: String)]] = [
    "welcome": [(name: "display_name", value: "Ann")],
    "password-recover": [
      (name: "display_name", value: "Ann"), (name: "reset_url", value: "https://courier.example/reset?t=abc&u=1"),
      (name: "expires_in_minutes", value: "30"),
    ],
    "payload-update": [
      (name: "display_name", value: "Ann"), (name: "payload_title", value: "Bücher"),
      (name: "tracking_code", value: "CR-123"), (name: "status", value: "out for delivery"),
      (name: "tracking_url", value: "https://courier.example/t/CR-123"),
    ],
    "payload-arriving": [
      (name: "display_name", value: "Ann"), (name: "payload_title", value: "Bücher"),
      (name: "tracking_code", value: "CR-123"), (name: "arrival", value: "in about 4 minutes, 1.2 km away"),
      (name: "tracking_url", value: "https://courier.example/t/CR-123"),
    ],
  ]

  @Test("every shipped template renders, with every value in place", arguments: ["welcome", "password-recover", "payload-update", "payload-arriving"])
  func shipped(name: String) throws {
    let variables = try #require(Self.variables[name])
    let rendered = try MailTemplates.shipped.render(name, variables: variables)
    for part in [rendered.subject, rendered.text, rendered.html] {
      #expect(!part.contains("{{") && !part.contains("}}"))
    }
    #expect(!rendered.subject.isEmpty && !rendered.subject.contains("\n"))
    for variable in variables {
      let escaped = variable.value.replacingOccurrences(of: "&", with: "&amp;")
      #expect(rendered.text.contains(variable.value), "text lacks \(variable.name)")
      #expect(rendered.html.contains(escaped), "html lacks \(variable.name)")
    }
    #expect(rendered.html.hasPrefix("<!DOCTYPE html>"))
    #expect(rendered.html.contains("<html lang=\"en\">"))
    #expect(rendered.html.contains("<title>"))
    #expect(!rendered.html.contains("<style") && !rendered.html.contains("<script"))
    #expect(MailTemplates.shipped.names == ["password-recover", "payload-arriving", "payload-update", "welcome"])
  }

  @Test("the subject of payload-update names the payload and its status")
  func payloadSubject() throws {
    let rendered = try MailTemplates.shipped.render("payload-update", variables: try #require(Self.variables["payload-update"]))
    #expect(rendered.subject == "Bücher: out for delivery")
  }

  @Test("all missing variables are named")
  func missing() {
    let error = #expect(throws: MailError.self) {
      try MailTemplates.shipped.render("password-recover", variables: [(name: "display_name", value: "Ann")])
    }
    #expect(error?.field == "variables")
    #expect(error?.reason == "missing for template 'password-recover': expires_in_minutes, reset_url")
  }

  @Test("values are HTML-escaped in the HTML only")
  func escaping() throws {
    let hostile = "<script>alert('x')</script> & \"quotes\""
    let rendered = try MailTemplates.shipped.render("welcome", variables: [(name: "display_name", value: hostile)])
    #expect(!rendered.html.contains("<script>"))
    #expect(rendered.html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"))
    #expect(rendered.text.contains(hostile))
    #expect(rendered.subject.contains(hostile))
  }

  @Test("bad calls: unknown template, duplicate variable, line break in the subject, bad placeholder")
  func errors() {
    let unknown = #expect(throws: MailError.self) { try MailTemplates.shipped.render("goodbye", variables: []) }
    #expect(unknown?.description == "template: unknown template 'goodbye' (known: password-recover, payload-arriving, payload-update, welcome)")

    let duplicate = #expect(throws: MailError.self) {
      try MailTemplates.shipped.render("welcome", variables: [(name: "display_name", value: "A"), (name: "display_name", value: "B")])
    }
    #expect(duplicate?.description == "variables: given more than once: display_name")

    var variables = Self.variables["payload-update"] ?? []
    variables[1].value = "Bücher\r\nBcc: eve@example.com"
    let subject = #expect(throws: MailError.self) { try MailTemplates.shipped.render("payload-update", variables: variables) }
    #expect(subject?.description == "variables.payload_title: line break not allowed in the subject")

    let custom = MailTemplates(["t": (subject: "Hi {{ name }}", text: "{{name}} {{oops", html: "")])
    let unterminated = #expect(throws: MailError.self) { try custom.render("t", variables: [(name: "name", value: "x")]) }
    #expect(unterminated?.description == "template.t.text: '{{' without '}}'")
    let badName = MailTemplates(["t": (subject: "{{na me}}", text: "", html: "")])
    #expect(throws: MailError.self) { try badName.render("t", variables: []) }
  }

  @Test("extra variables are ignored; a line break outside the subject is fine")
  func extras() throws {
    let custom = MailTemplates(["t": (subject: "Hi {{ name }}", text: "{{name}}\n{{body}}", html: "<p>{{body}}</p>")])
    let rendered = try custom.render(
      "t", variables: [(name: "name", value: "Ann"), (name: "body", value: "a\nb"), (name: "unused", value: "z")])
    #expect(rendered == RenderedTemplate(subject: "Hi Ann", text: "Ann\na\nb", html: "<p>a\nb</p>"))
  }
}
