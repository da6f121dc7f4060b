import ContractRuntime
import Foundation
import SwiftProtobuf
import Testing

@Suite("Timestamps to the microsecond")
struct TimestampTests {
  @Test("a Date near a microsecond instant becomes that instant exactly")
  func roundsToMicroseconds() {
    // What a timestamptz of ...37.548 reads back as: a binary fraction a little off.
    let read = Date(timeIntervalSince1970: 1_795_805_437.548_000_097)
    let stamp = Google_Protobuf_Timestamp(microsecondsOf: read)
    #expect(stamp.seconds == 1_795_805_437 && stamp.nanos == 548_000_000)
    #expect(Google_Protobuf_Timestamp(date: read).nanos != 548_000_000)  // why this initializer exists

    // Every whole microsecond of a day comes back exactly (a Double holds these to about 0.24 us).
    for micros in stride(from: 0, to: 86_400_000_000, by: 7_777_777) {
      let stored = Int64(1_700_000_000) * 1_000_000 + Int64(micros)
      let date = Date(timeIntervalSince1970: Double(stored) / 1_000_000)
      let stamp = Google_Protobuf_Timestamp(microsecondsOf: date)
      #expect(Int64(stamp.seconds) * 1_000_000 + Int64(stamp.nanos / 1_000) == stored)
      #expect(stamp.nanos % 1_000 == 0)
    }
  }

  @Test("instants before 1970 and whole seconds")
  func edges() {
    let before = Google_Protobuf_Timestamp(microsecondsOf: Date(timeIntervalSince1970: -1.25))
    #expect(before.seconds == -2 && before.nanos == 750_000_000)
    let whole = Google_Protobuf_Timestamp(microsecondsOf: Date(timeIntervalSince1970: 86_400))
    #expect(whole.seconds == 86_400 && whole.nanos == 0)
  }
}
