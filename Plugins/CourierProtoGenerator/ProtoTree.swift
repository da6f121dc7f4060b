import Foundation

/// The `.proto` files under one root, and which of them each file imports.
struct ProtoTree {
  /// Paths relative to the root, sorted, with `/` separators: `courier/hermes/v1/hermes.proto`.
  let files: [String]
  private let imports: [String: [String]]

  init(root: URL) throws(PluginError) {
    let fileManager = FileManager.default
    var isDirectory: ObjCBool = false
    guard fileManager.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw .noProtoFolder(root.path)
    }
    guard let walker = fileManager.enumerator(atPath: root.path) else {
      throw .noProtoFolder(root.path)
    }
    var found: [String] = []
    var imports: [String: [String]] = [:]
    while let relative = walker.nextObject() as? String {
      guard relative.hasSuffix(".proto") else { continue }
      let url = root.appending(path: relative)
      guard let text = try? String(contentsOf: url, encoding: .utf8) else {
        throw .unreadable(url.path)
      }
      found.append(relative)
      imports[relative] = Self.imports(in: text)
    }
    guard !found.isEmpty else { throw .noProtoFolder(root.path) }
    self.files = found.sorted()
    self.imports = imports
  }

  /// The file and every file of this tree that it imports, directly or not. Imports from outside
  /// the tree (the well-known types) are left out: they change only with protoc itself.
  func closure(of file: String) -> [String] {
    var seen: Set<String> = [file]
    var pending = [file]
    while let next = pending.popLast() {
      for imported in imports[next] ?? [] where imports[imported] != nil && !seen.contains(imported) {
        seen.insert(imported)
        pending.append(imported)
      }
    }
    return seen.sorted()
  }

  /// The paths named by `import "...";` statements, ignoring comments.
  static func imports(in text: String) -> [String] {
    var result: [String] = []
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
      var line = Substring(rawLine)
      if let comment = line.range(of: "//") { line = line[..<comment.lowerBound] }
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      guard trimmed.hasPrefix("import ") || trimmed.hasPrefix("import\t") else { continue }
      let parts = trimmed.split(separator: "\"", omittingEmptySubsequences: false)
      if parts.count >= 3 { result.append(String(parts[1])) }
    }
    return result
  }
}
