// The local mail drop of Iris: the list of received mail, and one message (text, HTML, raw source).

import { h, showError, formatTime } from "../dom.js";
import { pagedTable } from "../paging.js";

function address(value) {
  if (!value) return "—";
  return value.name ? `${value.name} <${value.address}>` : value.address;
}

export function render(context) {
  const [messageId] = context.params || [];
  return messageId ? renderMessage(context, messageId) : renderList(context);
}

function renderList({ session, root }) {
  const list = pagedTable({
    prefix: "mail",
    table: { id: "mail-table", caption: "Received mail, newest first", columns: ["Received", "To", "Subject", "Size"] },
    empty: "The mail drop is empty.",
    fetch: (page) => session.get("/notifications/admin/mail-drop", page),
    items: (answer) => answer.entries,
    row: (entry) => h("tr", { "data-testid": "mail-row", dataset: { messageId: entry.messageId } },
      h("td", { "data-label": "Received" }, formatTime(entry.receivedAt)),
      h("td", { "data-label": "To" }, address(entry.recipient)),
      h("td", { "data-label": "Subject" }, h("a", { href: `/admin/mail/${entry.messageId}`, "data-link": true,
        "data-testid": "mail-open" }, entry.subject || "(no subject)")),
      h("td", { "data-label": "Size" }, `${Math.ceil(Number(entry.sizeBytes || 0) / 1024)} KiB`)),
  });

  root.append(
    h("h1", {}, "Mail drop"),
    list.card({ hint: "Mail that Iris wrote into the local mail drop instead of sending it over SMTP." }));
  list.reload();
  return list.stop;
}

function renderMessage({ session, root }, messageId) {
  let alive = true;
  const error = h("p", { id: "mail-message-error", className: "error", role: "alert", hidden: true });
  const heading = h("h1", { id: "mail-subject" }, "Mail");
  const details = h("dl", { id: "mail-headers", className: "headers" });
  const text = h("pre", { id: "mail-text", className: "mail-text" });
  const htmlSection = h("section", { id: "mail-html-section", hidden: true, "aria-labelledby": "mail-html-heading" });
  const raw = h("pre", { id: "mail-raw", className: "mail-raw" });

  root.append(
    h("p", {}, h("a", { href: "/admin/mail", "data-link": true, id: "mail-back" }, "← Back to the mail drop")),
    heading, error,
    h("article", { className: "card", id: "mail-message" },
      details,
      h("h2", {}, "Text"), text,
      htmlSection,
      h("details", {}, h("summary", {}, "Raw message"), raw)));

  session.get(`/notifications/admin/mail-drop/${encodeURIComponent(messageId)}`).then((answer) => {
    if (!alive) return;
    const message = answer.message || {};
    const entry = message.entry || {};
    heading.textContent = entry.subject || "(no subject)";
    details.replaceChildren(
      h("dt", {}, "From"), h("dd", {}, address(entry.sender)),
      h("dt", {}, "To"), h("dd", {}, address(entry.recipient)),
      h("dt", {}, "Received"), h("dd", {}, formatTime(entry.receivedAt)));
    text.textContent = message.text || "(no text part)";
    raw.textContent = message.raw || "";
    if (message.html) {
      // The HTML part is shown in a sandbox: no scripts, no same-origin access, no forms.
      const frame = h("iframe", { id: "mail-html", title: "The mail's HTML part", sandbox: "", referrerpolicy: "no-referrer" });
      frame.srcdoc = message.html;
      htmlSection.replaceChildren(h("h2", { id: "mail-html-heading" }, "HTML"), frame);
      htmlSection.hidden = false;
    }
  }).catch((failure) => {
    if (alive) showError(error, failure);
  });
  return () => { alive = false; };
}
