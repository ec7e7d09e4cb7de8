// What the page tells the user: the connection banner (#banner) and short toasts.

import { icon, setIcon } from "./icons.js";
import { h } from "./util.js";

export class Banner {
  constructor(element) {
    this.element = element;
    this.text = element.querySelector(".banner-text");
    this.action = element.querySelector(".banner-action");
    this.onAction = null;
    this.action.addEventListener("click", () => this.onAction?.());
    this.countdown = null;
  }

  // state: "ok" | "reconnecting" | "error"; message; optional action {label, onClick};
  // retrying: add "Retrying in N s." while retryAt is ahead, "Reconnecting…" after it.
  show(state, message, { action = null, retryAt = null, retrying = false } = {}) {
    clearInterval(this.countdown);
    this.element.dataset.state = state;
    this.element.hidden = state === "ok";
    this.element.setAttribute("role", state === "error" ? "alert" : "status");
    setIcon(this.element, state === "error" ? "alert" : "refresh");
    const render = () => {
      const seconds = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
      let text = message;
      if (retrying) text = seconds > 0 ? `${message} Retrying in ${seconds} s.` : `${message} Reconnecting…`;
      this.text.textContent = state === "ok" ? "" : text;
    };
    render();
    if (retryAt) this.countdown = setInterval(render, 500);
    this.action.hidden = !action;
    if (action) this.action.textContent = action.label;
    this.onAction = action?.onClick ?? null;
  }

  hide() {
    this.show("ok", "");
  }
}

export class Toasts {
  constructor(container) {
    this.container = container;
  }

  // tone: "info" | "ok" | "error"
  show(text, tone = "info", ms = 3500) {
    const toast = h(
      "div",
      { class: `toast ${tone}`, role: tone === "error" ? "alert" : "status" },
      icon(tone === "error" ? "alert" : tone === "ok" ? "check" : "people"),
      h("span", {}, text),
    );
    this.container.append(toast);
    while (this.container.children.length > 4) this.container.firstElementChild.remove();
    setTimeout(() => {
      toast.classList.add("leaving");
      setTimeout(() => toast.remove(), 300);
    }, ms);
  }
}
