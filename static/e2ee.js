// End-to-end encryption of a call's media and chat (docs/e2ee.md): keys derived from a
// passphrase that never leaves the browser, and a worker (e2ee-worker.js) that seals
// every frame our senders encode and opens every frame our receivers get. The SFU only
// ever forwards ciphertext; chat messages are sealed here and stored sealed.
//
// Events: "status" (a participant's media started or stopped decrypting).

import { Emitter, fromBase64Url, toBase64Url } from "./util.js";

// PBKDF2 work factor for HMAC-SHA-256 (OWASP's 2023 recommendation): guessing
// passphrases offline from recorded media costs this much per guess.
const PBKDF2_ITERATIONS = 600_000;
const SALT_PREFIX = "huddle-e2ee-v1:";

export class E2eeError extends Error {}

// Chromium and Safari have RTCRtpScriptTransform; older Chromium only createEncodedStreams.
const scriptTransform = typeof RTCRtpScriptTransform === "function";
const encodedStreams = typeof RTCRtpSender !== "undefined" && "createEncodedStreams" in RTCRtpSender.prototype;

export const e2eeSupported = () => scriptTransform || encodedStreams;

// Two AES-GCM-256 keys from the passphrase, {media, chat}: PBKDF2 (the salt is the room
// name, so one passphrase gives every room its own keys), then HKDF with a label per use.
// The keys are not extractable: scripts can use them, not read them.
// huddle_client/e2ee.py derives the same keys.
export async function deriveKeys(passphrase, room) {
  const encoder = new TextEncoder();
  const material = await crypto.subtle.importKey("raw", encoder.encode(passphrase), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: encoder.encode(SALT_PREFIX + room), iterations: PBKDF2_ITERATIONS },
    material,
    256,
  );
  const base = await crypto.subtle.importKey("raw", bits, "HKDF", false, ["deriveKey"]);
  const derive = (purpose) =>
    crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: encoder.encode(`huddle-e2ee-v1 ${purpose}`) },
      base,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
  return { media: await derive("media"), chat: await derive("chat") };
}

// A chat message sealed for one room, sender and client id (the additional data), so the
// server can neither read it nor pass it off as someone else's or another room's.
const chatAdditionalData = (room, identity, clientId) =>
  new TextEncoder().encode(`huddle-chat-v1\n${room}\n${identity}\n${clientId}`);

export class FrameCrypto extends Emitter {
  static async create(passphrase, room) {
    if (!e2eeSupported()) throw new E2eeError("This browser cannot encrypt calls end to end.");
    const keys = await deriveKeys(passphrase, room);
    return new FrameCrypto(keys.media, keys.chat, room);
  }

  constructor(key, chatKey, room) {
    super();
    this.chatKey = chatKey;
    this.room = room;
    this.worker = new Worker(new URL("./e2ee-worker.js", import.meta.url), { name: "huddle-e2ee" });
    this.worker.postMessage({ type: "key", key });
    this.worker.onmessage = ({ data }) => data.type === "status" && this.#setStatus(data.id, data.ok);
    this.protected = new WeakMap(); // sender or receiver -> transform id
    this.receivers = new Map(); // transform id -> {participantId, trackId, kind, ok}
    this.ids = 0;
  }

  // What RTCPeerConnection needs to let us at its frames (the older API asks up front).
  get peerConnectionConfig() {
    return scriptTransform ? {} : { encodedInsertableStreams: true };
  }

  protectSender(sender, kind) {
    if (!this.protected.has(sender)) this.#attach(sender, { operation: "encrypt", kind });
  }

  // {name, text} -> the envelope the server stores: base64url(IV || AES-GCM ciphertext and
  // tag) of their JSON. The sender's name is inside, so the server cannot relabel a message.
  async sealChat(identity, clientId, { name, text }) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const additionalData = chatAdditionalData(this.room, identity, clientId);
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData },
      this.chatKey,
      new TextEncoder().encode(JSON.stringify({ name, text })),
    );
    const out = new Uint8Array(12 + sealed.byteLength);
    out.set(iv);
    out.set(new Uint8Array(sealed), 12);
    return toBase64Url(out);
  }

  // The envelope -> {name, text}, or null when it does not open with our key.
  async openChat(identity, clientId, envelope) {
    try {
      const data = fromBase64Url(envelope);
      const additionalData = chatAdditionalData(this.room, identity, clientId);
      const opened = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: data.subarray(0, 12), additionalData },
        this.chatKey,
        data.subarray(12),
      );
      const { name, text } = JSON.parse(new TextDecoder().decode(opened));
      return typeof name === "string" && typeof text === "string" ? { name, text } : null;
    } catch {
      return null;
    }
  }

  // A receiver may be reused for another track (the server reuses inactive m-lines).
  protectReceiver(receiver, { participantId, trackId, kind }) {
    let id = this.protected.get(receiver);
    if (id === undefined) id = this.#attach(receiver, { operation: "decrypt", kind });
    const known = this.receivers.get(id);
    if (known?.trackId === trackId) return;
    for (const [other, r] of this.receivers) if (r.trackId === trackId) this.receivers.delete(other); // reconnected
    this.receivers.set(id, { participantId, trackId, kind, ok: null });
    if (known) {
      this.worker.postMessage({ type: "reset", id });
      this.emit("status");
    }
  }

  // "ok", "failed" (some of the participant's media does not decrypt), or null before
  // any of its frames arrived. `live`: the track ids still received (a Map or Set).
  status(participantId, live = null) {
    let status = null;
    for (const r of this.receivers.values()) {
      if (r.participantId !== participantId || r.ok === null || (live && !live.has(r.trackId))) continue;
      if (!r.ok) return "failed";
      status = "ok";
    }
    return status;
  }

  close() {
    this.worker.terminate();
    this.receivers.clear();
  }

  #attach(endpoint, options) {
    const id = ++this.ids;
    this.protected.set(endpoint, id);
    const withId = { ...options, id };
    if (scriptTransform) {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, withId);
    } else {
      const { readable, writable } = endpoint.createEncodedStreams();
      this.worker.postMessage({ type: "streams", readable, writable, options: withId }, [readable, writable]);
    }
    return id;
  }

  #setStatus(id, ok) {
    const receiver = this.receivers.get(id);
    if (!receiver || receiver.ok === ok) return;
    receiver.ok = ok;
    this.emit("status");
  }
}

// Mark remote tiles whose media does not decrypt: data-e2ee="ok|failed" and a visible note.
export function markTiles(tiles, frameCrypto, live) {
  for (const tile of tiles) {
    const remote = frameCrypto && tile.dataset.local !== "true";
    const status = remote ? frameCrypto.status(tile.dataset.participantId, live) : null;
    if (status) tile.dataset.e2ee = status;
    else delete tile.dataset.e2ee;
    let note = tile.querySelector(".tile-e2ee");
    if (status === "failed" && !note) {
      note = document.createElement("span");
      note.className = "tile-e2ee";
      note.setAttribute("role", "status");
      note.textContent = "Can't decrypt this person's audio and video: is the passphrase the same?";
      tile.append(note);
    } else if (status !== "failed" && note) {
      note.remove();
    }
  }
}
