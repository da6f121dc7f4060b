import Testing

@testable import ServiceKit

@Suite("Process metrics")
struct ProcessMetricsTests {
  @Test("parses statm and stat, including a command name with spaces and parentheses")
  func parse() {
    let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 300"
    let metrics = ProcessMetrics.parse(statm: "5000 1200 300 10 0 900 0\n", stat: stat, pageSize: 4_096, ticksPerSecond: 100)
    #expect(metrics.residentMemoryBytes == 1_200 * 4_096)
    #expect(metrics.cpuSeconds == 3.0)
    #expect(metrics.exposition.contains("process_resident_memory_bytes 4915200\n"))
    #expect(metrics.exposition.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.0\n"))
  }

  @Test("unreadable or short files give no metric")
  func missing() {
    let metrics = ProcessMetrics.parse(statm: "garbage", stat: "1 (x) S", pageSize: 4_096, ticksPerSecond: 100)
    #expect(metrics == ProcessMetrics(residentMemoryBytes: nil, cpuSeconds: nil))
    #expect(metrics.exposition.isEmpty)
  }

  #if os(Linux)
  @Test("this process has resident memory and CPU time")
  func live() {
    let metrics = ProcessMetrics.read()
    #expect((metrics.residentMemoryBytes ?? 0) > 1_000_000)
    #expect(metrics.cpuSeconds != nil)
  }
  #endif
}
