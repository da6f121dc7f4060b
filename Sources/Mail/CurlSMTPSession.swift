internal import CCurl
internal import Foundation

#if canImport(Glibc)
  internal import Glibc
#elseif canImport(Darwin)
  internal import Darwin
#endif

/// One SMTP submission through libcurl's easy interface: the only file of the module that
/// touches C. ``perform(_:)`` blocks; call it on ``SMTPWorkerThread``.
///
/// `curl_easy_setopt` and `curl_easy_getinfo` are variadic; the shim's header gives them fixed
/// signatures (`courier_curl_setopt_long` and friends) so that C makes the variadic call.
enum CurlSMTPSession {
  /// What to send, resolved from an ``SMTPConfiguration`` and a ``MailMessage``.
  struct Request: Sendable {
    var url: String
    var requireTLS: Bool
    var caFile: String?
    var username: String?
    var password: String?
    var timeoutMilliseconds: Int
    var sender: String
    var recipients: [String]
    var payload: [UInt8]
  }

  /// How a transfer ended, in libcurl's terms reduced to what the caller decides on.
  enum Failure: Sendable, Equatable {
    /// Host not found or connection refused.
    case connect
    case timeout
    /// TLS handshake, certificate verification, or STARTTLS not offered.
    case tls
    /// The server refused the credentials (see the reply code: 535 or 454).
    case loginDenied
    /// The server answered a command with a failure code, or broke off the conversation.
    case conversation
    /// The request itself is wrong (bad URL, unsupported option): retrying cannot help.
    case configuration
  }

  struct Result: Sendable {
    /// nil when the mail was accepted.
    var failure: Failure?
    /// libcurl's own description of the error, empty on success.
    var message: String
    /// The last SMTP reply code the server sent (0 when none).
    var replyCode: Int
    /// The server's last reply, text included (`250 2.0.0 OK queued as ...`).
    var lastReply: String
  }

  /// `curl_global_init` once, before the first handle.
  private static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

  /// The bytes still to upload and the server's replies, shared with the C callbacks.
  private final class Exchange {
    let payload: [UInt8]
    var offset = 0
    var replyLines: [String] = []
    var pending: [UInt8] = []

    init(payload: [UInt8]) { self.payload = payload }
  }

  private static let readCallback: curl_read_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
    let length = min(size * count, exchange.payload.count - exchange.offset)
    guard length > 0 else { return 0 }
    exchange.payload.withUnsafeBytes { source in
      UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + exchange.offset, byteCount: length)
    }
    exchange.offset += length
    return length
  }

  /// Keeps what the server sent on the control connection (`CURLINFO_HEADER_IN`), never what we
  /// sent (that would include the credentials).
  private static let debugCallback: curl_debug_callback = { _, type, data, size, context in
    guard type == CURLINFO_HEADER_IN, let data, let context else { return 0 }
    let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
    exchange.pending.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size))
    while let newline = exchange.pending.firstIndex(of: 0x0A) {
      let line = String(decoding: exchange.pending[..<newline], as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
      exchange.pending.removeSubrange(...newline)
      if !line.isEmpty { exchange.replyLines.append(line) }
      if exchange.replyLines.count > 32 { exchange.replyLines.removeFirst(exchange.replyLines.count - 32) }
    }
    return 0
  }

  /// Sends one mail; blocks for up to the request's timeout.
  static func perform(_ request: Request) -> Result {
    guard initialized else {
      return Result(failure: .configuration, message: "libcurl could not be initialised", replyCode: 0, lastReply: "")
    }
    guard let handle = curl_easy_init() else {
      return Result(failure: .configuration, message: "curl_easy_init failed", replyCode: 0, lastReply: "")
    }
    defer { curl_easy_cleanup(handle) }
    let exchange = Exchange(payload: request.payload)
    let context = Unmanaged.passRetained(exchange)
    defer { context.release() }
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    defer { errorBuffer.deallocate() }
    var recipients: UnsafeMutablePointer<curl_slist>? = nil
    defer { curl_slist_free_all(recipients) }
    for recipient in request.recipients { recipients = curl_slist_append(recipients, "<\(recipient)>") }

    var setupError = CURLE_OK
    func set(_ option: CURLoption, _ value: Int) {
      if setupError == CURLE_OK { setupError = courier_curl_setopt_long(handle, option, value) }
    }
    func set(_ option: CURLoption, _ value: UnsafeRawPointer?) {
      if setupError == CURLE_OK { setupError = courier_curl_setopt_pointer(handle, option, value) }
    }
    func set(_ option: CURLoption, _ value: String) {
      value.withCString { set(option, UnsafeRawPointer($0)) }  // libcurl copies string options
    }

    set(CURLOPT_NOSIGNAL, 1)
    set(CURLOPT_URL, request.url)
    set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
    set(CURLOPT_USE_SSL, Int(request.requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_NONE.rawValue))
    if let caFile = request.caFile { set(CURLOPT_CAINFO, caFile) }
    if let username = request.username {
      set(CURLOPT_USERNAME, username)
      set(CURLOPT_PASSWORD, request.password ?? "")
    }
    set(CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)
    set(CURLOPT_CONNECTTIMEOUT_MS, request.timeoutMilliseconds)
    set(CURLOPT_MAIL_FROM, "<\(request.sender)>")
    set(CURLOPT_MAIL_RCPT, UnsafeRawPointer(recipients))
    set(CURLOPT_UPLOAD, 1)
    set(CURLOPT_INFILESIZE_LARGE, request.payload.count)
    set(CURLOPT_READFUNCTION, unsafeBitCast(readCallback, to: UnsafeRawPointer.self))
    set(CURLOPT_READDATA, UnsafeRawPointer(context.toOpaque()))
    set(CURLOPT_DEBUGFUNCTION, unsafeBitCast(debugCallback, to: UnsafeRawPointer.self))
    set(CURLOPT_DEBUGDATA, UnsafeRawPointer(context.toOpaque()))
    set(CURLOPT_VERBOSE, 1)
    set(CURLOPT_ERRORBUFFER, UnsafeRawPointer(errorBuffer))
    if setupError != CURLE_OK {
      let reason = String(cString: curl_easy_strerror(setupError))
      return Result(failure: .configuration, message: "libcurl refused an option: \(reason)", replyCode: 0, lastReply: "")
    }

    let code = curl_easy_perform(handle)
    var replyCode = 0
    _ = courier_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &replyCode)
    let lastReply = exchange.replyLines.last ?? ""
    if code == CURLE_OK {
      return Result(failure: nil, message: "", replyCode: replyCode, lastReply: lastReply)
    }
    let detail = String(cString: errorBuffer)
    let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    return Result(failure: failure(for: code), message: message, replyCode: replyCode, lastReply: lastReply)
  }

  private static func failure(for code: CURLcode) -> Failure {
    switch code {
    case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
      .connect
    case CURLE_OPERATION_TIMEDOUT:
      .timeout
    case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
      CURLE_SSL_CIPHER, CURLE_USE_SSL_FAILED, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_SHUTDOWN_FAILED,
      CURLE_SSL_CRL_BADFILE, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      .tls
    case CURLE_LOGIN_DENIED:
      .loginDenied
    case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_NOT_BUILT_IN, CURLE_BAD_FUNCTION_ARGUMENT,
      CURLE_UNKNOWN_OPTION, CURLE_FAILED_INIT, CURLE_OUT_OF_MEMORY:
      .configuration
    default:
      .conversation
    }
  }
}
