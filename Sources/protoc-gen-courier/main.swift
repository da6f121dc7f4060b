import CourierCodeGen
import SwiftProtobufPluginLibrary

// protoc runs this as `--plugin=protoc-gen-courier=<path>` with `--courier_out=<dir>`.
CourierGenerator().main(nil)
