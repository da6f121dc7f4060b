import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Resident memory and CPU time of this process, read from `/proc/self` on Linux; absent elsewhere
/// or when the files cannot be read.
struct ProcessMetrics: Equatable {
  var residentMemoryBytes: Int?
  var cpuSeconds: Double?

  static func read() -> ProcessMetrics {
    #if os(Linux)
    let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
    let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
    return parse(
      statm: statm,
      stat: stat,
      pageSize: Int(sysconf(Int32(_SC_PAGESIZE))),
      ticksPerSecond: Int(sysconf(Int32(_SC_CLK_TCK)))
    )
    #else
    return ProcessMetrics(residentMemoryBytes: nil, cpuSeconds: nil)
    #endif
  }

  /// Parses `statm` (second field: resident pages) and `stat` (fields 14 and 15 after the command
  /// name in parentheses: user and system time in clock ticks).
  static func parse(statm: String?, stat: String?, pageSize: Int, ticksPerSecond: Int) -> ProcessMetrics {
    var result = ProcessMetrics(residentMemoryBytes: nil, cpuSeconds: nil)
    if let statm {
      let fields = statm.split(separator: " ")
      if fields.count > 1, let pages = Int(fields[1].trimmingCharacters(in: .whitespacesAndNewlines)) {
        result.residentMemoryBytes = pages * pageSize
      }
    }
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    if let stat, let close = stat.lastIndex(of: ")"), ticksPerSecond > 0 {
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      // fields[0] is the state (field 3), so utime (field 14) is fields[11] and stime fields[12].
      if fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) {
        result.cpuSeconds = Double(user + system) / Double(ticksPerSecond)
      }
    }
    return result
  }

  /// The Prometheus text lines for what could be read.
  var exposition: String {
    var text = ""
    if let residentMemoryBytes {
      text += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      text += "# TYPE process_resident_memory_bytes gauge\n"
      text += "process_resident_memory_bytes \(residentMemoryBytes)\n"
    }
    if let cpuSeconds {
      text += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
      text += "# TYPE process_cpu_seconds_total counter\n"
      text += "process_cpu_seconds_total \(cpuSeconds)\n"
    }
    return text
  }
}
