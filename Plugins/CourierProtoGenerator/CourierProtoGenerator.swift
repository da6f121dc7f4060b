import Foundation
import PackagePlugin

/// Generates Swift from every `.proto` file under the package's top-level `proto/` folder.
///
/// For each file and each generator it declares one build command, with the file and its transitive
/// imports as inputs and exactly one output, so that editing one contract regenerates only what
/// depends on it. It runs the system `protoc` (`PROTOC_PATH` overrides the `PATH` lookup) and never
/// swift-protobuf's vendored one, whose build costs minutes.
@main
struct CourierProtoGenerator: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
    let environment = ProcessInfo.processInfo.environment
    let protoRoot = context.package.directoryURL.appending(path: "proto", directoryHint: .isDirectory)
    let protoc = try Toolchain.protoc(environment: environment)
    let wellKnownTypes = try Toolchain.wellKnownTypesInclude(protoc: protoc, environment: environment)
    let tree = try ProtoTree(root: protoRoot)
    let outputDirectory = context.pluginWorkDirectoryURL.appending(path: "generated", directoryHint: .isDirectory)

    let generators = [
      Generator(
        name: "swift",
        tool: try context.tool(named: "protoc-gen-swift").url,
        suffix: ".pb.swift",
        options: "Visibility=Public,FileNaming=PathToUnderscores,UseAccessLevelOnImports=true"
      ),
      Generator(
        name: "grpc-swift-2",
        tool: try context.tool(named: "protoc-gen-grpc-swift-2").url,
        suffix: ".grpc.swift",
        options: "Visibility=Package,FileNaming=PathToUnderscores,UseAccessLevelOnImports=true,Server=true,Client=true"
      ),
      Generator(
        name: "courier",
        tool: try context.tool(named: "protoc-gen-courier").url,
        suffix: ".courier.swift",
        options: "Visibility=Public"
      ),
    ]

    var commands: [Command] = []
    for file in tree.files {
      let inputs = [protoc] + tree.closure(of: file).map { protoRoot.appending(path: $0) }
      for generator in generators {
        let output = outputDirectory.appending(path: generator.outputName(for: file))
        commands.append(
          .buildCommand(
            displayName: "Generating \(generator.name) code for \(file)",
            executable: protoc,
            arguments: [
              "--plugin=protoc-gen-\(generator.name)=\(generator.tool.path)",
              "--\(generator.name)_out=\(outputDirectory.path)",
              "--\(generator.name)_opt=\(generator.options)",
              "--proto_path=\(protoRoot.path)",
              "--proto_path=\(wellKnownTypes.path)",
              protoRoot.appending(path: file).path,
            ],
            inputFiles: inputs + [generator.tool],
            outputFiles: [output]
          )
        )
      }
    }
    // One more command over every file: the index of all contracts. It reruns on any change, which
    // costs one protoc run; the per-file commands above stay incremental.
    let courier = generators[2]
    commands.append(
      .buildCommand(
        displayName: "Generating the contract index",
        executable: protoc,
        arguments: [
          "--plugin=protoc-gen-courier=\(courier.tool.path)",
          "--courier_out=\(outputDirectory.path)",
          "--courier_opt=\(courier.options),Index=true",
          "--proto_path=\(protoRoot.path)",
          "--proto_path=\(wellKnownTypes.path)",
        ] + tree.files.map { protoRoot.appending(path: $0).path },
        inputFiles: [protoc, courier.tool] + tree.files.map { protoRoot.appending(path: $0) },
        outputFiles: [outputDirectory.appending(path: "CourierContracts.index.swift")]
      )
    )
    return commands
  }
}

/// One protoc plugin and the file it writes per `.proto` file.
struct Generator {
  var name: String
  var tool: URL
  var suffix: String
  var options: String

  /// `courier/hermes/v1/hermes.proto` -> `courier_hermes_v1_hermes.pb.swift` (the generators'
  /// `FileNaming=PathToUnderscores`).
  func outputName(for protoPath: String) -> String {
    let stem = protoPath.hasSuffix(".proto") ? String(protoPath.dropLast(".proto".count)) : protoPath
    return stem.replacingOccurrences(of: "/", with: "_") + suffix
  }
}
