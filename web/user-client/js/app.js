// Courier for people who wait for deliveries: sign-up and login, the payloads they follow with a
// live map and timeline, notifications, and their profile. Routes are History API paths under
// /app/; nginx answers every unknown path there with this page.

import { Session } from "./api.js";
import { LiveStream } from "./sse.js";
import { PositionMap, TileCache } from "./map.js";
import { disablePush, enablePush, pushState, pushUnsupportedReason, registerWorker } from "./push.js";

const BASE = "/app";
const ROUTES = {
  "/": "payloads",
  "/index.html": "payloads",
  "/login": "login",
  "/signup": "signup",
  "/forgot": "forgot",
  "/recover": "recover",
  "/tracking": "tracking",
  "/profile": "profile",
};
const PUBLIC_VIEWS = new Set(["login", "signup", "forgot", "recover", "missing"]);
const GUEST_ONLY_VIEWS = new Set(["login", "signup"]);
const TITLES = {
  login: "Log in", signup: "Create an account", forgot: "Reset your password", recover: "Choose a new password",
  payloads: "My payloads", tracking: "Payload", profile: "Profile", missing: "Page not found",
};
const STATUS_TEXT = {
  DELIVERY_PAYLOAD_STATUS_REGISTERED: "Registered",
  DELIVERY_PAYLOAD_STATUS_PICKED_UP: "Picked up",
  DELIVERY_PAYLOAD_STATUS_IN_TRANSIT: "In transit",
  DELIVERY_PAYLOAD_STATUS_DELIVERED: "Delivered",
  DELIVERY_PAYLOAD_STATUS_FAILED: "Failed",
};
const TIMELINE_LIMIT = 50;
const TIMELINE_KEY = "courier.timeline.";
const NOTIFICATION_LIMIT = 20;

const $ = (selector, root = document) => root.querySelector(selector);

function show(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

function statusText(status) {
  return STATUS_TEXT[status] || "Unknown";
}

function formatTime(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function pointOf(location) {
  if (!location || !location.point) return null;
  // proto3 JSON leaves zero out: a point on the equator has no `latitude`.
  return { lat: Number(location.point.latitude || 0), lon: Number(location.point.longitude || 0) };
}

/**
 * A tracking code as typed, the way Crockford's base32 reads it: case-insensitive, spaces and
 * hyphens ignored, O read as 0 and I or L as 1. Hermes judges whatever remains.
 */
function normalizeCode(text) {
  return text.toUpperCase().replace(/[\s-]+/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
}

/** The arrival estimate in words, for a payload that has a destination. */
function arrivalText(estimate, status) {
  if (status === "DELIVERY_PAYLOAD_STATUS_DELIVERED") return "Delivered.";
  if (!estimate || !estimate.estimatedArrivalAt) return "Arrival: no estimate yet.";
  const minutes = Math.max(0, Math.round((estimate.remainingSeconds || 0) / 60));
  const arrival = new Date(estimate.estimatedArrivalAt).toLocaleTimeString(undefined, { timeStyle: "short" });
  const meters = estimate.remainingDistanceMeters || 0;
  const away = meters >= 1000 ? `${(meters / 1000).toFixed(1)} km` : `${Math.round(meters)} m`;
  return `Arrives in about ${minutes} min (around ${arrival}), ${away} away.`;
}

function formatPoint(point) {
  return `${point.lat.toFixed(5)}, ${point.lon.toFixed(5)}`;
}

/** Keeps the submit button busy while `work` runs and shows its error in `errorElement`. */
async function submitting(form, errorElement, work) {
  const button = form.querySelector("button[type=submit]");
  show(errorElement, "");
  if (button) button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    await work();
  } catch (error) {
    show(errorElement, error.message || String(error));
  } finally {
    if (button) button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

/**
 * What the page knows of one followed payload, and the timeline of what this browser saw of it
 * (kept in localStorage, so that a reload or the tracking link keeps earlier fixes).
 */
class Payload {
  constructor(subscription, savedTimeline = []) {
    this.code = subscription.payloadTrackingCode;
    this.timeline = savedTimeline.filter((entry) => entry && (entry.kind === "status" || entry.point));
    const latest = this.timeline.find((entry) => entry.kind === "position");
    if (latest) {
      this.point = latest.point;
      this.recordedAt = latest.at;
      this.accuracy = latest.accuracy;
    }
    this.apply(subscription);
  }

  /** Takes a subscription from the list. */
  apply(subscription) {
    this.title = subscription.title || this.title || "";
    this.subscribedAt = subscription.subscribedAt || this.subscribedAt || "";
    this.arrive(subscription);
    this.update(subscription.payloadStatus, subscription.lastLocation, subscription.updatedAt);
  }

  /**
   * Takes the destination and arrival estimate of a subscription or a live message (both carry
   * `destination` and `arrivalEstimate`); true when the estimate changed.
   */
  arrive(message) {
    const before = JSON.stringify([this.destination, this.estimate]);
    this.destination = message.destination || null;
    this.estimate = message.arrivalEstimate || null;
    return JSON.stringify([this.destination, this.estimate]) !== before;
  }

  /** Takes a status and position (from the list or the live stream); true when something changed. */
  update(status, location, updatedAt) {
    let changed = false;
    const point = pointOf(location);
    const recordedAt = location ? location.recordedAt || "" : "";
    if (point && (!this.point || this.point.lat !== point.lat || this.point.lon !== point.lon
        || this.recordedAt !== recordedAt)) {
      this.point = point;
      this.recordedAt = recordedAt;
      this.accuracy = Number(location.accuracyMeters || 0);
      this.timeline.unshift({ kind: "position", at: recordedAt || updatedAt || "", point, accuracy: this.accuracy });
      changed = true;
    }
    if (status && status !== this.status) {
      if (this.status) this.timeline.unshift({ kind: "status", at: updatedAt, status });
      this.status = status;
      changed = true;
    }
    if (updatedAt) this.updatedAt = updatedAt;
    this.timeline.length = Math.min(this.timeline.length, TIMELINE_LIMIT);
    return changed;
  }

  /** The positions of the timeline, oldest first, for the map's trail. */
  trail() {
    return this.timeline.filter((entry) => entry.kind === "position").map((entry) => entry.point).reverse();
  }
}

/** A payload's card on the page: its elements and its map. */
class PayloadCard {
  constructor(app, payload) {
    this.app = app;
    this.payload = payload;
    const fragment = $("#payload-template").content.cloneNode(true);
    this.element = fragment.firstElementChild;
    this.element.dataset.code = payload.code;
    this.element.id = `payload-${payload.code}`;
    const link = $("[data-testid=payload-code]", this.element);
    link.textContent = payload.code;
    link.href = `${BASE}/tracking?code=${encodeURIComponent(payload.code)}`;
    const canvas = $("canvas", this.element);
    this.map = new PositionMap(canvas, { tiles: app.tiles, attribution: $(".attribution", this.element) });
    $("[data-action=zoom-in]", this.element).addEventListener("click", () => this.map.zoomBy(1));
    $("[data-action=zoom-out]", this.element).addEventListener("click", () => this.map.zoomBy(-1));
    $("[data-action=receipt]", this.element).addEventListener("click", (event) => this.downloadReceipt(event.currentTarget));
    $("[data-action=unsubscribe]", this.element).addEventListener("click", (event) => this.unsubscribe(event.currentTarget));
    $("[data-action=route]", this.element).addEventListener("click", (event) => this.loadRoute(event.currentTarget));
    $("[data-testid=route-slider]", this.element).addEventListener("input", (event) => this.showReplay(Number(event.target.value)));
    this.replay = null;
    this.render();
  }

  /** Fetches the payload's route (GeoJSON) and shows its first fix; the slider walks through it. */
  async loadRoute(button) {
    this.error("");
    button.disabled = true;
    try {
      const feature = await this.app.session.call("GET", `/tracking/payload/${encodeURIComponent(this.payload.code)}/route`);
      const points = ((feature.geometry && feature.geometry.coordinates) || []).map(([lon, lat]) => ({ lat, lon }));
      this.replay = { points, times: (feature.properties && feature.properties.coordTimes) || [] };
      const slider = $("[data-testid=route-slider]", this.element);
      slider.max = String(Math.max(0, points.length - 1));
      slider.value = "0";
      $("[data-testid=route-controls]", this.element).hidden = false;
      button.textContent = "Reload the route";
      this.showReplay(0);
    } catch (error) {
      this.error(error.message);
    } finally {
      button.disabled = false;
    }
  }

  /** Shows fix `index` of the loaded route on the map, with the whole route as the trail. */
  showReplay(index) {
    const { points, times } = this.replay;
    if (!points.length) return;
    const at = Math.max(0, Math.min(points.length - 1, index));
    this.map.show(points[at], points);
    const label = $("[data-testid=route-time]", this.element);
    label.textContent = `Fix ${at + 1} of ${points.length} · ${formatTime(times[at])}`;
    label.dataset.index = String(at);
    label.dataset.time = times[at] || "";
  }

  render() {
    const payload = this.payload;
    const heading = $("[data-testid=payload-title]", this.element);
    heading.textContent = payload.title || payload.code;
    const status = $("[data-testid=payload-status]", this.element);
    status.textContent = statusText(payload.status);
    status.dataset.status = payload.status || "";
    const updated = $("[data-testid=payload-updated]", this.element);
    updated.dateTime = payload.updatedAt || "";
    updated.textContent = formatTime(payload.updatedAt) || "never";
    $("[data-testid=payload-position]", this.element).textContent =
      payload.point ? formatPoint(payload.point) : "none yet";
    const eta = $("[data-testid=payload-eta]", this.element);
    eta.dataset.remainingSeconds = payload.estimate ? String(payload.estimate.remainingSeconds || 0) : "";
    show(eta, payload.destination ? arrivalText(payload.estimate, payload.status) : "");
    const destination = payload.destination;
    this.map.setDestination(destination ? { lat: Number(destination.latitude || 0), lon: Number(destination.longitude || 0) } : null);
    if (this.replay) this.showReplay(Number($("[data-testid=route-slider]", this.element).value));
    else this.map.show(payload.point, payload.trail());
    const list = $("[data-testid=payload-timeline]", this.element);
    list.replaceChildren(...payload.timeline.map((entry) => {
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.dateTime = entry.at || "";
      time.textContent = formatTime(entry.at);
      item.append(time, " ");
      if (entry.kind === "position") {
        item.dataset.kind = "position";
        item.append(`at ${formatPoint(entry.point)}${entry.accuracy ? ` (±${Math.round(entry.accuracy)} m)` : ""}`);
      } else {
        item.dataset.kind = "status";
        item.append(`now ${statusText(entry.status).toLowerCase()}`);
      }
      return item;
    }));
    if (payload.timeline.length === 0) {
      const item = document.createElement("li");
      item.className = "hint";
      item.textContent = "No positions yet.";
      list.append(item);
    }
  }

  message(text) {
    show($("[data-testid=payload-message]", this.element), text);
  }

  error(text) {
    show($("[data-testid=payload-error]", this.element), text);
  }

  async downloadReceipt(button) {
    this.error("");
    this.message("");
    button.disabled = true;
    try {
      const code = encodeURIComponent(this.payload.code);
      const receipt = await this.app.session.call("GET", `/tracking/payload/${code}/receipt`);
      const binary = atob(receipt.content || "");
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
      const blob = new Blob([bytes], { type: receipt.contentType || "application/pdf" });
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = receipt.fileName || `receipt-${this.payload.code}.pdf`;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      this.message(`Saved ${link.download} (${(bytes.length / 1024).toFixed(1)} kB).`);
    } catch (error) {
      this.error(error.message);
    } finally {
      button.disabled = false;
    }
  }

  async unsubscribe(button) {
    this.error("");
    button.disabled = true;
    try {
      await this.app.session.call("DELETE", `/tracking/payload/${encodeURIComponent(this.payload.code)}`);
      this.app.forget(this.payload.code);
      this.app.flash(`You no longer follow ${this.payload.title || this.payload.code}.`);
    } catch (error) {
      this.error(error.message);
      button.disabled = false;
    }
  }

  destroy() {
    this.map.destroy();
    this.element.remove();
  }
}

class App {
  constructor() {
    this.session = new Session({ onChange: () => this.sessionChanged() });
    this.tiles = new TileCache();
    this.payloads = new Map();
    this.cards = new Map();  // code -> PayloadCard in the list
    this.trackingCard = null;
    this.payloadStream = null;
    this.streamedCodes = "";
    this.notificationStream = null;
    this.notificationIds = new Set();
    this.view = "";
  }

  start() {
    document.addEventListener("click", (event) => this.followLink(event));
    window.addEventListener("popstate", () => this.route(false));
    $("#logout-button").addEventListener("click", () => this.logout());
    $("#login-form").addEventListener("submit", (event) => this.login(event));
    $("#signup-form").addEventListener("submit", (event) => this.signUp(event));
    $("#forgot-form").addEventListener("submit", (event) => this.requestRecovery(event));
    $("#recover-form").addEventListener("submit", (event) => this.resetPassword(event));
    $("#subscribe-form").addEventListener("submit", (event) => this.subscribe(event));
    $("#tracking-subscribe-form").addEventListener("submit", (event) => this.subscribeFromTracking(event));
    $("#profile-form").addEventListener("submit", (event) => this.saveProfile(event));
    $("#push-enable").addEventListener("click", () => this.enablePush());
    $("#push-disable").addEventListener("click", () => this.disablePush());
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (event) => {
        if (event.data && event.data.type === "courier.push") this.showNotification(event.data.notification);
      });
      registerWorker().catch(() => {});
    }
    this.route(false);
    document.documentElement.dataset.ready = "true";
  }

  // ------------------------------------------------------------------ routing

  navigate(href, { replace = false } = {}) {
    if (replace) history.replaceState(null, "", href);
    else history.pushState(null, "", href);
    this.route(true);
  }

  followLink(event) {
    const link = event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
        || event.shiftKey || event.altKey || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !(url.pathname === BASE || url.pathname.startsWith(`${BASE}/`))) return;
    event.preventDefault();
    this.navigate(url.pathname + url.search + url.hash);
  }

  route(moveFocus) {
    const url = new URL(location.href);
    let path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : url.pathname;
    path = path.replace(/\/+$/, "") || "/";
    const view = ROUTES[path] || "missing";
    if (!PUBLIC_VIEWS.has(view) && !this.session.signedIn) {
      const next = url.pathname + url.search;
      history.replaceState(null, "", `${BASE}/login?next=${encodeURIComponent(next)}`);
      return this.route(moveFocus);
    }
    if (GUEST_ONLY_VIEWS.has(view) && this.session.signedIn) {
      history.replaceState(null, "", this.nextPath(url));
      return this.route(moveFocus);
    }
    this.view = view;
    const pending = this.flashText;
    this.flashText = "";
    const sentHere = view === "login" && ![null, `${BASE}/`].includes(url.searchParams.get("next"));
    this.flash(pending || (sentHere ? "Log in to continue." : ""));
    for (const section of document.querySelectorAll("[data-view]")) section.hidden = section.dataset.view !== view;
    document.title = `${TITLES[view]} · Courier`;
    for (const link of document.querySelectorAll("#nav a")) {
      const active = (view === "payloads" && link.id === "nav-payloads") || (view === "profile" && link.id === "nav-profile");
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.renderChrome();
    if (this.session.signedIn) this.startNotifications();
    const enter = {
      payloads: () => this.enterPayloads(),
      tracking: () => this.enterTracking(url.searchParams.get("code") || ""),
      profile: () => this.enterProfile(),
      recover: () => this.enterRecover(url.searchParams.get("token") || ""),
    }[view];
    if (enter) enter();
    if (moveFocus) {
      const heading = $(`[data-view=${view}] h1`);
      if (heading) heading.focus();
    }
  }

  /** Where to go after login: the `next` parameter when it stays inside the app. */
  nextPath(url) {
    const next = url.searchParams.get("next") || "";
    return next.startsWith(`${BASE}/`) && !next.startsWith("//") && !next.startsWith(`${BASE}/login`)
      ? next : `${BASE}/`;
  }

  renderChrome() {
    $("#nav").hidden = !this.session.signedIn;
    $("#user-name").textContent = this.session.signedIn ? this.session.displayName : "";
  }

  flash(text) {
    show($("#flash"), text);
  }

  // ------------------------------------------------------------------ accounts

  async login(event) {
    event.preventDefault();
    const form = event.currentTarget;
    await submitting(form, $("#login-error"), async () => {
      const answer = await this.session.call("POST", "/auth/login", {
        email: form.email.value.trim(),
        password: form.password.value,
      }, { auth: false });
      this.session.adopt(answer);
      form.reset();
      this.loadDisplayName();
      this.navigate(this.nextPath(new URL(location.href)), { replace: true });
    });
  }

  async signUp(event) {
    event.preventDefault();
    const form = event.currentTarget;
    await submitting(form, $("#signup-error"), async () => {
      const answer = await this.session.call("POST", "/auth/signup", {
        email: form.email.value.trim(),
        password: form.password.value,
        displayName: form.displayName.value.trim(),
        phoneNumber: form.phoneNumber.value.trim(),
      }, { auth: false });
      this.session.adopt(answer);
      form.reset();
      this.flashText = `Welcome, ${answer.user ? answer.user.displayName : ""}! Follow your first payload below.`;
      this.navigate(this.nextPath(new URL(location.href)), { replace: true });
    });
  }

  async loadDisplayName() {
    try {
      const { user } = await this.session.call("GET", "/user/profile");
      if (user) {
        this.session.displayName = user.displayName || "";
        this.renderChrome();
      }
    } catch {
      // The name is decoration; the page works without it.
    }
  }

  async requestRecovery(event) {
    event.preventDefault();
    const form = event.currentTarget;
    show($("#forgot-message"), "");
    await submitting(form, $("#forgot-error"), async () => {
      await this.session.call("POST", "/user/recover", { email: form.email.value.trim() }, { auth: false });
      show($("#forgot-message"),
        "If an account uses this address, a mail with a reset link is on its way. The link works for 30 minutes.");
    });
  }

  enterRecover(token) {
    show($("#recover-message"), "");
    show($("#recover-error"), token ? "" : "This page needs the link from the password reset mail (it carries a token).");
    $("#recover-submit").disabled = !token;
    this.recoverToken = token;
  }

  async resetPassword(event) {
    event.preventDefault();
    const form = event.currentTarget;
    show($("#recover-message"), "");
    await submitting(form, $("#recover-error"), async () => {
      if (form.password.value !== form.password2.value) throw new Error("The two passwords differ.");
      await this.session.call("PUT", "/user/recover", { token: this.recoverToken, newPassword: form.password.value },
        { auth: false });
      form.reset();
      if (this.session.signedIn) this.endSession();
      this.flashText = "Your password is changed. Log in with the new one.";
      history.replaceState(null, "", `${BASE}/login?next=${encodeURIComponent(`${BASE}/`)}`);
      this.route(true);
    });
    $("#recover-submit").disabled = !this.recoverToken;
  }

  async logout() {
    const button = $("#logout-button");
    button.disabled = true;
    try {
      await disablePush(this.session).catch(() => {});
      await this.session.call("POST", "/auth/logout", {}).catch(() => {});
    } finally {
      button.disabled = false;
      this.endSession();
      this.flashText = "You are logged out.";
      history.pushState(null, "", `${BASE}/login`);
      this.route(true);
    }
  }

  /** Ends the session on this device and forgets everything of the person on this page. */
  endSession() {
    for (let i = localStorage.length - 1; i >= 0; i -= 1) {
      const key = localStorage.key(i);
      if (key && key.startsWith(TIMELINE_KEY)) localStorage.removeItem(key);
    }
    this.session.clear();
    this.resetPage();
  }

  /** Drops what the page shows of a person: streams, cards, notifications. */
  resetPage() {
    this.stopStreams();
    for (const card of this.cards.values()) card.destroy();
    this.cards.clear();
    if (this.trackingCard) this.trackingCard.destroy();
    this.trackingCard = null;
    this.payloads.clear();
    this.notificationIds.clear();
    $("#notifications-list").replaceChildren();
    this.renderChrome();
  }

  /** Another tab logged out or in as someone else, or the session could not be renewed. */
  sessionChanged() {
    if (this.session.signedIn) {
      this.resetPage();
      this.route(false);
      return;
    }
    this.endSession();
    if (!PUBLIC_VIEWS.has(this.view)) {
      this.flashText = "Your session ended. Log in again.";
      this.route(false);
    }
  }

  stopStreams() {
    if (this.payloadStream) this.payloadStream.stop();
    if (this.notificationStream) this.notificationStream.stop();
    this.payloadStream = null;
    this.notificationStream = null;
    this.streamedCodes = "";
    this.setLiveState("idle");
  }

  // ------------------------------------------------------------------ payloads

  async enterPayloads() {
    this.refreshPushState();
    await this.loadPayloads();
  }

  async loadPayloads() {
    const error = $("#payloads-error");
    try {
      const { subscriptions = [] } = await this.session.call("GET", "/tracking/payload");
      show(error, "");
      const seen = new Set();
      for (const subscription of subscriptions) {
        seen.add(subscription.payloadTrackingCode);
        this.takeSubscription(subscription);
      }
      for (const code of [...this.payloads.keys()]) if (!seen.has(code)) this.forget(code, { restream: false });
      this.renderList(subscriptions.map((s) => s.payloadTrackingCode));
      this.watchPayloads();
      return true;
    } catch (failure) {
      if (this.session.signedIn) show(error, failure.message);
      return false;
    }
  }

  renderList(order) {
    const list = $("#payload-list");
    const elements = [];
    for (const code of order) {
      let card = this.cards.get(code);
      if (!card) {
        card = new PayloadCard(this, this.payloads.get(code));
        this.cards.set(code, card);
      } else {
        card.render();
      }
      elements.push(card.element);
    }
    list.replaceChildren(...elements);
    $("#payloads-empty").hidden = order.length > 0;
  }

  takeSubscription(subscription) {
    const code = subscription.payloadTrackingCode;
    const known = this.payloads.get(code);
    if (known) known.apply(subscription);
    else this.payloads.set(code, new Payload(subscription, this.savedTimeline(code)));
    this.saveTimeline(this.payloads.get(code));
  }

  timelineKey(code) {
    return `${TIMELINE_KEY}${this.session.userId}.${code}`;
  }

  savedTimeline(code) {
    try {
      const saved = JSON.parse(localStorage.getItem(this.timelineKey(code)) || "[]");
      return Array.isArray(saved) ? saved : [];
    } catch {
      return [];
    }
  }

  saveTimeline(payload) {
    try {
      localStorage.setItem(this.timelineKey(payload.code), JSON.stringify(payload.timeline));
    } catch {
      // Storage full or refused: the timeline then lasts as long as the page.
    }
  }

  /** Drops a payload the person no longer follows. */
  forget(code, { restream = true } = {}) {
    localStorage.removeItem(this.timelineKey(code));
    this.payloads.delete(code);
    const card = this.cards.get(code);
    if (card) card.destroy();
    this.cards.delete(code);
    $("#payloads-empty").hidden = this.payloads.size > 0;
    if (this.trackingCard && this.trackingCard.payload.code === code) {
      this.trackingCard.destroy();
      this.trackingCard = null;
      if (this.view === "tracking") this.enterTracking(code);
    }
    if (restream) this.watchPayloads();
  }

  async subscribe(event) {
    event.preventDefault();
    const form = event.currentTarget;
    await submitting(form, $("#subscribe-error"), async () => {
      const code = normalizeCode(form.code.value);
      const subscription = await this.followPayload(code, form.title.value);
      form.reset();
      this.flash(`You now follow ${subscription.title || code}.`);
      const card = this.cards.get(subscription.payloadTrackingCode);
      if (card) card.element.scrollIntoView({ block: "nearest" });
    });
  }

  async followPayload(code, title) {
    if (!code) throw new Error("Enter a tracking code.");
    const { subscription } = await this.session.call("POST", `/tracking/payload/${encodeURIComponent(code)}`,
      { title: title.trim() });
    this.takeSubscription(subscription);
    await this.loadPayloads();
    return subscription;
  }

  /** (Re)opens the position stream when the set of followed payloads changed. */
  watchPayloads() {
    const codes = [...this.payloads.keys()].sort().join(",");
    if (codes === this.streamedCodes && this.payloadStream) return;
    if (this.payloadStream) this.payloadStream.stop();
    this.payloadStream = null;
    this.streamedCodes = codes;
    if (!codes) {
      this.setLiveState("idle");
      return;
    }
    this.payloadStream = new LiveStream(this.session, "/tracking/payload/live", {
      onMessage: (message) => this.positionArrived(message),
      onState: (state, detail) => this.setLiveState(state, detail),
    });
    this.payloadStream.start();
  }

  positionArrived(message) {
    const payload = this.payloads.get(message.payloadTrackingCode);
    if (!payload) return;
    const arrived = payload.arrive(message);
    if (!payload.update(message.payloadStatus, message.location, message.updatedAt) && !arrived) return;
    this.saveTimeline(payload);
    const card = this.cards.get(payload.code);
    if (card) card.render();
    if (this.trackingCard && this.trackingCard.payload === payload) this.trackingCard.render();
  }

  setLiveState(state, detail) {
    const badge = $("#live-status");
    badge.dataset.state = state;
    const text = {
      idle: "Live updates: off",
      connecting: "Live updates: connecting…",
      open: "Live updates: on",
      retrying: `Live updates: connection lost (${detail && detail.message}); retrying in ${Math.ceil(((detail && detail.delayMs) || 0) / 1000)} s`,
      stopped: `Live updates stopped: ${detail || "the server refused"}. Reload the page to try again.`,
    }[state];
    badge.textContent = text;
  }

  // ------------------------------------------------------------------ one payload

  async enterTracking(rawCode) {
    const code = normalizeCode(rawCode);
    $("#tracking-heading").textContent = code ? `Payload ${code}` : "Payload";
    show($("#tracking-error"), code ? "" : "The link names no tracking code.");
    $("#tracking-subscribe-form").hidden = true;
    if (this.trackingCard) this.trackingCard.destroy();
    this.trackingCard = null;
    if (!code) return;
    this.trackingCode = code;
    if (!(await this.loadPayloads())) {
      show($("#tracking-error"), $("#payloads-error").textContent);
      return;
    }
    if (this.view !== "tracking" || this.trackingCode !== code) return;
    const payload = this.payloads.get(code);
    if (payload) {
      if (this.trackingCard) this.trackingCard.destroy();
      this.trackingCard = new PayloadCard(this, payload);
      this.trackingCard.element.id = `tracking-${code}`;
      $("#tracking-card").replaceChildren(this.trackingCard.element);
      $("#tracking-heading").textContent = payload.title || `Payload ${code}`;
    } else {
      $("#tracking-code-text").textContent = code;
      $("#tracking-subscribe-form").hidden = false;
      $("#tracking-card").replaceChildren();
    }
  }

  async subscribeFromTracking(event) {
    event.preventDefault();
    const form = event.currentTarget;
    await submitting(form, $("#tracking-subscribe-error"), async () => {
      await this.followPayload(this.trackingCode, form.title.value);
      form.reset();
      await this.enterTracking(this.trackingCode);
    });
  }

  // ------------------------------------------------------------------ notifications

  startNotifications() {
    if (this.notificationStream) return;
    this.notificationStream = new LiveStream(this.session, "/notifications/live", {
      onMessage: (message) => this.showNotification(message.notification),
      onState: (state, detail) => {
        const text = {
          connecting: "Connecting to live notifications…",
          open: "Notifications while this page is open appear here.",
          retrying: `Live notifications interrupted (${detail && detail.message}); retrying.`,
          stopped: `Live notifications stopped: ${detail}.`,
          idle: "",
        }[state];
        $("#notifications-live").textContent = text;
        $("#notifications-live").dataset.state = state;
      },
    });
    this.notificationStream.start();
  }

  showNotification(notification) {
    if (!notification) return;
    const id = notification.notificationId || `${notification.title}|${notification.createdAt}`;
    if (this.notificationIds.has(id)) return;
    this.notificationIds.add(id);
    const item = document.createElement("li");
    item.dataset.testid = "notification";
    const title = document.createElement("strong");
    title.textContent = notification.title || "Notification";
    item.append(title);
    if (notification.body) {
      const body = document.createElement("p");
      body.textContent = notification.body;
      item.append(body);
    }
    const when = document.createElement("time");
    when.dateTime = notification.createdAt || new Date().toISOString();
    when.textContent = formatTime(when.dateTime);
    item.append(when);
    if (notification.url) {
      const target = new URL(notification.url, location.origin);
      if (target.protocol === "https:" || target.protocol === "http:") {
        const link = document.createElement("a");
        link.href = target.origin === location.origin ? target.pathname + target.search : target.href;
        link.textContent = "Open";
        item.append(" ", link);
      }
    }
    const list = $("#notifications-list");
    if (notification.tag) {
      // A newer notification with the same tag replaces the older one, as on the desktop.
      item.dataset.tag = notification.tag;
      for (const older of list.querySelectorAll("li[data-tag]")) {
        if (older.dataset.tag === notification.tag) older.remove();
      }
    }
    list.prepend(item);
    while (list.children.length > NOTIFICATION_LIMIT) list.lastElementChild.remove();
  }

  // ------------------------------------------------------------------ push

  async refreshPushState() {
    const status = $("#push-status");
    const enable = $("#push-enable");
    const disable = $("#push-disable");
    const unsupported = pushUnsupportedReason();
    let state;
    try {
      state = await pushState(this.session.userId);
    } catch {
      state = "off";
    }
    status.dataset.state = state;
    status.classList.remove("error");
    enable.hidden = state === "on";
    enable.disabled = state === "unsupported";
    disable.hidden = state !== "on";
    status.textContent = {
      unsupported: `Push notifications: unavailable. ${unsupported}`,
      denied: "Push notifications: blocked for this site. Allow them in the browser's site settings.",
      on: "Push notifications are on for this browser.",
      off: "Push notifications are off for this browser.",
    }[state];
  }

  async enablePush() {
    const status = $("#push-status");
    const button = $("#push-enable");
    button.disabled = true;
    status.textContent = "Turning on push notifications…";
    status.classList.remove("error");
    try {
      await enablePush(this.session);
      await this.refreshPushState();
    } catch (error) {
      status.textContent = `Push notifications are not available: ${error.message}`;
      status.dataset.state = "failed";
      status.classList.add("error");
      button.disabled = false;
    }
  }

  async disablePush() {
    const status = $("#push-status");
    try {
      await disablePush(this.session);
      await this.refreshPushState();
    } catch (error) {
      status.textContent = `Could not turn push notifications off: ${error.message}`;
      status.classList.add("error");
    }
  }

  // ------------------------------------------------------------------ profile

  async enterProfile() {
    const form = $("#profile-form");
    show($("#profile-message"), "");
    show($("#profile-error"), "");
    form.setAttribute("aria-busy", "true");
    try {
      const { user } = await this.session.call("GET", "/user/profile");
      this.fillProfile(user);
    } catch (error) {
      show($("#profile-error"), error.message);
    } finally {
      form.removeAttribute("aria-busy");
    }
  }

  fillProfile(user) {
    const form = $("#profile-form");
    this.profile = user;
    form.displayName.value = user.displayName || "";
    form.email.value = user.email || "";
    form.phoneNumber.value = user.phoneNumber || "";
    const preferences = user.notificationPreferences || {};
    form.trackingMailEnabled.checked = Boolean(preferences.trackingMailEnabled);
    form.trackingPushEnabled.checked = Boolean(preferences.trackingPushEnabled);
    form.currentPassword.value = "";
    this.session.displayName = user.displayName || "";
    this.renderChrome();
  }

  async saveProfile(event) {
    event.preventDefault();
    const form = event.currentTarget;
    show($("#profile-message"), "");
    await submitting(form, $("#profile-error"), async () => {
      const before = this.profile || {};
      const preferences = before.notificationPreferences || {};
      const change = {};
      if (form.displayName.value.trim() !== (before.displayName || "")) change.displayName = form.displayName.value.trim();
      if (form.email.value.trim() !== (before.email || "")) {
        change.email = form.email.value.trim();
        change.currentPassword = form.currentPassword.value;
      }
      if (form.phoneNumber.value.trim() !== (before.phoneNumber || "")) change.phoneNumber = form.phoneNumber.value.trim();
      if (form.trackingMailEnabled.checked !== Boolean(preferences.trackingMailEnabled)) {
        change.trackingMailEnabled = form.trackingMailEnabled.checked;
      }
      if (form.trackingPushEnabled.checked !== Boolean(preferences.trackingPushEnabled)) {
        change.trackingPushEnabled = form.trackingPushEnabled.checked;
      }
      if (Object.keys(change).length === 0) {
        show($("#profile-message"), "Nothing changed.");
        return;
      }
      const { user } = await this.session.call("PUT", "/user/profile", change);
      this.fillProfile(user);
      show($("#profile-message"), "Your profile is saved.");
    });
  }
}

new App().start();
