// The session and every REST call of the admin client.
//
// Tokens live in sessionStorage (one tab, gone when it closes). The access token is renewed a minute
// before it expires, and once more when a call answers 401; a refresh that fails ends the session.
// Errors come back as ApiError carrying the service's own message.

const STORAGE_KEY = "courier.admin.session";
const ADMIN_ROLE = "ROLE_ADMIN";

/** An HTTP error answer, with the service's JSON `code` and `message`. */
export class ApiError extends Error {
  /** `status` 0 marks an error the client itself raised (no HTTP answer behind it). */
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || [];
  }

  /** The text to show a person: the service's message, with the status for context. */
  get display() {
    if (!this.status) return this.message; // the client's own verdict, not an HTTP answer
    const what = this.code ? `${this.code}, HTTP ${this.status}` : `HTTP ${this.status}`;
    return `${this.message} (${what})`;
  }
}

/** Builds an ApiError from a fetch Response whose status is not 2xx. */
export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = (body && typeof body.message === "string" && body.message) ||
    `${response.status} ${response.statusText || "error"}`;
  return new ApiError(response.status, body && body.code, message, body && body.details);
}

function millisUntil(timestamp) {
  const at = Date.parse(timestamp || "");
  return Number.isNaN(at) ? null : at - Date.now();
}

/** The signed-in admin: tokens, principal and the calls that use them. */
export class Session {
  constructor(storage = window.sessionStorage) {
    this.storage = storage;
    this.state = null;
    this.refreshing = null;
    this.timer = null;
    this.listeners = new Set();
    try {
      const saved = JSON.parse(storage.getItem(STORAGE_KEY) || "null");
      if (saved && saved.tokens && saved.principal) this.state = saved;
    } catch {
      this.state = null;
    }
    if (this.state) this.schedule();
  }

  get signedIn() {
    return this.state !== null;
  }

  get principal() {
    return this.state && this.state.principal;
  }

  get accessToken() {
    return this.state && this.state.tokens.accessToken;
  }

  /** Calls `listener(reason)` when the session ends (logout, or a refresh that failed). */
  onEnd(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  save(answer) {
    this.state = { tokens: answer.tokens, principal: answer.principal };
    this.storage.setItem(STORAGE_KEY, JSON.stringify(this.state));
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    const left = millisUntil(this.state.tokens.accessTokenExpiresAt);
    if (left === null) return;
    // A minute ahead, or at half the lifetime for very short tokens.
    const wait = Math.max(1000, left > 120000 ? left - 60000 : left / 2);
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {});
    }, Math.min(wait, 2 ** 31 - 1));
  }

  end(reason) {
    clearTimeout(this.timer);
    this.state = null;
    this.storage.removeItem(STORAGE_KEY);
    for (const listener of this.listeners) listener(reason);
  }

  /**
   * Logs in. Resolves with the principal; rejects with ApiError for a refused login, and with an
   * ApiError of code NOT_ADMIN when the account is valid but holds no admin role (whose new session
   * is ended again at once).
   */
  async login(email, password) {
    const response = await fetch("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ email, password }),
    });
    if (!response.ok) throw await errorFrom(response);
    const answer = await response.json();
    const roles = (answer.principal && answer.principal.roles) || [];
    if (!roles.includes(ADMIN_ROLE)) {
      // Leave no session behind for an account that may not use this client.
      fetch("/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${answer.tokens.accessToken}` },
        body: "{}",
      }).catch(() => {});
      throw new ApiError(0, "NOT_ADMIN",
        "This account is not an administrator. Only accounts with the admin role may use the admin client; " +
        "people who follow deliveries sign in at /app/.");
    }
    this.save(answer);
    return answer.principal;
  }

  /** Renews the tokens; concurrent callers share one refresh. Ends the session when it fails. */
  refresh() {
    if (!this.state) return Promise.reject(new ApiError(401, "UNAUTHENTICATED", "Not signed in."));
    if (this.refreshing) return this.refreshing;
    const refreshToken = this.state.tokens.refreshToken;
    this.refreshing = (async () => {
      try {
        const response = await fetch("/auth/refresh", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refreshToken }),
        });
        if (!response.ok) {
          const error = await errorFrom(response);
          // A network-level or server hiccup keeps the session; a refused token ends it.
          if (response.status === 401 || response.status === 403 || response.status === 400) {
            this.end(`Your session ended: ${error.message}. Please log in again.`);
          }
          throw error;
        }
        const answer = await response.json();
        if (!(answer.principal.roles || []).includes(ADMIN_ROLE)) {
          this.end("Your account no longer holds the admin role.");
          throw new ApiError(0, "NOT_ADMIN", "Your account no longer holds the admin role.");
        }
        this.save(answer);
        return answer;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  async logout() {
    const token = this.accessToken;
    this.end("You logged out.");
    if (!token) return;
    try {
      await fetch("/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: "{}",
      });
    } catch {
      // The tokens are forgotten here either way.
    }
  }

  /**
   * Sends a request with the bearer token and returns the raw Response, after one refresh-and-retry
   * on 401. `options` are fetch's; a `json` member is sent as the JSON body.
   */
  async fetch(path, options = {}) {
    const send = () => {
      const headers = { Accept: "application/json", ...(options.headers || {}) };
      if (this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`;
      const init = { ...options, headers };
      if (options.json !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(options.json);
        delete init.json;
      }
      return fetch(path, init);
    };
    let response = await send();
    if (response.status === 401 && this.state) {
      await this.refresh();
      response = await send();
    }
    return response;
  }

  /** Sends a request and returns its JSON answer; throws ApiError for an error status. */
  async call(method, path, body, query) {
    const url = path + queryString(query);
    const response = await this.fetch(url, { method, json: body });
    if (!response.ok) throw await errorFrom(response);
    const text = await response.text();
    return text ? JSON.parse(text) : {};
  }

  get(path, query) {
    return this.call("GET", path, undefined, query);
  }

  post(path, body, query) {
    return this.call("POST", path, body || {}, query);
  }

  put(path, body) {
    return this.call("PUT", path, body || {});
  }

  delete(path) {
    return this.call("DELETE", path);
  }
}

/** `?a=1&b=x` from an object; skips empty values, repeats arrays. */
export function queryString(query) {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(key, item));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
