import Foundation
@testable import Hermes
import Testing

/// The signer against AWS's published examples.
@Suite("SigV4 signatures (AWS example vectors)")
struct SigV4Tests {
  static func date(_ text: String) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let digits = Array(text.filter(\.isNumber)).map { Int(String($0))! }
    func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + digits[$1] } }
    return calendar.date(from: DateComponents(
      year: number(0..<4), month: number(4..<6), day: number(6..<8),
      hour: number(8..<10), minute: number(10..<12), second: number(12..<14)))!
  }

  @Test("S3 GET object example (examplebucket/test.txt with a Range header)")
  func s3GetObject() {
    let signer = SigV4Signer(
      credentials: .init(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
      region: "us-east-1", service: "s3")
    let signed = signer.sign(
      method: "GET", path: "/test.txt",
      headers: [
        ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
      ],
      payloadHash: SigV4Signer.emptyPayloadHash, date: Self.date("20130524T000000Z"))
    #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    #expect(
      signed.authorization
        == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
  }

  @Test("IAM ListUsers example (query string, content-type)")
  func iamListUsers() {
    let signer = SigV4Signer(
      credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
      region: "us-east-1", service: "iam")
    let signed = signer.sign(
      method: "GET", path: "/", query: [("Version", "2010-05-08"), ("Action", "ListUsers")],
      headers: [
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
      ],
      payloadHash: SigV4Signer.emptyPayloadHash, date: Self.date("20150830T123600Z"))
    #expect(signed.canonicalRequest.hasPrefix("GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:"))
    #expect(signed.signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
  }

  @Test("test suite: post-vanilla")
  func postVanilla() {
    let signer = SigV4Signer(
      credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
      region: "us-east-1", service: "service")
    let signed = signer.sign(
      method: "POST", path: "/", headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
      payloadHash: SigV4Signer.emptyPayloadHash, date: Self.date("20150830T123600Z"))
    #expect(signed.signature == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
  }

  @Test("a different secret, date or header changes the signature")
  func sensitivity() {
    let base = SigV4Signer(credentials: .init(accessKeyID: "A", secretAccessKey: "S"), region: "r")
    let date = Self.date("20240101T000000Z")
    func sign(_ signer: SigV4Signer, _ value: String = "v", _ at: Date = date) -> String {
      signer.sign(method: "PUT", path: "/b/k", headers: [("host", "h"), ("x-a", value)], payloadHash: "p", date: at).signature
    }
    let reference = sign(base)
    #expect(sign(SigV4Signer(credentials: .init(accessKeyID: "A", secretAccessKey: "T"), region: "r")) != reference)
    #expect(sign(base, "w") != reference)
    #expect(sign(base, "v", date.addingTimeInterval(1)) != reference)
    #expect(SigV4Signer.encode("a b/ü", keepSlash: true) == "a%20b/%C3%BC")
    #expect(SigV4Signer.trimmed("  a   b  ") == "a b")
  }
}
