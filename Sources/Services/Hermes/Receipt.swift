package import Foundation

/// A payload's receipt: what it says, and where it is kept in the bucket.
package enum Receipt {
  /// The object key of a payload's receipt.
  package static func key(trackingCode: String) -> String { "receipts/receipt-\(trackingCode).pdf" }

  /// The PDF: tracking code, title, recipient and registration time (UTC, ISO 8601).
  package static func document(
    trackingCode: String, title: String, recipientUserID: String, registeredAt: Date
  ) -> Data {
    var pdf = PDFDocument()
    pdf.add("Courier delivery receipt")
    pdf.add("")
    pdf.add("Tracking code: \(trackingCode)")
    pdf.add("Title: \(title)")
    pdf.add("Recipient: \(recipientUserID)")
    pdf.add("Registered: \(registeredAt.formatted(.iso8601))")
    pdf.add("")
    pdf.add("Follow this delivery with its tracking code in the Courier app.")
    return pdf.render()
  }
}
