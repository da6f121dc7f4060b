/// A setting that could not be read: which environment variable, and what is wrong with its value.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
  /// The environment variable at fault: `IRIS_GRPC_PORT`.
  public let variable: String
  /// What is wrong and what is expected: `must be an integer in 0...65535, got 'http'`.
  public let message: String

  public init(variable: String, message: String) {
    self.variable = variable
    self.message = message
  }

  public var description: String { "\(variable) \(message)" }
}
