public import ContractRuntime
public import GRPCCore

/// The one JSON shape of every gateway error: `{"code": "NOT_FOUND", "message": "...", "details": []}`,
/// sent with the HTTP status that the standard gRPC -> HTTP table gives for the code.
public struct ErrorBody: Sendable, Equatable {
  /// The gRPC status code name: `INVALID_ARGUMENT`.
  public var code: String
  public var message: String
  /// Structured details, each a JSON object (already encoded).
  public var details: [String]
  /// The HTTP status.
  public var status: Int

  public init(code: String, message: String, details: [String] = [], status: Int? = nil) {
    self.code = code
    self.message = message
    self.details = details
    self.status = status ?? Self.httpStatus(forCode: code)
  }

  /// The body as JSON bytes.
  public var json: [UInt8] {
    let text = "{\"code\":\(Self.quoted(code)),\"message\":\(Self.quoted(message)),\"details\":[\(details.joined(separator: ","))]}"
    return Array(text.utf8)
  }

  /// A bad request naming the field at fault (a `google.rpc.BadRequest` detail).
  public static func badRequest(_ error: RESTBindingError) -> ErrorBody {
    let violation = "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":[{\"field\":\(quoted(error.field)),\"description\":\(quoted(error.reason))}]}"
    let message = error.field.isEmpty ? error.reason : "invalid '\(error.field)': \(error.reason)"
    return ErrorBody(code: "INVALID_ARGUMENT", message: message, details: [violation])
  }

  /// The body for an error a service threw.
  public static func from(_ error: any Error, requestID: String) -> ErrorBody {
    switch error {
    case let error as RESTBindingError:
      return .badRequest(error)
    case let error as RPCError:
      return ErrorBody(code: codeName(error.code), message: error.message)
    case let error as any RPCErrorConvertible:
      return ErrorBody(code: codeName(error.rpcErrorCode), message: error.rpcErrorMessage)
    case let error as RESTStreamOverflowError:
      return ErrorBody(code: "RESOURCE_EXHAUSTED", message: error.description)
    case is CancellationError:
      return ErrorBody(code: "CANCELLED", message: "the call was cancelled")
    default:
      return ErrorBody(code: "INTERNAL", message: "internal error; quote request id \(requestID)")
    }
  }

  /// gRPC status code -> HTTP status, as in google.rpc.Code's documentation and grpc-gateway.
  public static func httpStatus(forCode code: String) -> Int {
    switch code {
    case "CANCELLED": return 499
    case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE": return 400
    case "DEADLINE_EXCEEDED": return 504
    case "NOT_FOUND": return 404
    case "ALREADY_EXISTS", "ABORTED": return 409
    case "PERMISSION_DENIED": return 403
    case "UNAUTHENTICATED": return 401
    case "RESOURCE_EXHAUSTED": return 429
    case "UNIMPLEMENTED": return 501
    case "UNAVAILABLE": return 503
    default: return 500
    }
  }

  public static func codeName(_ code: RPCError.Code) -> String {
    switch code {
    case .cancelled: return "CANCELLED"
    case .unknown: return "UNKNOWN"
    case .invalidArgument: return "INVALID_ARGUMENT"
    case .deadlineExceeded: return "DEADLINE_EXCEEDED"
    case .notFound: return "NOT_FOUND"
    case .alreadyExists: return "ALREADY_EXISTS"
    case .permissionDenied: return "PERMISSION_DENIED"
    case .resourceExhausted: return "RESOURCE_EXHAUSTED"
    case .failedPrecondition: return "FAILED_PRECONDITION"
    case .aborted: return "ABORTED"
    case .outOfRange: return "OUT_OF_RANGE"
    case .unimplemented: return "UNIMPLEMENTED"
    case .internalError: return "INTERNAL"
    case .unavailable: return "UNAVAILABLE"
    case .dataLoss: return "DATA_LOSS"
    case .unauthenticated: return "UNAUTHENTICATED"
    default: return "UNKNOWN"
    }
  }

  static func quoted(_ text: String) -> String {
    JSONText.quoted(text)
  }
}
