// The paged table that the list views share: one page of rows fetched by page token, a pager that
// walks forward and back, a refresh button, and one alert for load failures.

import { h, showError } from "./dom.js";

/** Rows per page in every admin list. */
export const PAGE_SIZE = 25;

/**
 * Builds a paged table; call `reload()` once it is placed to load its first page.
 *
 * - `prefix` names the elements: `<prefix>-rows`, `-total`, `-previous`, `-next`, `-refresh`;
 *   `errorId` is the id of the alert (`<prefix>-error` unless given).
 * - `table` is `{ id, caption, columns }`; `empty` is the text of the row shown for an empty page.
 * - `fetch(page)` asks the service for one page; `page` holds the `page.pageSize` and `page.pageToken`
 *   query parameters. Its answer carries `pageInfo`.
 * - `items(answer)` returns the entries to draw. It is called only for the answer of the newest load
 *   (a slower, older answer is dropped), so it may also keep data that comes with the page.
 * - `row(item)` draws one `<tr>`.
 *
 * The caller places `card(...)` in its page and calls `stop()` when its view goes away so that late
 * answers are ignored. `body` and `error` are there for views that change rows in place.
 */
export function pagedTable({ prefix, errorId = `${prefix}-error`, table, empty, fetch, items, row }) {
  let alive = true;
  let pageTokens = [""]; // the token of each page shown so far; the last is the current page
  let loadSeq = 0;

  const error = h("p", { id: errorId, className: "error", role: "alert", hidden: true });
  const body = h("tbody", { id: `${prefix}-rows` });
  const total = h("p", { id: `${prefix}-total`, className: "hint" });
  const previous = h("button", { type: "button", id: `${prefix}-previous`, className: "secondary", disabled: true }, "Previous page");
  const next = h("button", { type: "button", id: `${prefix}-next`, className: "secondary", disabled: true }, "Next page");
  const refresh = h("button", { type: "button", id: `${prefix}-refresh`, className: "secondary" }, "Refresh");

  async function load() {
    const seq = ++loadSeq;
    body.setAttribute("aria-busy", "true");
    showError(error, null);
    try {
      const answer = await fetch({ "page.pageSize": PAGE_SIZE, "page.pageToken": pageTokens[pageTokens.length - 1] });
      if (!alive || seq !== loadSeq) return;
      const entries = items(answer) || [];
      body.replaceChildren(...entries.map(row));
      if (entries.length === 0) body.append(h("tr", {}, h("td", { colspan: table.columns.length, className: "empty" }, empty)));
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

  function firstPage() {
    pageTokens = [""];
    load();
  }

  refresh.addEventListener("click", () => load());
  next.addEventListener("click", () => { pageTokens.push(next.dataset.token); load(); });
  previous.addEventListener("click", () => { pageTokens.pop(); load(); });

  const tableWrap = h("div", { className: "table-wrap" }, h("table", { id: table.id, className: "stack" },
    h("caption", { className: "visually-hidden" }, table.caption),
    h("thead", {}, h("tr", {}, table.columns.map((name) => h("th", { scope: "col" }, name)))),
    body));

  /**
   * The list's card: a heading (`heading` with its `headingId`) or a `hint`, a toolbar with `tools`
   * before the refresh button, the error alert followed by any `notes`, the table and the pager.
   */
  function card({ heading, headingId, hint, tools = [], notes = [] }) {
    return h("section", { className: "card", "aria-labelledby": heading ? headingId : null },
      heading ? h("h2", { id: headingId }, heading) : null,
      hint ? h("p", { className: "hint" }, hint) : null,
      h("div", { className: "toolbar" }, tools, refresh),
      error, notes,
      tableWrap,
      h("div", { className: "pager" }, previous, total, next));
  }

  return {
    body, error, card,
    /** Loads the current page (again). */
    reload: load,
    /** Goes back to the first page (after a filter changed or an entry was added) and loads it. */
    firstPage,
    stop() { alive = false; },
  };
}
