package import Generated
package import GRPCCore

/// One account mail that Asgardian asks Iris to send.
package struct AccountMail: Sendable, Hashable {
  /// Which Iris template.
  package enum Template: String, Sendable, Hashable {
    /// Variables: `display_name`.
    case welcome
    /// Variables: `display_name`, `reset_url`, `expires_in_minutes`.
    case passwordRecover = "password-recover"
  }

  /// Makes a retry safe: `<event_id>:<user_id>` for welcome mail, `recover:<token id>` for recovery.
  package var idempotencyKey: String
  package var address: String
  package var displayName: String
  package var userID: String
  package var template: Template
  /// The template's variables by name.
  package var variables: [String: String]

  package init(
    idempotencyKey: String, address: String, displayName: String, userID: String, template: Template,
    variables: [String: String]
  ) {
    self.idempotencyKey = idempotencyKey
    self.address = address
    self.displayName = displayName
    self.userID = userID
    self.template = template
    self.variables = variables
  }

  /// The Iris request for this mail.
  package var request: Courier_Iris_V1_SendMailRequest {
    var request = Courier_Iris_V1_SendMailRequest()
    request.idempotencyKey = idempotencyKey
    request.recipient.address = address
    request.recipient.name = displayName
    request.userID = userID
    var template = Courier_Iris_V1_MailTemplate()
    template.name = self.template.rawValue
    template.variables = variables.sorted { $0.key < $1.key }.map { name, value in
      var variable = Courier_Iris_V1_TemplateVariable()
      variable.name = name
      variable.value = value
      return variable
    }
    request.template = template
    return request
  }
}

/// Sends account mail. Production: ``IrisMailSender`` (Iris' NotificationService.SendMail over gRPC);
/// tests may use an in-process fake.
package protocol MailSending: Sendable {
  /// Hands the mail to the mail service. Throws when it could not (retry with the same key).
  func send(_ mail: AccountMail) async throws
}

/// Sends account mail through Iris' generated NotificationService client.
package struct IrisMailSender<Transport: ClientTransport>: MailSending {
  private let client: Courier_Iris_V1_NotificationService.Client<Transport>
  private let timeout: Duration

  /// - Parameter timeout: the deadline of each SendMail call.
  package init(client: GRPCClient<Transport>, timeout: Duration = .seconds(10)) {
    self.client = Courier_Iris_V1_NotificationService.Client(wrapping: client)
    self.timeout = timeout
  }

  package func send(_ mail: AccountMail) async throws {
    var options = CallOptions.defaults
    options.timeout = timeout
    _ = try await client.sendMail(mail.request, options: options)
  }
}
