// The lobby, both sides. A joiner whom a host has not let in yet sees the waiting screen
// (#lobby-screen): no call, no media, no chat, only a way to cancel. A room admin sees who
// waits (#lobby-panel in the people panel, a count on the people button) and admits or
// rejects each one. Names come from other people: they are only ever set as text.

import { h, hueFor, initials } from "./util.js";

export class LobbyScreen {
  constructor({ screen, room, preview, avatar, cancel, onCancel }) {
    Object.assign(this, { screen, room, preview, avatar });
    cancel.addEventListener("click", () => onCancel());
    this.cancel = cancel;
  }

  get visible() {
    return !this.screen.hidden;
  }

  // room: the room's name; name: ours; camera: our camera track (shown to ourselves only).
  show({ room, name, camera }) {
    this.room.textContent = room;
    this.avatar.textContent = initials(name || "?");
    this.avatar.style.setProperty("--hue", hueFor(name || "?"));
    this.preview.srcObject = camera ? new MediaStream([camera]) : null;
    this.preview.hidden = !camera;
    this.avatar.hidden = Boolean(camera);
    if (camera) this.preview.play?.().catch(() => {});
    this.screen.hidden = false;
    document.title = `Waiting · ${room} · Huddle`;
    this.cancel.focus({ preventScroll: true });
  }

  hide() {
    this.screen.hidden = true;
    this.preview.srcObject = null;
  }
}

export class LobbyPanel {
  // onAdmit(participantId), onReject(participantId)
  constructor({ panel, list, count, badge, onAdmit, onReject }) {
    Object.assign(this, { panel, list, count, badge, onAdmit, onReject });
    this.waiting = [];
    this.pending = new Set(); // ids answered by us, until the server's update drops them
  }

  get size() {
    return this.waiting.length;
  }

  // waiting: [{participant_id, identity, name}] as lobby_update sends it; admin: may we answer.
  update(waiting, admin) {
    const ids = new Set(waiting.map((w) => w.participant_id));
    for (const id of this.pending) if (!ids.has(id)) this.pending.delete(id);
    this.waiting = admin ? waiting : [];
    this.panel.hidden = !admin || this.waiting.length === 0;
    this.count.textContent = String(this.waiting.length);
    this.badge.textContent = this.waiting.length ? String(Math.min(this.waiting.length, 99)) : "";
    this.badge.hidden = this.waiting.length === 0;
    const focused = document.activeElement?.closest?.("#lobby-list li")?.dataset.participantId ?? null;
    const items = this.waiting.map((w) => this.#item(w));
    this.list.replaceChildren(...items);
    if (focused) {
      const next = items.find((li) => li.dataset.participantId === focused) ?? items[0];
      next?.querySelector("button:not(:disabled)")?.focus({ preventScroll: true });
    }
  }

  #item(w) {
    const name = w.name || w.identity;
    const avatar = h("span", { class: "avatar small", "aria-hidden": "true" });
    avatar.textContent = initials(name);
    avatar.style.setProperty("--hue", hueFor(w.identity || name));
    const label = h("span", { class: "lobby-name" });
    label.textContent = name;
    label.title = name;
    const answered = this.pending.has(w.participant_id);
    const button = (cls, text, onClick) => {
      const b = h("button", { type: "button", class: cls, disabled: answered, onclick: onClick }, text);
      b.setAttribute("aria-label", `${text} ${name}`);
      return b;
    };
    const answer = (fn) => () => {
      this.pending.add(w.participant_id);
      for (const b of li.querySelectorAll("button")) b.disabled = true;
      fn(w.participant_id);
    };
    const li = h(
      "li",
      { class: "lobby-entry", "data-participant-id": w.participant_id },
      avatar,
      label,
      h(
        "span",
        { class: "lobby-actions" },
        button("lobby-reject secondary-button", "Reject", answer(this.onReject)),
        button("lobby-admit primary-button", "Admit", answer(this.onAdmit)),
      ),
    );
    return li;
  }
}
