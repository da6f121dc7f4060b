// A small slippy map on a canvas: OpenStreetMap raster tiles in Web Mercator around one marker,
// with a trail of earlier positions. Under the tiles lies a coordinate grid with labelled
// latitude and longitude lines, so that the map still says where the marker is when the tiles
// cannot be loaded (offline, or blocked).

const TILE_SIZE = 256;
const TILE_URL = (z, x, y) => `https://tile.openstreetmap.org/${z}/${x}/${y}.png`;
const MIN_ZOOM = 2;
const MAX_ZOOM = 18;
const GRID_STEPS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 45];

/** Longitude and latitude in degrees to world pixels at `zoom` (Web Mercator). */
export function project(lat, lon, zoom) {
  const size = TILE_SIZE * 2 ** zoom;
  const clamped = Math.max(-85.05112878, Math.min(85.05112878, lat));
  const sin = Math.sin((clamped * Math.PI) / 180);
  return {
    x: ((lon + 180) / 360) * size,
    y: (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * size,
  };
}

/** World pixels at `zoom` back to degrees. */
export function unproject(x, y, zoom) {
  const size = TILE_SIZE * 2 ** zoom;
  const lon = (x / size) * 360 - 180;
  const n = Math.PI - (2 * Math.PI * y) / size;
  const lat = (180 / Math.PI) * Math.atan(Math.sinh(n));
  return { lat, lon };
}

/** Loaded tiles are reused; a tile that failed is asked for again only after a minute. */
export class TileCache {
  constructor({ retryAfterMs = 60000, urlFor = TILE_URL } = {}) {
    this.urlFor = urlFor;  // (z, x, y) -> the tile's address; OpenStreetMap's by default
    this.images = new Map();
    this.failed = new Map();  // url -> when it failed
    this.retryAfterMs = retryAfterMs;
  }

  /**
   * The loaded image for a tile, or null. When the tile is being fetched, `onLoad` or `onFail` is
   * called once it arrives or fails (not for a tile already known to have failed).
   */
  get(z, x, y, onLoad, onFail) {
    const url = this.urlFor(z, x, y);
    if (this.failed.has(url)) {
      if (Date.now() - this.failed.get(url) < this.retryAfterMs) return null;
      this.failed.delete(url);
    }
    let entry = this.images.get(url);
    if (!entry) {
      const image = new Image();
      image.decoding = "async";
      image.referrerPolicy = "no-referrer";
      entry = { image, loaded: false, waiting: [] };
      image.onload = () => {
        entry.loaded = true;
        for (const [load] of entry.waiting) load();
        entry.waiting = [];
      };
      image.onerror = () => {
        this.failed.set(url, Date.now());
        this.images.delete(url);
        for (const [, fail] of entry.waiting) fail();
        entry.waiting = [];
      };
      this.images.set(url, entry);
      image.src = url;
    }
    if (entry.loaded) return entry.image;
    entry.waiting.push([onLoad, onFail]);
    return null;
  }
}

/**
 * One map on one canvas. Call `show(position, trail)` with `{lat, lon}` points; the canvas keeps
 * its CSS size and is redrawn for the device's pixel ratio. `canvas.dataset.mode` says what was
 * drawn last ("tiles" when every visible tile was drawn, "grid" otherwise) and the canvas's
 * accessible label names the position.
 */
export class PositionMap {
  constructor(canvas, { tiles, zoom = 14, attribution } = {}) {
    this.canvas = canvas;
    this.tiles = tiles || new TileCache();
    this.zoom = zoom;
    this.attribution = attribution || null;
    this.position = null;
    this.trail = [];
    this.frame = 0;
    canvas.setAttribute("role", "img");
    if ("ResizeObserver" in window) {
      this.resizer = new ResizeObserver(() => this.redraw());
      this.resizer.observe(canvas);
    }
    this.redraw();
  }

  show(position, trail = []) {
    this.position = position;
    this.trail = trail;
    this.redraw();
  }

  /** Where the payload is going ({lat, lon}), drawn as a flag with a dashed line to it; null for none. */
  setDestination(destination) {
    this.destination = destination;
    this.canvas.dataset.destination = destination ? `${destination.lat},${destination.lon}` : "";
    this.redraw();
  }

  zoomBy(step) {
    this.zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, this.zoom + step));
    this.redraw();
  }

  destroy() {
    if (this.resizer) this.resizer.disconnect();
    cancelAnimationFrame(this.frame);
  }

  redraw() {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth || 300));
    const height = Math.max(1, Math.round(canvas.clientHeight || 180));
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = "#eef1f4";
    context.fillRect(0, 0, width, height);

    if (!this.position) {
      canvas.dataset.mode = "empty";
      canvas.setAttribute("aria-label", "Map: no position reported yet");
      context.fillStyle = "#3d4650";
      context.font = "14px system-ui, sans-serif";
      context.textAlign = "center";
      context.textBaseline = "middle";
      context.fillText("No position yet", width / 2, height / 2);
      this.setAttribution(false);
      return;
    }

    const zoom = this.zoom;
    const centre = project(this.position.lat, this.position.lon, zoom);
    const left = centre.x - width / 2;
    const top = centre.y - height / 2;

    this.drawGrid(context, left, top, width, height, zoom);
    const complete = this.drawTiles(context, left, top, width, height, zoom);
    this.drawTrail(context, left, top, zoom);
    if (this.destination) this.drawDestination(context, left, top, zoom, width / 2, height / 2);
    this.drawMarker(context, width / 2, height / 2);

    canvas.dataset.mode = complete ? "tiles" : "grid";
    canvas.setAttribute("aria-label",
      `Map: last position latitude ${this.position.lat.toFixed(5)}, longitude ${this.position.lon.toFixed(5)}`);
    this.setAttribution(complete);
  }

  setAttribution(visible) {
    if (this.attribution) this.attribution.hidden = !visible;
  }

  /** Draws the tiles that are loaded; returns true when all of them were. */
  drawTiles(context, left, top, width, height, zoom) {
    const count = 2 ** zoom;
    const firstX = Math.floor(left / TILE_SIZE);
    const lastX = Math.floor((left + width) / TILE_SIZE);
    const firstY = Math.max(0, Math.floor(top / TILE_SIZE));
    const lastY = Math.min(count - 1, Math.floor((top + height) / TILE_SIZE));
    let complete = true;
    for (let ty = firstY; ty <= lastY; ty += 1) {
      for (let tx = firstX; tx <= lastX; tx += 1) {
        const wrapped = ((tx % count) + count) % count;
        const image = this.tiles.get(zoom, wrapped, ty, () => this.redraw(), () => this.redraw());
        if (image) {
          context.drawImage(image, tx * TILE_SIZE - left, ty * TILE_SIZE - top, TILE_SIZE, TILE_SIZE);
        } else {
          complete = false;
        }
      }
    }
    return complete;
  }

  drawGrid(context, left, top, width, height, zoom) {
    const topLeft = unproject(left, top, zoom);
    const bottomRight = unproject(left + width, top + height, zoom);
    // About three to four lines each way; latitude and longitude get their own step.
    const lonStep = GRID_STEPS.find((candidate) => (bottomRight.lon - topLeft.lon) / candidate <= 4) || 90;
    const latStep = GRID_STEPS.find((candidate) => (topLeft.lat - bottomRight.lat) / candidate <= 4) || 90;
    const decimals = (step) => Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
    context.save();
    context.strokeStyle = "#a9b4bf";
    context.lineWidth = 1;
    context.fillStyle = "#27303a";
    context.font = "11px system-ui, sans-serif";

    context.textBaseline = "top";
    context.textAlign = "left";
    for (let i = Math.ceil(topLeft.lon / lonStep); i * lonStep <= bottomRight.lon; i += 1) {
      const lon = i * lonStep;
      const x = Math.round(project(0, lon, zoom).x - left) + 0.5;
      context.beginPath();
      context.moveTo(x, 0);
      context.lineTo(x, height);
      context.stroke();
      const label = formatDegrees(lon, decimals(lonStep), "E", "W");
      if (x + 3 + context.measureText(label).width < width - 40) context.fillText(label, x + 3, 3);  // clear of the zoom buttons
    }
    context.textBaseline = "bottom";
    for (let i = Math.ceil(bottomRight.lat / latStep); i * latStep <= topLeft.lat; i += 1) {
      const lat = i * latStep;
      const y = Math.round(project(lat, 0, zoom).y - top) + 0.5;
      context.beginPath();
      context.moveTo(0, y);
      context.lineTo(width, y);
      context.stroke();
      context.fillText(formatDegrees(lat, decimals(latStep), "N", "S"), 3, y - 2);
    }
    context.restore();
  }

  drawTrail(context, left, top, zoom) {
    if (this.trail.length < 2) return;
    context.save();
    context.strokeStyle = "#1b5fc1";
    context.lineWidth = 3;
    context.lineJoin = "round";
    context.globalAlpha = 0.7;
    context.beginPath();
    this.trail.forEach((point, index) => {
      const p = project(point.lat, point.lon, zoom);
      if (index === 0) context.moveTo(p.x - left, p.y - top);
      else context.lineTo(p.x - left, p.y - top);
    });
    context.stroke();
    context.restore();
  }

  /** A dashed line from the position (x, y) to the destination, and a flag there. */
  drawDestination(context, left, top, zoom, x, y) {
    const p = project(this.destination.lat, this.destination.lon, zoom);
    const dx = p.x - left, dy = p.y - top;
    context.save();
    context.strokeStyle = "#2e7d32";
    context.lineWidth = 2;
    context.setLineDash([6, 5]);
    context.beginPath();
    context.moveTo(x, y);
    context.lineTo(dx, dy);
    context.stroke();
    context.setLineDash([]);
    context.fillStyle = "#2e7d32";
    context.beginPath();
    context.moveTo(dx, dy);
    context.lineTo(dx, dy - 22);
    context.lineTo(dx + 14, dy - 17);
    context.lineTo(dx + 1.5, dy - 12);
    context.lineTo(dx + 1.5, dy);
    context.closePath();
    context.fill();
    context.restore();
  }

    drawMarker(context, x, y) {
    context.save();
    context.fillStyle = "#c62828";
    context.strokeStyle = "#ffffff";
    context.lineWidth = 2;
    context.beginPath();
    context.moveTo(x, y);
    context.arc(x, y - 16, 8, Math.PI * 0.8, Math.PI * 0.2);
    context.closePath();
    context.fill();
    context.stroke();
    context.fillStyle = "#ffffff";
    context.beginPath();
    context.arc(x, y - 16, 3, 0, Math.PI * 2);
    context.fill();
    context.restore();
  }
}

function formatDegrees(value, decimals, positive, negative) {
  const rounded = Number(value.toFixed(decimals));
  if (rounded === 0) return `0°`;
  return `${Math.abs(rounded).toFixed(decimals)}°${rounded > 0 ? positive : negative}`;
}
