// The call screen: binds one Call to the tiles, the panels, the controls, the banner and
// the sound, and turns the user's clicks and keys into calls on it.

import { AudioSinks } from "./audio.js";
import { ChatPanel } from "./chat.js";
import { Controls } from "./controls.js";
import { LobbyPanel } from "./lobby.js";
import { markTiles } from "./e2ee.js";
import { canShareScreen, getScreen, LevelMeter } from "./media.js";
import { Banner, Toasts } from "./notices.js";
import { PeoplePanel } from "./people.js";
import { SpeakerDetector } from "./speakers.js";
import { TileView } from "./tiles.js";
import { $, formatTime, roomLink } from "./util.js";

export class CallView {
  constructor({ onLeave }) {
    this.onLeave = onLeave;
    this.call = null;
    this.unsubscribe = [];
    this.screen = $("call-screen");
    this.banner = new Banner($("banner"));
    this.toasts = new Toasts($("toasts"));
    this.tiles = new TileView({ tiles: $("tiles"), stage: $("stage"), area: $("call-area") });
    this.audio = new AudioSinks($("audio-sinks"), {
      onBlocked: (blocked) => {
        $("sound-prompt").hidden = !blocked;
      },
    });
    this.chat = new ChatPanel({
      panel: $("chat-panel"),
      list: $("chat-messages"),
      form: $("chat-form"),
      input: $("chat-input"),
      unread: $("chat-unread"),
      empty: $("chat-empty"),
      status: $("chat-status"),
      onSend: (text) => this.call?.sendChat(text),
      onOpenChange: () => this.#renderControls(),
    });
    this.people = new PeoplePanel({
      panel: $("people-panel"),
      list: $("people-list"),
      count: $("people-count"),
      onOpenChange: () => this.#renderControls(),
    });
    this.lobby = new LobbyPanel({
      panel: $("lobby-panel"),
      list: $("lobby-list"),
      count: $("lobby-count"),
      badge: $("lobby-badge"),
      onAdmit: (id) => this.call?.admit(id),
      onReject: (id) => this.call?.reject(id),
    });
    this.controls = new Controls({
      mic: () => this.call?.setMicMuted(!this.call.micMuted),
      camera: () => this.call?.setCameraOff(!this.call.cameraOff),
      screen: () => this.#toggleScreen(),
      chat: () => this.#openPanel(this.chat.isOpen ? null : "chat"),
      people: () => this.#openPanel(this.people.isOpen ? null : "people"),
      invite: () => this.#invite(),
      leave: () => this.onLeave(),
      escape: (event) => {
        if (this.chat.isOpen || this.people.isOpen) {
          event.preventDefault();
          const button = this.chat.isOpen ? $("chat-button") : $("people-button");
          this.#openPanel(null);
          button.focus();
        }
      },
    });
    for (const button of document.querySelectorAll(".panel-close")) {
      button.addEventListener("click", () => {
        const target = button.closest("#chat-panel") ? $("chat-button") : $("people-button");
        this.#openPanel(null);
        target.focus();
      });
    }
    $("people-invite").addEventListener("click", () => this.#invite());
    $("alone-invite").addEventListener("click", () => this.#invite());
    this.detector = new SpeakerDetector({
      levels: () => this.#levels(),
      onChange: (id) => this.tiles.setSpeaking(id),
      onLevels: (levels) => this.tiles.setLevels(levels),
    });
    this.localMeter = null;
    this.clock = null;
  }

  // --- attaching a call -------------------------------------------------------------------

  attach(call) {
    this.detach();
    this.call = call;
    this.chat.clear();
    this.#openPanel(null);
    const on = (type, fn) => this.unsubscribe.push(call.on(type, fn));
    on("roster", () => this.render());
    on("local", () => this.render());
    on("state", () => this.render());
    on("connection", (info) => this.#renderBanner(info));
    on("chat", (event) => {
      this.chat.add(event);
      this.#renderTitle();
    });
    on("chat-ready", (ready) => this.chat.setReady(ready));
    if (call.e2ee) this.unsubscribe.push(call.e2ee.on("status", () => this.#renderE2ee()));
    on("notice", ({ text, tone, ms }) => this.toasts.show(text, tone, ms));
    on("grants", () => this.render());
    on("waiting", (waiting) => this.#renderWaiting(waiting));
    this.chat.setReady(call.chatReady);
    $("call-room-name").textContent = call.room;
    this.clock = setInterval(() => this.#renderClock(), 10_000);
    this.#renderClock();
  }

  show() {
    this.screen.hidden = false;
    this.controls.enabled = true;
    this.detector.start();
    this.render();
    this.#renderBanner(this.call.connectionInfo());
  }

  hide() {
    this.screen.hidden = true;
    this.controls.enabled = false;
    this.detector.stop();
    this.banner.hide();
    $("sound-prompt").hidden = true;
  }

  detach() {
    this.unsubscribe.splice(0).forEach((off) => off());
    clearInterval(this.clock);
    this.localMeter?.stop();
    this.localMeter = null;
    this.call = null;
    this.tiles.clear();
    this.audio.clear();
    this.lobby.update([], false);
  }

  // --- rendering ----------------------------------------------------------------------------

  render() {
    const call = this.call;
    if (!call) return;
    this.#updateLocalMeter();
    const tiles = [];
    const people = [];
    const screens = [];
    tiles.push({
      key: "local:camera",
      participantId: call.participantId,
      kind: "camera",
      local: true,
      name: call.name,
      track: call.local.camera,
      micMuted: call.micMuted,
      cameraOff: call.cameraOff || !call.local.camera,
      mirror: true,
    });
    people.push({
      participantId: call.participantId,
      name: call.name,
      local: true,
      micMuted: call.micMuted,
      cameraOff: call.cameraOff || !call.local.camera,
      presenting: Boolean(call.local.screen),
    });
    for (const p of call.participants.values()) {
      const tracks = [...p.tracks.values()];
      const mic = tracks.find((t) => t.kind === "audio" && t.source === "microphone");
      const camera = tracks.find((t) => t.kind === "video" && t.source === "camera");
      const micMuted = !mic || mic.muted;
      const cameraOff = !camera || camera.muted;
      tiles.push({
        key: `${p.participantId}:camera`,
        participantId: p.participantId,
        kind: "camera",
        name: p.name,
        track: camera ? (call.remote.get(camera.track_id)?.track ?? null) : null,
        micMuted,
        cameraOff,
      });
      const shared = tracks.filter((t) => t.kind === "video" && t.source === "screen");
      for (const t of shared) {
        screens.push({
          key: `${t.track_id}:screen`,
          participantId: p.participantId,
          kind: "screen",
          name: p.name,
          track: call.remote.get(t.track_id)?.track ?? null,
          micMuted,
          cameraOff: t.muted,
        });
      }
      people.push({ participantId: p.participantId, name: p.name, micMuted, cameraOff, presenting: shared.length > 0 });
    }
    if (call.local.screen) {
      screens.push({
        key: "local:screen",
        participantId: call.participantId,
        kind: "screen",
        local: true,
        name: call.name,
        track: call.local.screen,
        micMuted: call.micMuted,
        cameraOff: false,
      });
    }
    this.tiles.update([...tiles, ...screens]);
    this.#renderE2ee();
    this.people.update(people);
    this.audio.update(
      [...call.remote.values()].filter((r) => r.kind === "audio").map((r) => ({ trackId: r.trackId, track: r.track })),
    );
    $("call-room-name").textContent = call.room;
    $("call-count").textContent = `${people.length} ${people.length === 1 ? "person" : "people"}`;
    $("alone-hint").hidden = call.participants.size > 0 || call.state !== "joined";
    this.#renderControls();
    this.#renderChatAllowed();
    this.#renderTitle();
  }

  // Room admins: who waits in the lobby; a toast for each newcomer.
  #renderWaiting(waiting) {
    const call = this.call;
    if (!call) return;
    const known = new Set(this.lobby.waiting.map((w) => w.participant_id));
    this.lobby.update(waiting, call.isAdmin);
    if (call.isAdmin && !this.screen.hidden) {
      for (const w of waiting) {
        if (!known.has(w.participant_id)) this.toasts.show(`${w.name || w.identity} is waiting to join`, "info", 5000);
      }
    }
    this.#renderControls();
  }

  #renderChatAllowed() {
    const allowed = this.call?.mayChat ?? true;
    $("chat-input").disabled = !allowed;
    $("chat-send").disabled = !allowed;
    const everyone = this.call?.e2ee ? "Message everyone (end-to-end encrypted)" : "Message everyone";
    $("chat-input").placeholder = allowed ? everyone : "Chat is off for you";
    $("chat-disabled").hidden = allowed;
  }

  #renderControls() {
    const call = this.call;
    if (!call) return;
    this.controls.render({
      micOn: !call.micMuted,
      cameraOn: !call.cameraOff && Boolean(call.local.camera),
      sharing: Boolean(call.local.screen),
      canShare: canShareScreen(),
      chatOpen: this.chat.isOpen,
      peopleOpen: this.people.isOpen,
      unread: this.chat.unread,
      micAllowed: call.mayPublish("microphone"),
      cameraAllowed: call.mayPublish("camera"),
      screenAllowed: call.mayPublish("screen"),
      waiting: this.lobby.size,
    });
    this.screen.classList.toggle("panel-open", this.chat.isOpen || this.people.isOpen);
  }

  #renderE2ee() {
    markTiles(this.tiles.tiles.values(), this.call?.e2ee, this.call?.remote);
    $("e2ee-indicator").hidden = !this.call?.e2ee;
  }

  #renderTitle() {
    if (!this.call) return;
    const unread = this.chat.unread;
    document.title = `${unread ? `(${unread}) ` : ""}${this.call.room} · Huddle`;
  }

  #renderClock() {
    $("call-clock").textContent = formatTime(new Date());
  }

  #renderBanner(info) {
    const call = this.call;
    if (!call || this.screen.hidden) return;
    if (info.state === "reconnecting") {
      let text;
      if (!navigator.onLine) text = "You're offline.";
      else if (info.lastError?.code === "unreachable") text = "Can't reach the server.";
      else if (info.reason === "media") text = "The media connection was lost.";
      else text = "The connection to the server was lost.";
      this.banner.show("reconnecting", text, {
        retrying: true,
        retryAt: info.retryAt,
        action: info.retryAt ? { label: "Retry now", onClick: () => call.retryNow() } : null,
      });
    } else if (info.state === "failed") {
      this.banner.show("error", info.failureText ?? "The call ended.", {
        action: { label: "Rejoin", onClick: () => call.retryNow() },
      });
    } else if (info.state === "joined" && info.mediaUnstable) {
      this.banner.show("reconnecting", "The connection is unstable. Trying to recover…");
    } else {
      this.banner.hide();
    }
  }

  // --- actions ------------------------------------------------------------------------------

  #openPanel(which) {
    this.people.setOpen(which === "people");
    this.chat.setOpen(which === "chat");
    this.#renderControls();
    this.#renderTitle();
    requestAnimationFrame(() => this.tiles.layout());
  }

  async #toggleScreen() {
    const call = this.call;
    if (!call) return;
    if (call.local.screen) {
      await call.stopScreenShare();
      return;
    }
    let track;
    try {
      track = await getScreen();
    } catch (err) {
      if (err.reason !== "cancelled") this.toasts.show(err.message, "error");
      return;
    }
    if (this.call !== call || call.state === "left") {
      track.stop();
      return;
    }
    await call.startScreenShare(track);
  }

  async #invite() {
    if (!this.call) return;
    const link = roomLink(this.call.room) + (this.call.e2ee ? "#e2ee=1" : ""); // never the passphrase
    let copied = false;
    try {
      await navigator.clipboard.writeText(link);
      copied = true;
    } catch {
      const area = document.createElement("textarea");
      area.value = link;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
      area.remove();
    }
    this.toasts.show(copied ? "Invite link copied to the clipboard" : `Invite link: ${link}`, copied ? "ok" : "info", 5000);
  }

  // --- audio levels ------------------------------------------------------------------------

  #updateLocalMeter() {
    const track = this.call?.local.microphone ?? null;
    if (this.localMeter?.track === track) return;
    this.localMeter?.stop();
    this.localMeter = track ? new LevelMeter(track) : null;
  }

  async #levels() {
    const call = this.call;
    if (!call || call.state !== "joined") return new Map();
    const levels = await call.remoteAudioLevels();
    for (const id of [...levels.keys()]) {
      const p = call.participants.get(id);
      const mic = p && [...p.tracks.values()].find((t) => t.kind === "audio" && t.source === "microphone");
      if (!mic || mic.muted) levels.delete(id);
    }
    if (call.participantId && !call.micMuted && this.localMeter) {
      levels.set(call.participantId, this.localMeter.level());
    }
    return levels;
  }
}
