extension MailTemplates {
  /// The templates Iris ships:
  /// - `welcome`: `display_name`;
  /// - `password-recover`: `display_name`, `reset_url`, `expires_in_minutes`;
  /// - `payload-update`: `display_name`, `payload_title`, `tracking_code`, `status`, `tracking_url`;
  /// - `payload-arriving`: `display_name`, `payload_title`, `tracking_code`, `arrival`, `tracking_url`.
  ///
  /// Each has a subject, a plain-text body and a small HTML body: one column, inline styles only,
  /// `lang` and `title` set, text at 16px on white with dark ink, links that say where they go.
  public static let shipped = MailTemplates([
    "welcome": (
      subject: "Welcome to Courier, {{display_name}}",
      text: """
        Hello {{display_name}},

        Welcome to Courier. Your account is ready: subscribe to a payload with its tracking code \
        and we will tell you whenever it moves.

        The Courier team
        """,
      html: page(
        title: "Welcome to Courier",
        body: """
          <h1 style="\(headingStyle)">Welcome to Courier</h1>
          <p style="\(paragraphStyle)">Hello {{display_name}},</p>
          <p style="\(paragraphStyle)">Your account is ready: subscribe to a payload with its tracking code and we will tell you whenever it moves.</p>
          <p style="\(paragraphStyle)">The Courier team</p>
          """)
    ),
    "password-recover": (
      subject: "Reset your Courier password",
      text: """
        Hello {{display_name}},

        Someone (we hope you) asked to reset the password of your Courier account. Open this link \
        to choose a new one; it works for {{expires_in_minutes}} minutes and only once:

        {{reset_url}}

        If you did not ask for this, ignore this mail: your password stays as it is.

        The Courier team
        """,
      html: page(
        title: "Reset your Courier password",
        body: """
          <h1 style="\(headingStyle)">Reset your password</h1>
          <p style="\(paragraphStyle)">Hello {{display_name}},</p>
          <p style="\(paragraphStyle)">Someone (we hope you) asked to reset the password of your Courier account. The link works for {{expires_in_minutes}} minutes and only once.</p>
          <p style="\(paragraphStyle)"><a href="{{reset_url}}" style="\(buttonStyle)">Choose a new password</a></p>
          <p style="\(smallStyle)">If the button does not work, copy this address into your browser: {{reset_url}}</p>
          <p style="\(paragraphStyle)">If you did not ask for this, ignore this mail: your password stays as it is.</p>
          """)
    ),
    "payload-update": (
      subject: "{{payload_title}}: {{status}}",
      text: """
        Hello {{display_name}},

        Your payload "{{payload_title}}" ({{tracking_code}}) has a new status: {{status}}.

        Follow it here: {{tracking_url}}

        The Courier team
        """,
      html: page(
        title: "Payload update",
        body: """
          <h1 style="\(headingStyle)">{{payload_title}}</h1>
          <p style="\(paragraphStyle)">Hello {{display_name}},</p>
          <p style="\(paragraphStyle)">Your payload <strong>{{payload_title}}</strong> (tracking code <code>{{tracking_code}}</code>) has a new status: <strong>{{status}}</strong>.</p>
          <p style="\(paragraphStyle)"><a href="{{tracking_url}}" style="\(buttonStyle)">Follow {{payload_title}}</a></p>
          <p style="\(smallStyle)">You get this mail because you subscribed to this payload.</p>
          """)
    ),
    "payload-arriving": (
      subject: "{{payload_title}}: arriving soon",
      text: """
        Hello {{display_name}},

        Your payload "{{payload_title}}" ({{tracking_code}}) is about to arrive: {{arrival}}.

        Follow it here: {{tracking_url}}

        The Courier team
        """,
      html: page(
        title: "Arriving soon",
        body: """
          <h1 style="\(headingStyle)">{{payload_title}} is arriving soon</h1>
          <p style="\(paragraphStyle)">Hello {{display_name}},</p>
          <p style="\(paragraphStyle)">Your payload <strong>{{payload_title}}</strong> (tracking code <code>{{tracking_code}}</code>) is about to arrive: <strong>{{arrival}}</strong>.</p>
          <p style="\(paragraphStyle)"><a href="{{tracking_url}}" style="\(buttonStyle)">Follow {{payload_title}}</a></p>
          <p style="\(smallStyle)">You get this mail because you subscribed to this payload.</p>
          """)
    ),
  ])

  private static let headingStyle = "margin:0 0 16px;font-size:22px;line-height:1.3;color:#1a1a1a;"
  private static let paragraphStyle = "margin:0 0 16px;font-size:16px;line-height:1.5;color:#1a1a1a;"
  private static let smallStyle = "margin:0 0 16px;font-size:14px;line-height:1.5;color:#4a4a4a;"
  private static let buttonStyle =
    "display:inline-block;padding:12px 20px;background:#0b57d0;color:#ffffff;text-decoration:underline;border-radius:4px;"

  /// The frame every shipped HTML body shares.
  private static func page(title: String, body: String) -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(title)</title>
    </head>
    <body style="margin:0;padding:24px;background:#ffffff;font-family:Arial,Helvetica,sans-serif;">
    <div role="article" aria-label="\(title)" style="max-width:560px;margin:0 auto;">
    \(body)
    </div>
    </body>
    </html>
    """
  }
}
