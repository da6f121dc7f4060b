// Small DOM helpers shared by the views: element building, formatting, and error display.

/**
 * Creates an element: h("button", {type: "button", onclick: fn, dataset: {id}}, "text", child...).
 * Attributes whose value is null, undefined or false are left out.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "className") {
      element.className = value;
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Shows an error (ApiError or any Error) in a `role="alert"` element, or clears it with null. */
export function showError(element, error) {
  if (!error) {
    element.textContent = "";
    element.hidden = true;
    return;
  }
  element.textContent = error.display || error.message || String(error);
  element.hidden = false;
}

/** Shows a short success note in a `role="status"` element. */
export function showStatus(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatTime(timestamp) {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : timeFormat.format(date);
}

/** `DELIVERY_PAYLOAD_STATUS_IN_TRANSIT` -> `In transit`. */
export function enumLabel(value, prefix) {
  if (!value) return "—";
  const text = value.startsWith(prefix) ? value.slice(prefix.length) : value;
  const words = text.toLowerCase().replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** The time of day for today's moments, the date and time otherwise. */
export function formatRecent(timestamp) {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return timestamp;
  return date.toDateString() === new Date().toDateString() ? clockFormat.format(date) : timeFormat.format(date);
}

export function formatPosition(point) {
  if (!point) return "—";
  const lat = point.latitude || 0, lon = point.longitude || 0;
  return `${Math.abs(lat).toFixed(5)}°${lat >= 0 ? "N" : "S"}, ${Math.abs(lon).toFixed(5)}°${lon >= 0 ? "E" : "W"}`;
}

export function formatSpeed(metersPerSecond) {
  if (!metersPerSecond) return "—";
  return `${(metersPerSecond * 3.6).toFixed(1)} km/h`;
}

/** A button that shows a busy state while `action` runs; errors go to `errorElement`. */
export async function busy(button, action) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** An arrival estimate (Hermes' ArrivalEstimate) in words: "in about 4 min (12:31:05), 2.40 km to go". */
export function formatArrival(estimate) {
  if (!estimate || !estimate.estimatedArrivalAt) return "No estimate (no destination, no fix yet, or standing still)";
  const minutes = Math.max(0, Math.round((estimate.remainingSeconds || 0) / 60));
  const distance = estimate.remainingDistanceMeters || 0;
  const away = distance >= 1000 ? `${(distance / 1000).toFixed(2)} km` : `${Math.round(distance)} m`;
  return `in about ${minutes} min (${formatRecent(estimate.estimatedArrivalAt)}), ${away} to go`;
}
