// Sound: one <audio data-track-id> element per remote audio track. When the browser's
// autoplay policy blocks playback (a page that joined without a click), ask for a click.

import { h } from "./util.js";

export class AudioSinks {
  constructor(container, { onBlocked }) {
    this.container = container;
    this.onBlocked = onBlocked;
    this.elements = new Map(); // track id -> <audio>
    this.blocked = false;
    const unblock = () => {
      if (!this.blocked) return;
      this.blocked = false;
      for (const audio of this.elements.values()) this.#play(audio);
      this.onBlocked(false);
    };
    window.addEventListener("pointerdown", unblock, { capture: true });
    window.addEventListener("keydown", unblock, { capture: true });
  }

  // entries: [{trackId, track}] for every remote audio track being received now
  update(entries) {
    const keep = new Set();
    for (const { trackId, track } of entries) {
      keep.add(trackId);
      let audio = this.elements.get(trackId);
      if (!audio) {
        audio = h("audio", { autoplay: true, "data-track-id": trackId });
        this.elements.set(trackId, audio);
        this.container.append(audio);
      }
      if (audio.track !== track) {
        audio.track = track;
        audio.srcObject = new MediaStream([track]);
        this.#play(audio);
      }
    }
    for (const [trackId, audio] of this.elements) {
      if (keep.has(trackId)) continue;
      audio.srcObject = null;
      audio.remove();
      this.elements.delete(trackId);
    }
  }

  #play(audio) {
    audio.play().catch((err) => {
      if (err?.name === "NotAllowedError" && !this.blocked) {
        this.blocked = true;
        this.onBlocked(true);
      }
    });
  }

  clear() {
    this.update([]);
  }
}
