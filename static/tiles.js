// The video tiles: one camera tile per participant (our own first), one large tile per
// shared screen on the stage, sized so that 1 to 25 tiles fit any window, phones too.

import { icon } from "./icons.js";
import { h, hueFor, initials } from "./util.js";

const GAP = 10;

// The tile size that fills the area best: try every column count, keep the largest
// tiles whose shape stays between minAspect and maxAspect (width / height).
export function bestLayout(count, width, height, { gap = GAP, minAspect = 4 / 3, maxAspect = 16 / 9 } = {}) {
  let best = { cols: 1, rows: 1, w: 0, h: 0 };
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    let w = (width - gap * (cols - 1)) / cols;
    let h = (height - gap * (rows - 1)) / rows;
    if (w <= 0 || h <= 0) continue;
    if (w / h > maxAspect) w = h * maxAspect;
    else if (w / h < minAspect) h = w / minAspect;
    if (w * h > best.w * best.h + 1) best = { cols, rows, w: Math.floor(w), h: Math.floor(h) };
  }
  return best;
}

function createTile(d) {
  const video = h("video", { autoplay: true, playsinline: true });
  video.muted = true; // sound plays from the <audio> elements
  video.addEventListener("playing", () => tile.classList.add("has-video"));
  video.addEventListener("emptied", () => tile.classList.remove("has-video"));
  const avatar = h("div", { class: "tile-avatar", "aria-hidden": "true" }, h("span", { class: "avatar" }));
  const name = h("span", { class: "tile-name" });
  const tag = h("span", { class: "tile-tag" });
  const mic = h("span", { class: "tile-mic", title: "Microphone off" }, icon("micOff"));
  const camera = h("span", { class: "tile-camera", title: "Camera off" }, icon("cameraOff"));
  const level = h("span", { class: "tile-level", "aria-hidden": "true" }, h("i"), h("i"), h("i"));
  const tile = h(
    "div",
    { class: "tile", role: "group" },
    video,
    avatar,
    h("div", { class: "tile-badges" }, camera, mic, level),
    h("div", { class: "tile-footer" }, name, tag),
  );
  tile.dataset.kind = d.kind;
  tile.dataset.participantId = d.participantId ?? "";
  if (d.local) tile.dataset.local = "true";
  tile.parts = { video, avatar, name, tag, mic };
  tile.track = undefined;
  return tile;
}

function updateTile(tile, d) {
  const { video, avatar, name, tag } = tile.parts;
  tile.dataset.participantId = d.participantId ?? "";
  tile.dataset.micMuted = String(Boolean(d.micMuted));
  tile.dataset.cameraOff = String(Boolean(d.cameraOff));
  tile.classList.toggle("mirror", Boolean(d.mirror));
  if (name.textContent !== d.name) name.textContent = d.name;
  const tagText = d.kind === "screen" ? (d.local ? "Your screen" : "Screen") : d.local ? "You" : "";
  if (tag.textContent !== tagText) tag.textContent = tagText;
  tag.hidden = !tagText;
  const label = d.kind === "screen" ? `${d.name}'s screen` : d.local ? `${d.name} (you)` : d.name;
  tile.setAttribute("aria-label", label);
  const avatarText = avatar.firstChild;
  avatarText.textContent = initials(d.name);
  avatarText.style.setProperty("--hue", hueFor(d.participantId || d.name));
  const track = d.cameraOff ? null : (d.track ?? null);
  if (tile.track !== track) {
    tile.track = track;
    tile.classList.remove("has-video");
    video.srcObject = track ? new MediaStream([track]) : null;
    if (track) video.play().catch(() => {}); // muted video may autoplay; the event fixes the rest
  }
}

export class TileView {
  constructor({ tiles, stage, area }) {
    this.tilesEl = tiles;
    this.stageEl = stage;
    this.areaEl = area;
    this.tiles = new Map(); // key -> element
    this.speaking = null;
    this.observer = new ResizeObserver(() => this.layout());
    this.observer.observe(this.areaEl);
  }

  // descriptors: [{key, participantId, kind, local, name, track, micMuted, cameraOff, mirror}]
  update(descriptors) {
    const keep = new Set();
    const cameras = [];
    const screens = [];
    for (const d of descriptors) {
      keep.add(d.key);
      let tile = this.tiles.get(d.key);
      if (!tile) {
        tile = createTile(d);
        this.tiles.set(d.key, tile);
      }
      updateTile(tile, d);
      tile.classList.toggle("speaking", d.kind === "camera" && d.participantId === this.speaking);
      (d.kind === "screen" ? screens : cameras).push(tile);
    }
    for (const [key, tile] of this.tiles) {
      if (keep.has(key)) continue;
      tile.parts.video.srcObject = null;
      tile.remove();
      this.tiles.delete(key);
    }
    this.#place(this.tilesEl, cameras);
    this.#place(this.stageEl, screens);
    this.stageEl.hidden = screens.length === 0;
    this.areaEl.classList.toggle("has-stage", screens.length > 0);
    this.stageEl.dataset.count = String(screens.length);
    this.tilesEl.dataset.count = String(cameras.length);
    this.layout();
  }

  // Keep the order given without moving elements that are already in place (moving a
  // playing <video> in the DOM can make it pause or flash).
  #place(container, tiles) {
    tiles.forEach((tile, i) => {
      if (container.children[i] !== tile) container.insertBefore(tile, container.children[i] ?? null);
    });
    while (container.children.length > tiles.length) container.lastElementChild.remove();
  }

  setSpeaking(participantId) {
    this.speaking = participantId;
    for (const tile of this.tiles.values()) {
      const on = tile.dataset.kind === "camera" && participantId !== null && tile.dataset.participantId === participantId;
      tile.classList.toggle("speaking", on);
    }
  }

  // Levels 0..1 per participant, for the small level bars in the name labels.
  setLevels(levels) {
    for (const tile of this.tiles.values()) {
      if (tile.dataset.kind !== "camera") continue;
      const level = levels.get(tile.dataset.participantId) ?? 0;
      tile.style.setProperty("--level", Math.min(1, level * 4).toFixed(2));
      tile.classList.toggle("talking", level > 0.03 && tile.dataset.micMuted !== "true");
    }
  }

  layout() {
    const count = this.tilesEl.children.length;
    if (this.areaEl.classList.contains("has-stage") || count === 0) {
      this.tilesEl.style.removeProperty("--tile-w");
      this.tilesEl.style.removeProperty("--tile-h");
      return;
    }
    const width = this.tilesEl.clientWidth;
    const height = this.tilesEl.clientHeight;
    if (!width || !height) return;
    const narrow = width < 640;
    const { w, h: tileH } = bestLayout(count, width, height, {
      minAspect: narrow ? 3 / 4 : 4 / 3,
      maxAspect: 16 / 9,
    });
    this.tilesEl.style.setProperty("--tile-w", `${w}px`);
    this.tilesEl.style.setProperty("--tile-h", `${tileH}px`);
  }

  clear() {
    this.update([]);
  }
}
