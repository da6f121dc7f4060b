// The build plugin fills this module with code generated from proto/. SwiftPM needs one source file
// in a target's folder to keep the target; this is it. Write nothing else here.
