// The chat panel: history, live messages in server order, our own messages shown at once
// as pending and completed by their acknowledgement, unread count while closed.
// Message text is untrusted: it is only ever set with textContent; http(s) URLs become
// links through the DOM, never through HTML.

import { formatTime, h } from "./util.js";

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const GROUP_SECONDS = 5 * 60;

// Trailing punctuation is part of the sentence, not of the link ("see https://x.org.").
function trimUrl(raw) {
  let url = raw;
  while (/[.,;:!?'")\]}]$/.test(url)) {
    const last = url.at(-1);
    if (last === ")" && (url.match(/\(/g) ?? []).length >= (url.match(/\)/g) ?? []).length) break;
    url = url.slice(0, -1);
  }
  return url;
}

// Text -> nodes: text nodes, and <a> for http(s) URLs only.
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const raw = trimUrl(match[0]);
    let url = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const a = h("a", { href: url.href, target: "_blank", rel: "noopener", referrerpolicy: "no-referrer" });
    a.textContent = raw;
    nodes.push(a);
    last = match.index + raw.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

export class ChatPanel {
  constructor({ panel, list, form, input, unread, empty, status, onSend, onOpenChange }) {
    Object.assign(this, { panel, list, form, input, unreadEl: unread, empty, status, onSend, onOpenChange });
    this.unread = 0;
    this.byClientId = new Map(); // client_id -> <li> of our pending messages
    this.byId = new Map(); // server id -> <li>
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.#submit();
      }
    });
    input.addEventListener("input", () => this.#grow());
    this.#renderUnread();
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  setOpen(open) {
    if (open === this.isOpen) return;
    this.panel.hidden = !open;
    if (open) {
      this.unread = 0;
      this.#renderUnread();
      this.list.scrollTop = this.list.scrollHeight;
      this.input.focus({ preventScroll: true });
    }
    this.onOpenChange?.(open);
  }

  setReady(ready) {
    this.status.hidden = ready;
  }

  #submit() {
    const text = this.input.value.replace(/\s+$/, "");
    if (!text.trim()) return;
    this.onSend(text);
    this.input.value = "";
    this.#grow();
  }

  #grow() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 140)}px`;
  }

  // {message, own, pending, history, live} as the call emits it.
  add({ message, own, pending, live }) {
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    let li = own ? this.byClientId.get(message.client_id) : undefined;
    if (li && !pending) {
      this.byClientId.delete(message.client_id);
      li.remove(); // re-inserted at its place in server order
    }
    if (message.id !== undefined && this.byId.has(message.id)) return;
    if (!li) li = this.#element();
    this.#fill(li, message, { own, pending });
    if (pending) {
      this.byClientId.set(message.client_id, li);
      this.list.append(li);
    } else {
      this.byId.set(message.id, li);
      this.#insertInOrder(li, message.id);
    }
    this.#group(li);
    this.#group(li.nextElementSibling);
    this.empty.hidden = this.list.children.length > 0;
    if (live && !this.isOpen) {
      this.unread += 1;
      this.#renderUnread();
    }
    if (nearBottom || own) this.list.scrollTop = this.list.scrollHeight;
  }

  #element() {
    const sender = h("span", { class: "chat-sender" });
    const time = h("time", { class: "chat-time" });
    const text = h("div", { class: "chat-text" });
    const li = h("li", { class: "chat-message" }, h("div", { class: "chat-meta" }, sender, time), text);
    li.parts = { sender, time, text };
    return li;
  }

  #fill(li, message, { own, pending }) {
    const { sender, time, text } = li.parts;
    li.classList.toggle("own", own);
    li.classList.toggle("pending", pending);
    if (message.id !== undefined) li.dataset.messageId = String(message.id);
    li.dataset.identity = message.identity ?? "";
    li.dataset.ts = String(message.ts);
    sender.textContent = message.name; // untrusted: text only
    const date = new Date(message.ts * 1000);
    time.dateTime = date.toISOString();
    time.textContent = formatTime(date);
    time.title = pending ? "Sending…" : date.toLocaleString();
    li.classList.toggle("undecryptable", Boolean(message.undecryptable));
    li.classList.toggle("unsealed", Boolean(message.unsealed));
    sender.title = message.unsealed ? "Not end-to-end encrypted: sent in the clear through the server" : "";
    if (message.undecryptable) text.textContent = "Can't decrypt this message: is the passphrase the same?";
    else text.replaceChildren(...linkify(message.text));
  }

  // Acknowledged messages in id order; pending ones stay last.
  #insertInOrder(li, id) {
    let before = null;
    for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
      const nodeId = node.dataset.messageId;
      if (node.classList.contains("pending") || (nodeId !== undefined && Number(nodeId) > id)) before = node;
      else break;
    }
    this.list.insertBefore(li, before);
  }

  // A message right after another from the same person shows without the name line.
  #group(li) {
    if (!li) return;
    const previous = li.previousElementSibling;
    const same =
      previous &&
      previous.dataset.identity === li.dataset.identity &&
      Number(li.dataset.ts) - Number(previous.dataset.ts) < GROUP_SECONDS;
    li.classList.toggle("continued", Boolean(same));
  }

  #renderUnread() {
    this.unreadEl.textContent = this.unread ? String(Math.min(this.unread, 99)) : "";
    this.unreadEl.hidden = this.unread === 0;
    this.onOpenChange?.(this.isOpen);
  }

  clear() {
    this.list.replaceChildren();
    this.byClientId.clear();
    this.byId.clear();
    this.unread = 0;
    this.#renderUnread();
    this.empty.hidden = false;
  }
}
