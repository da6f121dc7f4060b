import Foundation

/// Finds the system `protoc` and the folder that holds the well-known types.
enum Toolchain {
  static func protoc(environment: [String: String]) throws(PluginError) -> URL {
    let fileManager = FileManager.default
    if let explicit = environment["PROTOC_PATH"], !explicit.isEmpty {
      guard fileManager.isExecutableFile(atPath: explicit) else {
        throw .protocPathNotExecutable(explicit)
      }
      return URL(fileURLWithPath: explicit)
    }
    let searchPath = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
    for directory in searchPath where !directory.isEmpty {
      let candidate = URL(fileURLWithPath: String(directory)).appending(path: "protoc")
      if fileManager.isExecutableFile(atPath: candidate.path) {
        return candidate
      }
    }
    throw .protocNotFound(searched: searchPath.map(String.init))
  }

  /// The include folder with `google/protobuf/timestamp.proto`: `PROTOC_INCLUDE`, then the
  /// `include` folder beside protoc's `bin`, then the usual system locations.
  static func wellKnownTypesInclude(protoc: URL, environment: [String: String]) throws(PluginError) -> URL {
    var candidates: [URL] = []
    if let explicit = environment["PROTOC_INCLUDE"], !explicit.isEmpty {
      candidates.append(URL(fileURLWithPath: explicit))
    }
    let prefix = protoc.resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(prefix.appending(path: "include"))
    candidates.append(URL(fileURLWithPath: "/usr/include"))
    candidates.append(URL(fileURLWithPath: "/usr/local/include"))
    for candidate in candidates {
      let probe = candidate.appending(path: "google/protobuf/timestamp.proto")
      if FileManager.default.fileExists(atPath: probe.path) {
        return candidate
      }
    }
    throw .wellKnownTypesNotFound(searched: candidates.map(\.path))
  }
}
