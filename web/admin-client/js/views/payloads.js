// Stuff (delivery payloads): register one, list them by status, move them through their statuses
// and assign them to deliverers.

import { h, showError, showStatus, busy, formatTime, enumLabel } from "../dom.js";
import { pagedTable } from "../paging.js";
import { userPicker } from "../userpicker.js";

const STATUS_PREFIX = "DELIVERY_PAYLOAD_STATUS_";
export const STATUSES = ["REGISTERED", "PICKED_UP", "IN_TRANSIT", "DELIVERED", "FAILED"].map((s) => STATUS_PREFIX + s);

/** Every deliverer (for the assignment choices), by id. */
export async function loadDeliverers(session) {
  const all = [];
  let token = "";
  do {
    const answer = await session.get("/tracking/admin/deliverers", { "page.pageSize": 500, "page.pageToken": token });
    all.push(...(answer.deliverers || []));
    token = answer.pageInfo && answer.pageInfo.nextPageToken;
  } while (token && all.length < 5000);
  return all;
}

export function render({ session, root, announce }) {
  let deliverers = [];
  let requestId = crypto.randomUUID();

  // ---- registration form
  const title = h("input", { id: "payload-title", name: "title", autocomplete: "off", required: true });
  const description = h("textarea", { id: "payload-description", name: "description", rows: 3 });
  const recipient = userPicker(session, { prefix: "payload-recipient", legend: "Recipient" });
  const submit = h("button", { type: "submit", id: "payload-submit" }, "Register stuff");
  const formError = h("p", { id: "payload-error", className: "error", role: "alert", hidden: true });
  const created = h("p", { id: "payload-created", className: "success", role: "status", hidden: true });
  const form = h("form", { id: "payload-form", className: "card" },
    h("h2", {}, "Register stuff"),
    h("div", { className: "field" }, h("label", { for: "payload-title" }, "Title"), title,
      h("p", { className: "hint" }, "What is delivered, 1 to 100 characters.")),
    h("div", { className: "field" }, h("label", { for: "payload-description" }, "Description (optional)"), description),
    recipient.element,
    formError, created,
    h("div", { className: "actions" }, submit));
  for (const input of [title, description]) input.addEventListener("input", () => { requestId = crypto.randomUUID(); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(formError, null);
    showStatus(created, "");
    try {
      const answer = await busy(submit, () => session.post("/tracking/admin/payloads", {
        title: title.value,
        description: description.value,
        recipientUserId: recipient.user ? recipient.user.userId : "",
        requestId,
      }));
      const payload = answer.payload;
      created.replaceChildren("Registered “", payload.title, "” with tracking code ",
        h("strong", { id: "payload-created-code", "data-testid": "payload-tracking-code" }, payload.trackingCode), ".");
      created.hidden = false;
      announce(`Registered with tracking code ${payload.trackingCode}.`);
      title.value = "";
      description.value = "";
      recipient.reset();
      requestId = crypto.randomUUID();
      list.firstPage();
    } catch (failure) {
      showError(formError, failure);
    }
  });

  // ---- list
  const filter = h("select", { id: "payload-filter-status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((status) => h("option", { value: status }, enumLabel(status, STATUS_PREFIX))));
  const listStatus = h("p", { id: "payload-list-status", className: "success", role: "status", hidden: true });
  const list = pagedTable({
    prefix: "payload",
    errorId: "payload-list-error",
    table: { id: "payload-table", caption: "Registered stuff, newest first",
      columns: ["Tracking code", "Title", "Status", "Deliverer", "Updated", "Change status", "Assign"] },
    empty: "No stuff here yet.",
    // The deliverers come along with each page: the rows name them and offer them for assignment.
    fetch: async (page) => {
      const [answer, fleet] = await Promise.all([
        session.get("/tracking/admin/payloads", { ...page, status: filter.value }),
        loadDeliverers(session),
      ]);
      return { ...answer, fleet };
    },
    items: (answer) => {
      deliverers = answer.fleet;
      return answer.payloads;
    },
    row,
  });

  function delivererName(id) {
    if (!id) return "Unassigned";
    const deliverer = deliverers.find((d) => d.delivererId === id);
    return deliverer ? deliverer.displayName : id;
  }

  function row(payload) {
    const id = payload.deliveryPayloadId;
    const statusSelect = h("select", { id: `status-${id}`, "data-testid": "payload-status-select", "aria-label": `New status for ${payload.trackingCode}` },
      STATUSES.map((status) => h("option", { value: status, selected: status === payload.status }, enumLabel(status, STATUS_PREFIX))));
    const statusButton = h("button", { type: "button", className: "secondary", "data-testid": "payload-status-apply" }, "Apply");
    statusButton.addEventListener("click", () => change(statusButton, `/tracking/admin/payloads/${id}/status`,
      { status: statusSelect.value }, (p) => `${p.trackingCode} is now ${enumLabel(p.status, STATUS_PREFIX).toLowerCase()}.`));
    const assignSelect = h("select", { id: `assign-${id}`, "data-testid": "payload-assign-select", "aria-label": `Deliverer for ${payload.trackingCode}` },
      h("option", { value: "" }, "Unassigned"),
      deliverers.map((d) => h("option", { value: d.delivererId, selected: d.delivererId === payload.delivererId }, d.displayName)));
    const assignButton = h("button", { type: "button", className: "secondary", "data-testid": "payload-assign-apply" }, "Assign");
    assignButton.addEventListener("click", () => change(assignButton, `/tracking/admin/payloads/${id}/deliverer`,
      { delivererId: assignSelect.value }, (p) => `${p.trackingCode} is ${p.delivererId ? `assigned to ${delivererName(p.delivererId)}` : "unassigned"}.`));
    return h("tr", { dataset: { payloadId: id, trackingCode: payload.trackingCode }, "data-testid": "payload-row" },
      h("td", { "data-label": "Tracking code" }, h("a", { href: `/admin/payloads/${id}`, "data-link": true,
        "data-testid": "payload-open", "aria-label": `${payload.trackingCode}: details and history` }, h("code", {}, payload.trackingCode))),
      h("td", { "data-label": "Title" }, payload.title),
      h("td", { "data-label": "Status", "data-testid": "payload-status" }, enumLabel(payload.status, STATUS_PREFIX)),
      h("td", { "data-label": "Deliverer", "data-testid": "payload-deliverer" }, delivererName(payload.delivererId)),
      h("td", { "data-label": "Updated" }, formatTime(payload.updatedAt)),
      h("td", { "data-label": "Change status" }, h("div", { className: "inline" }, statusSelect, statusButton)),
      h("td", { "data-label": "Assign" }, h("div", { className: "inline" }, assignSelect, assignButton)));
  }

  async function change(button, path, bodyValue, describe) {
    showError(list.error, null);
    showStatus(listStatus, "");
    try {
      const answer = await busy(button, () => session.put(path, bodyValue));
      const text = describe(answer.payload);
      showStatus(listStatus, text);
      announce(text);
      const old = list.body.querySelector(`tr[data-payload-id="${answer.payload.deliveryPayloadId}"]`);
      if (old) old.replaceWith(row(answer.payload));
    } catch (failure) {
      showError(list.error, failure);
    }
  }

  filter.addEventListener("change", () => list.firstPage());

  root.append(
    h("h1", {}, "Stuff"),
    form,
    list.card({
      heading: "Registered stuff", headingId: "payload-list-heading",
      tools: [h("label", { for: "payload-filter-status" }, "Status"), filter],
      notes: [listStatus],
    }));
  list.reload();
  return list.stop;
}
