// swift-tools-version: 6.1
// Courier: a protocol-first delivery-tracking platform. `proto/` is the source of truth; the build
// plugin in `Plugins/` generates codecs, gRPC stubs, REST routes and event bindings from it.
import PackageDescription

/// One set of Swift settings for every target.
let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "courier",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Generated", targets: ["Generated"]),
    .library(name: "ContractRuntime", targets: ["ContractRuntime"]),
    .library(name: "Gateway", targets: ["Gateway"]),
    .executable(name: "protoc-gen-courier", targets: ["protoc-gen-courier"]),
    .plugin(name: "CourierProtoGenerator", targets: ["CourierProtoGenerator"]),
    .library(name: "Kafka", targets: ["Kafka"]),
    .executable(name: "kafka-interop", targets: ["kafka-interop"]),
    .library(name: "Postgres", targets: ["Postgres"]),
    .library(name: "Transport", targets: ["Transport"]),
    .library(name: "Health", targets: ["Health"]),
    .executable(name: "interop-server", targets: ["InteropServer"]),
    .executable(name: "interop-client", targets: ["InteropClient"]),
    .library(name: "EventSource", targets: ["EventSource"]),
    .library(name: "Asgardian", targets: ["Asgardian"]),
    .library(name: "ServiceKit", targets: ["ServiceKit"]),
    .library(name: "Mail", targets: ["Mail"]),
    .library(name: "WebPush", targets: ["WebPush"]),
    .executable(name: "courier", targets: ["courier"]),
    .library(name: "Hermes", targets: ["Hermes"]),
    .executable(name: "courier-events", targets: ["courier-events"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    // Only the transport's tests use it: our client against its server and the other way round.
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    // The REST gateway's HTTP/1.1 server.
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // Asgardian: Ed25519 token signatures, SHA-256 token hashes, scrypt password hashes.
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    // Iris' web push: HTTP/1.1 and HTTP/2 to browsers' push services, with TLS and timeouts.
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    // The metrics API the gateway (and ServiceKit) record into.
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    // ServiceKit: Prometheus exposition and signal-driven graceful shutdown.
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
  ],
  targets: [
    // The build-tool plugin: runs the system protoc over proto/ with our three generators.
    .plugin(
      name: "CourierProtoGenerator",
      capability: .buildTool(),
      dependencies: [
        .product(name: "protoc-gen-swift", package: "swift-protobuf"),
        .product(name: "protoc-gen-grpc-swift-2", package: "grpc-swift-protobuf"),
        "protoc-gen-courier",
      ]
    ),

    // Our generator: descriptors in, Swift out. It never links the runtime it generates for.
    .executableTarget(
      name: "protoc-gen-courier",
      dependencies: [
        "CourierCodeGen",
        .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "CourierCodeGen",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),

    // The hand-written types that generated code conforms to (event bindings, the event registry).
    .target(
      name: "ContractRuntime",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),

    // Filled by the plugin from proto/; holds no hand-written logic.
    .target(
      name: "Generated",
      dependencies: [
        "ContractRuntime",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ],
      swiftSettings: swiftSettings,
      plugins: [.plugin(name: "CourierProtoGenerator")]
    ),

    // The Kafka wire-protocol client (see Sources/Kafka/README.md for why it is ours).
    .target(
      name: "Kafka",
      dependencies: [
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // Drives the Kafka client from the Python interop tests and the benchmark.
    .executableTarget(
      name: "kafka-interop",
      dependencies: ["Kafka"],
      swiftSettings: swiftSettings
    ),

    // gRPC over libnghttp2: GRPCCore transports with nghttp2 doing HTTP/2 and SwiftNIO the sockets.
    // The shim is a module map and a header; only Transport's NGHTTP2Session touches C.
    .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
    // zlib for gzip/deflate message compression: a system library (always present on Debian)
    // rather than another package, and direct control of the inflate loop's output limit.
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .target(
      name: "Transport",
      dependencies: [
        "CNGHTTP2",
        "CZlib",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "DequeModule", package: "swift-collections"),
      ],
      swiftSettings: swiftSettings
    ),
    // grpc.health.v1.Health (Check and Watch), served by every server.
    .target(
      name: "Health",
      dependencies: ["Generated", .product(name: "GRPCCore", package: "grpc-swift-2")],
      swiftSettings: swiftSettings
    ),
    // The standard interop TestService and test cases, with a server and a client executable.
    .target(
      name: "Interop",
      dependencies: [
        "Generated",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "InteropServer",
      dependencies: [
        "Interop", "Health", "Transport",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "InteropClient",
      dependencies: ["Interop", "Transport", .product(name: "GRPCCore", package: "grpc-swift-2")],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "TransportTests",
      dependencies: [
        "Transport", "Interop", "Health", "Generated",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),

    // libpq, wrapped once: the shim is a module map and a header; `Postgres` is the only module that
    // touches it (see Sources/Postgres/Postgres.docc for the threading design).
    .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
    .target(
      name: "Postgres",
      dependencies: [
        "CLibPQ",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // A point-select load for scripts/bench-postgres.sh.
    .executableTarget(
      name: "postgres-bench",
      dependencies: ["Postgres"],
      swiftSettings: swiftSettings
    ),

    // The event store, outbox relay and consumer runner (see Sources/EventSource/README.md).
    .target(
      name: "EventSource",
      dependencies: [
        "Postgres",
        "Kafka",
        "Generated",
        "ContractRuntime",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
      ],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // Operator commands of the event source: migrate, relay, replay, refill, dead letters.
    .executableTarget(
      name: "courier-events",
      dependencies: [
        "EventSource",
        "Postgres",
        "Kafka",
        "Generated",
        "ContractRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),
    // A consumer process for the event source's fault tests, and the pipeline benchmark.
    .executableTarget(
      name: "event-source-harness",
      dependencies: ["EventSource", "Postgres", "Kafka", "Generated", "ContractRuntime"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "EventSourceTests",
      dependencies: [
        "EventSource",
        "CourierTestSupport",
        "Postgres",
        "Kafka",
        "Generated",
        "ContractRuntime",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    // Starts the real servers integration tests need: a throwaway Postgres cluster, a Tansu broker.
    .target(
      name: "CourierTestSupport",
      dependencies: [
        "Kafka",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      path: "Tests/Support",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PostgresTests",
      dependencies: ["Postgres", "CourierTestSupport"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "KafkaTests",
      dependencies: [
        "Kafka",
        "CourierTestSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ContractTests",
      dependencies: [
        "Generated",
        "ContractRuntime",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
      ],
      path: "Tests/Contract",
      exclude: ["Fixtures"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "CourierCodeGenTests",
      dependencies: [
        "CourierCodeGen",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),

    // The REST gateway: the HTTP/1.1 server that mounts the generated REST routes.
    .target(
      name: "Gateway",
      dependencies: [
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Sample services for the gateway's tests: Hermes' TrackingService and DeliveryAdminService in memory.
    .target(
      name: "GatewaySample",
      dependencies: [
        "Gateway",
        "Generated",
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Tests/GatewaySample/Service",
      swiftSettings: swiftSettings
    ),
    // Serves the sample on loopback for the Python REST tests and the benchmark.
    .executableTarget(
      name: "courier-gateway-sample",
      dependencies: [
        "GatewaySample",
        "Gateway",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Tests/GatewaySample/Server",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "GatewayTests",
      dependencies: [
        "Gateway",
        "GatewaySample",
        "Generated",
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),

    // Web Push: RFC 8291 message encryption, RFC 8292 VAPID, and the sender that POSTs to push services.
    .target(
      name: "WebPush",
      dependencies: [
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "WebPushTests",
      dependencies: [
        "WebPush",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),

    // Mail: MIME messages, templates, the mail drop, and SMTP through libcurl (only Mail touches CCurl).
    .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
    .target(name: "Mail", dependencies: ["CCurl"], swiftSettings: swiftSettings),
    .testTarget(name: "MailTests", dependencies: ["Mail"], swiftSettings: swiftSettings),

    // Asgardian: users, login, sessions and tokens (see Sources/Services/Asgardian/README.md).
    .target(
      name: "Asgardian",
      dependencies: [
        "Generated",
        "ContractRuntime",
        "Postgres",
        "EventSource",
        "Kafka",
        "Gateway",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
        "ServiceKit",
        "Transport",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Services/Asgardian",
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AsgardianTests",
      dependencies: [
        "Asgardian",
        "CourierTestSupport",
        "Postgres",
        "EventSource",
        "Kafka",
        "Gateway",
        "Generated",
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: swiftSettings
    ),
    // The bootstrap every service shares: settings, JSON logs, metrics, the gRPC + HTTP server pair
    // with graceful shutdown, the gRPC interceptor and the identity-service authenticator.
    .target(
      name: "ServiceKit",
      dependencies: [
        "Gateway",
        "Transport",
        "Health",
        "Generated",
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // A CourierServer in its own process, for ServiceKitTests' signal and stdout checks.
    .executableTarget(
      name: "servicekit-sample",
      dependencies: ["ServiceKit", "Interop", "Generated", .product(name: "Logging", package: "swift-log")],
      path: "Tests/ServiceKitSample",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ServiceKitTests",
      dependencies: [
        "ServiceKit",
        "CourierTestSupport",
        "Gateway",
        "Transport",
        "Health",
        "Interop",
        "Generated",
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
  
    // Iris: mail, web push and live notifications (see README, "Iris").
    .target(
      name: "Iris",
      dependencies: [
        "Generated",
        "ContractRuntime",
        "Postgres",
        "ServiceKit",
        "Mail",
        "WebPush",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Services/Iris",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "IrisTests",
      dependencies: ["Iris", "Generated", .product(name: "GRPCCore", package: "grpc-swift-2")],
      swiftSettings: swiftSettings
    ),
    // The command line: one executable runs every service.
    .executableTarget(
      name: "courier",
      dependencies: [
        "Iris",
        "Asgardian",
        "Hermes",
        "ServiceKit",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),
      // Hermes: payloads, deliverers, positions, subscriptions and receipts (see Sources/Services/Hermes/README.md).
    .target(
      name: "Hermes",
      dependencies: [
        "Generated",
        "ContractRuntime",
        "Postgres",
        "EventSource",
        "Kafka",
        "ServiceKit",
        "Transport",
        "Gateway",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ],
      path: "Sources/Services/Hermes",
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HermesTests",
      dependencies: [
        "Hermes",
        "Gateway",
        "CourierTestSupport",
        "Postgres",
        "EventSource",
        "Kafka",
        "Generated",
        "ContractRuntime",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: swiftSettings
    ),
  ]
)
