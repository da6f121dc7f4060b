/// What stops code generation, said so that the reader knows what to fix.
enum PluginError: Error, CustomStringConvertible {
  case protocNotFound(searched: [String])
  case protocPathNotExecutable(String)
  case wellKnownTypesNotFound(searched: [String])
  case noProtoFolder(String)
  case unreadable(String)

  var description: String {
    switch self {
    case .protocNotFound(let searched):
      return """
        protoc was not found on PATH (\(searched.joined(separator: ":"))). Install Debian's \
        protobuf-compiler (`apt-get install protobuf-compiler`, or run scripts/setup.sh), or set \
        PROTOC_PATH to a protoc binary.
        """
    case .protocPathNotExecutable(let path):
      return "PROTOC_PATH is set to '\(path)', which is not an executable file."
    case .wellKnownTypesNotFound(let searched):
      return """
        The well-known types (google/protobuf/timestamp.proto) were not found in \
        \(searched.joined(separator: ", ")). Install Debian's libprotobuf-dev \
        (`apt-get install libprotobuf-dev`, or run scripts/setup.sh), or set PROTOC_INCLUDE to the \
        folder that holds google/protobuf/.
        """
    case .noProtoFolder(let path):
      return "No .proto files were found under \(path); the contracts live in the package's proto/ folder."
    case .unreadable(let path):
      return "\(path) could not be read as UTF-8 text."
    }
  }
}
