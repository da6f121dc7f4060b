// courier: the command line of Courier. One binary runs each service, so that a container image or
// the local stack needs one build product.
//
//   courier asgardian         runs Asgardian (users, login, tokens)
//   courier iris              runs Iris (mail, web push, live notifications)
//   courier hermes            runs Hermes (payloads, deliverers, positions, subscriptions, receipts)
//   courier <service> --help-env   lists the variables the service reads, with their defaults
//
// Settings come from environment variables; the defaults are those of the local stack.
import ArgumentParser
import Asgardian
import Foundation
import Hermes
import Iris
import ServiceKit

@main
struct Courier: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "courier",
    abstract: "Runs Courier's services.",
    subcommands: [AsgardianCommand.self, IrisCommand.self, HermesCommand.self]
  )
}

/// Prints each variable a service reads, its default and what it does.
func printEnvironmentHelp(_ documentation: [(name: String, defaultValue: String, doc: String)]) {
  for variable in documentation {
    let shown = variable.defaultValue.isEmpty ? "(unset)" : variable.defaultValue
    print("\(variable.name)=\(shown)\n    \(variable.doc)")
  }
}

struct IrisCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "iris", abstract: "Runs Iris: mail, web push and live notifications.")

  @Flag(help: "List the environment variables Iris reads, with their defaults, and exit.")
  var helpEnv = false

  func run() async throws {
    if helpEnv {
      printEnvironmentHelp(try IrisApp.environmentDocumentation())
      return
    }
    keepOpenSSLStateAtExit()
    try await IrisApp.run()
  }
}

struct AsgardianCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "asgardian", abstract: "Runs Asgardian: users, login, tokens and password recovery.")

  @Flag(help: "List the environment variables Asgardian reads, with their defaults, and exit.")
  var helpEnv = false

  func run() async throws {
    if helpEnv {
      printEnvironmentHelp(try await AsgardianApp.environmentDocumentation())
      return
    }
    keepOpenSSLStateAtExit()
    try await AsgardianApp.run()
  }
}

struct HermesCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hermes", abstract: "Runs Hermes: payloads, deliverers, positions, subscriptions and receipts.")

  func run() async throws {
    keepOpenSSLStateAtExit()
    try await HermesApp.run()
  }
}
