import CourierTestSupport
import Foundation
@testable import Hermes
import Testing

@Suite("PDF receipts and the folder bucket")
struct ReceiptTests {
  /// Runs `pdftotext` (Debian poppler-utils) on `data`; nil when it is not installed.
  static func pdftotext(_ data: Data) throws -> (status: Int32, text: String, errors: String)? {
    let tool = ["/usr/bin/pdftotext", "/usr/local/bin/pdftotext"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let tool else { return nil }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("receipt-\(UUID().uuidString).pdf")
    try data.write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let run = try Program.run(tool, [file.path, "-"])
    return (run.status, run.output, run.errors)
  }

  @Test("the receipt is a PDF that pdftotext reads back without complaint")
  func receiptReadable() throws {
    let data = Receipt.document(
      trackingCode: "7K3M9QX2T4VA", title: "Shoes (size 42) \\ café", recipientUserID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
      registeredAt: Date(timeIntervalSince1970: 1_800_000_000))
    #expect(data.starts(with: Data("%PDF-1.4".utf8)))
    let result = try #require(try Self.pdftotext(data), "pdftotext is missing: apt-get install poppler-utils")
    #expect(result.status == 0)
    #expect(result.errors.isEmpty, "pdftotext complained: \(result.errors)")
    #expect(result.text.contains("Tracking code: 7K3M9QX2T4VA"))
    #expect(result.text.contains("Title: Shoes (size 42) \\ café"))
    #expect(result.text.contains("Recipient: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"))
    #expect(result.text.contains("Registered: 2027-01-15T08:00:00Z"))
  }

  @Test("xref offsets point at each object")
  func xrefOffsets() throws {
    var pdf = PDFDocument()
    pdf.add("hello")
    let data = pdf.render()
    let bytes = [UInt8](data)
    let text = String(decoding: bytes, as: UTF8.self)
    let xrefStart = try #require(text.range(of: "startxref\n")).upperBound
    let xref = Int(text[xrefStart...].prefix { $0.isNumber })!
    #expect(String(decoding: bytes[xref..<(xref + 4)], as: UTF8.self) == "xref")
    let entries = String(decoding: bytes[xref...], as: UTF8.self).split(separator: "\n").dropFirst(3).prefix(5)
    for (index, entry) in entries.enumerated() {
      #expect(entry.count == 19)  // 20 bytes with the newline
      let offset = Int(entry.prefix(10))!
      let header = "\(index + 1) 0 obj"
      #expect(String(decoding: bytes[offset..<(offset + header.utf8.count)], as: UTF8.self) == header)
    }
  }

  @Test("long lines wrap at spaces; unknown characters become ?")
  func wrapping() {
    #expect(PDFDocument.wrap("aaa bbb ccc", width: 7) == ["aaa bbb", "ccc"])
    #expect(PDFDocument.wrap("abcdefghij", width: 4) == ["abcd", "efgh", "ij"])
    #expect(PDFDocument.escaped("a(b)€") == Array("a\\(b\\)?".utf8))
  }

  @Test("folder bucket: put, get, replace, missing key, bad keys")
  func folderBucket() async throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("bucket-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    let bucket = try FolderBucket(root: root)
    try await bucket.put(key: "receipts/a.pdf", data: Data("one".utf8), contentType: "application/pdf")
    #expect(try await bucket.get(key: "receipts/a.pdf") == Data("one".utf8))
    try await bucket.put(key: "receipts/a.pdf", data: Data("two".utf8), contentType: "application/pdf")
    #expect(try await bucket.get(key: "receipts/a.pdf") == Data("two".utf8))
    #expect(try await bucket.get(key: "receipts/missing.pdf") == nil)
    for key in ["../escape", "/abs", "a//b", "", "sp ace"] {
      await #expect(throws: BucketError.invalidKey(key)) { try await bucket.put(key: key, data: Data(), contentType: "x") }
    }
    // Nothing but the one object (no temporary files left behind).
    let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("receipts").path)
    #expect(files == ["a.pdf"])
  }
}
