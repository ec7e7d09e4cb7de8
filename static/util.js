// Small helpers shared by the page's modules: DOM building, ids, names, events.

export const $ = (id) => document.getElementById(id);

// h("button", { class: "x", "aria-label": "Close", onclick: fn }, child, "text")
// Attributes are set with setAttribute (values are strings, never HTML); keys starting
// with "on" become event listeners; children may be nodes, strings or arrays of them.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

// Bytes <-> base64url without padding (JWT parts, sealed chat envelopes).
export const toBase64Url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

export function fromBase64Url(text) {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function randomId(bytes = 9) {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The server's rule for room names and identities (docs/protocol.md, Limits).
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const isValidRoom = (room) => ID_PATTERN.test(room);
export const isValidName = (name) => name.length > 0 && [...name].length <= 64;

// One identity per tab, kept across reloads and reconnects so that chat resends stay
// idempotent and a reconnect replaces our previous connection on the server.
export function tabIdentity() {
  const key = "huddle.identity";
  let identity = null;
  try {
    identity = sessionStorage.getItem(key);
  } catch {
    // storage disabled: an identity per page load still works
  }
  if (!identity || !ID_PATTERN.test(identity)) {
    identity = `web_${randomId(8)}`;
    try {
      sessionStorage.setItem(key, identity);
    } catch {
      // ignore
    }
  }
  return identity;
}

export const prefs = {
  get(key) {
    try {
      return localStorage.getItem(`huddle.${key}`);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      if (value === null || value === undefined) localStorage.removeItem(`huddle.${key}`);
      else localStorage.setItem(`huddle.${key}`, value);
    } catch {
      // ignore
    }
  },
};

export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words.at(-1)][0]];
  return letters.join("").toUpperCase();
}

// A calm, stable colour per person (hue from a hash of their id).
export function hueFor(key) {
  let hash = 0x811c9dc5; // FNV-1a, so that ids differing in one character get far-apart hues
  for (const char of key) hash = Math.imul(hash ^ char.codePointAt(0), 0x01000193) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) >>> 0;
  return (hash ^ (hash >>> 12)) % 360;
}

export function formatTime(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function roomLink(room) {
  return `${location.origin}/r/${encodeURIComponent(room)}`;
}

export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a rejection nobody waits for is not an error
  return { promise, resolve, reject };
}

export function withTimeout(promise, ms, error) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(error), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// A minimal event emitter: on(type, fn) returns a function that unsubscribes.
export class Emitter {
  #listeners = new Map();

  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return () => this.#listeners.get(type)?.delete(fn);
  }

  emit(type, detail) {
    for (const fn of [...(this.#listeners.get(type) ?? [])]) {
      try {
        fn(detail);
      } catch (err) {
        console.error(`listener for ${type}`, err);
      }
    }
  }
}

// True while the user types somewhere: keyboard shortcuts must not fire then.
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}
