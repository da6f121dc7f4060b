import Foundation
@testable import Hermes
import Postgres
import Testing

@Suite("MovedBatch without I/O")
struct MovedBatchTests {
  @Test("a batch of moves built from other rows than its three reads' throws instead of stopping the service")
  func rowsOfOtherReads() {
    #expect(MovedBatch.reads(payloadIDs: [UUID()]).count == 3)
    #expect(throws: MovedBatch.ReadsMismatch.self) { try MovedBatch(reads: []) }
  }
}
