// The join screen: room and name, camera and microphone pickers with a live preview and
// a level meter, joining with either device off. The tracks it opened are handed to the
// call on join, so the camera does not blink off and on.

import { setIcon } from "./icons.js";
import { getCamera, getCameraAndMicrophone, getMicrophone, LevelMeter, listDevices } from "./media.js";
import { $, h, hueFor, initials, isValidName, isValidRoom, prefs, randomId } from "./util.js";

const WORDS_A = ["calm", "bright", "quiet", "swift", "amber", "cedar", "lunar", "north", "coral", "maple"];
const WORDS_B = ["harbor", "meadow", "summit", "river", "forest", "canyon", "island", "garden", "valley", "comet"];

export function newRoomName() {
  const pick = (list) => list[crypto.getRandomValues(new Uint8Array(1))[0] % list.length];
  return `${pick(WORDS_A)}-${pick(WORDS_B)}-${randomId(2)}`;
}

export const BAD_LINK =
  "This room link is not valid. Room names use letters, digits, dots, dashes and underscores (at most 64).";

export class JoinScreen {
  constructor({ room, name, cameraOn, micOn, roomError, e2ee = false, onJoin }) {
    this.el = {
      screen: $("join-screen"),
      form: $("join-form"),
      room: $("room-input"),
      name: $("name-input"),
      cameraSelect: $("camera-select"),
      micSelect: $("mic-select"),
      cameraToggle: $("join-camera-toggle"),
      micToggle: $("join-mic-toggle"),
      preview: $("preview"),
      previewOff: $("preview-off"),
      previewAvatar: $("preview-avatar"),
      previewNote: $("preview-note"),
      meter: $("mic-meter"),
      meterHint: $("meter-hint"),
      error: $("join-error"),
      notice: $("join-notice"),
      button: $("join-button"),
      newRoom: $("new-room-button"),
      heading: $("join-heading"),
      passphraseField: $("passphrase-field"),
      passphrase: $("passphrase-input"),
    };
    this.onJoin = onJoin;
    this.cameraOn = cameraOn;
    this.micOn = micOn;
    this.tracks = { camera: null, microphone: null };
    this.deviceErrors = { camera: null, microphone: null };
    this.roomError = roomError;
    this.meter = null;
    this.meterTimer = null;
    this.acquiring = Promise.resolve();

    const { el } = this;
    el.room.value = room ?? "";
    el.name.value = name ?? prefs.get("name") ?? "";
    el.passphraseField.hidden = !e2ee; // the passphrase is never stored, nor put in a URL
    this.#heading();
    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    el.room.addEventListener("input", () => {
      this.roomError = this.joinError = null;
      this.#heading();
      this.#renderError();
    });
    el.name.addEventListener("input", () => {
      if (this.joinError) {
        this.joinError = null;
        this.#renderError();
      }
      this.#renderPreview();
    });
    el.passphrase.addEventListener("input", () => {
      if (!this.joinError) return;
      this.joinError = null;
      this.#renderError();
    });
    el.newRoom.addEventListener("click", () => {
      el.room.value = newRoomName();
      this.roomError = this.joinError = null;
      this.#heading();
      this.#renderError();
      el.name.focus();
    });
    el.cameraToggle.addEventListener("click", () => this.#toggle("camera"));
    el.micToggle.addEventListener("click", () => this.#toggle("microphone"));
    el.cameraSelect.addEventListener("change", () => this.#switchDevice("camera"));
    el.micSelect.addEventListener("change", () => this.#switchDevice("microphone"));
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.#fillPickers());
    this.#renderToggles();
    this.#renderPreview();
    this.#renderError();
  }

  get visible() {
    return !this.el.screen.hidden;
  }

  // Open the devices that are on; resolves when the preview is ready (or has failed).
  start() {
    this.acquiring = this.acquiring.then(async () => {
      const wanted = { camera: this.cameraOn && !this.tracks.camera, microphone: this.micOn && !this.tracks.microphone };
      if (wanted.camera || wanted.microphone) {
        const got = await getCameraAndMicrophone({
          camera: wanted.camera,
          microphone: wanted.microphone,
          cameraId: prefs.get("cameraId"),
          micId: prefs.get("micId"),
        });
        if (!this.visible) {
          got.camera?.stop();
          got.microphone?.stop();
          return;
        }
        if (got.camera) this.#setTrack("camera", got.camera);
        if (got.microphone) this.#setTrack("microphone", got.microphone);
        for (const err of got.errors) {
          this.deviceErrors[err.kind] = err;
          if (err.kind === "camera") this.cameraOn = false;
          else this.micOn = false;
        }
      }
      this.#renderToggles();
      this.#renderPreview();
      this.#renderError();
      await this.#fillPickers();
    });
    return this.acquiring;
  }

  show(notice = "") {
    this.el.screen.hidden = false;
    this.el.notice.textContent = notice;
    this.el.notice.hidden = !notice;
    this.setBusy(false);
    document.title = "Huddle";
    return this.start();
  }

  hide() {
    this.el.screen.hidden = true;
    this.#stopMeter();
  }

  setBusy(busy) {
    this.el.button.disabled = busy;
    this.el.button.classList.toggle("busy", busy);
    this.el.button.querySelector(".label").textContent = busy ? "Joining…" : "Join now";
  }

  setError(text) {
    this.joinError = text;
    this.#renderError();
  }

  // The devices for the call. The join screen lets go of them.
  takeTracks() {
    const tracks = this.tracks;
    this.tracks = { camera: null, microphone: null };
    this.#stopMeter();
    this.el.preview.srcObject = null;
    return tracks;
  }

  // A join that failed: the devices come back for another try.
  giveBack({ camera, microphone }) {
    if (camera) this.#setTrack("camera", camera);
    if (microphone) this.#setTrack("microphone", microphone);
    this.#renderToggles();
  }

  devicesIds() {
    return { cameraId: prefs.get("cameraId"), micId: prefs.get("micId") };
  }

  values() {
    const passphrase = this.el.passphraseField.hidden ? "" : this.el.passphrase.value;
    return { room: this.el.room.value.trim(), name: this.el.name.value.trim(), passphrase };
  }

  // End-to-end encryption is on (the link asked for it, or the room requires it).
  get wantsPassphrase() {
    return !this.el.passphraseField.hidden;
  }

  // The room requires end-to-end encryption: show the passphrase field and wait for it.
  askPassphrase(text) {
    this.el.passphraseField.hidden = false;
    this.setError(text);
    this.setBusy(false);
    this.el.passphrase.focus();
  }

  // Validate, then hand over to the page; returns false when the form is not complete.
  async submit() {
    const { room, name, passphrase } = this.values();
    this.joinError = null;
    if (!room) {
      this.setError("Enter a room name, or create a new room.");
      this.el.room.focus();
      return false;
    }
    if (!isValidRoom(room)) {
      this.roomError = BAD_LINK;
      this.#renderError();
      this.el.room.focus();
      return false;
    }
    if (!isValidName(name)) {
      this.setError(name ? "Your name can be at most 64 characters." : "Enter your name so others know who you are.");
      this.el.name.focus();
      return false;
    }
    if (this.wantsPassphrase && !passphrase) {
      this.askPassphrase("Enter the passphrase for this end-to-end encrypted call.");
      return false;
    }
    prefs.set("name", name);
    this.setBusy(true);
    await this.acquiring; // the preview's devices are ready (or failed)
    this.onJoin({ room, name, passphrase, cameraOn: this.cameraOn, micOn: this.micOn });
    return true;
  }

  #heading() {
    const room = this.el.room.value.trim();
    this.el.heading.textContent = room && isValidRoom(room) ? `Join ${room}` : "Join a call";
  }

  #renderError() {
    const { camera, microphone } = this.deviceErrors;
    let devices = [camera?.message, microphone?.message];
    if (camera?.reason === "denied" && microphone?.reason === "denied") {
      devices = ["Camera and microphone access are blocked. Allow them in your browser's site settings, then try again."];
    }
    const messages = [this.roomError, this.joinError, ...devices];
    this.el.error.textContent = messages.filter(Boolean).join(" ");
    this.el.error.hidden = !this.el.error.textContent;
  }

  #setTrack(kind, track) {
    const old = this.tracks[kind];
    if (old && old !== track) old.stop();
    this.tracks[kind] = track;
    this.deviceErrors[kind] = null;
    if (kind === "camera") {
      this.el.preview.srcObject = track ? new MediaStream([track]) : null;
      this.el.preview.play?.().catch(() => {});
      this.#renderPreview();
    } else {
      this.#startMeter();
    }
  }

  async #toggle(kind) {
    const on = kind === "camera" ? !this.cameraOn : !this.micOn;
    if (kind === "camera") this.cameraOn = on;
    else this.micOn = on;
    if (!on) {
      this.tracks[kind]?.stop();
      this.tracks[kind] = null;
      if (kind === "camera") this.el.preview.srcObject = null;
      else this.#stopMeter();
      this.deviceErrors[kind] = null;
    }
    this.#renderToggles();
    this.#renderPreview();
    this.#renderError();
    if (on) {
      this.acquiring = this.acquiring.then(async () => {
        try {
          const id = prefs.get(kind === "camera" ? "cameraId" : "micId");
          const track = await (kind === "camera" ? getCamera(id) : getMicrophone(id));
          const stillOn = kind === "camera" ? this.cameraOn : this.micOn;
          if (!stillOn || !this.visible) track.stop();
          else this.#setTrack(kind, track);
        } catch (err) {
          this.deviceErrors[kind] = err;
          if (kind === "camera") this.cameraOn = false;
          else this.micOn = false;
        }
        this.#renderToggles();
        this.#renderPreview();
        this.#renderError();
        await this.#fillPickers();
      });
    }
  }

  async #switchDevice(kind) {
    const select = kind === "camera" ? this.el.cameraSelect : this.el.micSelect;
    prefs.set(kind === "camera" ? "cameraId" : "micId", select.value || null);
    if (!(kind === "camera" ? this.cameraOn : this.micOn)) return;
    this.acquiring = this.acquiring.then(async () => {
      this.tracks[kind]?.stop();
      this.tracks[kind] = null;
      try {
        const track = await (kind === "camera" ? getCamera(select.value) : getMicrophone(select.value));
        this.#setTrack(kind, track);
      } catch (err) {
        this.deviceErrors[kind] = err;
      }
      this.#renderError();
    });
  }

  async #fillPickers() {
    let devices;
    try {
      devices = await listDevices();
    } catch {
      return;
    }
    const fill = (select, list, kind, noun) => {
      if (!list.length && this.deviceErrors[kind]?.reason === "denied") {
        select.replaceChildren(Object.assign(h("option", { value: "" }), { textContent: `${noun[0].toUpperCase()}${noun.slice(1)} blocked` }));
        select.disabled = true;
        return;
      }
      const current = this.tracks[kind]?.getSettings?.().deviceId ?? prefs.get(kind === "camera" ? "cameraId" : "micId");
      const options = list.length
        ? list.map((d) => {
            const option = h("option", { value: d.deviceId });
            option.textContent = d.label;
            option.selected = d.deviceId === current;
            return option;
          })
        : [Object.assign(h("option", { value: "" }), { textContent: `No ${noun} found` })];
      select.replaceChildren(...options);
      select.disabled = list.length === 0;
    };
    fill(this.el.cameraSelect, devices.cameras, "camera", "camera");
    fill(this.el.micSelect, devices.microphones, "microphone", "microphone");
  }

  #renderToggles() {
    const { cameraToggle, micToggle } = this.el;
    cameraToggle.setAttribute("aria-pressed", String(this.cameraOn));
    micToggle.setAttribute("aria-pressed", String(this.micOn));
    cameraToggle.title = this.cameraOn ? "Turn camera off" : "Turn camera on";
    micToggle.title = this.micOn ? "Turn microphone off" : "Turn microphone on";
    setIcon(cameraToggle, this.cameraOn ? "camera" : "cameraOff");
    setIcon(micToggle, this.micOn ? "mic" : "micOff");
    this.el.meter.classList.toggle("off", !this.micOn);
  }

  #renderPreview() {
    const name = this.el.name.value.trim();
    const showVideo = this.cameraOn && Boolean(this.tracks.camera);
    this.el.previewOff.hidden = showVideo;
    this.el.preview.classList.toggle("off", !showVideo);
    this.el.previewAvatar.textContent = initials(name || "?");
    this.el.previewAvatar.style.setProperty("--hue", hueFor(name || "?"));
    this.el.previewNote.textContent = this.cameraOn ? "Starting camera…" : "Camera is off";
  }

  #startMeter() {
    this.#stopMeter();
    const track = this.tracks.microphone;
    if (!track) return;
    this.meter = new LevelMeter(track);
    // Some browsers (Firefox) keep Web Audio suspended until the page is clicked or typed in.
    const context = this.meter.context;
    const hint = () => {
      this.el.meterHint.hidden = !context || context.state !== "suspended" || !this.meter;
    };
    context?.addEventListener("statechange", hint);
    hint();
    const bars = [...this.el.meter.children];
    this.meterTimer = setInterval(() => {
      const level = this.meter?.level() ?? 0;
      this.el.meter.dataset.level = level.toFixed(2);
      this.el.meter.setAttribute("aria-valuenow", level.toFixed(2));
      const lit = Math.round(Math.min(1, level * 1.6) * bars.length);
      bars.forEach((bar, i) => bar.classList.toggle("lit", i < lit));
    }, 60);
  }

  #stopMeter() {
    clearInterval(this.meterTimer);
    this.el.meterHint.hidden = true;
    this.meter?.stop();
    this.meter = null;
    this.el.meter.dataset.level = "0";
    this.el.meter.setAttribute("aria-valuenow", "0");
    for (const bar of this.el.meter.children) bar.classList.remove("lit");
  }
}
