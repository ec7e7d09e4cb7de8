// Our own media: the microphone, camera and screen tracks, turning them on and off, a
// device unplugged or revoked, and sharing the screen. A device that is off has no track
// (the camera is released, its light goes off); a muted microphone keeps its track,
// disabled. The current publisher (publisher.js) sends whatever is here.

import { getCamera, getMicrophone, MediaError } from "./media.js";

export class LocalMedia {
  // call: the Call (grants, state, the current publisher, events). devices: the chosen
  // {cameraId, micId}; local: tracks the join screen handed over.
  constructor(call, { devices = {}, local = {}, micMuted = false, cameraOff = false }) {
    this.call = call;
    this.devices = { cameraId: devices.cameraId ?? null, micId: devices.micId ?? null };
    this.local = { microphone: local.microphone ?? null, camera: local.camera ?? null, screen: null };
    this.micMuted = micMuted || !this.local.microphone;
    this.cameraOff = cameraOff || !this.local.camera;
    if (this.local.microphone) this.local.microphone.enabled = !this.micMuted;
    if (this.cameraOff && this.local.camera) {
      this.local.camera.stop();
      this.local.camera = null;
    }
    this.stream = new MediaStream(); // groups our tracks under one msid
    this.busy = new Set(); // device toggles in progress
  }

  // Whether the source is published as muted.
  isOff(source) {
    if (source === "microphone") return this.micMuted || !this.local.microphone;
    if (source === "camera") return this.cameraOff || !this.local.camera;
    return false;
  }

  async setMicMuted(muted) {
    const { call } = this;
    if (this.busy.has("microphone") || (!muted && !call.mayPublish("microphone"))) return;
    if (!muted && !this.local.microphone) {
      const track = await this.#open("microphone", () => getMicrophone(this.devices.micId));
      if (!track) return;
      this.local.microphone = track;
      this.#ended(track, "microphone");
      await call.pub?.replace("microphone", track);
    }
    this.micMuted = muted;
    if (this.local.microphone) this.local.microphone.enabled = !muted; // silence, instantly undone
    call.pub?.syncMute("microphone");
    call.emit("local");
  }

  async setCameraOff(off) {
    const { call } = this;
    if (this.busy.has("camera") || (!off && !call.mayPublish("camera"))) return;
    if (off) {
      const track = this.local.camera;
      this.local.camera = null;
      this.cameraOff = true;
      call.pub?.syncMute("camera");
      call.emit("local");
      await call.pub?.replace("camera", null); // stop sending; the camera light goes off
      track?.stop();
      return;
    }
    const track = await this.#open("camera", () => getCamera(this.devices.cameraId));
    if (!track) return;
    this.local.camera = track;
    this.#ended(track, "camera");
    this.cameraOff = false;
    await call.pub?.replace("camera", track);
    call.pub?.syncMute("camera");
    call.emit("local");
  }

  // Open a device while its control is busy; null (after a notice) when that fails, or when
  // the call was left meanwhile (the track is then stopped at once).
  async #open(source, open) {
    const { call } = this;
    this.busy.add(source);
    let track;
    try {
      track = await open();
    } catch (err) {
      call.emit("notice", { text: err instanceof MediaError ? err.message : String(err), tone: "error" });
      return null;
    } finally {
      this.busy.delete(source);
    }
    if (call.state === "left") {
      track.stop();
      return null;
    }
    return track;
  }

  // A device unplugged or revoked: show it as off.
  #ended(track, source) {
    track.addEventListener("ended", () => {
      if (this.local[source] !== track) return;
      if (source === "camera") this.setCameraOff(true);
      else if (source === "microphone") {
        this.local.microphone = null;
        this.micMuted = true;
        this.call.pub?.replace("microphone", null);
        this.call.pub?.syncMute("microphone");
        this.call.emit("local");
      }
    });
  }

  watchTracks() {
    if (this.local.camera) this.#ended(this.local.camera, "camera");
    if (this.local.microphone) this.#ended(this.local.microphone, "microphone");
  }

  async startScreenShare(track) {
    const { call } = this;
    if (this.local.screen || !call.mayPublish("screen")) {
      if (this.local.screen !== track) track.stop();
      return;
    }
    this.local.screen = track;
    track.addEventListener("ended", () => this.stopScreenShare(track)); // the browser's own "Stop sharing"
    call.emit("local");
    if (!call.pub) return; // reconnecting: the next publisher takes it
    const slot = call.pub.slots.screen;
    if (slot) {
      slot.transceiver.direction = "sendonly"; // an inactive m-line comes back as a new track
      await call.pub.replace("screen", track);
    } else {
      call.pub.addSlot("screen", "video", track);
    }
    await call.pub?.negotiate();
  }

  async stopScreenShare(which = this.local.screen) {
    const { call } = this;
    if (!which || this.local.screen !== which) return;
    this.local.screen = null;
    which.stop();
    call.emit("local");
    const slot = call.pub?.slots.screen;
    if (!slot) return;
    slot.transceiver.direction = "inactive"; // the server unpublishes it
    await call.pub?.replace("screen", null);
    slot.trackId = null;
    await call.pub?.negotiate();
  }

  // A source our grants do not (or no longer) allow: its device is let go.
  drop(source) {
    this.local[source]?.stop();
    this.local[source] = null;
    if (source === "microphone") this.micMuted = true;
    else if (source === "camera") this.cameraOff = true;
  }

  stopAll() {
    for (const track of Object.values(this.local)) track?.stop();
    this.local = { microphone: null, camera: null, screen: null };
  }

  // Hands the devices back unstopped (to the join screen).
  release() {
    const { microphone, camera } = this.local;
    this.local = { microphone: null, camera: null, screen: null };
    return { microphone, camera };
  }
}
