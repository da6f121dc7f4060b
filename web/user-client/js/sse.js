// Server-Sent Events read with fetch(), because EventSource cannot send an Authorization header.
// One LiveStream keeps one stream open: it reconnects with exponential backoff and jitter, renews
// the token when the server says it expired, and reports its state for the page to show.

import { ApiError, errorFromResponse } from "./api.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// A connection that stayed open this long counts as working: the next failure starts the backoff
// afresh. One that the server closes at once keeps backing off.
const STEADY_MS = 10000;

/**
 * Splits a text/event-stream body into events. Feed it decoded text; it calls `emit(event, data)`
 * for each complete event (comments such as `: keep-alive` are skipped).
 */
export class EventStreamParser {
  constructor(emit) {
    this.emit = emit;
    this.buffer = "";
    this.event = "";
    this.data = [];
  }

  push(text) {
    this.buffer += text;
    let end;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, end);
      const breakLength = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (breakLength === 1 && this.buffer[end] === "\r" && end === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(end + breakLength);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length > 0) this.emit(this.event || "message", this.data.join("\n"));
      this.event = "";
      this.data = [];
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
 * Keeps a stream of `url` open for `session` until stop(). `onMessage(json)` gets each `data:`
 * object; `onState(state, detail)` gets "connecting", "open", "retrying" (detail: the error
 * message and the delay) or "stopped" (detail: why, when the server refused for good).
 */
export class LiveStream {
  constructor(session, url, { onMessage, onState }) {
    this.session = session;
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.controller = null;
    this.running = false;
    this.delay = FIRST_DELAY_MS;
    this.wakeTimer = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    clearTimeout(this.wakeTimer);
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async loop() {
    let refreshed = false;
    while (this.running) {
      this.onState("connecting");
      let failure;
      try {
        await this.readOnce();
        failure = new ApiError(503, "UNAVAILABLE", "The live connection closed.");
      } catch (error) {
        if (!this.running) return;
        failure = error instanceof ApiError
          ? error
          : new ApiError(0, "UNAVAILABLE", "The live connection was lost.");
      }
      if (!this.running) return;
      if (this.opened && Date.now() - this.openedAt > STEADY_MS) {
        // It had worked for a while: start the backoff and the one token renewal afresh.
        this.delay = FIRST_DELAY_MS;
        refreshed = false;
      }
      if (failure.status === 401 || failure.code === "UNAUTHENTICATED") {
        if (this.session.signedIn && this.session.accessToken !== this.usedToken) {
          continue;  // the session was renewed meanwhile: the stream's token had simply expired
        }
        if (!refreshed) {
          refreshed = true;
          try {
            await this.session.refresh();
            continue;
          } catch (error) {
            this.running = false;
            this.onState("stopped", error.message);
            return;
          }
        }
      } else if ([400, 403, 404].includes(failure.status)) {
        // The request itself is wrong; retrying would give the same answer.
        this.running = false;
        this.onState("stopped", failure.message);
        return;
      }
      const wait = Math.round(this.delay * (0.5 + Math.random() * 0.5));
      this.onState("retrying", { message: failure.message, delayMs: wait });
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      await new Promise((resolve) => { this.wakeTimer = setTimeout(resolve, wait); });
    }
  }

  /** Reads one connection to its end; returns when the server closes it, throws on failure. */
  async readOnce() {
    this.opened = false;
    this.controller = new AbortController();
    this.usedToken = this.session.accessToken;
    const response = await fetch(this.url, {
      headers: { Accept: "text/event-stream", Authorization: `Bearer ${this.usedToken}` },
      cache: "no-store",
      signal: this.controller.signal,
    });
    if (!response.ok) throw await errorFromResponse(response);
    this.opened = true;
    this.openedAt = Date.now();
    this.onState("open");
    let streamError = null;
    const parser = new EventStreamParser((event, data) => {
      let value;
      try {
        value = JSON.parse(data);
      } catch {
        return;  // not JSON: nothing we can show
      }
      if (event === "error") {
        streamError = new ApiError(statusOf(value.code), value.code || "", value.message || "The live stream failed.");
        return;
      }
      this.onMessage(value);
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
        if (streamError) throw streamError;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    if (streamError) throw streamError;
  }
}

function statusOf(code) {
  switch (code) {
    case "UNAUTHENTICATED": return 401;
    case "PERMISSION_DENIED": return 403;
    case "NOT_FOUND": return 404;
    case "INVALID_ARGUMENT": return 400;
    case "RESOURCE_EXHAUSTED": return 429;
    default: return 503;
  }
}
