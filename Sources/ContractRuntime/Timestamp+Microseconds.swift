public import Foundation
public import SwiftProtobuf

extension Google_Protobuf_Timestamp {
  /// `date` to the microsecond: the precision Postgres keeps. A `Date` read back from a
  /// `timestamptz` column is a binary fraction near the stored value, so the plain
  /// `init(date:)` turns `...34.548` into `...34.548000097`; rounding gives the stored instant
  /// exactly, and the same value whether a message is built before or after the row is read.
  public init(microsecondsOf date: Date) {
    let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
    let seconds = (micros / 1_000_000).rounded(.down)
    self.init(seconds: Int64(seconds), nanos: Int32((micros - seconds * 1_000_000) * 1_000))
  }
}
