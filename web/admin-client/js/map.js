// A small slippy map: OpenStreetMap raster tiles in Web Mercator on a canvas, with a coordinate grid
// (labelled latitude and longitude lines) wherever tiles cannot be loaded, and deliverer markers as
// buttons laid over the canvas. Pan by dragging (mouse or one finger), zoom with the wheel, a pinch,
// the buttons, or the keyboard (arrows pan, + and - zoom, 0 fits every marker).

const TILE_SIZE = 256;
const MIN_ZOOM = 1;
const MAX_ZOOM = 19;
const TILE_URL = (z, x, y) => `https://tile.openstreetmap.org/${z}/${x}/${y}.png`;
const MAX_LATITUDE = 85.0511287798;
const GRID_STEPS = [45, 30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001,
  0.0005, 0.0002, 0.0001, 0.00005];

/** Web Mercator: degrees to world coordinates in 0..1 (x east, y south). */
export function project(latitude, longitude) {
  const lat = Math.max(-MAX_LATITUDE, Math.min(MAX_LATITUDE, latitude));
  const sin = Math.sin((lat * Math.PI) / 180);
  return {
    x: (longitude + 180) / 360,
    y: 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI),
  };
}

/** The inverse of project(). */
export function unproject(x, y) {
  const n = Math.PI - 2 * Math.PI * y;
  return {
    latitude: (180 / Math.PI) * Math.atan(Math.sinh(n)),
    longitude: x * 360 - 180,
  };
}

function clamp(value, low, high) {
  return Math.max(low, Math.min(high, value));
}

function formatDegrees(value, positive, negative, step) {
  const digits = Math.max(0, Math.ceil(-Math.log10(step)));
  const hemisphere = value > 0 ? positive : value < 0 ? negative : "";
  return `${Math.abs(value).toFixed(digits)}°${hemisphere}`;
}

export class SlippyMap {
  /**
   * `container` gets the canvas, the marker layer, the zoom buttons and the attribution.
   * `options.onMarker(id)` is called when a marker is activated; `options.onPick(latitude, longitude)`
   * when the map is clicked without dragging. `options.canvasId` and `options.label` name the canvas.
   */
  constructor(container, options = {}) {
    this.container = container;
    this.onMarker = options.onMarker || (() => {});
    this.onPick = options.onPick || null;
    this.canvasId = options.canvasId || "live-map-canvas";
    this.label = options.label
      || "Map of deliverer positions. Arrow keys pan, plus and minus zoom, 0 fits every deliverer.";
    this.path = [];
    this.center = project(20, 0);
    this.zoom = 2;
    this.markers = new Map();
    this.tiles = new Map(); // url -> {image, state: "loading" | "loaded" | "failed"}
    this.tilesLoaded = 0;
    this.tilesFailed = 0;
    this.pointers = new Map();
    this.pinch = null;
    this.frame = 0;
    this.fitted = false;
    this.build();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.container);
    this.resize();
  }

  build() {
    const doc = this.container.ownerDocument;
    this.container.classList.add("map");
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "map-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.id = this.canvasId;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-roledescription", "map");
    this.canvas.setAttribute("aria-label", this.label);
    this.layer = doc.createElement("div");
    this.layer.className = "map-markers";
    this.layer.setAttribute("data-testid", "map-markers");
    const controls = doc.createElement("div");
    controls.className = "map-controls";
    const button = (label, text, id, action) => {
      const element = doc.createElement("button");
      element.type = "button";
      element.textContent = text;
      element.id = id;
      element.setAttribute("aria-label", label);
      element.addEventListener("click", action);
      controls.append(element);
    };
    button("Zoom in", "+", "map-zoom-in", () => this.zoomBy(1));
    button("Zoom out", "−", "map-zoom-out", () => this.zoomBy(-1));
    button("Fit every deliverer", "⤢", "map-fit", () => this.fit());
    this.attribution = doc.createElement("p");
    this.attribution.className = "map-attribution";
    this.attribution.id = "map-attribution";
    this.container.append(this.canvas, this.layer, controls, this.attribution);

    this.canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.canvas.addEventListener("pointermove", (event) => this.pointerMove(event));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      this.canvas.addEventListener(type, (event) => this.pointerUp(event));
    }
    this.canvas.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    this.canvas.addEventListener("keydown", (event) => this.key(event));
  }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
    for (const tile of this.tiles.values()) tile.image.onload = tile.image.onerror = null;
  }

  get scale() {
    return TILE_SIZE * 2 ** this.zoom;
  }

  resize() {
    const rect = this.container.getBoundingClientRect();
    this.width = Math.max(1, Math.round(rect.width));
    this.height = Math.max(1, Math.round(rect.height));
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.width * ratio);
    this.canvas.height = Math.round(this.height * ratio);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.ratio = ratio;
    this.draw();
  }

  /** Screen pixel (relative to the container) of a world coordinate. */
  toScreen(point) {
    return {
      x: (point.x - this.center.x) * this.scale + this.width / 2,
      y: (point.y - this.center.y) * this.scale + this.height / 2,
    };
  }

  toWorld(px, py) {
    return {
      x: this.center.x + (px - this.width / 2) / this.scale,
      y: this.center.y + (py - this.height / 2) / this.scale,
    };
  }

  setView(latitude, longitude, zoom) {
    this.center = project(latitude, longitude);
    this.zoom = clamp(zoom, MIN_ZOOM, MAX_ZOOM);
    this.draw();
  }

  panBy(dx, dy) {
    this.center = {
      x: this.center.x + dx / this.scale,
      y: clamp(this.center.y + dy / this.scale, 0, 1),
    };
    this.center.x -= Math.floor(this.center.x);
    this.draw();
  }

  /** Zooms by `delta` levels keeping the world point under (px, py) in place (default: the centre). */
  zoomBy(delta, px = this.width / 2, py = this.height / 2) {
    const before = this.toWorld(px, py);
    this.zoom = clamp(this.zoom + delta, MIN_ZOOM, MAX_ZOOM);
    const after = this.toWorld(px, py);
    this.center = { x: this.center.x + before.x - after.x, y: clamp(this.center.y + before.y - after.y, 0, 1) };
    this.draw();
  }

  /** Draws a line through `points` ({latitude, longitude}, in order) under the markers; [] removes it. */
  setPath(points) {
    this.path = points.map((point) => project(point.latitude, point.longitude));
    this.container.dataset.pathLength = String(this.path.length);
    this.draw();
  }

  /** Shows every marker and the path; with one marker, centres on it at street level. */
  fit() {
    const points = [...this.markers.values()].map((marker) => marker.point).concat(this.path);
    if (points.length === 0) return false;
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
    this.center = { x: (minX + maxX) / 2, y: (minY + maxY) / 2 };
    const padding = 60;
    const spanX = (maxX - minX) * TILE_SIZE, spanY = (maxY - minY) * TILE_SIZE;
    let zoom = 15;
    if (spanX > 0 || spanY > 0) {
      const zx = spanX > 0 ? Math.log2(Math.max(1, this.width - 2 * padding) / spanX) : MAX_ZOOM;
      const zy = spanY > 0 ? Math.log2(Math.max(1, this.height - 2 * padding) / spanY) : MAX_ZOOM;
      zoom = Math.min(zx, zy, 16);
    }
    this.zoom = clamp(Math.floor(zoom * 4) / 4, MIN_ZOOM, MAX_ZOOM);
    this.fitted = true;
    this.draw();
    return true;
  }

  /** Adds or moves a marker. The first data fits the view onto the markers. */
  setMarker(id, { latitude, longitude, label, title }) {
    let marker = this.markers.get(id);
    if (!marker) {
      const element = this.container.ownerDocument.createElement("button");
      element.type = "button";
      element.className = "map-marker";
      element.setAttribute("data-testid", "map-marker");
      element.dataset.delivererId = id;
      element.addEventListener("click", () => this.onMarker(id));
      const dot = this.container.ownerDocument.createElement("span");
      dot.className = "map-marker-dot";
      dot.setAttribute("aria-hidden", "true");
      const text = this.container.ownerDocument.createElement("span");
      text.className = "map-marker-label";
      element.append(dot, text);
      this.layer.append(element);
      marker = { element, text };
      this.markers.set(id, marker);
    }
    marker.point = project(latitude, longitude);
    marker.text.textContent = label;
    marker.element.dataset.latitude = String(latitude);
    marker.element.dataset.longitude = String(longitude);
    marker.element.setAttribute("aria-label", title || label);
    marker.element.title = title || label;
    if (!this.fitted) this.fit();
    else this.draw();
  }

  removeMarker(id) {
    const marker = this.markers.get(id);
    if (!marker) return;
    marker.element.remove();
    this.markers.delete(id);
    this.draw();
  }

  // ---- input

  pointerDown(event) {
    this.canvas.setPointerCapture(event.pointerId);
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    this.press = this.pointers.size === 1 ? { x: event.clientX, y: event.clientY } : null;
    if (this.pointers.size === 2) this.pinch = this.pinchState();
  }

  pointerMove(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    event.preventDefault();
    if (this.pointers.size === 1) {
      this.panBy(last.x - event.clientX, last.y - event.clientY);
      this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      return;
    }
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    const now = this.pinchState();
    if (this.pinch && now.distance > 0 && this.pinch.distance > 0) {
      this.panBy(this.pinch.x - now.x, this.pinch.y - now.y);
      this.zoomBy(Math.log2(now.distance / this.pinch.distance), now.x, now.y);
    }
    this.pinch = now;
  }

  pointerUp(event) {
    if (!this.pointers.has(event.pointerId)) return;
    this.pointers.delete(event.pointerId);
    // A click (a press that did not drag) picks the point under it.
    if (this.onPick && this.press && event.type === "pointerup"
        && Math.hypot(event.clientX - this.press.x, event.clientY - this.press.y) < 5) {
      const rect = this.canvas.getBoundingClientRect();
      const world = this.toWorld(event.clientX - rect.left, event.clientY - rect.top);
      const point = unproject(world.x - Math.floor(world.x), world.y);
      this.onPick(point.latitude, point.longitude);
    }
    this.press = null;
    this.pinch = this.pointers.size === 2 ? this.pinchState() : null;
  }

  pinchState() {
    const rect = this.canvas.getBoundingClientRect();
    const [a, b] = [...this.pointers.values()];
    return {
      x: (a.x + b.x) / 2 - rect.left,
      y: (a.y + b.y) / 2 - rect.top,
      distance: Math.hypot(a.x - b.x, a.y - b.y),
    };
  }

  wheel(event) {
    event.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    const lines = event.deltaMode === 1 ? 33 : event.deltaMode === 2 ? 400 : 1;
    this.zoomBy(clamp((-event.deltaY * lines) / 300, -1, 1), event.clientX - rect.left, event.clientY - rect.top);
  }

  key(event) {
    const step = 80;
    const actions = {
      ArrowLeft: () => this.panBy(-step, 0),
      ArrowRight: () => this.panBy(step, 0),
      ArrowUp: () => this.panBy(0, -step),
      ArrowDown: () => this.panBy(0, step),
      "+": () => this.zoomBy(1),
      "=": () => this.zoomBy(1),
      "-": () => this.zoomBy(-1),
      _: () => this.zoomBy(-1),
      0: () => this.fit(),
    };
    const action = actions[event.key];
    if (!action || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    action();
  }

  // ---- drawing

  draw() {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.paint());
  }

  tile(z, x, y) {
    const url = TILE_URL(z, x, y);
    let tile = this.tiles.get(url);
    if (!tile) {
      const image = new Image();
      tile = { image, state: "loading" };
      image.onload = () => {
        tile.state = "loaded";
        this.tilesLoaded += 1;
        this.draw();
      };
      image.onerror = () => {
        tile.state = "failed";
        this.tilesFailed += 1;
        this.draw();
      };
      image.referrerPolicy = "no-referrer";
      image.src = url;
      this.tiles.set(url, tile);
      if (this.tiles.size > 400) this.tiles.delete(this.tiles.keys().next().value);
    }
    return tile;
  }

  paint() {
    const context = this.canvas.getContext("2d");
    context.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    context.fillStyle = "#eef2f5";
    context.fillRect(0, 0, this.width, this.height);

    // Tiles stop being asked for once many failed and none ever loaded: the browser is offline.
    const offline = this.tilesLoaded === 0 && this.tilesFailed >= 4;
    let drawnTiles = 0;
    let missing = false;
    if (!offline) {
      const z = clamp(Math.round(this.zoom), 0, MAX_ZOOM);
      const size = TILE_SIZE * 2 ** (this.zoom - z);
      const count = 2 ** z;
      const topLeft = this.toWorld(0, 0);
      const firstX = Math.floor(topLeft.x * count), firstY = Math.floor(topLeft.y * count);
      const lastX = Math.floor(this.toWorld(this.width, 0).x * count);
      const lastY = Math.floor(this.toWorld(0, this.height).y * count);
      for (let ty = Math.max(0, firstY); ty <= Math.min(count - 1, lastY); ty += 1) {
        for (let tx = firstX; tx <= lastX; tx += 1) {
          const wrapped = ((tx % count) + count) % count;
          const tile = this.tile(z, wrapped, ty);
          const sx = (tx / count - this.center.x) * this.scale + this.width / 2;
          const sy = (ty / count - this.center.y) * this.scale + this.height / 2;
          if (tile.state === "loaded") {
            context.drawImage(tile.image, Math.floor(sx), Math.floor(sy), Math.ceil(size) + 1, Math.ceil(size) + 1);
            drawnTiles += 1;
          } else {
            missing = true;
          }
        }
      }
    }
    const showGrid = offline || missing || drawnTiles === 0;
    if (showGrid) this.paintGrid(context, drawnTiles > 0);
    if (this.path.length > 1) this.paintPath(context);
    this.container.dataset.basemap = drawnTiles > 0 ? "tiles" : "grid";
    this.container.dataset.zoom = this.zoom.toFixed(2);
    const middle = unproject(this.center.x, this.center.y);
    this.container.dataset.center = `${middle.latitude.toFixed(6)},${middle.longitude.toFixed(6)}`;
    this.attribution.textContent = drawnTiles > 0
      ? "Map tiles © OpenStreetMap contributors"
      : "Map tiles unavailable: coordinate grid (latitude and longitude in degrees)";
    this.placeMarkers();
  }

  paintPath(context) {
    context.save();
    context.lineWidth = 4;
    context.lineJoin = "round";
    context.strokeStyle = "#0b57d0";
    context.beginPath();
    this.path.forEach((point, index) => {
      const { x, y } = this.toScreen(point);
      if (index === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    context.stroke();
    context.restore();
  }

  paintGrid(context, faint) {
    const topLeft = unproject(...Object.values(this.toWorld(0, 0)));
    const bottomRight = unproject(...Object.values(this.toWorld(this.width, this.height)));
    const degreesPerPixel = 360 / this.scale;
    const step = GRID_STEPS.find((candidate, index) =>
      candidate / degreesPerPixel < 110 || index === GRID_STEPS.length - 1) || 0.00005;
    const lonStep = [...GRID_STEPS].reverse().find((candidate) => candidate / degreesPerPixel >= 90) || 45;
    context.save();
    context.lineWidth = 1;
    context.strokeStyle = faint ? "rgba(60,80,100,0.25)" : "#b5c2cc";
    context.fillStyle = "#33414d";
    context.font = "12px system-ui, sans-serif";
    context.textBaseline = "top";

    // Longitude lines.
    const firstLon = Math.ceil(topLeft.longitude / lonStep) * lonStep;
    for (let lon = firstLon; lon <= bottomRight.longitude; lon += lonStep) {
      const x = Math.round(this.toScreen(project(0, lon)).x) + 0.5;
      context.beginPath();
      context.moveTo(x, 0);
      context.lineTo(x, this.height);
      context.stroke();
      const normalized = ((((lon + 180) % 360) + 360) % 360) - 180;
      context.fillText(formatDegrees(normalized, "E", "W", lonStep), x + 3, 3);
    }
    // Latitude lines: chosen by screen spacing at the centre.
    const latitudeStep = GRID_STEPS.slice().reverse().find((candidate) => {
      const middle = unproject(this.center.x, this.center.y).latitude;
      const a = this.toScreen(project(middle, 0)).y;
      const b = this.toScreen(project(clamp(middle + candidate, -MAX_LATITUDE, MAX_LATITUDE), 0)).y;
      return Math.abs(a - b) >= 70;
    }) || step;
    const low = Math.max(-MAX_LATITUDE, bottomRight.latitude);
    const high = Math.min(MAX_LATITUDE, topLeft.latitude);
    for (let lat = Math.ceil(low / latitudeStep) * latitudeStep; lat <= high; lat += latitudeStep) {
      const y = Math.round(this.toScreen(project(lat, 0)).y) + 0.5;
      context.beginPath();
      context.moveTo(0, y);
      context.lineTo(this.width, y);
      context.stroke();
      context.fillText(formatDegrees(lat, "N", "S", latitudeStep), 3, y + 3);
    }
    context.restore();
  }

  placeMarkers() {
    for (const marker of this.markers.values()) {
      let { x, y } = this.toScreen(marker.point);
      // Show the copy of the world nearest the view.
      const world = this.scale;
      while (x < -world / 2) x += world;
      while (x > this.width + world / 2) x -= world;
      const inside = x >= -20 && x <= this.width + 20 && y >= -20 && y <= this.height + 20;
      marker.element.hidden = !inside;
      marker.element.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
    }
  }
}
