internal import CZlib
internal import GRPCCore

/// A gRPC message encoding other than identity (`grpc-encoding`, PROTOCOL-HTTP2.md): `gzip` or
/// `deflate` (the zlib format), both by zlib. Each message is compressed on its own.
enum MessageEncoding: String, CaseIterable, Sendable {
  case gzip
  case deflate

  enum Error: Swift.Error, Equatable {
    /// The decompressed message would be larger than `limit` bytes.
    case tooLarge(limit: Int)
    /// The bytes are not valid compressed data.
    case corrupt(String)
  }

  init?(_ algorithm: CompressionAlgorithm) {
    switch algorithm {
    case .gzip: self = .gzip
    case .deflate: self = .deflate
    default: return nil
    }
  }

  /// The encodings in `set`, in a stable order.
  static func enabled(in set: CompressionAlgorithmSet) -> [MessageEncoding] {
    Self.allCases.filter { encoding in
      switch encoding {
      case .gzip: set.contains(CompressionAlgorithm.gzip)
      case .deflate: set.contains(CompressionAlgorithm.deflate)
      }
    }
  }

  /// The `grpc-accept-encoding` value for these encodings, in the stable order and identity last:
  /// `gzip,deflate,identity`, say. Literals: every response carries one.
  static func acceptEncoding(_ encodings: [MessageEncoding]) -> String {
    switch (encodings.contains(.gzip), encodings.contains(.deflate)) {
    case (true, true): "gzip,deflate,identity"
    case (true, false): "gzip,identity"
    case (false, true): "deflate,identity"
    case (false, false): "identity"
    }
  }

  /// zlib's window bits: 15 for the zlib format, plus 16 for a gzip wrapper.
  private var windowBits: Int32 {
    switch self {
    case .gzip: 15 + 16
    case .deflate: 15
    }
  }

  func compress(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    guard CZlib_deflateInit2(&stream, Z_DEFAULT_COMPRESSION, self.windowBits) == Z_OK else {
      preconditionFailure("zlib could not allocate a deflate stream")
    }
    defer { deflateEnd(&stream) }
    // deflateBound is enough for a single Z_FINISH call, wrapper included.
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))))
    let produced = bytes.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { out in
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = UInt32(input.count)
        stream.next_out = out.baseAddress
        stream.avail_out = UInt32(out.count)
        let result = CZlib.deflate(&stream, Z_FINISH)
        precondition(result == Z_STREAM_END, "deflate did not finish within deflateBound")
        return out.count - Int(stream.avail_out)
      }
    }
    output.removeLast(output.count - produced)
    return output
  }

  /// Decompresses one message, stopping as soon as the output would pass `limit` bytes (so that
  /// a small "decompression bomb" costs no more than `limit` bytes of memory).
  func decompress(_ bytes: [UInt8], limit: Int) throws(Error) -> [UInt8] {
    var stream = z_stream()
    guard CZlib_inflateInit2(&stream, self.windowBits) == Z_OK else {
      preconditionFailure("zlib could not allocate an inflate stream")
    }
    defer { inflateEnd(&stream) }
    let capacity = limit == Int.max ? limit : limit + 1
    var output = [UInt8](repeating: 0, count: min(capacity, max(bytes.count * 4, 256)))
    var produced = 0
    var result: Int32 = Z_OK
    bytes.withUnsafeBufferPointer { input in
      stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
      stream.avail_in = UInt32(input.count)
      while true {
        if produced == output.count {
          if output.count >= capacity { return }
          output.append(contentsOf: repeatElement(0, count: min(output.count, capacity - output.count)))
        }
        result = output.withUnsafeMutableBufferPointer { out in
          stream.next_out = out.baseAddress! + produced
          stream.avail_out = UInt32(out.count - produced)
          let result = inflate(&stream, Z_NO_FLUSH)
          produced = out.count - Int(stream.avail_out)
          return result
        }
        if result != Z_OK { return }
      }
    }
    if produced > limit || (result == Z_OK && produced == capacity) {
      throw .tooLarge(limit: limit)
    }
    switch result {
    case Z_STREAM_END:
      output.removeLast(output.count - produced)
      return output
    case Z_BUF_ERROR:
      throw .corrupt("the \(self.rawValue) data ends early")
    default:
      let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(result)"
      throw .corrupt("invalid \(self.rawValue) data: \(message)")
    }
  }
}
