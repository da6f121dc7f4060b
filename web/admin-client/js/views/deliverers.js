// Deliverers: register an Asgardian user as a deliverer (granting the deliverer role first when the
// user lacks it, since Hermes requires it), list the fleet, and register deliverers' phones.

import { h, showError, showStatus, busy, formatTime, formatPosition, enumLabel } from "../dom.js";
import { pagedTable } from "../paging.js";
import { userPicker } from "../userpicker.js";
import { phonesCard } from "../phones.js";

const VEHICLE_PREFIX = "VEHICLE_KIND_";
const VEHICLES = ["ON_FOOT", "BICYCLE", "CARGO_BIKE", "MOTORCYCLE", "CAR", "VAN", "TRUCK"].map((v) => VEHICLE_PREFIX + v);
const DELIVERER_ROLE = "ROLE_DELIVERER";

export function render({ session, root, announce }) {
  const displayName = h("input", { id: "deliverer-name", name: "displayName", autocomplete: "off", required: true });
  const grant = h("input", { id: "deliverer-grant-role", type: "checkbox", checked: true });
  const grantField = h("div", { className: "field checkbox", id: "deliverer-grant-field", hidden: true },
    grant, h("label", { for: "deliverer-grant-role" }, "Give this user the deliverer role first (Hermes needs it)"));
  const user = userPicker(session, {
    prefix: "deliverer-user",
    legend: "User who logs in as the deliverer",
    onChoose(chosen) {
      if (chosen && !displayName.value) displayName.value = chosen.displayName || "";
      grantField.hidden = !chosen || (chosen.roles || []).includes(DELIVERER_ROLE);
    },
  });
  const vehicle = h("select", { id: "deliverer-vehicle" },
    VEHICLES.map((kind) => h("option", { value: kind, selected: kind === "VEHICLE_KIND_BICYCLE" }, enumLabel(kind, VEHICLE_PREFIX))));
  const plate = h("input", { id: "deliverer-plate", autocomplete: "off" });
  const submit = h("button", { type: "submit", id: "deliverer-submit" }, "Register deliverer");
  const formError = h("p", { id: "deliverer-error", className: "error", role: "alert", hidden: true });
  const created = h("p", { id: "deliverer-created", className: "success", role: "status", hidden: true });
  const form = h("form", { id: "deliverer-form", className: "card" },
    h("h2", {}, "Register a deliverer"),
    user.element, grantField,
    h("div", { className: "field" }, h("label", { for: "deliverer-name" }, "Name dispatchers see"), displayName),
    h("div", { className: "row" },
      h("div", { className: "field" }, h("label", { for: "deliverer-vehicle" }, "Vehicle"), vehicle),
      h("div", { className: "field" }, h("label", { for: "deliverer-plate" }, "Plate (optional)"), plate)),
    formError, created,
    h("div", { className: "actions" }, submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(formError, null);
    showStatus(created, "");
    const chosen = user.user;
    try {
      await busy(submit, async () => {
        if (chosen && !grantField.hidden && grant.checked) {
          const roles = [...new Set([...(chosen.roles || []), DELIVERER_ROLE])];
          const answer = await session.put(`/user/admin/users/${chosen.userId}/roles`, { roles });
          user.user = answer.user;
        }
        const answer = await session.post("/tracking/admin/deliverers", {
          userId: chosen ? chosen.userId : "",
          displayName: displayName.value,
          vehicle: { kind: vehicle.value, plate: plate.value },
        });
        const deliverer = answer.deliverer;
        showStatus(created, `Registered ${deliverer.displayName} as a deliverer.`);
        created.dataset.delivererId = deliverer.delivererId;
        announce(`Registered ${deliverer.displayName}.`);
        displayName.value = "";
        plate.value = "";
        user.reset();
        grantField.hidden = true;
        list.firstPage();
        phones.reload().catch(() => {});
      });
    } catch (failure) {
      showError(formError, failure);
    }
  });

  const list = pagedTable({
    prefix: "deliverer",
    errorId: "deliverer-list-error",
    table: { id: "deliverer-table", caption: "Deliverers by name",
      columns: ["Name", "Vehicle", "Active stuff", "Last position", "Last seen", "Registered"] },
    empty: "No deliverers yet.",
    fetch: (page) => session.get("/tracking/admin/deliverers", page),
    items: (answer) => answer.deliverers,
    row: (d) => h("tr", { "data-testid": "deliverer-row", dataset: { delivererId: d.delivererId, userId: d.userId } },
      h("td", { "data-label": "Name" }, d.displayName),
      h("td", { "data-label": "Vehicle" }, `${enumLabel(d.vehicle && d.vehicle.kind, VEHICLE_PREFIX)}${d.vehicle && d.vehicle.plate ? ` · ${d.vehicle.plate}` : ""}`),
      h("td", { "data-label": "Active stuff" }, String(d.activePayloadCount || 0)),
      h("td", { "data-label": "Last position" }, formatPosition(d.lastLocation && d.lastLocation.point)),
      h("td", { "data-label": "Last seen" }, formatTime(d.lastSeenAt)),
      h("td", { "data-label": "Registered" }, formatTime(d.createdAt))),
  });

  const phones = phonesCard(session, { announce });
  root.append(
    h("h1", {}, "Deliverers"),
    form,
    list.card({ heading: "The fleet", headingId: "deliverer-list-heading" }),
    phones.element);
  list.reload();
  phones.reload().catch(() => {});
  return list.stop;
}
