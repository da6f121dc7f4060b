// The REST client: one origin, JSON in and out, the bearer token on every call, and one refresh
// after a 401 before the error reaches the page. Errors carry the service's own message.

const SESSION_KEY = "courier.session";

/** An HTTP answer that was not 2xx, with the message the service gave. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Reads an error answer's JSON body (`{code, message}`), falling back to the status line. */
export async function errorFromResponse(response) {
  let code = "";
  let message = "";
  let details;
  try {
    const text = await response.text();
    if (text) {
      const body = JSON.parse(text);
      code = body.code || "";
      message = body.message || "";
      details = body.details;
    }
  } catch {
    // Not JSON (a proxy's page, a cut connection): the status says enough.
  }
  if (!message) {
    message = response.status === 0
      ? "The server could not be reached."
      : `The server answered ${response.status} ${response.statusText || ""}`.trim() + ".";
  }
  return new ApiError(response.status, code, message, details);
}

/**
 * Keeps the session (tokens and principal) in localStorage, renews the access token shortly
 * before it expires, and makes authenticated calls. Several tabs share one session: a refresh
 * runs under a Web Lock, and a tab that finds the stored refresh token already replaced adopts
 * the new one instead of spending the old one again (which would end the session).
 */
export class Session {
  constructor({ onChange } = {}) {
    this.onChange = onChange || (() => {});
    this.state = readStored();
    this.refreshing = null;
    this.timer = null;
    this.scheduleRefresh();
    window.addEventListener("storage", (event) => {
      if (event.key !== SESSION_KEY) return;
      const before = this.userId;
      this.state = readStored();
      this.scheduleRefresh();
      if (before !== this.userId) this.onChange(this);
    });
  }

  get signedIn() { return Boolean(this.state && this.state.tokens && this.state.tokens.accessToken); }
  get userId() { return this.state && this.state.principal ? this.state.principal.userId : ""; }
  get accessToken() { return this.signedIn ? this.state.tokens.accessToken : ""; }
  get displayName() { return (this.state && this.state.displayName) || ""; }

  set displayName(name) {
    if (!this.state) return;
    this.state.displayName = name;
    writeStored(this.state);
  }

  /** Adopts the answer of login, sign-up or refresh. */
  adopt({ tokens, principal, user }) {
    const displayName = user ? user.displayName : this.sameUser(principal) ? this.displayName : "";
    this.state = { tokens, principal, displayName };
    writeStored(this.state);
    this.scheduleRefresh();
  }

  sameUser(principal) {
    return Boolean(principal && this.state && this.state.principal && this.state.principal.userId === principal.userId);
  }

  /** Forgets the session on this device (all tabs). */
  clear() {
    this.state = null;
    localStorage.removeItem(SESSION_KEY);
    clearTimeout(this.timer);
    this.timer = null;
  }

  scheduleRefresh() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.signedIn) return;
    const expires = Date.parse(this.state.tokens.accessTokenExpiresAt || "");
    if (!Number.isFinite(expires)) return;
    const left = expires - Date.now();
    // Renew at 80% of the remaining life, and at least a minute before the end when there is one.
    const wait = Math.max(1000, Math.min(left * 0.8, left - 60000));
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {});
    }, Math.min(wait, 2 ** 31 - 1));
  }

  /**
   * Exchanges the refresh token for new tokens. Concurrent callers share one exchange. Throws an
   * ApiError when the session is over (the caller then shows the login page).
   */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.refreshOnce().finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  async refreshOnce() {
    const used = this.state && this.state.tokens ? this.state.tokens.refreshToken : "";
    if (!used) throw new ApiError(401, "UNAUTHENTICATED", "You are not logged in.");
    const exchange = async () => {
      const stored = readStored();
      if (stored && stored.tokens && stored.tokens.refreshToken && stored.tokens.refreshToken !== used) {
        this.state = stored;  // another tab already renewed the session
        this.scheduleRefresh();
        return;
      }
      const response = await fetch("/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refreshToken: used }),
      });
      if (!response.ok) {
        const error = await errorFromResponse(response);
        if (response.status === 401 || response.status === 403) {
          this.clear();
          this.onChange(this);
        }
        throw error;
      }
      this.adopt(await response.json());
    };
    if (navigator.locks && navigator.locks.request) {
      return navigator.locks.request("courier.session.refresh", exchange);
    }
    return exchange();
  }

  /**
   * Calls a REST route and returns the parsed JSON answer. `auth: false` sends no token. A 401 is
   * retried once after a refresh.
   */
  async call(method, path, body, { auth = true } = {}) {
    const send = () => {
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (auth && this.signedIn) headers.Authorization = `Bearer ${this.accessToken}`;
      return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    };
    let response;
    try {
      response = await send();
      if (response.status === 401 && auth && this.signedIn) {
        await this.refresh();
        response = await send();
      }
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError(0, "UNAVAILABLE", "The server could not be reached. Check the connection and try again.");
    }
    if (!response.ok) throw await errorFromResponse(response);
    const text = await response.text();
    return text ? JSON.parse(text) : {};
  }
}

function readStored() {
  try {
    const value = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    return value && value.tokens ? value : null;
  } catch {
    return null;
  }
}

function writeStored(state) {
  localStorage.setItem(SESSION_KEY, JSON.stringify(state));
}
