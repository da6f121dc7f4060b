internal import NIOCore

/// Reassembles gRPC length-prefixed messages (1 byte compressed flag, 4 bytes big-endian length,
/// payload) from DATA payload split across frames in any way.
struct GRPCMessageDeframer {
  enum Error: Swift.Error, Equatable {
    /// A message's declared length is over the limit.
    case messageTooLarge(length: Int, limit: Int)
    /// A message has the compressed flag but the stream has no usable encoding.
    case compressedWithoutEncoding
    /// The compressed flag is neither 0 nor 1.
    case invalidFlag(UInt8)
  }

  /// One message: its payload and whether the compressed flag was set.
  struct Message: Equatable {
    var compressed: Bool
    var bytes: [UInt8]
  }

  let maxMessageSize: Int
  /// Whether a compressed message is acceptable (the stream named an encoding we can decode).
  var acceptsCompressed: Bool
  private var buffer: ByteBuffer

  init(maxMessageSize: Int, acceptsCompressed: Bool = false) {
    self.maxMessageSize = maxMessageSize
    self.acceptsCompressed = acceptsCompressed
    self.buffer = ByteBuffer()
  }

  /// Bytes received that do not yet make up a whole message.
  var bufferedBytes: Int { self.buffer.readableBytes }

  /// Appends received bytes.
  mutating func append(_ bytes: ByteBuffer) {
    if self.buffer.readableBytes == 0 {
      self.buffer = bytes
    } else {
      var bytes = bytes
      self.buffer.writeBuffer(&bytes)
    }
  }

  /// The next whole message, or `nil` when more bytes are needed.
  mutating func next() throws(Error) -> Message? {
    guard self.buffer.readableBytes >= 5,
      let flag = self.buffer.getInteger(at: self.buffer.readerIndex, as: UInt8.self),
      let length32 = self.buffer.getInteger(at: self.buffer.readerIndex + 1, as: UInt32.self)
    else { return nil }
    let length = Int(length32)
    if flag > 1 { throw .invalidFlag(flag) }
    if flag == 1 && !self.acceptsCompressed { throw .compressedWithoutEncoding }
    if length > self.maxMessageSize { throw .messageTooLarge(length: length, limit: self.maxMessageSize) }
    guard self.buffer.readableBytes >= 5 + length else { return nil }
    self.buffer.moveReaderIndex(forwardBy: 5)
    let bytes = self.buffer.readBytes(length: length)!
    if self.buffer.readableBytes == 0 {
      self.buffer.clear()
    } else if self.buffer.readerIndex > 65_536 {
      self.buffer.discardReadBytes()
    }
    return Message(compressed: flag == 1, bytes: bytes)
  }
}

/// Writes gRPC length-prefixed messages.
enum GRPCMessageFramer {
  /// Appends `message` with its 5-byte prefix to `buffer`.
  static func frame(_ message: [UInt8], compressed: Bool = false, into buffer: inout ByteBuffer) {
    buffer.reserveCapacity(minimumWritableBytes: message.count + 5)
    buffer.writeInteger(compressed ? UInt8(1) : UInt8(0))
    buffer.writeInteger(UInt32(message.count))
    buffer.writeBytes(message)
  }
}
