public import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An object store for receipts: the S3 API in production (``S3Bucket``), a folder by default
/// (``FolderBucket``). Keys are relative paths of `[A-Za-z0-9._/-]`, without `..` segments.
public protocol Bucket: Sendable {
  /// Stores `data` under `key`, replacing what was there.
  func put(key: String, data: Data, contentType: String) async throws
  /// The object under `key`, or nil when there is none.
  func get(key: String) async throws -> Data?
}

/// Why a bucket operation failed.
public enum BucketError: Error, Equatable, CustomStringConvertible {
  /// The key is empty, absolute, has a `..` segment or a character outside `[A-Za-z0-9._/-]`.
  case invalidKey(String)
  /// The store answered with an error (S3: the HTTP status and the response's body).
  case failed(String)

  public var description: String {
    switch self {
    case .invalidKey(let key): "invalid object key '\(key)': use relative paths of [A-Za-z0-9._/-] without '..'"
    case .failed(let reason): "bucket operation failed: \(reason)"
    }
  }

  /// Throws ``invalidKey(_:)`` unless `key` is a valid object key.
  static func check(_ key: String) throws(BucketError) {
    let allowed = key.unicodeScalars.allSatisfy { scalar in
      switch scalar {
      case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-", "/": true
      default: false
      }
    }
    let segments = key.split(separator: "/", omittingEmptySubsequences: false)
    guard !key.isEmpty, allowed, !key.hasPrefix("/"), !segments.contains(where: { $0 == ".." || $0.isEmpty }) else {
      throw .invalidKey(key)
    }
  }
}

/// A bucket in a local folder: each key is a file under `root` (written to a temporary file and
/// renamed, so a reader never sees half an object).
public struct FolderBucket: Bucket {
  public let root: URL

  /// Creates `root` when it does not exist.
  public init(root: URL) throws {
    self.root = root
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
  }

  public func put(key: String, data: Data, contentType: String) async throws {
    try BucketError.check(key)
    let target = root.appendingPathComponent(key)
    try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
    let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(UUID().uuidString).tmp")
    try data.write(to: temporary)
    // rename(2) replaces the target atomically.
    guard rename(temporary.path, target.path) == 0 else {
      let code = errno
      try? FileManager.default.removeItem(at: temporary)
      throw BucketError.failed("cannot store \(key) in \(root.path): \(String(cString: strerror(code)))")
    }
  }

  public func get(key: String) async throws -> Data? {
    try BucketError.check(key)
    let target = root.appendingPathComponent(key)
    guard FileManager.default.fileExists(atPath: target.path) else { return nil }
    return try Data(contentsOf: target)
  }
}
