import Foundation
import Testing

@testable import EventSource

@Suite("Event headers as stored JSON (no I/O)")
struct HeadersJSONTests {
  @Test("headers written as JSON read back the same, whatever their characters")
  func roundTrip() throws {
    let id = UUID()
    let awkward = [
      "request-id": "r-1", "quote\"and\\slash": "line\nbreak\ttab\u{01}", "ünïcode": "✓ 東京", "": "",
    ]
    for headers in [[:], ["traceparent": "00-abc-def-01"], awkward] {
      let record = EventRecord(
        id: id, topic: "t", key: "k", type: "x", producer: "tests", payload: Data(), headers: headers, occurredAt: Date())
      #expect(try EventRecord.headers(fromJSON: record.headersJSON, id: id) == headers)
    }
    let sorted = EventRecord(
      id: id, topic: "t", key: "k", type: "x", producer: "p", payload: Data(), headers: ["b": "2", "a": "1"], occurredAt: Date())
    #expect(sorted.headersJSON == #"{"a":"1","b":"2"}"#)
  }

  @Test("stored headers that are not an object of strings are a corrupt row")
  func corrupt() {
    for json in ["[]", #"{"a":1}"#, "not json"] {
      #expect(throws: EventSourceError.self) { try EventRecord.headers(fromJSON: json, id: UUID()) }
    }
  }
}
