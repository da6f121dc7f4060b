// One payload: its fields, its whole status history, and its PDF receipt.

import { h, showError, busy, formatTime, formatPosition, enumLabel } from "../dom.js";
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

  root.append(
    h("p", {}, h("a", { href: "/admin/payloads", "data-link": true, id: "payload-back" }, "← Back to the list")),
    heading, error,
    h("section", { className: "card" }, facts),
    h("section", { className: "card", "aria-labelledby": "payload-history-heading" },
      h("h2", { id: "payload-history-heading" }, "Status history"), history),
    h("section", { className: "card", "aria-labelledby": "payload-receipt-heading" },
      h("h2", { id: "payload-receipt-heading" }, "Receipt"),
      h("p", { className: "hint" }, "Hermes renders it a few seconds after registration."),
      receiptButton, receiptError, receiptLink));

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
    if (receiptUrl) URL.revokeObjectURL(receiptUrl);
  };
}
