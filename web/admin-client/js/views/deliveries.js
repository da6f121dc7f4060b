// Iris's delivery log: every mail and push notification it was asked to send, newest first, paged.

import { h, showError, formatTime, enumLabel } from "../dom.js";

const CHANNELS = ["NOTIFICATION_CHANNEL_MAIL", "NOTIFICATION_CHANNEL_PUSH"];
const STATUSES = ["PENDING", "SENT", "RETRYING", "FAILED", "SKIPPED"].map((s) => `DELIVERY_STATUS_${s}`);
const PAGE_SIZE = 25;

export function render({ session, root }) {
  let alive = true;
  let pageTokens = [""];

  const channel = h("select", { id: "deliveries-channel" }, h("option", { value: "" }, "Any channel"),
    CHANNELS.map((c) => h("option", { value: c }, enumLabel(c, "NOTIFICATION_CHANNEL_"))));
  const status = h("select", { id: "deliveries-status" }, h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, enumLabel(s, "DELIVERY_STATUS_"))));
  const refresh = h("button", { type: "button", id: "deliveries-refresh", className: "secondary" }, "Refresh");
  const error = h("p", { id: "deliveries-error", className: "error", role: "alert", hidden: true });
  const body = h("tbody", { id: "deliveries-rows" });
  const total = h("p", { id: "deliveries-total", className: "hint" });
  const previous = h("button", { type: "button", id: "deliveries-previous", className: "secondary", disabled: true }, "Previous page");
  const next = h("button", { type: "button", id: "deliveries-next", className: "secondary", disabled: true }, "Next page");

  let loadSeq = 0;
  async function loadPage() {
    const seq = ++loadSeq;
    body.setAttribute("aria-busy", "true");
    showError(error, null);
    try {
      const answer = await session.get("/notifications/admin/deliveries", {
        "page.pageSize": PAGE_SIZE, "page.pageToken": pageTokens[pageTokens.length - 1],
        channel: channel.value, status: status.value,
      });
      if (!alive || seq !== loadSeq) return;
      const items = answer.deliveries || [];
      body.replaceChildren(...items.map((d) => h("tr", { "data-testid": "delivery-row", dataset: { deliveryId: d.deliveryId } },
        h("td", { "data-label": "When" }, formatTime(d.createdAt)),
        h("td", { "data-label": "Channel" }, enumLabel(d.channel, "NOTIFICATION_CHANNEL_")),
        h("td", { "data-label": "Status" }, enumLabel(d.status, "DELIVERY_STATUS_"),
          d.lastError ? h("span", { className: "hint block" }, d.lastError) : null),
        h("td", { "data-label": "Summary" }, d.summary || "—", d.templateName ? h("span", { className: "hint block" }, `template ${d.templateName}`) : null),
        h("td", { "data-label": "Recipient" }, d.recipientAddress || d.userId || "—"),
        h("td", { "data-label": "Attempts" }, String(d.attemptCount || 0)))));
      if (items.length === 0) body.append(h("tr", {}, h("td", { colspan: 6, className: "empty" }, "Nothing was sent yet.")));
      const info = answer.pageInfo || {};
      total.textContent = `${info.totalSize || 0} in all · page ${pageTokens.length}`;
      next.disabled = !info.nextPageToken;
      next.dataset.token = info.nextPageToken || "";
      previous.disabled = pageTokens.length < 2;
    } catch (failure) {
      if (alive && seq === loadSeq) showError(error, failure);
    } finally {
      if (seq === loadSeq) body.removeAttribute("aria-busy");
    }
  }

  for (const select of [channel, status]) select.addEventListener("change", () => { pageTokens = [""]; loadPage(); });
  refresh.addEventListener("click", () => loadPage());
  next.addEventListener("click", () => { pageTokens.push(next.dataset.token); loadPage(); });
  previous.addEventListener("click", () => { pageTokens.pop(); loadPage(); });

  root.append(
    h("h1", {}, "Delivery log"),
    h("section", { className: "card" },
      h("p", { className: "hint" }, "Every mail and push notification Iris was asked to send, newest first."),
      h("div", { className: "toolbar" },
        h("label", { for: "deliveries-channel" }, "Channel"), channel,
        h("label", { for: "deliveries-status" }, "Status"), status, refresh),
      error,
      h("div", { className: "table-wrap" }, h("table", { id: "deliveries-table", className: "stack" },
        h("caption", { className: "visually-hidden" }, "Notification deliveries, newest first"),
        h("thead", {}, h("tr", {}, ["When", "Channel", "Status", "Summary", "Recipient", "Attempts"].map((n) => h("th", { scope: "col" }, n)))),
        body)),
      h("div", { className: "pager" }, previous, total, next)));
  loadPage();
  return () => { alive = false; };
}
