import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serialised writes to one file descriptor.
final class FileDescriptorOutput: Sendable {
  static let standardOutput = FileDescriptorOutput(descriptor: 1)

  private let descriptor: Int32
  private let lock = Mutex(())

  init(descriptor: Int32) {
    self.descriptor = descriptor
  }

  func write(_ bytes: [UInt8]) {
    lock.withLock { _ in
      bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
          #if canImport(Glibc)
          let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
          #else
          let written = Darwin.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
          #endif
          if written < 0 {
            if errno == EINTR { continue }
            return
          }
          offset += written
        }
      }
    }
  }
}
