/// The `grpc-timeout` header: at most 8 ASCII digits followed by a unit (H, M, S, m, u, n).
struct GRPCTimeout: Equatable {
  var duration: Duration

  /// Parses a header value; `nil` when it is malformed.
  init?(header: Substring) {
    guard let unit = header.last, header.count >= 2, header.count <= 9 else { return nil }
    let digits = header.dropLast()
    guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let amount = Int64(digits) else {
      return nil
    }
    switch unit {
    case "H": self.duration = .seconds(amount * 3600)
    case "M": self.duration = .seconds(amount * 60)
    case "S": self.duration = .seconds(amount)
    case "m": self.duration = .milliseconds(amount)
    case "u": self.duration = .microseconds(amount)
    case "n": self.duration = .nanoseconds(amount)
    default: return nil
    }
  }

  init(duration: Duration) {
    self.duration = duration
  }

  /// The header value: the duration rounded up to fit in 8 digits of the finest unit that does.
  var headerValue: String {
    let (seconds, attoseconds) = self.duration.components
    let nanos = max(0, seconds) &* 1_000_000_000 &+ max(0, attoseconds / 1_000_000_000)
    let units: [(Int64, Character)] = [
      (1, "n"), (1000, "u"), (1_000_000, "m"), (1_000_000_000, "S"),
      (60_000_000_000, "M"), (3_600_000_000_000, "H"),
    ]
    for (scale, unit) in units {
      let amount = (nanos + scale - 1) / scale
      if amount < 100_000_000 {
        return "\(amount)\(unit)"
      }
    }
    return "99999999H"
  }
}
