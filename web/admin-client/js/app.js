// The admin client's shell: the login page, the navigation, and a History API router for the views
// under /admin/.

import { Session } from "./api.js";
import { h, showError, busy } from "./dom.js";
import * as live from "./views/live.js";
import * as payloads from "./views/payloads.js";
import * as payload from "./views/payload.js";
import * as deliverers from "./views/deliverers.js";
import * as deliveries from "./views/deliveries.js";
import * as mail from "./views/mail.js";

const BASE = "/admin/";
const ROUTES = [
  { pattern: /^(live)?$/, view: live, nav: "nav-live", title: "Live map" },
  { pattern: /^payloads$/, view: payloads, nav: "nav-payloads", title: "Stuff" },
  { pattern: /^payloads\/([0-9a-fA-F-]+)$/, view: payload, nav: "nav-payloads", title: "Stuff" },
  { pattern: /^deliverers$/, view: deliverers, nav: "nav-deliverers", title: "Deliverers" },
  { pattern: /^deliveries$/, view: deliveries, nav: "nav-deliveries", title: "Delivery log" },
  { pattern: /^mail(?:\/([0-9a-fA-F-]+))?$/, view: mail, nav: "nav-mail", title: "Mail drop" },
];

const session = new Session();
const main = document.getElementById("main");
let cleanup = null;
let loginNotice = "";

function routeOf(pathname) {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length).replace(/\/+$/, "") : "";
  for (const route of ROUTES) {
    const match = rest.match(route.pattern);
    if (match) return { ...route, params: match.slice(1) };
  }
  return null;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

function announce(text) {
  const announcer = document.getElementById("announcer");
  announcer.textContent = "";
  requestAnimationFrame(() => {
    announcer.textContent = text;
  });
}

function teardown() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // A view that fails to clean up must not block the next one.
    }
  }
  cleanup = null;
}

function render() {
  teardown();
  main.replaceChildren();
  const signedIn = session.signedIn;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("account").hidden = !signedIn;
  if (!signedIn) {
    renderLogin();
    return;
  }
  showAccountName();
  const route = routeOf(location.pathname);
  for (const link of document.querySelectorAll("#nav a")) link.removeAttribute("aria-current");
  if (!route) {
    main.append(h("h1", {}, "Not found"),
      h("p", { id: "not-found" }, "There is no page here. ", h("a", { href: BASE, "data-link": true }, "Go to the live map.")));
    document.title = "Not found · Courier admin";
    return;
  }
  document.getElementById(route.nav).setAttribute("aria-current", "page");
  document.title = `${route.title} · Courier admin`;
  cleanup = route.view.render({ session, root: main, navigate, announce, params: route.params }) || null;
}

let accountFor = null;

/** Shows whom the session speaks for, read once per session from the caller's profile. */
function showAccountName() {
  const label = document.getElementById("account-name");
  const userId = session.principal.userId;
  if (accountFor === userId) return;
  accountFor = userId;
  label.textContent = "Signed in";
  session.get("/user/profile").then((answer) => {
    if (accountFor === userId && answer.user) label.textContent = `Signed in as ${answer.user.displayName || answer.user.email}`;
  }).catch(() => {});
}

function renderLogin() {
  accountFor = null;
  document.title = "Log in · Courier admin";
  const error = h("p", { id: "login-error", className: "error", role: "alert", hidden: true });
  const notice = h("p", { id: "login-notice", className: "notice", role: "status", hidden: !loginNotice }, loginNotice);
  const email = h("input", { id: "login-email", name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form", { id: "login-form", className: "card narrow", novalidate: false },
    h("h1", {}, "Courier admin"),
    h("p", {}, "Log in with an administrator account."),
    notice,
    h("div", { className: "field" }, h("label", { for: "login-email" }, "Email"), email),
    h("div", { className: "field" }, h("label", { for: "login-password" }, "Password"), password),
    error,
    h("div", { className: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, null);
    try {
      await busy(submit, () => session.login(email.value.trim(), password.value));
      loginNotice = "";
      const target = routeOf(location.pathname) ? location.pathname : `${BASE}live`;
      navigate(target, { replace: true });
      announce("Logged in.");
    } catch (failure) {
      showError(error, failure);
      password.select();
    }
  });
  main.append(form);
  email.focus();
}

session.onEnd((reason) => {
  loginNotice = reason || "";
  render();
});

document.getElementById("logout-button").addEventListener("click", async () => {
  await session.logout();
});

// Links marked data-link stay in the app.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
  main.focus({ preventScroll: true });
});

window.addEventListener("popstate", render);
render();
