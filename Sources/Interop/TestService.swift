package import Generated
package import GRPCCore
internal import SwiftProtobuf
internal import Foundation

/// The interop `grpc.testing.TestService`, as the public interop specification describes it:
/// payloads of requested sizes, echoed statuses, echoed `x-grpc-test-echo-*` metadata.
package struct TestService: Grpc_Testing_TestService.ServiceProtocol {
  public init() {}

  static let echoInitialKey = "x-grpc-test-echo-initial"
  static let echoTrailingKey = "x-grpc-test-echo-trailing-bin"

  /// The initial and trailing metadata to echo back.
  static func echoes(_ metadata: Metadata) -> (initial: Metadata, trailing: Metadata) {
    var initial: Metadata = [:]
    var trailing: Metadata = [:]
    for value in metadata[stringValues: Self.echoInitialKey] {
      initial.addString(value, forKey: Self.echoInitialKey)
    }
    for value in metadata[binaryValues: Self.echoTrailingKey] {
      trailing.addBinary(value, forKey: Self.echoTrailingKey)
    }
    return (initial, trailing)
  }

  static func payload(size: Int) -> Grpc_Testing_Payload {
    var payload = Grpc_Testing_Payload()
    payload.body = Data(count: size)
    return payload
  }

  static func error(for status: Grpc_Testing_EchoStatus, trailing: Metadata) -> RPCError {
    RPCError(
      code: RPCError.Code(Status.Code(rawValue: Int(status.code)) ?? .unknown) ?? .unknown,
      message: status.message,
      metadata: trailing
    )
  }

  public func emptyCall(
    request: ServerRequest<Grpc_Testing_Empty>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_Empty> {
    let (initial, trailing) = Self.echoes(request.metadata)
    return ServerResponse(message: Grpc_Testing_Empty(), metadata: initial, trailingMetadata: trailing)
  }

  public func unaryCall(
    request: ServerRequest<Grpc_Testing_SimpleRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_SimpleResponse> {
    let (initial, trailing) = Self.echoes(request.metadata)
    if request.message.hasResponseStatus, request.message.responseStatus.code != 0 {
      throw Self.error(for: request.message.responseStatus, trailing: trailing)
    }
    var response = Grpc_Testing_SimpleResponse()
    response.payload = Self.payload(size: Int(request.message.responseSize))
    return ServerResponse(message: response, metadata: initial, trailingMetadata: trailing)
  }

  public func streamingOutputCall(
    request: ServerRequest<Grpc_Testing_StreamingOutputCallRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let (initial, trailing) = Self.echoes(request.metadata)
    let message = request.message
    return StreamingServerResponse(metadata: initial) { writer in
      for parameters in message.responseParameters {
        if parameters.intervalUs > 0 {
          try await Task.sleep(for: .microseconds(parameters.intervalUs))
        }
        var response = Grpc_Testing_StreamingOutputCallResponse()
        response.payload = Self.payload(size: Int(parameters.size))
        try await writer.write(response)
      }
      if message.hasResponseStatus, message.responseStatus.code != 0 {
        throw Self.error(for: message.responseStatus, trailing: trailing)
      }
      return trailing
    }
  }

  public func streamingInputCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingInputCallRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_StreamingInputCallResponse> {
    let (initial, trailing) = Self.echoes(request.metadata)
    var total = 0
    for try await message in request.messages {
      total += message.payload.body.count
    }
    var response = Grpc_Testing_StreamingInputCallResponse()
    response.aggregatedPayloadSize = Int32(total)
    return ServerResponse(message: response, metadata: initial, trailingMetadata: trailing)
  }

  public func fullDuplexCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingOutputCallRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let (initial, trailing) = Self.echoes(request.metadata)
    return StreamingServerResponse(metadata: initial) { writer in
      for try await message in request.messages {
        if message.hasResponseStatus, message.responseStatus.code != 0 {
          throw Self.error(for: message.responseStatus, trailing: trailing)
        }
        for parameters in message.responseParameters {
          if parameters.intervalUs > 0 {
            try await Task.sleep(for: .microseconds(parameters.intervalUs))
          }
          var response = Grpc_Testing_StreamingOutputCallResponse()
          response.payload = Self.payload(size: Int(parameters.size))
          try await writer.write(response)
        }
      }
      return trailing
    }
  }

  public func halfDuplexCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingOutputCallRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    var requests: [Grpc_Testing_StreamingOutputCallRequest] = []
    for try await message in request.messages { requests.append(message) }
    let buffered = requests
    return StreamingServerResponse(metadata: [:]) { writer in
      for message in buffered {
        for parameters in message.responseParameters {
          var response = Grpc_Testing_StreamingOutputCallResponse()
          response.payload = Self.payload(size: Int(parameters.size))
          try await writer.write(response)
        }
      }
      return [:]
    }
  }

  public func unimplementedCall(
    request: ServerRequest<Grpc_Testing_Empty>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_Empty> {
    throw RPCError(code: .unimplemented, message: "UnimplementedCall is not implemented")
  }
}
