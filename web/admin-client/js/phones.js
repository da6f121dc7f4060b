// Deliverers' phones: register a phone that reports with the OsmAnd protocol (Traccar Client,
// OsmAnd), show the server URL and the device identifier to type into it (the identifier only
// once: Hermes keeps a hash), list a deliverer's phones, and revoke one.

import { h, showError, showStatus, busy, formatTime } from "./dom.js";
import { loadDeliverers } from "./views/payloads.js";

/** The OsmAnd app's online-tracking address for `identifier` (its own URL template). */
export function osmAndTemplate(serverUrl, identifier) {
  return `${serverUrl}?id=${identifier}&lat={0}&lon={1}&timestamp={2}&hdop={3}&altitude={4}&speed={5}&bearing={6}`;
}

/** The phones card; returns { element, reload }. */
export function phonesCard(session, { announce }) {
  const deliverer = h("select", { id: "device-deliverer", required: true }, h("option", { value: "" }, "Choose a deliverer"));
  const label = h("input", { id: "device-label", autocomplete: "off", required: true, placeholder: "Dana's phone" });
  const submit = h("button", { type: "submit", id: "device-submit" }, "Register phone");
  const error = h("p", { id: "device-error", className: "error", role: "alert", hidden: true });
  const setup = h("div", { id: "device-setup", className: "setup", hidden: true });
  const listError = h("p", { id: "device-list-error", className: "error", role: "alert", hidden: true });
  const list = h("ul", { id: "device-list", className: "plain" });
  const element = h("form", { id: "device-form", className: "card", "aria-labelledby": "device-heading" },
    h("h2", { id: "device-heading" }, "Phones"),
    h("p", { className: "hint" },
      "A deliverer's phone can report positions with the free Traccar Client app or OsmAnd. Register it here, " +
      "then type the server URL and the device identifier shown into the app."),
    h("div", { className: "row" },
      h("div", { className: "field" }, h("label", { for: "device-deliverer" }, "Deliverer"), deliverer),
      h("div", { className: "field" }, h("label", { for: "device-label" }, "Name of the phone"), label)),
    error,
    h("div", { className: "actions" }, submit),
    setup,
    h("h3", {}, "Registered phones of this deliverer"), listError, list);

  const showPhones = async () => {
    showError(listError, null);
    if (!deliverer.value) {
      list.replaceChildren(h("li", { className: "hint" }, "Choose a deliverer to see their phones."));
      return;
    }
    try {
      const answer = await session.get(`/tracking/admin/deliverers/${encodeURIComponent(deliverer.value)}/devices`);
      const devices = answer.devices || [];
      list.replaceChildren(...(devices.length ? devices.map((device) => {
        const revoke = h("button", { type: "button", className: "secondary", "data-testid": "device-revoke",
          disabled: Boolean(device.revokedAt) }, device.revokedAt ? "Revoked" : "Revoke");
        revoke.addEventListener("click", async () => {
          showError(listError, null);
          try {
            await busy(revoke, () => session.delete(`/tracking/admin/devices/${encodeURIComponent(device.deviceId)}`));
            announce(`Revoked ${device.label}.`);
            showPhones();
          } catch (failure) {
            showError(listError, failure);
          }
        });
        return h("li", { "data-testid": "device-row", dataset: { deviceId: device.deviceId, revoked: device.revokedAt ? "true" : "false" } },
          h("strong", {}, device.label), ` · identifier ${device.identifierHint}… · registered ${formatTime(device.createdAt)}`,
          ` · last report ${formatTime(device.lastReportAt)}`, device.revokedAt ? ` · revoked ${formatTime(device.revokedAt)}` : "",
          " ", revoke);
      }) : [h("li", { className: "hint" }, "No phones yet.")]));
    } catch (failure) {
      showError(listError, failure);
    }
  };

  deliverer.addEventListener("change", () => {
    setup.hidden = true;
    showPhones();
  });

  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, null);
    setup.hidden = true;
    try {
      await busy(submit, async () => {
        const answer = await session.post(`/tracking/admin/deliverers/${encodeURIComponent(deliverer.value)}/devices`,
          { label: label.value });
        const identifier = answer.deviceIdentifier;
        setup.replaceChildren(
          h("p", { className: "success", role: "status" },
            `Registered ${answer.device.label}. Type these into the phone's app now: the identifier is shown only this once.`),
          h("dl", { className: "headers" },
            h("dt", {}, "Server URL (Traccar Client)"), h("dd", {}, h("code", { id: "device-server-url" }, answer.serverUrl)),
            h("dt", {}, "Device identifier"), h("dd", {}, h("code", { id: "device-identifier" }, identifier)),
            h("dt", {}, "OsmAnd online tracking address"),
            h("dd", {}, h("code", { id: "device-osmand-url" }, osmAndTemplate(answer.serverUrl, identifier)))));
        setup.hidden = false;
        label.value = "";
        announce(`Registered ${answer.device.label}.`);
        await showPhones();
      });
    } catch (failure) {
      showError(error, failure);
    }
  });

  return {
    element,
    async reload() {
      const chosen = deliverer.value;
      const fleet = await loadDeliverers(session);
      deliverer.replaceChildren(h("option", { value: "" }, "Choose a deliverer"),
        ...fleet.map((d) => h("option", { value: d.delivererId, selected: d.delivererId === chosen }, d.displayName)));
      await showPhones();
    },
  };
}
