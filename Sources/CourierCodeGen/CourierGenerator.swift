import Foundation
import SwiftProtobuf
public import SwiftProtobufPluginLibrary

/// protoc-gen-courier: for every `.proto` file, one `<path_with_underscores>.courier.swift` with the
/// event bindings and event registry of that file (and, as the contracts grow, its REST routes).
///
/// A file is written for every input, even when it declares nothing of ours, because the build plugin
/// declares that output up front.
public struct CourierGenerator: CodeGenerator {
  public init() {}

  public var supportedFeatures: [Google_Protobuf_Compiler_CodeGeneratorResponse.Feature] {
    [.proto3Optional]
  }

  public var version: String? { "1.0.0" }

  public func generate(
    files: [FileDescriptor],
    parameter: any CodeGeneratorParameter,
    protoCompilerContext: any ProtoCompilerContext,
    generatorOutputs: any GeneratorOutputs
  ) throws {
    let options = try GeneratorOptions(parameter: parameter)
    if options.index {
      try generatorOutputs.add(fileName: Self.indexFileName, contents: IndexEmitter(files: files, options: options).emit())
      return
    }
    for file in files {
      let source = try FileEmitter(file: file, options: options).emit()
      try generatorOutputs.add(fileName: Self.outputName(for: file.name), contents: source)
    }
  }

  /// The file that `Index=true` writes: every file's contract in one list.
  public static let indexFileName = "CourierContracts.index.swift"

  /// `courier/events/v1/events.proto` -> `courier_events_v1_events.courier.swift`.
  public static func outputName(for protoPath: String) -> String {
    let stem = protoPath.hasSuffix(".proto") ? String(protoPath.dropLast(".proto".count)) : protoPath
    return stem.replacingOccurrences(of: "/", with: "_") + ".courier.swift"
  }
}

/// The generator's parameters: `Visibility=Public|Package|Internal`, and `Index=true` to write the
/// index of every file's contract instead of one file per input.
struct GeneratorOptions {
  var visibility = "public"
  var index = false

  init(parameter: any CodeGeneratorParameter) throws(GenerationError) {
    for (key, value) in parameter.parsedPairs {
      switch key {
      case "Visibility":
        switch value.lowercased() {
        case "public": visibility = "public"
        case "package": visibility = "package"
        case "internal": visibility = "internal"
        default: throw .badParameter("Visibility must be Public, Package or Internal, not '\(value)'")
        }
      case "Index":
        index = value.lowercased() == "true"
      default:
        throw .badParameter("unknown parameter '\(key)'; protoc-gen-courier takes Visibility and Index")
      }
    }
  }

  init() {}
}

/// What stops generation; protoc prints the text and fails.
public enum GenerationError: Error, Equatable, CustomStringConvertible {
  case badParameter(String)
  case badOption(element: String, reason: String)

  public var description: String {
    switch self {
    case .badParameter(let reason):
      return "protoc-gen-courier: \(reason)"
    case .badOption(let element, let reason):
      return "protoc-gen-courier: \(element): \(reason)"
    }
  }
}
