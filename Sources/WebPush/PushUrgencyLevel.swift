/// The `Urgency` header of a push request (RFC 8030 section 5.3): how soon the user agent must be
/// woken for it. Push services may hold back lower urgencies to save the device's battery.
public enum PushUrgencyLevel: String, Sendable, CaseIterable {
  /// On power and Wi-Fi only: advertisements.
  case veryLow = "very-low"
  /// On power or Wi-Fi: topic updates.
  case low
  /// On neither power nor Wi-Fi: chats, calendar reminders.
  case normal
  /// Even on low battery: an incoming call, a delivery at the door.
  case high
}
