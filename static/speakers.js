// Who is speaking: polls audio levels (the others' from getStats, ours from a WebAudio
// analyser) and picks one active speaker, with enough hold time that the highlight
// does not flicker between two people talking over each other.

const POLL_MS = 250;
const THRESHOLD = 0.035; // smoothed level above which someone counts as speaking
const HOLD_MS = 1800; // keep the highlight this long after the speaker went quiet
const TAKEOVER = 1.4; // someone else must be this much louder to take over

export class SpeakerDetector {
  // levels(): Promise<Map<participantId, level 0..1>> of everyone not muted
  // onChange(participantId | null), onLevels(Map)
  constructor({ levels, onChange, onLevels }) {
    this.levels = levels;
    this.onChange = onChange;
    this.onLevels = onLevels;
    this.smoothed = new Map();
    this.lastLoud = new Map();
    this.active = null;
    this.timer = null;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    const tick = async () => {
      if (!this.running) return;
      try {
        this.#update(await this.levels());
      } catch (err) {
        console.warn("audio levels", err);
      }
      if (this.running) this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.smoothed.clear();
    this.lastLoud.clear();
    if (this.active !== null) {
      this.active = null;
      this.onChange(null);
    }
  }

  #update(levels) {
    const now = performance.now();
    for (const id of this.smoothed.keys()) if (!levels.has(id)) this.smoothed.delete(id);
    for (const [id, level] of levels) {
      const previous = this.smoothed.get(id) ?? 0;
      // Rise fast, fall slowly.
      const next = level > previous ? previous * 0.3 + level * 0.7 : previous * 0.75 + level * 0.25;
      this.smoothed.set(id, next);
      if (next > THRESHOLD) this.lastLoud.set(id, now);
    }
    this.onLevels?.(this.smoothed);

    let loudest = null;
    let loudestLevel = THRESHOLD;
    for (const [id, level] of this.smoothed) {
      if (level > loudestLevel) {
        loudest = id;
        loudestLevel = level;
      }
    }
    let next = this.active;
    const activeLevel = this.smoothed.get(this.active) ?? 0;
    const activeQuietFor = now - (this.lastLoud.get(this.active) ?? 0);
    if (this.active !== null && !this.smoothed.has(this.active)) next = loudest; // left or muted
    else if (loudest !== null && loudest !== this.active) {
      if (this.active === null || activeLevel < THRESHOLD || loudestLevel > activeLevel * TAKEOVER) next = loudest;
    } else if (loudest === null && activeQuietFor > HOLD_MS) next = null;
    if (next !== this.active) {
      this.active = next;
      this.onChange(next);
    }
  }
}
