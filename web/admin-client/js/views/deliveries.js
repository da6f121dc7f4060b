// Iris's delivery log: every mail and push notification it was asked to send, newest first, paged.

import { h, formatTime, enumLabel } from "../dom.js";
import { pagedTable } from "../paging.js";

const CHANNELS = ["NOTIFICATION_CHANNEL_MAIL", "NOTIFICATION_CHANNEL_PUSH"];
const STATUSES = ["PENDING", "SENT", "RETRYING", "FAILED", "SKIPPED"].map((s) => `DELIVERY_STATUS_${s}`);

export function render({ session, root }) {
  const channel = h("select", { id: "deliveries-channel" }, h("option", { value: "" }, "Any channel"),
    CHANNELS.map((c) => h("option", { value: c }, enumLabel(c, "NOTIFICATION_CHANNEL_"))));
  const status = h("select", { id: "deliveries-status" }, h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, enumLabel(s, "DELIVERY_STATUS_"))));
  const list = pagedTable({
    prefix: "deliveries",
    table: { id: "deliveries-table", caption: "Notification deliveries, newest first",
      columns: ["When", "Channel", "Status", "Summary", "Recipient", "Attempts"] },
    empty: "Nothing was sent yet.",
    fetch: (page) => session.get("/notifications/admin/deliveries", { ...page, channel: channel.value, status: status.value }),
    items: (answer) => answer.deliveries,
    row: (d) => h("tr", { "data-testid": "delivery-row", dataset: { deliveryId: d.deliveryId } },
      h("td", { "data-label": "When" }, formatTime(d.createdAt)),
      h("td", { "data-label": "Channel" }, enumLabel(d.channel, "NOTIFICATION_CHANNEL_")),
      h("td", { "data-label": "Status" }, enumLabel(d.status, "DELIVERY_STATUS_"),
        d.lastError ? h("span", { className: "hint block" }, d.lastError) : null),
      h("td", { "data-label": "Summary" }, d.summary || "—", d.templateName ? h("span", { className: "hint block" }, `template ${d.templateName}`) : null),
      h("td", { "data-label": "Recipient" }, d.recipientAddress || d.userId || "—"),
      h("td", { "data-label": "Attempts" }, String(d.attemptCount || 0))),
  });
  for (const select of [channel, status]) select.addEventListener("change", () => list.firstPage());

  root.append(
    h("h1", {}, "Delivery log"),
    list.card({
      hint: "Every mail and push notification Iris was asked to send, newest first.",
      tools: [h("label", { for: "deliveries-channel" }, "Channel"), channel, h("label", { for: "deliveries-status" }, "Status"), status],
    }));
  list.reload();
  return list.stop;
}
