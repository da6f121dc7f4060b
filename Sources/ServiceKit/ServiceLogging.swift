public import Logging

/// Process-wide logging setup for a service.
public enum ServiceLogging {
  /// Bootstraps swift-log with `JSONLogHandler` on standard output: one JSON object per line with
  /// `time`, `level`, `service`, `logger`, `message`, `request_id` and the flattened metadata, secrets
  /// redacted. Call once, first thing in `main`: swift-log allows one bootstrap per process.
  public static func bootstrap(service: String, level: Logger.Level) {
    LoggingSystem.bootstrap { label in
      JSONLogHandler(label: label, service: service, level: level)
    }
  }
}
