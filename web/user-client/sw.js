// Courier's service worker (scope /app/): shows web push messages as notifications and opens
// their link on click. It caches nothing; the app is always loaded from the network.
//
// A push message is the JSON object {"notificationId", "title", "body", "url", "tag"}.

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", (event) => {
  let message = {};
  if (event.data) {
    try {
      message = event.data.json();
    } catch {
      message = { body: event.data.text() };
    }
  }
  const title = message.title || "Courier";
  const options = {
    body: message.body || "",
    data: { url: message.url || "/app/", notificationId: message.notificationId || "" },
    lang: "en",
  };
  if (message.tag) {
    options.tag = message.tag;
    options.renotify = true;
  }
  event.waitUntil(showAndTell(title, options, message));
});

async function showAndTell(title, options, message) {
  await self.registration.showNotification(title, options);
  // Open pages show it in their own list too (they dedupe by id with the live stream).
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage({ type: "courier.push", notification: message });
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data && event.notification.data.url ? event.notification.data.url : "/app/",
    self.location.origin);
  event.waitUntil(openOrFocus(target.href));
});

async function openOrFocus(href) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (client.url === href && "focus" in client) return client.focus();
  }
  const sameOrigin = new URL(href).origin === self.location.origin;
  for (const client of windows) {
    if (sameOrigin && "navigate" in client && new URL(client.url).pathname.startsWith("/app/")) {
      const navigated = await client.navigate(href).catch(() => null);
      if (navigated) return navigated.focus();
    }
  }
  return self.clients.openWindow(href);
}
