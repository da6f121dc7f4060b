internal import GRPCCore

extension Status {
  /// The status a client reports for a response whose HTTP status is not 200
  /// (grpc doc/http-grpc-status-mapping.md).
  init(httpStatus: Int) {
    let code: Status.Code
    switch httpStatus {
    case 400: code = .internalError
    case 401: code = .unauthenticated
    case 403: code = .permissionDenied
    case 404: code = .unimplemented
    case 429, 502, 503, 504: code = .unavailable
    default: code = .unknown
    }
    self.init(code: code, message: "Unexpected HTTP status code \(httpStatus)")
  }

  /// The status for a stream reset by the peer with an HTTP/2 error code (PROTOCOL-HTTP2.md).
  init(http2ErrorCode errorCode: UInt32) {
    let code: Status.Code
    switch errorCode {
    case 0x7: code = .unavailable  // REFUSED_STREAM
    case 0x8: code = .cancelled  // CANCEL
    case 0xB: code = .resourceExhausted  // ENHANCE_YOUR_CALM
    case 0xC: code = .permissionDenied  // INADEQUATE_SECURITY
    default: code = .internalError  // NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, ...
    }
    self.init(code: code, message: "Stream reset by peer with HTTP/2 error code \(errorCode)")
  }
}

/// HTTP/2 error codes used by the transport.
enum HTTP2ErrorCode {
  static let noError: UInt32 = 0x0
  static let protocolError: UInt32 = 0x1
  static let internalError: UInt32 = 0x2
  static let refusedStream: UInt32 = 0x7
  static let cancel: UInt32 = 0x8
  static let enhanceYourCalm: UInt32 = 0xB
}
