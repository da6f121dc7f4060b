import Foundation
import SwiftProtobuf

/// Checks one golden fixture against the generated Swift type and says what is wrong, so that the
/// same checks can be shown to fail on broken input.
enum FixtureChecker {
  /// An unknown field (number 4095, varint 1) appended to fixtures to see that it survives.
  static let unknownField: [UInt8] = [0xF8, 0xFF, 0x01, 0x01]

  static func problems(type: any SwiftProtobuf.Message.Type, binary: [UInt8], json: String) -> [String] {
    var problems: [String] = []
    let decoded: any SwiftProtobuf.Message
    do {
      decoded = try type.init(serializedBytes: binary)
    } catch {
      return ["the binary fixture does not decode: \(error)"]
    }
    do {
      let encoded: [UInt8] = try decoded.serializedBytes()
      if encoded != binary {
        problems.append("re-encoding gives \(encoded.count) bytes that differ from the fixture's \(binary.count)")
      }
    } catch {
      problems.append("re-encoding fails: \(error)")
    }

    do {
      let fromJSON = try type.init(jsonString: json)
      if !fromJSON.isEqualTo(message: decoded) {
        problems.append("the JSON fixture decodes to a different message than the binary fixture")
      }
      let ours = try decoded.jsonString()
      if !sameJSON(ours, json) {
        problems.append("Swift's JSON encoding differs from the JSON fixture: \(ours)")
      }
    } catch {
      problems.append("the JSON fixture does not round-trip: \(error)")
    }

    do {
      let withUnknown = try type.init(serializedBytes: binary + unknownField)
      let reencoded: [UInt8] = try withUnknown.serializedBytes()
      if reencoded != binary + unknownField {
        problems.append("an unknown field did not survive a binary round trip")
      }
    } catch {
      problems.append("a fixture with an unknown field does not decode: \(error)")
    }
    return problems
  }

  /// Equal as JSON values: object key order and whitespace do not matter. Both sides are written
  /// again with sorted keys and compared as text (NSNumber equality mixes up booleans on Linux).
  static func sameJSON(_ lhs: String, _ rhs: String) -> Bool {
    func canonical(_ text: String) -> Data? {
      guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
        return nil
      }
      return try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
    }
    guard let left = canonical(lhs), let right = canonical(rhs) else { return false }
    return left == right
  }
}

/// The fixture folder beside this file.
enum Fixtures {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures")

  /// The full message names that have a binary fixture.
  static func names() -> [String] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return files.filter { $0.hasSuffix(".binpb") }.map { String($0.dropLast(".binpb".count)) }.sorted()
  }

  static func binary(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: directory.appending(path: "\(name).binpb")))
  }

  static func json(_ name: String) throws -> String {
    try String(contentsOf: directory.appending(path: "\(name).json"), encoding: .utf8)
  }
}
