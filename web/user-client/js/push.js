// Web push for the signed-in person: the service worker, the browser's push subscription made
// with the server's VAPID key, and its registration with Iris. Every failure ends in a sentence
// for the page; nothing fails silently.

import { ApiError } from "./api.js";

const WORKER_URL = "/app/sw.js";
const SCOPE = "/app/";
const STORE_KEY = "courier.push";
const SUBSCRIBE_TIMEOUT_MS = 15000;

/** Why this browser cannot do web push at all, or "" when it can try. */
export function pushUnsupportedReason() {
  if (!window.isSecureContext) return "Push notifications need a secure (https or localhost) page.";
  if (!("serviceWorker" in navigator)) return "This browser has no service workers, so it cannot receive push notifications.";
  if (!("PushManager" in window)) return "This browser does not support push notifications.";
  if (!("Notification" in window)) return "This browser cannot show notifications.";
  return "";
}

/** Registers the service worker (it also handles clicks on notifications). */
export async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.register(WORKER_URL, { scope: SCOPE });
}

function base64UrlToBytes(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function stored() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "null");
  } catch {
    return null;
  }
}

/**
 * What the page knows about push for `userId`: "unsupported", "denied", "on" (this browser has a
 * subscription registered for the user) or "off".
 */
export async function pushState(userId) {
  if (pushUnsupportedReason()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  const subscription = registration ? await registration.pushManager.getSubscription() : null;
  const mine = stored();
  return subscription && mine && mine.userId === userId && mine.endpoint === subscription.endpoint ? "on" : "off";
}

/**
 * Asks for permission, subscribes with the VAPID key and registers the subscription for the
 * signed-in user. Resolves with a sentence for the page; throws an Error whose message says what
 * went wrong.
 */
export async function enablePush(session) {
  const unsupported = pushUnsupportedReason();
  if (unsupported) throw new Error(unsupported);
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    throw new Error(permission === "denied"
      ? "Notifications are blocked for this site. Allow them in the browser's site settings, then try again."
      : "Notifications were not allowed.");
  }
  const { publicKey } = await session.call("GET", "/notifications/push/vapid-public-key", undefined, { auth: false });
  if (!publicKey) throw new Error("The server has no push key configured.");
  const registration = await registerWorker();
  await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  const key = base64UrlToBytes(publicKey);
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe();  // made with an older server key: useless now
    subscription = null;
  }
  if (!subscription) {
    // A browser without a reachable push service may never answer: give up after a while, and
    // drop a subscription that arrives too late, since it was never registered.
    const attempt = registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), SUBSCRIBE_TIMEOUT_MS); });
    try {
      subscription = await Promise.race([attempt, timeout]);
    } catch (error) {
      throw new Error(
        `This browser could not reach its push service (${error.message || error.name}). ` +
        `Updates still appear on this page while it is open.`);
    } finally {
      clearTimeout(timer);
    }
    if (!subscription) {
      attempt.then((late) => late.unsubscribe()).catch(() => {});
      throw new Error(
        `This browser could not reach its push service (no answer within ${SUBSCRIBE_TIMEOUT_MS / 1000} s). ` +
        `Updates still appear on this page while it is open.`);
    }
  }
  const json = subscription.toJSON();
  const body = {
    endpoint: json.endpoint,
    keys: { p256dh: json.keys.p256dh, auth: json.keys.auth },
    userAgent: navigator.userAgent.slice(0, 500),
  };
  if (json.expirationTime) body.expirationTime = new Date(json.expirationTime).toISOString();
  let answer;
  try {
    answer = await session.call("POST", "/notifications/push/subscriptions", body);
  } catch (error) {
    await subscription.unsubscribe().catch(() => {});
    throw error;
  }
  localStorage.setItem(STORE_KEY, JSON.stringify({
    userId: session.userId,
    endpoint: json.endpoint,
    subscriptionId: answer.subscription ? answer.subscription.subscriptionId : "",
  }));
  return "Push notifications are on for this browser.";
}

/** Unsubscribes this browser and removes its registration from Iris (best effort on the server). */
export async function disablePush(session) {
  const mine = stored();
  localStorage.removeItem(STORE_KEY);
  let endpoint = mine ? mine.endpoint : "";
  if ("serviceWorker" in navigator) {
    const registration = await navigator.serviceWorker.getRegistration(SCOPE);
    const subscription = registration ? await registration.pushManager.getSubscription() : null;
    if (subscription) {
      endpoint = endpoint || subscription.endpoint;
      await subscription.unsubscribe().catch(() => {});
    }
  }
  if (!session.signedIn || !endpoint) return;
  let id = mine && mine.userId === session.userId ? mine.subscriptionId : "";
  if (!id) {
    const { subscriptions = [] } = await session.call("GET", "/notifications/push/subscriptions");
    const match = subscriptions.find((entry) => entry.endpoint === endpoint);
    id = match ? match.subscriptionId : "";
  }
  if (id) {
    try {
      await session.call("DELETE", `/notifications/push/subscriptions/${encodeURIComponent(id)}`);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
    }
  }
}

function sameKey(current, wanted) {
  if (!current) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === wanted.length && bytes.every((byte, i) => byte === wanted[i]);
}
