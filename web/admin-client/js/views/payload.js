// One payload: its fields, its destination (picked on a map or typed) with the arrival estimate,
// its whole status history, its PDF receipt, and the replay of its route.

import { h, showError, showStatus, busy, formatTime, formatPosition, formatArrival, enumLabel } from "../dom.js";
import { SlippyMap } from "../map.js";
import { routeReplay } from "../route.js";
import { loadDeliverers } from "./payloads.js";

const STATUS_PREFIX = "DELIVERY_PAYLOAD_STATUS_";

export function render({ session, root, params }) {
  const [payloadId] = params;
  let alive = true;
  let receiptUrl = null;
  const error = h("p", { id: "payload-detail-error", className: "error", role: "alert", hidden: true });
  const heading = h("h1", { id: "payload-detail-title" }, "Stuff");
  const facts = h("dl", { id: "payload-detail", className: "headers" });
  const history = h("ol", { id: "payload-history", className: "history" });
  const receiptButton = h("button", { type: "button", id: "payload-receipt", className: "secondary", disabled: true }, "Get the receipt (PDF)");
  const receiptError = h("p", { id: "payload-receipt-error", className: "error", role: "alert", hidden: true });
  const receiptLink = h("p", { id: "payload-receipt-ready", hidden: true });

  const latitude = h("input", { id: "destination-latitude", inputmode: "decimal", autocomplete: "off", required: true });
  const longitude = h("input", { id: "destination-longitude", inputmode: "decimal", autocomplete: "off", required: true });
  const saveDestination = h("button", { type: "submit", id: "destination-save" }, "Save destination");
  const clearDestination = h("button", { type: "button", id: "destination-clear", className: "secondary" }, "Clear");
  const destinationError = h("p", { id: "destination-error", className: "error", role: "alert", hidden: true });
  const destinationSaved = h("p", { id: "destination-saved", className: "success", role: "status", hidden: true });
  const eta = h("p", { id: "payload-eta" }, "—");
  const pickBox = h("div", { id: "destination-map", className: "map destination-map" });
  const destinationForm = h("form", { id: "destination-form", className: "card", "aria-labelledby": "destination-heading" },
    h("h2", { id: "destination-heading" }, "Destination"),
    h("p", { className: "hint" }, "Click the map to pick where the stuff goes, or type the coordinates in degrees."),
    pickBox,
    h("div", { className: "row" },
      h("div", { className: "field" }, h("label", { for: "destination-latitude" }, "Latitude"), latitude),
      h("div", { className: "field" }, h("label", { for: "destination-longitude" }, "Longitude"), longitude)),
    destinationError, destinationSaved,
    h("div", { className: "actions" }, saveDestination, clearDestination),
    h("p", {}, h("strong", {}, "Arrival: "), eta));
  const picker = new SlippyMap(pickBox, {
    canvasId: "destination-map-canvas",
    label: "Map to pick the destination: click a point. Arrow keys pan, plus and minus zoom.",
    onPick(lat, lon) {
      latitude.value = lat.toFixed(6);
      longitude.value = lon.toFixed(6);
      picker.setMarker("destination", { latitude: lat, longitude: lon, label: "Destination" });
    },
  });
  picker.fitted = true;  // the picker keeps its view when a marker moves
  picker.setView(20, 0, 2);
  const replay = routeReplay(session, () => trackingCode);

  const sendDestination = async (button, destination) => {
    showError(destinationError, null);
    showStatus(destinationSaved, "");
    try {
      const answer = await busy(button, () => session.put(
        `/tracking/admin/payloads/${encodeURIComponent(payloadId)}/destination`, destination ? { destination } : {}));
      showDestination(answer.payload || {});
      showStatus(destinationSaved, destination ? "Destination saved." : "Destination cleared.");
    } catch (failure) {
      showError(destinationError, failure);
    }
  };
  destinationForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const lat = Number(latitude.value.trim()), lon = Number(longitude.value.trim());
    if (latitude.value.trim() === "" || longitude.value.trim() === "" || !Number.isFinite(lat) || !Number.isFinite(lon)) {
      showError(destinationError, new Error("Type the latitude and longitude as numbers in degrees, such as 52.52 and 13.405."));
      return;
    }
    // Out-of-range numbers go to Hermes, which says what is wrong with them.
    sendDestination(saveDestination, { latitude: lat, longitude: lon });
  });
  clearDestination.addEventListener("click", () => sendDestination(clearDestination, null));

  function showDestination(payload) {
    const point = payload.destination;
    if (point) {
      const lat = point.latitude || 0, lon = point.longitude || 0;
      latitude.value = String(lat);
      longitude.value = String(lon);
      picker.setMarker("destination", { latitude: lat, longitude: lon, label: "Destination" });
      picker.setView(lat, lon, 14);
    } else {
      picker.removeMarker("destination");
      const last = payload.lastLocation && payload.lastLocation.point;
      if (last) picker.setView(last.latitude || 0, last.longitude || 0, 13);
    }
    eta.textContent = formatArrival(payload.arrivalEstimate);
    eta.dataset.remainingSeconds = payload.arrivalEstimate ? String(payload.arrivalEstimate.remainingSeconds || 0) : "";
  }

  root.append(
    h("p", {}, h("a", { href: "/admin/payloads", "data-link": true, id: "payload-back" }, "← Back to the list")),
    heading, error,
    h("section", { className: "card" }, facts),
    destinationForm,
    h("section", { className: "card", "aria-labelledby": "payload-history-heading" },
      h("h2", { id: "payload-history-heading" }, "Status history"), history),
    h("section", { className: "card", "aria-labelledby": "payload-receipt-heading" },
      h("h2", { id: "payload-receipt-heading" }, "Receipt"),
      h("p", { className: "hint" }, "Hermes renders it a few seconds after registration."),
      receiptButton, receiptError, receiptLink),
    replay.element);

  let trackingCode = "";
  session.get(`/tracking/admin/payloads/${encodeURIComponent(payloadId)}`).then((answer) => {
    if (!alive) return;
    const payload = answer.payload || {};
    trackingCode = payload.trackingCode;
    heading.textContent = `${payload.title} · ${payload.trackingCode}`;
    facts.replaceChildren(
      h("dt", {}, "Tracking code"), h("dd", {}, h("code", {}, payload.trackingCode)),
      h("dt", {}, "Status"), h("dd", { "data-testid": "payload-detail-status" }, enumLabel(payload.status, STATUS_PREFIX)),
      h("dt", {}, "Description"), h("dd", {}, payload.description || "—"),
      h("dt", {}, "Recipient"), h("dd", { id: "payload-detail-recipient" }, payload.recipientUserId),
      h("dt", {}, "Deliverer"), h("dd", { id: "payload-detail-deliverer" }, payload.delivererId || "Unassigned"),
      h("dt", {}, "Last position"), h("dd", {}, formatPosition(payload.lastLocation && payload.lastLocation.point)),
      h("dt", {}, "Registered"), h("dd", {}, formatTime(payload.createdAt)),
      h("dt", {}, "Updated"), h("dd", {}, formatTime(payload.updatedAt)));
    history.replaceChildren(...(answer.statusHistory || []).map((change) => h("li", { "data-testid": "payload-history-entry", dataset: { status: change.status } },
      h("strong", {}, enumLabel(change.status, STATUS_PREFIX)), " · ", formatTime(change.changedAt),
      change.note ? h("span", { className: "block" }, change.note) : null)));
    receiptButton.disabled = false;
    showDestination(payload);
    // Names instead of ids, where they can be had; the ids stay if not.
    session.get(`/user/admin/users/${payload.recipientUserId}`).then(({ user }) => {
      if (alive && user) facts.querySelector("#payload-detail-recipient").textContent = `${user.displayName} · ${user.email}`;
    }).catch(() => {});
    if (payload.delivererId) {
      loadDeliverers(session).then((fleet) => {
        const deliverer = fleet.find((d) => d.delivererId === payload.delivererId);
        if (alive && deliverer) facts.querySelector("#payload-detail-deliverer").textContent = deliverer.displayName;
      }).catch(() => {});
    }
  }).catch((failure) => {
    if (alive) showError(error, failure);
  });

  receiptButton.addEventListener("click", async () => {
    showError(receiptError, null);
    try {
      const answer = await busy(receiptButton, () => session.get(`/tracking/payload/${encodeURIComponent(trackingCode)}/receipt`));
      const bytes = Uint8Array.from(atob(answer.content || ""), (c) => c.charCodeAt(0));
      if (receiptUrl) URL.revokeObjectURL(receiptUrl);
      receiptUrl = URL.createObjectURL(new Blob([bytes], { type: answer.contentType || "application/pdf" }));
      receiptLink.replaceChildren(h("a", { href: receiptUrl, download: answer.fileName || `receipt-${trackingCode}.pdf`, id: "payload-receipt-link" },
        `Save ${answer.fileName || "the receipt"}`), ` (${Math.ceil(bytes.length / 1024)} KiB, rendered ${formatTime(answer.generatedAt)})`);
      receiptLink.hidden = false;
      receiptLink.querySelector("a").focus();
    } catch (failure) {
      showError(receiptError, failure);
    }
  });

  return () => {
    alive = false;
    picker.destroy();
    replay.stop();
    if (receiptUrl) URL.revokeObjectURL(receiptUrl);
  };
}
