package import Foundation

#if canImport(Glibc)
  package import Glibc
#endif

/// Runs a program to completion for a test: posix_spawn and waitpid, its input from `input`, its
/// output and errors in temporary files. Never pipes: a server that another test starts
/// meanwhile can inherit a pipe's write end, and reading to the end would then wait for that
/// server.
package enum Program {
  package struct Result: Sendable {
    package var status: Int32
    package var output: String
    package var errors: String
  }

  package struct SpawnError: Error, CustomStringConvertible {
    package var description: String
  }

  /// With `mergeErrors` the errors go to `output` as well, in the order they were written.
  package static func run(
    _ executable: String, _ arguments: [String], input: Data? = nil, mergeErrors: Bool = false
  ) throws -> Result {
    let base = NSTemporaryDirectory() + "/courier-run-\(UUID().uuidString)"
    let inputPath = base + ".in"
    let outputPath = base + ".out"
    let errorsPath = base + ".err"
    defer {
      for path in [inputPath, outputPath, errorsPath] { try? FileManager.default.removeItem(atPath: path) }
    }
    if let input { try input.write(to: URL(fileURLWithPath: inputPath)) }
    let pid = try spawn(
      executable, arguments, input: input == nil ? "/dev/null" : inputPath, output: outputPath,
      errors: mergeErrors ? nil : errorsPath)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exited = status & 0x7f == 0
    return Result(
      status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
      output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
      errors: mergeErrors ? "" : (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
    )
  }

  /// Starts a program with its standard input read from the file `input`, its output written to
  /// the file `output` and its errors to `errors` (nil: to `output` as well), and no other
  /// descriptor of the test process. The caller reaps it.
  package static func spawn(
    _ executable: String, _ arguments: [String], input: String, output: String, errors: String?
  ) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if let errors {
      posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    } else {
      posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    closeInheritedDescriptors(&actions)
    let argv = ([executable] + arguments).map { strdup($0) }
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv + [nil], environ)
    guard spawned == 0 else {
      throw SpawnError(description: "cannot start \(executable): errno \(spawned)")
    }
    return pid
  }

  /// Makes a spawned child close every descriptor of the test process above 2 (glibc 2.34's
  /// `posix_spawn_file_actions_addclosefrom_np`, looked up at run time: Swift's Glibc does not
  /// show it). A server started from a test (a postmaster, say) would otherwise keep the write
  /// ends of other tests' pipes open, and their readers would never see the end.
  private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "posix_spawn_file_actions_addclosefrom_np")
    else { return }
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
  }
}
