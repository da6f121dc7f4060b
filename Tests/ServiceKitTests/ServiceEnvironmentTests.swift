import Logging
import Testing

@testable import ServiceKit

@Suite("ServiceEnvironment and ServerSettings")
struct ServiceEnvironmentTests {
  @Test("reads values and falls back to defaults; empty counts as unset")
  func valuesAndDefaults() throws {
    let environment = ServiceEnvironment([
      "NAME": "iris", "EMPTY": "", "COUNT": " 42 ", "FLAG": "YES", "OFF": "0", "WAIT": "250ms", "LONG": "2h",
    ])
    #expect(environment.string("NAME", default: "x", "doc") == "iris")
    #expect(environment.string("EMPTY", default: "fallback", "doc") == "fallback")
    #expect(environment.optionalString("EMPTY", "doc") == nil)
    #expect(environment.optionalString("MISSING", "doc") == nil)
    #expect(try environment.int("COUNT", default: 1, in: 0...100, "doc") == 42)
    #expect(try environment.int("NO_COUNT", default: 7, in: 0...100, "doc") == 7)
    #expect(try environment.bool("FLAG", default: false, "doc"))
    #expect(try !environment.bool("OFF", default: true, "doc"))
    #expect(try environment.duration("WAIT", default: .seconds(1), "doc") == .milliseconds(250))
    #expect(try environment.duration("LONG", default: .seconds(1), "doc") == .seconds(7_200))
    #expect(try environment.duration("NO_WAIT", default: .seconds(30), "doc") == .seconds(30))
  }

  @Test("documentation lists each variable once, in read order, with its default")
  func documentation() throws {
    let environment = ServiceEnvironment([:])
    _ = environment.string("B", default: "b", "second letter")
    _ = try environment.int("A", default: 3, in: 0...9, "first letter")
    _ = environment.string("B", default: "other", "read again")
    _ = try environment.duration("GRACE", default: .seconds(300), "grace")
    _ = environment.optionalString("OPT", "optional")
    let entries = environment.documentation
    #expect(entries.map(\.name) == ["B", "A", "GRACE", "OPT"])
    #expect(entries.map(\.defaultValue) == ["b", "3", "5m", ""])
    #expect(entries[0].doc == "second letter")
  }

  @Test("each type names the variable and the expected form when the value is wrong")
  func errors() {
    let environment = ServiceEnvironment(["N": "ten", "BIG": "70000", "B": "maybe", "D": "10", "D2": "5 min", "D3": "-1s"])
    #expect(throws: ConfigurationError(variable: "N", message: "must be an integer in 0...65535, got 'ten'")) {
      try environment.int("N", default: 1, in: 0...65_535, "doc")
    }
    #expect(throws: ConfigurationError(variable: "BIG", message: "must be in 0...65535, got 70000")) {
      try environment.int("BIG", default: 1, in: 0...65_535, "doc")
    }
    #expect(throws: ConfigurationError(variable: "B", message: "must be one of true, false, 1, 0, yes, no, got 'maybe'")) {
      try environment.bool("B", default: true, "doc")
    }
    for name in ["D", "D2", "D3"] {
      let error = #expect(throws: ConfigurationError.self) { try environment.duration(name, default: .seconds(1), "doc") }
      #expect(error?.variable == name)
      #expect(error?.description.hasPrefix("\(name) must be a whole number with a unit (250ms, 30s, 5m, 1h)") == true)
    }
  }

  @Test("addresses: host:port, [IPv6]:port or the default; anything else names the variable")
  func addresses() throws {
    let environment = ServiceEnvironment([
      "BROKER": "kafka.internal:9092", "V6": "[::1]:50051", "NO_PORT": "iris", "ZERO": "iris:0", "NO_HOST": ":80",
    ])
    #expect(try environment.address("BROKER", default: "x:1", "doc") == ("kafka.internal", 9092))
    #expect(try environment.address("V6", default: "x:1", "doc") == ("::1", 50051))
    #expect(try environment.address("UNSET", default: "127.0.0.1:50052", "doc") == ("127.0.0.1", 50052))
    #expect(throws: ConfigurationError(variable: "NO_PORT", message: "must be host:port, got 'iris'")) {
      try environment.address("NO_PORT", default: "x:1", "doc")
    }
    #expect(throws: ConfigurationError(variable: "ZERO", message: "must be host:port with a port in 1...65535, got 'iris:0'")) {
      try environment.address("ZERO", default: "x:1", "doc")
    }
    #expect(throws: ConfigurationError(variable: "NO_HOST", message: "must be host:port with a port in 1...65535, got ':80'")) {
      try environment.address("NO_HOST", default: "x:1", "doc")
    }
    #expect(environment.documentation.first { $0.name == "UNSET" }?.defaultValue == "127.0.0.1:50052")
  }

  @Test("ServerSettings reads the prefixed variables")
  func serverSettings() throws {
    let settings = try ServerSettings(
      prefix: "IRIS",
      defaultGRPCPort: 50_053,
      defaultHTTPPort: 8_083,
      environment: ServiceEnvironment([
        "IRIS_GRPC_PORT": "0", "IRIS_HTTP_HOST": "0.0.0.0", "IRIS_SHUTDOWN_GRACE": "3s", "LOG_LEVEL": "DEBUG",
        "COURIER_IDENTITY_ADDRESS": "asgardian:50051",
      ])
    )
    #expect(settings.grpcHost == "127.0.0.1")
    #expect(settings.grpcPort == 0)
    #expect(settings.httpHost == "0.0.0.0")
    #expect(settings.httpPort == 8_083)
    #expect(settings.shutdownGrace == .seconds(3))
    #expect(settings.logLevel == .debug)
    #expect(settings.identityAddress == "asgardian:50051")

    let defaults = try ServerSettings(prefix: "IRIS", defaultGRPCPort: 1, defaultHTTPPort: 2, environment: ServiceEnvironment([:]))
    #expect(defaults.shutdownGrace == .seconds(10))
    #expect(defaults.logLevel == .info)
    #expect(defaults.identityAddress == nil)
  }

  @Test("ServerSettings rejects a bad level, port and identity address")
  func serverSettingsErrors() {
    func settings(_ values: [String: String]) throws(ConfigurationError) -> ServerSettings {
      try ServerSettings(prefix: "X", defaultGRPCPort: 1, defaultHTTPPort: 2, environment: ServiceEnvironment(values))
    }
    #expect(throws: ConfigurationError(variable: "LOG_LEVEL", message: "must be one of trace, debug, info, notice, warning, error, critical, got 'loud'")) {
      try settings(["LOG_LEVEL": "loud"])
    }
    #expect(throws: ConfigurationError(variable: "X_HTTP_PORT", message: "must be in 0...65535, got 65536")) {
      try settings(["X_HTTP_PORT": "65536"])
    }
    #expect(throws: ConfigurationError(variable: "COURIER_IDENTITY_ADDRESS", message: "must be host:port, got 'asgardian'")) {
      try settings(["COURIER_IDENTITY_ADDRESS": "asgardian"])
    }
    #expect(throws: ConfigurationError(variable: "COURIER_IDENTITY_ADDRESS", message: "must be host:port with a port in 1...65535, got 'a:0'")) {
      try settings(["COURIER_IDENTITY_ADDRESS": "a:0"])
    }
  }
}
