import ContractRuntime
import Foundation
import Generated
import GRPCCore
import Mail
import SwiftProtobuf
import WebPush

/// `courier.iris.v1.DeliveryLogService`: what Iris sent, and the local mail drop, for admins. The
/// gateway and the gRPC interceptor enforce the admin role from the contract.
struct DeliveryLogService: Courier_Iris_V1_DeliveryLogService.SimpleServiceProtocol {
  let store: DeliveryStore
  /// The mail drop when it is the mail transport; nil when mail goes over SMTP.
  let mailDrop: MailDropTransport?

  static let defaultPageSize = 50
  static let maxPageSize = 500

  static func pageSize(_ request: Courier_Common_V1_PageRequest) throws(RPCError) -> Int {
    let size = Int(request.pageSize)
    if size == 0 { return defaultPageSize }
    guard (1...maxPageSize).contains(size) else {
      throw Check.invalid("page.page_size must be 0 (the default of \(defaultPageSize)) to \(maxPageSize), not \(size)")
    }
    return size
  }

  func listDeliveries(
    request: Courier_Iris_V1_ListDeliveriesRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_ListDeliveriesResponse {
    let size = try Self.pageSize(request.page)
    var filter = DeliveryFilter()
    switch request.channel {
    case .mail: filter.channel = .mail
    case .push: filter.channel = .push
    case .unspecified: break
    case .UNRECOGNIZED(let value): throw Check.invalid("channel \(value) is not a channel")
    }
    switch request.status {
    case .unspecified: break
    case .UNRECOGNIZED(let value): throw Check.invalid("status \(value) is not a delivery status")
    default: filter.status = request.status
    }
    filter.userID = try Check.optionalUUID(request.userID, field: "user_id")
    let cursor = try PageToken.decode(request.page.pageToken, filter: filter)
    let (records, total) = try await store.list(filter, after: cursor, limit: size + 1)
    var response = Courier_Iris_V1_ListDeliveriesResponse()
    response.deliveries = records.prefix(size).map(Self.message)
    response.pageInfo.totalSize = total
    if records.count > size, let last = records.prefix(size).last {
      response.pageInfo.nextPageToken = PageToken.encode((last.createdAt, last.id), filter: filter)
    }
    return response
  }

  static func message(_ record: DeliveryRecord) -> Courier_Iris_V1_Delivery {
    var delivery = Courier_Iris_V1_Delivery()
    delivery.deliveryID = record.id.text
    delivery.channel = record.channel == .mail ? .mail : .push
    delivery.status = record.status
    delivery.idempotencyKey = record.idempotencyKey
    delivery.userID = record.userID?.text ?? ""
    delivery.recipientAddress = record.recipientAddress
    delivery.templateName = record.templateName
    delivery.summary = record.summary
    delivery.attemptCount = record.attemptCount
    delivery.lastError = record.lastError
    delivery.pushedSubscriptionCount = record.pushedSubscriptionCount
    delivery.createdAt = Google_Protobuf_Timestamp(microsecondsOf: record.createdAt)
    delivery.updatedAt = Google_Protobuf_Timestamp(microsecondsOf: record.updatedAt)
    if record.status == .retrying, let next = record.nextAttemptAt {
      delivery.nextAttemptAt = Google_Protobuf_Timestamp(microsecondsOf: next)
    }
    return delivery
  }

  private func requireDrop() throws(RPCError) -> MailDropTransport {
    guard let mailDrop else {
      throw RPCError(code: .failedPrecondition, message: "the mail transport is SMTP, not the mail drop: there is no drop to read")
    }
    return mailDrop
  }

  func listMailDrop(
    request: Courier_Iris_V1_ListMailDropRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_ListMailDropResponse {
    let drop = try requireDrop()
    let size = try Self.pageSize(request.page)
    let offset = try PageToken.decodeOffset(request.page.pageToken)
    let (entries, total) = try drop.list(offset: offset, limit: size)
    var response = Courier_Iris_V1_ListMailDropResponse()
    response.entries = entries.map(Self.message)
    response.pageInfo.totalSize = Int64(total)
    if offset + entries.count < total {
      response.pageInfo.nextPageToken = PageToken.encodeOffset(offset + entries.count)
    }
    return response
  }

  func getMailDropMessage(
    request: Courier_Iris_V1_GetMailDropMessageRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_GetMailDropMessageResponse {
    let drop = try requireDrop()
    let id = try Check.uuid(request.messageID, field: "message_id")
    guard let stored = try drop.read(id: id.text) else {
      throw RPCError(code: .notFound, message: "the mail drop holds no message \(id.text)")
    }
    var response = Courier_Iris_V1_GetMailDropMessageResponse()
    response.message.entry = Self.message(stored.entry)
    response.message.text = stored.text
    response.message.html = stored.html
    response.message.raw = stored.raw
    return response
  }

  static func message(_ entry: MailDropEntry) -> Courier_Iris_V1_MailDropEntry {
    var message = Courier_Iris_V1_MailDropEntry()
    message.messageID = entry.messageID
    message.deliveryID = entry.deliveryID
    message.sender.address = entry.from.address
    message.sender.name = entry.from.name
    message.recipient.address = entry.to.address
    message.recipient.name = entry.to.name
    message.subject = entry.subject
    message.receivedAt = Google_Protobuf_Timestamp(microsecondsOf: entry.receivedAt)
    message.sizeBytes = Int64(entry.sizeBytes)
    return message
  }
}

/// Page tokens: opaque to callers, checked on the way back in.
enum PageToken {
  /// `d1.<micros>.<uuid>.<filter hash>`, base64url: the last row of the previous page, tied to the
  /// filters that produced it.
  static func encode(_ cursor: (Date, UUID), filter: DeliveryFilter) -> String {
    let micros = Int64((cursor.0.timeIntervalSince1970 * 1_000_000).rounded())
    return Base64URL.encode(Array("d1.\(micros).\(cursor.1.text).\(fingerprint(filter))".utf8))
  }

  static func decode(_ token: String, filter: DeliveryFilter) throws(RPCError) -> (Date, UUID)? {
    if token.isEmpty { return nil }
    let refusal = Check.invalid("page.page_token was not produced by this list with these filters; start again without it")
    guard let bytes = Base64URL.decode(token) else { throw refusal }
    let parts = String(decoding: bytes, as: UTF8.self).split(separator: ".")
    guard parts.count == 4, parts[0] == "d1", let micros = Int64(parts[1]), let id = UUID(uuidString: String(parts[2])),
      String(parts[3]) == fingerprint(filter)
    else { throw refusal }
    return (Date(timeIntervalSince1970: Double(micros) / 1_000_000), id)
  }

  static func encodeOffset(_ offset: Int) -> String {
    Base64URL.encode(Array("m1.\(offset)".utf8))
  }

  static func decodeOffset(_ token: String) throws(RPCError) -> Int {
    if token.isEmpty { return 0 }
    guard let bytes = Base64URL.decode(token) else { throw Check.invalid("page.page_token was not produced by this list") }
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.hasPrefix("m1."), let offset = Int(text.dropFirst(3)), offset >= 0 else {
      throw Check.invalid("page.page_token was not produced by this list")
    }
    return offset
  }

  /// A short, stable digest of the filters (FNV-1a over their text form).
  private static func fingerprint(_ filter: DeliveryFilter) -> String {
    let text = "\(filter.channel?.rawValue ?? 0)|\(filter.status?.rawValue ?? 0)|\(filter.userID?.text ?? "")"
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    return String(hash, radix: 36)
  }
}
