// The participant list: everyone in the call, ourselves first, with mic and camera state.

import { icon } from "./icons.js";
import { h, hueFor, initials } from "./util.js";

export class PeoplePanel {
  constructor({ panel, list, count, onOpenChange }) {
    Object.assign(this, { panel, list, count, onOpenChange });
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  setOpen(open) {
    if (open === this.isOpen) return;
    this.panel.hidden = !open;
    this.onOpenChange?.(open);
  }

  // people: [{participantId, name, local, micMuted, cameraOff, presenting}]
  update(people) {
    this.count.textContent = String(people.length);
    const items = people.map((p) => {
      const avatar = h("span", { class: "avatar small", "aria-hidden": "true" });
      avatar.textContent = initials(p.name);
      avatar.style.setProperty("--hue", hueFor(p.participantId || p.name));
      const name = h("span", { class: "person-name" });
      name.textContent = p.name;
      const states = [];
      if (p.presenting) states.push(h("span", { class: "person-state presenting", title: "Presenting" }, icon("screen")));
      states.push(
        h(
          "span",
          { class: `person-state${p.micMuted ? " off" : ""}`, title: p.micMuted ? "Microphone off" : "Microphone on" },
          icon(p.micMuted ? "micOff" : "mic"),
        ),
        h(
          "span",
          { class: `person-state${p.cameraOff ? " off" : ""}`, title: p.cameraOff ? "Camera off" : "Camera on" },
          icon(p.cameraOff ? "cameraOff" : "camera"),
        ),
      );
      const label = `${p.name}${p.local ? " (you)" : ""}: microphone ${p.micMuted ? "off" : "on"}, camera ${
        p.cameraOff ? "off" : "on"
      }${p.presenting ? ", presenting" : ""}`;
      return h(
        "li",
        { class: "person", "data-participant-id": p.participantId ?? "", "aria-label": label },
        avatar,
        h("span", { class: "person-label" }, name, p.local ? h("span", { class: "person-you" }, "You") : null),
        h("span", { class: "person-states", "aria-hidden": "true" }, states),
      );
    });
    this.list.replaceChildren(...items);
  }
}
