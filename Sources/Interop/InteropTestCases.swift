internal import Generated
public import GRPCCore
internal import GRPCProtobuf
internal import SwiftProtobuf
internal import Foundation

/// An interop check that did not hold.
public struct InteropFailure: Error, CustomStringConvertible {
  public var description: String
  init(_ description: String) { self.description = description }
}

/// The interop test cases of grpc doc/interop-test-descriptions.md that this project runs, as a
/// client against any `grpc.testing.TestService` server.
public enum InteropTestCase: String, CaseIterable, Sendable {
  case emptyUnary = "empty_unary"
  case largeUnary = "large_unary"
  case clientStreaming = "client_streaming"
  case serverStreaming = "server_streaming"
  case pingPong = "ping_pong"
  case emptyStream = "empty_stream"
  case cancelAfterBegin = "cancel_after_begin"
  case cancelAfterFirstResponse = "cancel_after_first_response"
  case timeoutOnSleepingServer = "timeout_on_sleeping_server"
  case statusCodeAndMessage = "status_code_and_message"
  case specialStatusMessage = "special_status_message"
  case customMetadata = "custom_metadata"
  case unimplementedMethod = "unimplemented_method"
  case unimplementedService = "unimplemented_service"

  /// Runs the case; throws ``InteropFailure`` (or the RPC's error) when it does not pass.
  public func run<Transport: ClientTransport>(using grpcClient: GRPCClient<Transport>) async throws {
    let client = Grpc_Testing_TestService.Client(wrapping: grpcClient)
    switch self {
    case .emptyUnary:
      let response = try await client.emptyCall(Grpc_Testing_Empty())
      try check(response == Grpc_Testing_Empty(), "empty response")

    case .largeUnary:
      var request = Grpc_Testing_SimpleRequest()
      request.responseSize = 314_159
      request.payload.body = Data(count: 271_828)
      let response = try await client.unaryCall(request)
      try check(response.payload.body.count == 314_159, "payload of 314159 bytes")

    case .clientStreaming:
      let sizes = [27_182, 8, 1_828, 45_904]
      let response = try await client.streamingInputCall(
        requestProducer: { writer in
          for size in sizes {
            var request = Grpc_Testing_StreamingInputCallRequest()
            request.payload.body = Data(count: size)
            try await writer.write(request)
          }
        }
      )
      try check(response.aggregatedPayloadSize == 74_922, "aggregated size 74922")

    case .serverStreaming:
      var request = Grpc_Testing_StreamingOutputCallRequest()
      request.responseParameters = [31_415, 9, 2_653, 58_979].map(Self.parameters(size:))
      let sizes = try await client.streamingOutputCall(request) { response in
        var sizes: [Int] = []
        for try await message in response.messages { sizes.append(message.payload.body.count) }
        return sizes
      }
      try check(sizes == [31_415, 9, 2_653, 58_979], "response sizes \(sizes)")

    case .pingPong:
      let requestSizes = [27_182, 8, 1_828, 45_904]
      let responseSizes = [31_415, 9, 2_653, 58_979]
      let (turns, turnContinuation) = AsyncStream.makeStream(of: Int.self)
      let received = try await client.fullDuplexCall(
        requestProducer: { writer in
          var iterator = turns.makeAsyncIterator()
          for index in requestSizes.indices {
            var request = Grpc_Testing_StreamingOutputCallRequest()
            request.responseParameters = [Self.parameters(size: responseSizes[index])]
            request.payload.body = Data(count: requestSizes[index])
            try await writer.write(request)
            // Wait for the response before the next request.
            guard await iterator.next() != nil else { return }
          }
        },
        onResponse: { response in
          var sizes: [Int] = []
          for try await message in response.messages {
            sizes.append(message.payload.body.count)
            turnContinuation.yield(sizes.count)
          }
          turnContinuation.finish()
          return sizes
        }
      )
      try check(received == responseSizes, "ping-pong sizes \(received)")

    case .emptyStream:
      let count = try await client.fullDuplexCall(
        requestProducer: { _ in },
        onResponse: { response in
          var count = 0
          for try await _ in response.messages { count += 1 }
          return count
        }
      )
      try check(count == 0, "no responses")

    case .cancelAfterBegin:
      let task = Task {
        try await client.streamingInputCall(
          requestProducer: { _ in try await Task.sleep(for: .seconds(60)) }
        )
      }
      task.cancel()
      try await Self.expectCode(.cancelled) { _ = try await task.value }

    case .cancelAfterFirstResponse:
      let task = Task {
        try await client.fullDuplexCall(
          requestProducer: { writer in
            var request = Grpc_Testing_StreamingOutputCallRequest()
            request.responseParameters = [Self.parameters(size: 31_415)]
            request.payload.body = Data(count: 27_182)
            try await writer.write(request)
            try await Task.sleep(for: .seconds(60))
          },
          onResponse: { response in
            for try await _ in response.messages {
              withUnsafeCurrentTask { $0?.cancel() }
            }
          }
        )
      }
      try await Self.expectCode(.cancelled) { try await task.value }

    case .timeoutOnSleepingServer:
      try await Self.expectCode(.deadlineExceeded) {
        try await client.fullDuplexCall(
          options: Self.options(timeout: .milliseconds(1)),
          requestProducer: { writer in
            var request = Grpc_Testing_StreamingOutputCallRequest()
            request.payload.body = Data(count: 27_182)
            try await writer.write(request)
            try await Task.sleep(for: .seconds(60))
          },
          onResponse: { response in
            for try await _ in response.messages {}
          }
        )
      }

    case .statusCodeAndMessage:
      try await Self.checkEchoStatus(client: client, message: "test status message")

    case .specialStatusMessage:
      try await Self.checkEchoStatus(
        client: client,
        message: "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n",
        streaming: false
      )

    case .customMetadata:
      let initialValue = "test_initial_metadata_value"
      let trailingValue: [UInt8] = [0xAB, 0xAB, 0xAB]
      var metadata: Metadata = [:]
      metadata.addString(initialValue, forKey: "x-grpc-test-echo-initial")
      metadata.addBinary(trailingValue, forKey: "x-grpc-test-echo-trailing-bin")

      var request = Grpc_Testing_SimpleRequest()
      request.responseSize = 314_159
      request.payload.body = Data(count: 271_828)
      let (initial, trailing) = try await client.unaryCall(
        request: ClientRequest(message: request, metadata: metadata)
      ) { response in
        _ = try response.message
        return (response.metadata, response.trailingMetadata)
      }
      try Self.checkEchoed(initial: initial, trailing: trailing, initialValue, trailingValue)

      let (streamInitial, streamTrailing) = try await client.fullDuplexCall(
        request: StreamingClientRequest(metadata: metadata) { writer in
          var request = Grpc_Testing_StreamingOutputCallRequest()
          request.responseParameters = [Self.parameters(size: 314_159)]
          request.payload.body = Data(count: 271_828)
          try await writer.write(request)
        }
      ) { response in
        let initial = response.metadata
        var trailing: Metadata = [:]
        switch response.accepted {
        case .success(let contents):
          for try await part in contents.bodyParts {
            if case .trailingMetadata(let metadata) = part { trailing = metadata }
          }
        case .failure(let error):
          throw error
        }
        return (initial, trailing)
      }
      try Self.checkEchoed(
        initial: streamInitial,
        trailing: streamTrailing,
        initialValue,
        trailingValue
      )

    case .unimplementedMethod:
      try await Self.expectCode(.unimplemented) {
        _ = try await client.unimplementedCall(Grpc_Testing_Empty())
      }

    case .unimplementedService:
      let other = Grpc_Testing_UnimplementedService.Client(wrapping: grpcClient)
      try await Self.expectCode(.unimplemented) {
        _ = try await other.unimplementedCall(Grpc_Testing_Empty())
      }
    }
  }

  // MARK: Helpers

  static func parameters(size: Int) -> Grpc_Testing_ResponseParameters {
    var parameters = Grpc_Testing_ResponseParameters()
    parameters.size = Int32(size)
    return parameters
  }

  static func options(timeout: Duration) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = timeout
    return options
  }

  static func expectCode(
    _ code: RPCError.Code,
    _ body: () async throws -> Void
  ) async throws {
    do {
      try await body()
    } catch let error as RPCError {
      // A call cancelled before it reached the transport may surface as the task's cancellation.
      if code == .cancelled, error.cause is CancellationError { return }
      try check(error.code == code, "status \(code), got \(error.code): \(error.message)")
      return
    } catch is CancellationError where code == .cancelled {
      return
    }
    throw InteropFailure("expected status \(code), the call succeeded")
  }

  static func checkEchoStatus<T: ClientTransport>(
    client: Grpc_Testing_TestService.Client<T>,
    message: String,
    streaming: Bool = true
  ) async throws {
    var status = Grpc_Testing_EchoStatus()
    status.code = 2
    status.message = message
    var request = Grpc_Testing_SimpleRequest()
    request.responseStatus = status
    do {
      _ = try await client.unaryCall(request)
      throw InteropFailure("unary call with an echo status succeeded")
    } catch let error as RPCError {
      try check(error.code == .unknown, "code UNKNOWN, got \(error.code)")
      try check(error.message == message, "message \(message.debugDescription), got \(error.message.debugDescription)")
    }
    guard streaming else { return }
    var streamingRequest = Grpc_Testing_StreamingOutputCallRequest()
    streamingRequest.responseStatus = status
    let finalRequest = streamingRequest
    do {
      try await client.fullDuplexCall(
        requestProducer: { writer in try await writer.write(finalRequest) },
        onResponse: { response in for try await _ in response.messages {} }
      )
      throw InteropFailure("full duplex call with an echo status succeeded")
    } catch let error as RPCError {
      try check(error.code == .unknown, "code UNKNOWN, got \(error.code)")
      try check(error.message == message, "message \(message.debugDescription), got \(error.message.debugDescription)")
    }
  }

  static func checkEchoed(
    initial: Metadata,
    trailing: Metadata,
    _ initialValue: String,
    _ trailingValue: [UInt8]
  ) throws {
    let echoedInitial = Array(initial[stringValues: "x-grpc-test-echo-initial"])
    let echoedTrailing = Array(trailing[binaryValues: "x-grpc-test-echo-trailing-bin"])
    try check(echoedInitial == [initialValue], "echoed initial metadata, got \(echoedInitial)")
    try check(echoedTrailing == [trailingValue], "echoed trailing metadata, got \(echoedTrailing)")
  }
}

private func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
  if !condition { throw InteropFailure("expected \(what())") }
}
