public import SwiftProtobuf

/// Where a generated streaming adapter writes the messages of a server-streaming RPC: each message
/// becomes one proto3 JSON object in the route's event stream. The buffer is bounded: a client that
/// falls `limit` messages behind makes the next write throw `RESTStreamOverflowError`.
public struct RESTEventSink: Sendable {
  private let continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
  private let limit: Int

  init(continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation, limit: Int) {
    self.continuation = continuation
    self.limit = limit
  }

  /// Queues one message for the client.
  public func write(_ message: some SwiftProtobuf.Message) throws {
    let json: [UInt8] = try message.jsonUTF8Bytes()
    switch continuation.yield(json) {
    case .enqueued: return
    case .dropped: throw RESTStreamOverflowError(limit: limit)
    case .terminated: throw CancellationError()
    @unknown default: throw CancellationError()
    }
  }

  /// Runs `body` in its own task and returns the stream it writes. The stream finishes when `body`
  /// returns, fails with what `body` throws, and cancels `body` when the reader stops reading.
  /// Task-local values (`CallContext.current`) carry over into `body`.
  public static func stream(
    limit: Int = 1_000,
    _ body: @escaping @Sendable (RESTEventSink) async throws -> Void
  ) -> AsyncThrowingStream<[UInt8], any Error> {
    let (stream, continuation) = AsyncThrowingStream.makeStream(
      of: [UInt8].self,
      throwing: (any Error).self,
      bufferingPolicy: .bufferingOldest(limit)
    )
    let sink = RESTEventSink(continuation: continuation, limit: limit)
    let task = Task {
      do {
        try await body(sink)
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }
}
