// The live fleet: every deliverer's current position from GET /tracking/admin/deliverers/live (SSE),
// drawn on the map and listed with time, speed and the stuff each one carries.

import { h, showError, formatTime, formatRecent, formatPosition, formatSpeed, enumLabel } from "../dom.js";
import { LiveStream } from "../sse.js";
import { SlippyMap } from "../map.js";

const ACTIVE = new Set(["DELIVERY_PAYLOAD_STATUS_REGISTERED", "DELIVERY_PAYLOAD_STATUS_PICKED_UP", "DELIVERY_PAYLOAD_STATUS_IN_TRANSIT"]);
const PAYLOAD_REFRESH_MS = 30000;

async function loadActivePayloads(session) {
  const byDeliverer = new Map();
  let token = "";
  let pages = 0;
  do {
    const answer = await session.get("/tracking/admin/payloads", { "page.pageSize": 500, "page.pageToken": token });
    for (const payload of answer.payloads || []) {
      if (!payload.delivererId || !ACTIVE.has(payload.status)) continue;
      if (!byDeliverer.has(payload.delivererId)) byDeliverer.set(payload.delivererId, []);
      byDeliverer.get(payload.delivererId).push(payload);
    }
    token = answer.pageInfo && answer.pageInfo.nextPageToken;
    pages += 1;
  } while (token && pages < 10);
  return byDeliverer;
}

export function render({ session, root }) {
  const positions = new Map(); // deliverer id -> last stream message
  let payloads = new Map();
  let payloadTimer = null;
  let loadingPayloads = null;

  const state = h("p", { id: "live-state", className: "live-state", role: "status", dataset: { state: "connecting" } }, "Connecting…");
  const error = h("p", { id: "live-error", className: "error", role: "alert", hidden: true });
  const mapBox = h("div", { id: "live-map", "data-testid": "live-map" });
  const body = h("tbody", { id: "live-rows" });
  const empty = h("p", { id: "live-empty", className: "empty" }, "No deliverer has reported a position yet.");
  const table = h("table", { id: "live-table", className: "stack" },
    h("caption", { className: "visually-hidden" }, "Current deliverer positions"),
    h("thead", {}, h("tr", {}, ["Deliverer", "Position", "Time", "Speed", "Assigned stuff"].map((name) => h("th", { scope: "col" }, name)))),
    body);

  root.append(
    h("h1", {}, "Live map"),
    h("div", { className: "toolbar" }, state),
    error,
    h("div", { className: "live" },
      h("section", { className: "card map-card", "aria-labelledby": "live-map-heading" },
        h("h2", { id: "live-map-heading" }, "Map"), mapBox),
      h("section", { className: "card", "aria-labelledby": "live-list-heading" },
        h("h2", { id: "live-list-heading" }, "Deliverers"), empty, h("div", { className: "table-wrap" }, table))));

  const map = new SlippyMap(mapBox, {
    onMarker(id) {
      const target = body.querySelector(`tr[data-deliverer-id="${id}"]`);
      if (target) {
        target.scrollIntoView({ block: "nearest" });
        target.focus();
      }
    },
  });

  function assignedText(id) {
    const items = payloads.get(id) || [];
    if (items.length === 0) return "None";
    return items.map((p) => `${p.trackingCode} ${p.title} (${enumLabel(p.status, "DELIVERY_PAYLOAD_STATUS_").toLowerCase()})`).join("; ");
  }

  function renderRow(id) {
    const message = positions.get(id);
    const location = message.location || {};
    const row = h("tr", { tabindex: -1, "data-testid": "live-row", dataset: { delivererId: id } },
      h("th", { scope: "row", "data-label": "Deliverer" }, message.displayName || id),
      h("td", { "data-label": "Position", "data-testid": "live-position" }, formatPosition(location.point)),
      h("td", { "data-label": "Time" }, h("time", { datetime: location.recordedAt || message.receivedAt || "" },
        formatRecent(location.recordedAt || message.receivedAt))),
      h("td", { "data-label": "Speed" }, formatSpeed(location.speedMetersPerSecond)),
      h("td", { "data-label": "Assigned stuff", "data-testid": "live-assigned" }, assignedText(id)));
    const old = body.querySelector(`tr[data-deliverer-id="${id}"]`);
    if (old) {
      old.replaceWith(row);
    } else {
      // Keep the list sorted by name.
      const name = (message.displayName || id).toLocaleLowerCase();
      const after = [...body.children].find((other) =>
        (positions.get(other.dataset.delivererId).displayName || "").toLocaleLowerCase() > name);
      body.insertBefore(row, after || null);
    }
    empty.hidden = true;
  }

  async function refreshPayloads() {
    if (loadingPayloads) return loadingPayloads;
    loadingPayloads = (async () => {
      try {
        payloads = await loadActivePayloads(session);
        for (const id of positions.keys()) renderRow(id);
      } catch (failure) {
        showError(error, failure);
      } finally {
        loadingPayloads = null;
      }
    })();
    return loadingPayloads;
  }

  const stream = new LiveStream(session, "/tracking/admin/deliverers/live", {
    onMessage(message) {
      const id = message.delivererId;
      const point = message.location && message.location.point;
      if (!id || !point) return;
      const known = positions.has(id);
      positions.set(id, message);
      map.setMarker(id, {
        latitude: point.latitude || 0,
        longitude: point.longitude || 0,
        label: message.displayName || id,
        title: `${message.displayName || id}: ${formatPosition(point)}, ${formatTime(message.location.recordedAt || message.receivedAt)}`,
      });
      renderRow(id);
      if (!known && !payloads.has(id)) refreshPayloads();
    },
    onState(name, detail) {
      state.dataset.state = name;
      if (name === "open") {
        state.dataset.connections = String(Number(state.dataset.connections || 0) + 1);
        state.textContent = "Live: positions update as deliverers report them.";
        showError(error, null);
      } else if (name === "connecting") {
        state.textContent = "Connecting…";
      } else if (name === "retrying") {
        state.textContent = `Connection lost; trying again in ${Math.round(detail.delayMs / 1000)} s.`;
        showError(error, detail.error);
      } else if (name === "failed") {
        state.textContent = "The live stream stopped.";
        showError(error, detail.error);
      }
    },
  }).open();

  refreshPayloads();
  payloadTimer = setInterval(refreshPayloads, PAYLOAD_REFRESH_MS);

  return () => {
    stream.close();
    clearInterval(payloadTimer);
    map.destroy();
  };
}
