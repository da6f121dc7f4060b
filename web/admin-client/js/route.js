// Route replay: a payload's path from Hermes (GeoJSON, GET /tracking/payload/<code>/route) drawn on
// a map, with a time slider that moves a marker along it fix by fix, and a play button.

import { h, showError, busy, formatTime } from "./dom.js";
import { SlippyMap } from "./map.js";

/** The replay card for the payload whose tracking code `codeOf()` returns; returns { element, stop }. */
export function routeReplay(session, codeOf) {
  const load = h("button", { type: "button", id: "route-load", className: "secondary" }, "Show the route");
  const error = h("p", { id: "route-error", className: "error", role: "alert", hidden: true });
  const box = h("div", { id: "route-map", className: "map route-map", hidden: true });
  const slider = h("input", { type: "range", id: "route-slider", min: "0", max: "0", value: "0", step: "1",
    "aria-label": "Replay the route: the fix shown", disabled: true });
  const play = h("button", { type: "button", id: "route-play", className: "secondary", disabled: true }, "Play");
  const time = h("p", { id: "route-time", role: "status" });
  const controls = h("div", { className: "route-controls", hidden: true }, slider, play, time);
  const element = h("section", { className: "card", "aria-labelledby": "route-heading" },
    h("h2", { id: "route-heading" }, "Route"),
    h("p", { className: "hint" }, "The path the stuff travelled, from the fixes its deliverer reported."),
    load, error, box, controls);

  let map = null;
  let coordinates = [];
  let times = [];
  let timer = 0;

  const show = (index) => {
    const [longitude, latitude] = coordinates[index];
    map.setMarker("replay", { latitude, longitude, label: `${index + 1}`, title: `Fix ${index + 1} at ${formatTime(times[index])}` });
    slider.value = String(index);
    slider.setAttribute("aria-valuetext", formatTime(times[index]));
    time.textContent = `Fix ${index + 1} of ${coordinates.length} · ${formatTime(times[index])}`;
    time.dataset.index = String(index);
    time.dataset.time = times[index] || "";
  };
  const stopPlaying = () => {
    clearInterval(timer);
    timer = 0;
    play.textContent = "Play";
  };

  load.addEventListener("click", async () => {
    showError(error, null);
    try {
      const feature = await busy(load, () => session.get(`/tracking/payload/${encodeURIComponent(codeOf())}/route`));
      coordinates = (feature.geometry && feature.geometry.coordinates) || [];
      times = (feature.properties && feature.properties.coordTimes) || [];
      box.hidden = false;
      controls.hidden = false;
      if (!map) map = new SlippyMap(box, { canvasId: "route-map-canvas", label: "Map of the route. Arrow keys pan, plus and minus zoom." });
      map.setPath(coordinates.map(([longitude, latitude]) => ({ latitude, longitude })));
      slider.max = String(Math.max(0, coordinates.length - 1));
      slider.disabled = play.disabled = coordinates.length === 0;
      map.fitted = false;
      if (coordinates.length) show(0);
      map.fit();
      load.textContent = "Reload the route";
    } catch (failure) {
      showError(error, failure);
    }
  });
  slider.addEventListener("input", () => {
    stopPlaying();
    show(Number(slider.value));
  });
  play.addEventListener("click", () => {
    if (timer) return stopPlaying();
    play.textContent = "Pause";
    if (Number(slider.value) >= coordinates.length - 1) show(0);
    timer = setInterval(() => {
      const next = Math.min(Number(slider.value) + 1, coordinates.length - 1);
      show(next);
      if (next >= coordinates.length - 1) stopPlaying();
    }, 400);
  });

  return {
    element,
    stop() {
      stopPlaying();
      if (map) map.destroy();
    },
  };
}
