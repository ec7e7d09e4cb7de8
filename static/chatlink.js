// The chat's transport (docs/protocol.md): a data channel on the publisher connection.
// Our messages wait in an outbox until the server acknowledges them and are sent again,
// in order, on every new channel (same client_id, so the server stores them once).
// A message the page has been given once is never given again. The panel is chat.js.
// With end-to-end encryption (e2ee.js) our messages leave sealed, and sealed ones are
// opened before the page sees them, in the order they came.

import { randomId } from "./util.js";

export class ChatLink {
  // emit(type, detail): the call's events ("chat", "chat-ready", "chat-error", "notice");
  // self(): {identity, name} of ours, as the server last said; crypto(): the call's
  // FrameCrypto when chat is end-to-end encrypted, else null.
  constructor({ emit, self, crypto = () => null }) {
    this.emit = emit;
    this.self = self;
    this.crypto = crypto;
    this.channel = null;
    this.outbox = new Map(); // client_id -> {clientId, text, payload, sentOn}: not acknowledged yet
    this.seen = new Set(); // server ids, and identity + client_id, of messages given to the page
    this.opening = Promise.resolve(); // sealed messages are opened one after another
  }

  get ready() {
    return this.channel?.readyState === "open";
  }

  attach(channel) {
    channel.onopen = () => {
      if (this.channel !== channel) return;
      this.emit("chat-ready", true);
      this.#flush();
    };
    channel.onclose = () => {
      if (this.channel === channel) this.emit("chat-ready", false);
    };
    channel.onmessage = (event) => this.#onPayload(event.data);
    this.channel = channel;
  }

  detach() {
    if (this.channel) this.emit("chat-ready", false);
    this.channel = null;
  }

  send(text) {
    const clientId = randomId(8);
    const { identity, name } = this.self();
    const entry = { clientId, text, payload: null, sentOn: null };
    this.outbox.set(clientId, entry);
    this.emit("chat", {
      message: { client_id: clientId, identity, name, text, ts: Date.now() / 1000 },
      own: true,
      pending: true,
    });
    this.#seal(entry, identity, name).then(
      () => this.#flush(),
      (err) => {
        console.warn("chat seal", err);
        this.outbox.delete(clientId);
        this.emit("notice", { text: "Message not sent: it could not be encrypted", tone: "error" });
      },
    );
    return clientId;
  }

  async #seal(entry, identity, name) {
    const crypto = this.crypto();
    entry.payload = crypto
      ? {
          type: "chat",
          client_id: entry.clientId,
          sealed: await crypto.sealChat(identity, entry.clientId, { name, text: entry.text }),
        }
      : { type: "chat", client_id: entry.clientId, text: entry.text };
  }

  // joined.chat_history: our own messages in it are stored, so no longer pending.
  history(messages) {
    for (const message of messages) {
      if (message.identity === this.self().identity) this.outbox.delete(message.client_id);
      this.#deliver(message, { history: true });
    }
  }

  // Send what is not acknowledged yet, in order, once per channel.
  #flush() {
    const channel = this.channel;
    if (channel?.readyState !== "open") return;
    for (const entry of this.outbox.values()) {
      if (entry.sentOn === channel) continue;
      if (!entry.payload) return; // still being sealed: later ones wait, to keep the order
      try {
        channel.send(JSON.stringify(entry.payload));
        entry.sentOn = channel;
      } catch (err) {
        console.warn("chat send", err);
        return;
      }
    }
  }

  #onPayload(raw) {
    let m;
    try {
      m = JSON.parse(raw);
    } catch {
      return;
    }
    if (m.type === "chat_ack") {
      this.outbox.delete(m.message.client_id);
      this.#deliver(m.message, {});
    } else if (m.type === "chat") {
      this.#deliver(m.message, { live: true });
    } else if (m.type === "error") {
      this.emit("chat-error", m);
      this.emit("notice", { text: `Message not sent: ${m.message}`, tone: "error" });
    }
  }

  // Each message once: by server id, and by sender and client id (a server replaying a
  // sealed message under a new id must not show it twice).
  #deliver(message, { history = false, live = false }) {
    const sent = `${message.identity}\n${message.client_id}`;
    if (this.seen.has(message.id) || this.seen.has(sent)) return;
    this.seen.add(message.id);
    this.seen.add(sent);
    const own = message.identity === this.self().identity;
    const show = (shown) => this.emit("chat", { message: shown, own, pending: false, history, live: live && !own });
    const crypto = this.crypto();
    if (message.sealed === undefined) {
      // In an encrypted call a message in the clear is marked: the server wrote or saw it.
      this.opening = this.opening.then(() => show(crypto ? { ...message, unsealed: true } : message));
      return;
    }
    this.opening = this.opening
      .then(() => crypto?.openChat(message.identity, message.client_id, message.sealed) ?? null)
      .then((opened) =>
        // The name shown is the one sealed by the sender, not the one the server attached.
        show(opened ? { ...message, ...opened } : { ...message, text: "", undecryptable: true }),
      );
  }
}
