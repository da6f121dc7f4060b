public import Foundation

/// A one-page PDF 1.4 document of Helvetica text lines: the smallest valid file that viewers and
/// `pdftotext` read (catalog, page tree, one page, one standard Type 1 font, one content stream, a
/// cross-reference table with exact byte offsets).
///
/// Text is encoded as WinAnsi (Latin-1 for the printable range); characters it cannot show become
/// `?`. Lines longer than `wrapWidth` characters are wrapped at spaces.
public struct PDFDocument: Sendable {
  /// Page size in points (A4 by default).
  public var pageSize: (width: Int, height: Int) = (595, 842)
  public var fontSize = 12
  public var lineHeight = 16
  public var margin = 56
  public var wrapWidth = 80
  public private(set) var lines: [String] = []

  public init() {}

  /// Adds a line (wrapped when long); an empty string adds a blank line.
  public mutating func add(_ line: String) {
    lines.append(contentsOf: Self.wrap(line, width: wrapWidth))
  }

  /// The file's bytes.
  public func render() -> Data {
    var content = "BT\n/F1 \(fontSize) Tf\n\(lineHeight) TL\n\(margin) \(pageSize.height - margin) Td\n"
    var body = Data(content.utf8)
    for (index, line) in lines.enumerated() {
      if index > 0 { body.append(contentsOf: Array("T*\n".utf8)) }
      body.append(UInt8(ascii: "("))
      body.append(contentsOf: Self.escaped(line))
      body.append(contentsOf: Array(") Tj\n".utf8))
    }
    body.append(contentsOf: Array("ET\n".utf8))
    content = ""

    let objects: [Data] = [
      Data("<< /Type /Catalog /Pages 2 0 R >>".utf8),
      Data("<< /Type /Pages /Kids [3 0 R] /Count 1 >>".utf8),
      Data(
        ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 \(pageSize.width) \(pageSize.height)] "
          + "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>").utf8),
      Data("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".utf8),
      Data("<< /Length \(body.count) >>\nstream\n".utf8) + body + Data("endstream".utf8),
    ]
    // The binary comment line tells transfer tools that the file is binary.
    var file = Data("%PDF-1.4\n%".utf8) + Data([0xE2, 0xE3, 0xCF, 0xD3, 0x0A])
    var offsets: [Int] = []
    for (index, object) in objects.enumerated() {
      offsets.append(file.count)
      file.append(contentsOf: Array("\(index + 1) 0 obj\n".utf8))
      file.append(object)
      file.append(contentsOf: Array("\nendobj\n".utf8))
    }
    let xref = file.count
    var table = "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
    for offset in offsets { table += Self.padded(offset) + " 00000 n \n" }
    table += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
    file.append(contentsOf: Array(table.utf8))
    return file
  }

  /// A 10-digit, zero-padded offset (each xref entry is exactly 20 bytes).
  static func padded(_ offset: Int) -> String {
    let digits = String(offset)
    return String(repeating: "0", count: max(0, 10 - digits.count)) + digits
  }

  /// A PDF literal string's bytes in WinAnsi: `\`, `(` and `)` escaped, unknown characters `?`.
  static func escaped(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    for scalar in text.unicodeScalars {
      let value = scalar.value
      let byte: UInt8 = (0x20...0x7E).contains(value) || (0xA0...0xFF).contains(value) ? UInt8(value) : UInt8(ascii: "?")
      if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")") {
        bytes.append(UInt8(ascii: "\\"))
      }
      bytes.append(byte)
    }
    return bytes
  }

  /// Splits `text` into lines of at most `width` characters, at spaces where possible.
  static func wrap(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
      var line = ""
      for word in paragraph.split(separator: " ", omittingEmptySubsequences: true) {
        var word = Substring(word)
        while word.count > width {
          if !line.isEmpty { lines.append(line); line = "" }
          lines.append(String(word.prefix(width)))
          word = word.dropFirst(width)
        }
        if line.isEmpty {
          line = String(word)
        } else if line.count + 1 + word.count <= width {
          line += " " + word
        } else {
          lines.append(line)
          line = String(word)
        }
      }
      lines.append(line)
    }
    return lines
  }
}
