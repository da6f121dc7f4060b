// Server-Sent Events over fetch(), so that the stream can carry the Authorization header.
//
// The parser follows the HTML event-stream rules that the gateways use: `data:` lines (joined with
// newlines), an optional `event:` name, a blank line ends a message, lines starting with `:` are
// comments (keep-alives). The reader reconnects with exponential backoff and refreshes the token
// once when the stream ends with UNAUTHENTICATED.

import { ApiError, errorFrom } from "./api.js";

const SILENCE_MS = 45000;

/** Splits a text stream into events; feed it chunks, it calls `onEvent({event, data})`. */
export class EventStreamParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.data = [];
    this.event = "";
  }

  push(chunk) {
    this.buffer += chunk;
    let end;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, end);
      const newline = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      // A lone trailing \r may be the first half of \r\n: wait for the next chunk.
      if (this.buffer[end] === "\r" && end + 1 === this.buffer.length) break;
      this.buffer = this.buffer.slice(end + newline);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length > 0) this.onEvent({ event: this.event || "message", data: this.data.join("\n") });
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
  }
}

/**
 * Keeps a stream open until `close()`. Callbacks: `onMessage(object)` per data message,
 * `onState(state, detail)` with "connecting", "open", "retrying" (detail: {error, delayMs}) or
 * "failed" (detail: {error}, no more tries: a permission problem or a bad request).
 */
export class LiveStream {
  constructor(session, path, { onMessage, onState }) {
    this.session = session;
    this.path = path;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.controller = null;
    this.closed = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.stalled = false;
  }

  open() {
    this.closed = false;
    this.connect();
    return this;
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.controller) this.controller.abort();
  }

  async connect() {
    if (this.closed) return;
    this.controller = new AbortController();
    this.onState("connecting");
    let refreshed = false;
    try {
      for (;;) {
        const token = this.session.accessToken;
        const response = await this.session.fetch(this.path, {
          headers: { Accept: "text/event-stream" },
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (!response.ok) throw await errorFrom(response);
        this.onState("open");
        const streamError = await this.read(response);
        if (this.closed) return;
        if (streamError && streamError.status === 401 && !refreshed) {
          // The token the stream opened with expired. The session may hold a newer one already
          // (renewed ahead of expiry); otherwise renew it now, once.
          refreshed = true;
          if (this.session.accessToken === token) await this.session.refresh();
          continue;
        }
        throw streamError || new ApiError(503, "UNAVAILABLE", "The live stream closed.");
      }
    } catch (error) {
      const stalled = this.stalled;
      this.stalled = false;
      if (this.closed || (error && error.name === "AbortError" && !stalled)) return;
      const apiError = error instanceof ApiError ? error
        : stalled ? new ApiError(0, "UNAVAILABLE", `The live stream went silent for ${SILENCE_MS / 1000} s.`)
          : new ApiError(0, "UNAVAILABLE", `The live stream was interrupted (${error.message || error}).`);
      if (!this.session.signedIn || [400, 403, 404].includes(apiError.status)) {
        this.onState("failed", { error: apiError });
        return;
      }
      const delayMs = Math.min(30000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt += 1;
      this.onState("retrying", { error: apiError, delayMs });
      this.retryTimer = setTimeout(() => this.connect(), delayMs);
    }
  }

  /** Reads until the stream ends; returns the ApiError of a final `event: error`, if any. */
  async read(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let failure = null;
    const parser = new EventStreamParser(({ event, data }) => {
      let value;
      try {
        value = JSON.parse(data);
      } catch {
        return;
      }
      if (event === "error") {
        failure = new ApiError(statusOf(value.code), value.code, value.message || "The live stream failed.");
        return;
      }
      this.attempt = 0;
      this.onMessage(value);
    });
    // The gateway sends a keep-alive comment every 15 s: a stream silent for much longer is dead
    // (a proxy or the network dropped it without closing), so give up on it and reconnect.
    let watchdog = null;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        this.stalled = true;
        this.controller.abort();
      }, SILENCE_MS);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } finally {
      clearTimeout(watchdog);
    }
    parser.push(decoder.decode());
    return failure;
  }
}

const STATUS_OF_CODE = {
  INVALID_ARGUMENT: 400, FAILED_PRECONDITION: 400, OUT_OF_RANGE: 400, UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403, NOT_FOUND: 404, RESOURCE_EXHAUSTED: 429, UNAVAILABLE: 503,
};

function statusOf(code) {
  return STATUS_OF_CODE[code] || 500;
}
