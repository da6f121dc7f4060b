// The local mail drop of Iris: the list of received mail, and one message (text, HTML, raw source).

import { h, showError, formatTime } from "../dom.js";

const PAGE_SIZE = 25;

function address(value) {
  if (!value) return "—";
  return value.name ? `${value.name} <${value.address}>` : value.address;
}

export function render(context) {
  const [messageId] = context.params || [];
  return messageId ? renderMessage(context, messageId) : renderList(context);
}

function renderList({ session, root }) {
  let alive = true;
  let pageTokens = [""];
  const error = h("p", { id: "mail-error", className: "error", role: "alert", hidden: true });
  const body = h("tbody", { id: "mail-rows" });
  const total = h("p", { id: "mail-total", className: "hint" });
  const refresh = h("button", { type: "button", id: "mail-refresh", className: "secondary" }, "Refresh");
  const previous = h("button", { type: "button", id: "mail-previous", className: "secondary", disabled: true }, "Previous page");
  const next = h("button", { type: "button", id: "mail-next", className: "secondary", disabled: true }, "Next page");

  let loadSeq = 0;
  async function loadPage() {
    const seq = ++loadSeq;
    body.setAttribute("aria-busy", "true");
    showError(error, null);
    try {
      const answer = await session.get("/notifications/admin/mail-drop", {
        "page.pageSize": PAGE_SIZE, "page.pageToken": pageTokens[pageTokens.length - 1],
      });
      if (!alive || seq !== loadSeq) return;
      const items = answer.entries || [];
      body.replaceChildren(...items.map((entry) => h("tr", { "data-testid": "mail-row", dataset: { messageId: entry.messageId } },
        h("td", { "data-label": "Received" }, formatTime(entry.receivedAt)),
        h("td", { "data-label": "To" }, address(entry.recipient)),
        h("td", { "data-label": "Subject" }, h("a", { href: `/admin/mail/${entry.messageId}`, "data-link": true,
          "data-testid": "mail-open" }, entry.subject || "(no subject)")),
        h("td", { "data-label": "Size" }, `${Math.ceil(Number(entry.sizeBytes || 0) / 1024)} KiB`))));
      if (items.length === 0) body.append(h("tr", {}, h("td", { colspan: 4, className: "empty" }, "The mail drop is empty.")));
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
  refresh.addEventListener("click", () => loadPage());
  next.addEventListener("click", () => { pageTokens.push(next.dataset.token); loadPage(); });
  previous.addEventListener("click", () => { pageTokens.pop(); loadPage(); });

  root.append(
    h("h1", {}, "Mail drop"),
    h("section", { className: "card" },
      h("p", { className: "hint" }, "Mail that Iris wrote into the local mail drop instead of sending it over SMTP."),
      h("div", { className: "toolbar" }, refresh),
      error,
      h("div", { className: "table-wrap" }, h("table", { id: "mail-table", className: "stack" },
        h("caption", { className: "visually-hidden" }, "Received mail, newest first"),
        h("thead", {}, h("tr", {}, ["Received", "To", "Subject", "Size"].map((n) => h("th", { scope: "col" }, n)))),
        body)),
      h("div", { className: "pager" }, previous, total, next)));
  loadPage();
  return () => { alive = false; };
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
