import Testing
import WebPush

@Suite("Base64url")
struct Base64URLTests {
  @Test("Encoding is URL-safe and unpadded")
  func encode() {
    #expect(Base64URL.encode([UInt8]()) == "")
    #expect(Base64URL.encode([0xFB]) == "-w")
    #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    #expect(Base64URL.encode(Array("foobar".utf8)) == "Zm9vYmFy")
    #expect(Base64URL.encode(Array("fooba".utf8)) == "Zm9vYmE")
  }

  @Test("Decoding accepts both alphabets, padded or not")
  func decode() {
    #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
    #expect(Base64URL.decode("+/8=") == [0xFB, 0xFF])
    #expect(Base64URL.decode("Zm9vYmE=") == Array("fooba".utf8))
    #expect(Base64URL.decode("") == [])
  }

  @Test("Decoding refuses what is not base64", arguments: ["a", "ab c", "ab=c", "abc==", "a===", "é"])
  func refuses(text: String) {
    #expect(Base64URL.decode(text) == nil)
  }

  @Test("Round trip of every length up to 40")
  func roundTrip() {
    for length in 0...40 {
      let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 53 &+ 200) }
      #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
    }
  }
}
