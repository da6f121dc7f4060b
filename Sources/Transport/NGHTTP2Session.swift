internal import CNGHTTP2
internal import NIOCore

/// An HTTP/2 header block as received or to be sent: names are lowercase, pseudo-headers first.
typealias HTTP2Headers = [(name: String, value: String)]

/// One HTTP/2 connection's protocol state, kept by libnghttp2: framing, HPACK, flow control and
/// stream bookkeeping. Bytes go in through ``receive(_:)`` and come out through
/// ``produceOutput(into:)``; what happened is reported as ``Event``s, collected during a receive
/// and handed out in order afterwards, so no caller code ever runs inside an nghttp2 callback.
///
/// Not thread-safe: owned by one connection handler and used on its event loop only.
final class NGHTTP2Session {
  /// Something the peer did, in the order nghttp2 reported it.
  enum Event {
    /// A complete header block (HEADERS + CONTINUATION) for a stream.
    case headers(streamID: Int32, headers: HTTP2Headers, endStream: Bool)
    /// A chunk of a DATA frame's payload.
    case data(streamID: Int32, bytes: ByteBuffer)
    /// The peer half-closed the stream with a DATA frame.
    case endStream(streamID: Int32)
    /// The stream is closed; `errorCode` is the RST_STREAM code, or 0 when it closed cleanly.
    case streamClosed(streamID: Int32, errorCode: UInt32)
    /// The peer sent GOAWAY; `debugData` is its opaque data read as UTF-8 (gRPC servers put a
    /// reason such as `too_many_pings` there).
    case goAway(lastStreamID: Int32, errorCode: UInt32, debugData: String)
    /// The peer acknowledged one of our PINGs.
    case pingAck
    /// The peer sent a PING (acknowledged automatically unless the session was made without
    /// automatic ACKs).
    case ping
    /// The peer's SETTINGS frame (not an ACK) arrived: the HTTP/2 connection is established.
    case settings
    /// A frame we sent ended our side of the stream (END_STREAM on HEADERS or DATA).
    case sentEndStream(streamID: Int32)
  }

  /// What a stream sends after its HEADERS: DATA payload, then either END_STREAM on the last DATA
  /// frame or a trailing header block.
  final class OutboundData {
    var buffer: ByteBuffer
    var endStream = false
    var trailers: HTTP2Headers?
    /// nghttp2 was told to wait (NGHTTP2_ERR_DEFERRED) and must be resumed when data arrives.
    var deferred = false

    init(allocator: ByteBufferAllocator) {
      self.buffer = allocator.buffer(capacity: 0)
    }
  }

  enum Role {
    case server
    case client
  }

  struct Settings {
    var maxConcurrentStreams: UInt32
    var initialWindowSize: UInt32
    var maxHeaderListSize: UInt32
  }

  /// Raised when nghttp2 refuses input: the connection is beyond repair and must be closed.
  struct ProtocolError: Error, CustomStringConvertible {
    var code: Int
    var description: String { "HTTP/2 protocol error: \(String(cString: nghttp2_strerror(Int32(self.code))))" }
  }

  private var session: OpaquePointer?
  let role: Role
  let allocator: ByteBufferAllocator
  let maxHeaderListSize: Int

  /// Events collected by the callbacks, during ``receive(_:)`` and also during
  /// ``produceOutput(into:)`` (a stream closes when its last frame is sent); see ``takeEvents()``.
  private(set) var events: [Event] = []
  private var pendingHeaders: [Int32: HTTP2Headers] = [:]
  private var pendingHeaderBytes: [Int32: Int] = [:]
  private var outbound: [Int32: OutboundData] = [:]

  /// - Parameter autoPingAck: Whether nghttp2 answers PINGs by itself; only a test peer that
  ///   plays a dead connection turns this off.
  init(role: Role, settings: Settings, allocator: ByteBufferAllocator, autoPingAck: Bool = true) {
    self.role = role
    self.allocator = allocator
    self.maxHeaderListSize = Int(settings.maxHeaderListSize)

    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    Self.install(callbacks: callbacks)

    var option: OpaquePointer?
    nghttp2_option_new(&option)
    // Flow control windows open only when the application has consumed the data
    // (see `consume(streamID:count:)`).
    nghttp2_option_set_no_auto_window_update(option, 1)
    if !autoPingAck {
      nghttp2_option_set_no_auto_ping_ack(option, 1)
    }

    let userData = Unmanaged.passUnretained(self).toOpaque()
    switch role {
    case .server:
      nghttp2_session_server_new2(&self.session, callbacks, userData, option)
    case .client:
      nghttp2_session_client_new2(&self.session, callbacks, userData, option)
    }
    nghttp2_option_del(option)
    nghttp2_session_callbacks_del(callbacks)

    var entries = [
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
        value: settings.maxConcurrentStreams
      ),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
        value: settings.initialWindowSize
      ),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
        value: settings.maxHeaderListSize
      ),
    ]
    if role == .client {
      // A client accepts no pushed streams.
      entries[0].value = 0
    }
    nghttp2_submit_settings(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
    // Give the connection the same window as each stream, so that one stream cannot starve.
    if settings.initialWindowSize > 65_535 {
      nghttp2_session_set_local_window_size(
        self.session,
        UInt8(NGHTTP2_FLAG_NONE.rawValue),
        0,
        Int32(clamping: settings.initialWindowSize)
      )
    }
  }

  deinit {
    nghttp2_session_del(self.session)
  }

  // MARK: Input

  /// Feeds received bytes to nghttp2; the events it produced are collected for ``takeEvents()``.
  func receive(_ buffer: ByteBuffer) throws {
    let result = buffer.withUnsafeReadableBytes { bytes -> Int in
      guard let base = bytes.baseAddress else { return 0 }
      return nghttp2_session_mem_recv(
        self.session,
        base.assumingMemoryBound(to: UInt8.self),
        bytes.count
      )
    }
    if result < 0 {
      throw ProtocolError(code: result)
    }
  }

  /// The events collected since the last call, in order.
  func takeEvents() -> [Event] {
    guard !self.events.isEmpty else { return [] }
    defer { self.events.removeAll(keepingCapacity: true) }
    return self.events
  }

  var hasEvents: Bool { !self.events.isEmpty }

  /// Opens the flow control windows of the stream and the connection by `count` bytes that the
  /// application has consumed.
  func consume(streamID: Int32, count: Int) {
    guard count > 0 else { return }
    if nghttp2_session_consume(self.session, streamID, count) != 0 {
      // The stream is gone: give the connection window back alone.
      nghttp2_session_consume_connection(self.session, count)
    }
  }

  // MARK: Output

  /// Serializes every frame nghttp2 wants to send into `buffer`.
  func produceOutput(into buffer: inout ByteBuffer) throws {
    while true {
      var data: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(self.session, &data)
      if count < 0 { throw ProtocolError(code: count) }
      if count == 0 { return }
      buffer.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
    }
  }

  /// Serializes everything there is to send, for a connection handler's flush:
  /// - events raised by sending (a stream that closed as its last frame went out) are handed to
  ///   `handleEvents` at once, so that no stream waits for the next read to be closed;
  /// - streams in `backlogged` (more response or request parts queued than nghttp2 was given)
  ///   are refilled by `refill` as the output drains, for at most 16 rounds. A round that sends
  ///   nothing ends it: those streams wait for a window update.
  func produceAll(
    into buffer: inout ByteBuffer,
    backlogged: () -> Set<Int32>,
    refill: (Int32) -> Void,
    handleEvents: () -> Void
  ) throws {
    try self.produceOutput(into: &buffer)
    var rounds = 0
    while true {
      while self.hasEvents {
        handleEvents()
        try self.produceOutput(into: &buffer)
      }
      let streams = backlogged()
      guard !streams.isEmpty, rounds < 16 else { return }
      rounds += 1
      for id in streams { refill(id) }
      let before = buffer.readableBytes
      try self.produceOutput(into: &buffer)
      if buffer.readableBytes == before, !self.hasEvents { return }
    }
  }

  /// Whether the peer has ended its side of an open stream (or the stream is gone).
  func isRemoteClosed(streamID: Int32) -> Bool {
    nghttp2_session_get_stream_remote_close(self.session, streamID) != 0
  }

  var wantsRead: Bool { nghttp2_session_want_read(self.session) != 0 }
  var wantsWrite: Bool { nghttp2_session_want_write(self.session) != 0 }

  // MARK: Submitting frames

  /// Sends a response header block. With `endStream` the block ends the stream (Trailers-Only);
  /// otherwise DATA and trailers follow through ``outboundData(streamID:)``.
  func submitResponse(streamID: Int32, headers: HTTP2Headers, endStream: Bool) {
    Self.withNameValues(headers) { nva, count in
      if endStream {
        _ = nghttp2_submit_response(self.session, streamID, nva, count, nil)
      } else {
        var provider = self.makeProvider(streamID: streamID)
        _ = nghttp2_submit_response(self.session, streamID, nva, count, &provider)
      }
    }
  }

  /// Opens a client stream with a request header block; DATA follows through
  /// ``outboundData(streamID:)``. Returns the stream ID, or `nil` when no stream can be opened.
  func submitRequest(headers: HTTP2Headers) -> Int32? {
    var provider = nghttp2_data_provider()
    provider.read_callback = Self.readCallback
    let streamID = Self.withNameValues(headers) { nva, count in
      nghttp2_submit_request(self.session, nil, nva, count, &provider, nil)
    }
    guard streamID > 0 else { return nil }
    self.outbound[streamID] = OutboundData(allocator: self.allocator)
    return streamID
  }

  /// Resets a stream with an HTTP/2 error code.
  func submitReset(streamID: Int32, errorCode: UInt32) {
    _ = nghttp2_submit_rst_stream(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    self.outbound[streamID] = nil
  }

  /// Starts a graceful shutdown: the peer learns that no new stream will be accepted.
  func submitShutdownNotice() {
    if self.role == .server {
      _ = nghttp2_submit_shutdown_notice(self.session)
    } else {
      self.submitGoAway(errorCode: 0)
    }
  }

  /// Sends GOAWAY naming the last stream the server will process, with `debugData` (a reason for
  /// the peer's logs) as its opaque data.
  func submitGoAway(errorCode: UInt32, debugData: String = "") {
    let lastStreamID = nghttp2_session_get_last_proc_stream_id(self.session)
    var bytes = Array(debugData.utf8)
    _ = bytes.withUnsafeMutableBufferPointer { buffer in
      nghttp2_submit_goaway(
        self.session,
        UInt8(NGHTTP2_FLAG_NONE.rawValue),
        lastStreamID,
        errorCode,
        buffer.baseAddress,
        buffer.count
      )
    }
  }

  /// Sends a PING; its ACK arrives as ``Event/pingAck``.
  func submitPing() {
    _ = nghttp2_submit_ping(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
  }

  /// The outbound DATA state of an open stream.
  func outboundData(streamID: Int32) -> OutboundData? {
    self.outbound[streamID]
  }

  /// Tells nghttp2 that a deferred stream has something to send again.
  func resume(streamID: Int32) {
    guard let data = self.outbound[streamID], data.deferred else { return }
    data.deferred = false
    _ = nghttp2_session_resume_data(self.session, streamID)
  }

  private func makeProvider(streamID: Int32) -> nghttp2_data_provider {
    self.outbound[streamID] = OutboundData(allocator: self.allocator)
    var provider = nghttp2_data_provider()
    provider.read_callback = Self.readCallback
    return provider
  }

  // MARK: Callbacks

  private static func session(_ userData: UnsafeMutableRawPointer?) -> NGHTTP2Session {
    Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
  }

  private static let readCallback: nghttp2_data_source_read_callback = {
    _, streamID, buf, length, flags, _, userData in
    let this = NGHTTP2Session.session(userData)
    guard let data = this.outbound[streamID] else {
      return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    }
    let count = min(length, data.buffer.readableBytes)
    if count > 0 {
      data.buffer.withUnsafeReadableBytes { bytes in
        buf!.update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
      }
      data.buffer.moveReaderIndex(forwardBy: count)
    }
    if data.buffer.readableBytes == 0 {
      if data.endStream {
        flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        if let trailers = data.trailers {
          flags!.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
          withNameValues(trailers) { nva, count in
            _ = nghttp2_submit_trailer(this.session, streamID, nva, count)
          }
        }
        this.outbound[streamID] = nil
      } else if count == 0 {
        data.deferred = true
        data.buffer.clear()
        return Int(NGHTTP2_ERR_DEFERRED.rawValue)
      } else {
        data.buffer.clear()
      }
    }
    return count
  }

  private static func install(callbacks: OpaquePointer?) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
      let this = NGHTTP2Session.session(userData)
      let streamID = frame!.pointee.hd.stream_id
      this.pendingHeaders[streamID] = []
      this.pendingHeaderBytes[streamID] = 0
      return 0
    }

    nghttp2_session_callbacks_set_on_header_callback(callbacks) {
      _, frame, name, nameLength, value, valueLength, _, userData in
      let this = NGHTTP2Session.session(userData)
      let streamID = frame!.pointee.hd.stream_id
      // RFC 9113 counts 32 bytes of overhead per field against SETTINGS_MAX_HEADER_LIST_SIZE.
      let size = (this.pendingHeaderBytes[streamID] ?? 0) + nameLength + valueLength + 32
      if size > this.maxHeaderListSize {
        // Resets the stream (INTERNAL_ERROR) and drops the rest of the block.
        return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
      }
      this.pendingHeaderBytes[streamID] = size
      let field = (
        name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
        value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
      )
      this.pendingHeaders[streamID, default: []].append(field)
      return 0
    }

    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) {
      _, _, streamID, data, length, userData in
      let this = NGHTTP2Session.session(userData)
      let bytes = UnsafeRawBufferPointer(start: data, count: length)
      // Coalesce consecutive chunks of one stream.
      if case .data(let lastID, var buffer) = this.events.last, lastID == streamID {
        this.events.removeLast()
        buffer.writeBytes(bytes)
        this.events.append(.data(streamID: streamID, bytes: buffer))
      } else {
        var buffer = this.allocator.buffer(capacity: length)
        buffer.writeBytes(bytes)
        this.events.append(.data(streamID: streamID, bytes: buffer))
      }
      return 0
    }

    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
      let this = NGHTTP2Session.session(userData)
      let header = frame!.pointee.hd
      let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
      switch UInt32(header.type) {
      case NGHTTP2_HEADERS.rawValue:
        let headers = this.pendingHeaders.removeValue(forKey: header.stream_id) ?? []
        this.pendingHeaderBytes[header.stream_id] = nil
        this.events.append(.headers(streamID: header.stream_id, headers: headers, endStream: endStream))
      case NGHTTP2_DATA.rawValue:
        if endStream {
          this.events.append(.endStream(streamID: header.stream_id))
        }
      case NGHTTP2_GOAWAY.rawValue:
        let goAway = frame!.pointee.goaway
        let debugData = goAway.opaque_data.map {
          String(decoding: UnsafeBufferPointer(start: $0, count: goAway.opaque_data_len), as: UTF8.self)
        }
        this.events.append(
          .goAway(lastStreamID: goAway.last_stream_id, errorCode: goAway.error_code, debugData: debugData ?? ""))
      case NGHTTP2_PING.rawValue:
        if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 {
          this.events.append(.pingAck)
        } else {
          this.events.append(.ping)
        }
      case NGHTTP2_SETTINGS.rawValue:
        if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 {
          this.events.append(.settings)
        }
      default:
        ()
      }
      return 0
    }

    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
      let this = NGHTTP2Session.session(userData)
      let header = frame!.pointee.hd
      let type = UInt32(header.type)
      if (type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue),
        header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
      {
        this.events.append(.sentEndStream(streamID: header.stream_id))
      }
      return 0
    }

    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) {
      _, streamID, errorCode, userData in
      let this = NGHTTP2Session.session(userData)
      this.outbound[streamID] = nil
      this.pendingHeaders[streamID] = nil
      this.pendingHeaderBytes[streamID] = nil
      this.events.append(.streamClosed(streamID: streamID, errorCode: errorCode))
      return 0
    }
  }

  /// Calls `body` with an nghttp2 name-value array for `headers`. nghttp2 copies the fields.
  private static func withNameValues<R>(
    _ headers: HTTP2Headers,
    _ body: (UnsafePointer<nghttp2_nv>, Int) -> R
  ) -> R {
    var storage: [UInt8] = []
    storage.reserveCapacity(headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count })
    var ranges: [(Int, Int, Int, Int)] = []
    ranges.reserveCapacity(headers.count)
    for (name, value) in headers {
      let nameStart = storage.count
      storage.append(contentsOf: name.utf8)
      let valueStart = storage.count
      storage.append(contentsOf: value.utf8)
      ranges.append((nameStart, valueStart - nameStart, valueStart, storage.count - valueStart))
    }
    if storage.isEmpty { storage.append(0) }
    return storage.withUnsafeMutableBufferPointer { bytes in
      let base = bytes.baseAddress!
      var nva = ranges.map { range in
        nghttp2_nv(
          name: base + range.0,
          value: base + range.2,
          namelen: range.1,
          valuelen: range.3,
          flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)
        )
      }
      return nva.withUnsafeMutableBufferPointer { nvaBuffer in
        body(UnsafePointer(nvaBuffer.baseAddress!), nvaBuffer.count)
      }
    }
  }
}
