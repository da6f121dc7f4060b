// Finds an Asgardian user through GET /user/admin/users and lets the admin choose one. Used for a
// payload's recipient and for the user a deliverer logs in as.

import { h, showError, busy, enumLabel } from "./dom.js";

/**
 * `prefix` names the ids (`${prefix}-query`, `${prefix}-search`, `${prefix}-results`,
 * `${prefix}-chosen`, `${prefix}-error`). `onChoose(user)` is called with the chosen user.
 */
export function userPicker(session, { prefix, legend, role, onChoose = () => {} }) {
  let chosen = null;
  const query = h("input", { id: `${prefix}-query`, type: "search", autocomplete: "off",
    "aria-describedby": `${prefix}-hint` });
  const search = h("button", { type: "button", id: `${prefix}-search`, className: "secondary" }, "Find");
  const results = h("ul", { id: `${prefix}-results`, className: "choices", "aria-label": "Matching users" });
  const chosenText = h("p", { id: `${prefix}-chosen`, className: "chosen", role: "status" }, "No user chosen yet.");
  const error = h("p", { id: `${prefix}-error`, className: "error", role: "alert", hidden: true });

  function describe(user) {
    const roles = (user.roles || []).map((value) => enumLabel(value, "ROLE_")).join(", ");
    return `${user.displayName || "(no name)"} · ${user.email || "(no email)"}${roles ? ` · ${roles}` : ""}`;
  }

  function choose(user) {
    chosen = user;
    chosenText.textContent = user ? `Chosen: ${describe(user)}` : "No user chosen yet.";
    chosenText.dataset.userId = user ? user.userId : "";
    results.replaceChildren();
    onChoose(user);
  }

  async function find() {
    showError(error, null);
    await busy(search, async () => {
      try {
        const answer = await session.get("/user/admin/users", {
          query: query.value.trim(), role, "page.pageSize": 20,
        });
        const users = answer.users || [];
        results.replaceChildren(...users.map((user) =>
          h("li", {}, h("button", { type: "button", className: "choice", "data-testid": "user-choice",
            dataset: { userId: user.userId }, onclick: () => {
              choose(user);
              query.focus();
            } }, describe(user)))));
        if (users.length === 0) results.append(h("li", { className: "empty" }, "No user matches."));
      } catch (failure) {
        showError(error, failure);
      }
    });
  }

  search.addEventListener("click", find);
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      find();
    }
  });

  const element = h("fieldset", { className: "picker", id: `${prefix}-picker` },
    h("legend", {}, legend),
    h("label", { for: `${prefix}-query` }, "Find a user by email or name"),
    h("p", { id: `${prefix}-hint`, className: "hint" }, "Press Enter or Find; leave it empty to list the newest accounts."),
    h("div", { className: "inline" }, query, search),
    results, chosenText, error);

  return {
    element,
    get user() {
      return chosen;
    },
    set user(user) {
      choose(user);
    },
    reset() {
      query.value = "";
      choose(null);
      showError(error, null);
    },
  };
}
