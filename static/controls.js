// The call's control bar and its keyboard shortcuts. Toggle buttons keep one accessible
// name and report their state with aria-pressed (true = the thing is on / open).

import { setIcon } from "./icons.js";
import { $, isTyping } from "./util.js";

export const SHORTCUTS = {
  m: "mic",
  v: "camera",
  s: "screen",
  c: "chat",
  p: "people",
};

export class Controls {
  // actions: {mic, camera, screen, chat, people, invite, leave, escape}
  constructor(actions) {
    this.actions = actions;
    this.enabled = false;
    this.buttons = {
      mic: $("mic-button"),
      camera: $("camera-button"),
      screen: $("screen-button"),
      chat: $("chat-button"),
      people: $("people-button"),
      invite: $("invite-button"),
      leave: $("leave-button"),
    };
    for (const [name, button] of Object.entries(this.buttons)) {
      button.addEventListener("click", () => this.#run(name));
    }
    document.addEventListener("keydown", (event) => this.#key(event));
  }

  #key(event) {
    if (!this.enabled || event.defaultPrevented) return;
    if (event.key === "Escape") {
      this.actions.escape?.(event);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (isTyping(event.target)) return;
    const action = SHORTCUTS[event.key.toLowerCase()];
    if (!action || this.buttons[action].disabled) return;
    event.preventDefault();
    this.#run(action);
  }

  // Synchronously, so that APIs needing a user gesture (getDisplayMedia) get this one.
  #run(name) {
    try {
      this.actions[name]?.()?.catch?.((err) => console.error(`${name} failed`, err));
    } catch (err) {
      console.error(`${name} failed`, err);
    }
  }

  #toggle(button, on, { label, onIcon, offIcon, onTip, offTip, danger = false, allowed = true, deniedTip = "" }) {
    button.setAttribute("aria-pressed", String(on));
    button.setAttribute("aria-label", label);
    button.dataset.tip = allowed ? (on ? onTip : offTip) : deniedTip;
    button.dataset.allowed = String(allowed);
    button.disabled = !allowed; // the screen button adds its own condition after
    button.classList.toggle("off", danger && !on);
    setIcon(button, on ? onIcon : offIcon);
  }

  // state: {micOn, cameraOn, sharing, canShare, chatOpen, peopleOpen, unread,
  //         micAllowed, cameraAllowed, screenAllowed (what our grants let us publish), waiting}
  render(s) {
    const b = this.buttons;
    this.#toggle(b.mic, s.micOn, {
      label: "Microphone",
      onIcon: "mic",
      offIcon: "micOff",
      onTip: "Turn off microphone (M)",
      offTip: "Turn on microphone (M)",
      danger: true,
      allowed: s.micAllowed !== false,
      deniedTip: "You can't use your microphone in this call",
    });
    this.#toggle(b.camera, s.cameraOn, {
      label: "Camera",
      onIcon: "camera",
      offIcon: "cameraOff",
      onTip: "Turn off camera (V)",
      offTip: "Turn on camera (V)",
      danger: true,
      allowed: s.cameraAllowed !== false,
      deniedTip: "You can't use your camera in this call",
    });
    this.#toggle(b.screen, s.sharing, {
      label: "Share screen",
      onIcon: "screenOff",
      offIcon: "screen",
      onTip: "Stop sharing (S)",
      offTip: s.canShare ? "Share your screen (S)" : "Screen sharing is not available in this browser",
      allowed: s.screenAllowed !== false,
      deniedTip: "You can't share your screen in this call",
    });
    b.screen.classList.toggle("active", s.sharing);
    b.screen.disabled = s.screenAllowed === false || (!s.canShare && !s.sharing);
    this.#toggle(b.chat, s.chatOpen, {
      label: s.unread ? `Chat, ${s.unread} unread` : "Chat",
      onIcon: "chat",
      offIcon: "chat",
      onTip: "Close chat (C)",
      offTip: "Open chat (C)",
    });
    this.#toggle(b.people, s.peopleOpen, {
      label: s.waiting ? `Participants, ${s.waiting} waiting to join` : "Participants",
      onIcon: "people",
      offIcon: "people",
      onTip: "Close participants (P)",
      offTip: s.waiting ? `${s.waiting} waiting to join (P)` : "Show participants (P)",
    });
    b.chat.classList.toggle("active", s.chatOpen);
    b.people.classList.toggle("active", s.peopleOpen);
  }
}
