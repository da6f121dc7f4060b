package import ContractRuntime
package import EventSource
package import Generated
package import Kafka
package import Logging
import Postgres

/// Asgardian's consumer of `UserCreated`: has Iris send the welcome mail.
///
/// The mail's idempotency key is `<event_id>:<user_id>`, so a redelivered or replayed event never
/// mails twice: Iris answers a repeated key with the earlier delivery. A deleted account gets no
/// mail. When Iris cannot take the mail the handler throws and the consumer runner retries with
/// backoff (and dead-letters after its policy's attempts).
package enum WelcomeMail {
  /// The consumer group, also the name in the event store's `deliveries`.
  package static let group = "asgardian"

  /// The events this consumer reads: only `UserCreated`.
  package static var registry: EventRegistry { EventRegistry([Courier_Events_V1_UserCreated.self]) }

  /// The mail for one event.
  package static func mail(for event: Courier_Events_V1_UserCreated, consumed: ConsumedEvent) -> AccountMail {
    AccountMail(
      idempotencyKey: consumed.idempotencyKey(recipient: event.userID), address: event.email,
      displayName: event.displayName, userID: event.userID, template: .welcome,
      variables: ["display_name": event.displayName])
  }

  /// The handler: sends the welcome mail of a `UserCreated` whose account still exists.
  package static func handler(mailer: any MailSending) -> EventConsumer.Handler {
    { consumed, tx in
      let event = try consumed.event(as: Courier_Events_V1_UserCreated.self)
      let id = try Validation.userID(event.userID)
      let rows = try await tx.query("SELECT deleted FROM asgardian.users WHERE id = \(id)")
      guard let row = rows.first, try !row.decode(Bool.self, at: 0) else { return }
      try await mailer.send(mail(for: event, consumed: consumed))
    }
  }

  /// The consumer runner for Asgardian's group; run it as a background service.
  package static func consumer(
    store: EventStore, kafka: KafkaConfiguration, mailer: any MailSending,
    configuration: EventConsumer.Configuration = .init(group: group),
    logger: Logger = Logger(label: "courier.asgardian.welcome-mail")
  ) -> EventConsumer {
    EventConsumer(
      store: store, kafka: kafka, registry: registry, configuration: configuration, logger: logger,
      handler: handler(mailer: mailer))
  }
}
