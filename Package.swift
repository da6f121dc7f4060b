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
    .executable(name: "protoc-gen-courier", targets: ["protoc-gen-courier"]),
    .plugin(name: "CourierProtoGenerator", targets: ["CourierProtoGenerator"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
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
  ]
)
