// What we publish (docs/protocol.md): the publisher peer connection of one signalling
// connection, one slot (a sendonly transceiver) per source, and publish_offer /
// publish_answer, one negotiation at a time. The connection also carries the chat's data
// channel (chatlink.js). Each connection gets a new Publisher; a closed one does nothing.

import { CallError } from "./callerrors.js";
import { deferred, withTimeout } from "./util.js";

const ANSWER_TIMEOUT_MS = 15_000;

export class Publisher {
  // call: the Call (our media, grants, e2ee, events). send(message): to the server.
  // flush(): let our ICE candidates go once the offer is sent (peerconnections.js).
  // requestId(): a new request_id. failed(): an offer was refused or not answered.
  constructor(call, pc, { send, flush, requestId, failed }) {
    Object.assign(this, { call, pc, send, flush, requestId, failed });
    this.slots = {}; // source -> {source, kind, transceiver, trackId, announcedMuted}
    this.negotiation = Promise.resolve();
    this.pending = null; // {requestId, answer} of the offer waiting for its answer
    this.closed = false;
  }

  // A slot for each source we may publish; a device that is off gets one without a track.
  addSlots() {
    const { call } = this;
    const { local } = call.media;
    if (call.mayPublish("microphone")) this.addSlot("microphone", "audio", local.microphone);
    if (call.mayPublish("camera")) this.addSlot("camera", "video", call.media.cameraOff ? null : local.camera);
    if (local.screen) this.addSlot("screen", "video", local.screen);
  }

  addSlot(source, kind, track) {
    const transceiver = this.pc.addTransceiver(track ?? kind, {
      direction: "sendonly",
      streams: [this.call.media.stream],
    });
    this.call.e2ee?.protectSender(transceiver.sender, kind);
    this.slots[source] = { source, kind, transceiver, trackId: null, announcedMuted: null };
    return this.slots[source];
  }

  slotFor(trackId) {
    return Object.values(this.slots).find((s) => s.trackId === trackId);
  }

  // Offer our current tracks (one negotiation at a time).
  // The promise returned never rejects: failures are handled here.
  negotiate() {
    const run = this.negotiation.then(() => (this.closed ? undefined : this.#negotiate()));
    this.negotiation = run.catch((err) => {
      if (this.closed || err?.code === "closed") return;
      console.error("publishing failed", err);
      this.call.emit("notice", {
        text: `Couldn't send your audio and video (${err.code || err.message}). Reconnecting…`,
        tone: "error",
      });
      this.failed(); // a refused offer can leave the server's side unusable: start afresh
    });
    return this.negotiation;
  }

  async #negotiate() {
    const { pc } = this;
    await pc.setLocalDescription(await pc.createOffer());
    const tracks = [];
    for (const slot of Object.values(this.slots)) {
      const t = slot.transceiver;
      if (!t.mid || t.direction === "inactive" || t.currentDirection === "stopped") continue;
      const muted = this.call.media.isOff(slot.source);
      slot.announcedMuted = muted;
      tracks.push({ mid: t.mid, source: slot.source, muted });
    }
    const requestId = this.requestId();
    const answer = deferred();
    this.pending = { requestId, answer };
    const offer = { type: "publish_offer", request_id: requestId, sdp: pc.localDescription.sdp, tracks };
    if (this.call.e2ee) offer.e2ee = true;
    this.send(offer);
    this.flush();
    const m = await withTimeout(answer.promise, ANSWER_TIMEOUT_MS, new CallError("timeout", "no publish_answer"));
    if (this.closed) return;
    this.pending = null;
    await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    const byMid = new Map(m.tracks.map((t) => [t.mid, t.track_id]));
    for (const slot of Object.values(this.slots)) {
      slot.trackId = byMid.get(slot.transceiver.mid) ?? null;
      this.syncMute(slot.source); // the state may have changed while we negotiated
    }
    this.call.emit("local");
  }

  answered(m) {
    this.pending?.answer.resolve(m);
  }

  // True when the error m answers our offer in flight (it then fails that negotiation).
  refused(m) {
    if (!this.pending || m.request_id !== this.pending.requestId) return false;
    this.pending.answer.reject(new CallError(m.code, m.message));
    return true;
  }

  // Tell the server when a published track's mute state differs from what it was told.
  syncMute(source) {
    const slot = this.slots[source];
    if (!slot?.trackId) return;
    const muted = this.call.media.isOff(source);
    if (slot.announcedMuted === muted) return;
    if (this.send({ type: "mute", track_id: slot.trackId, muted })) slot.announcedMuted = muted;
  }

  async replace(source, track) {
    const slot = this.slots[source];
    if (!slot) return;
    try {
      await slot.transceiver.sender.replaceTrack(track);
    } catch (err) {
      console.warn(`replaceTrack(${source})`, err);
    }
  }

  close() {
    this.closed = true;
    try {
      this.pc.close();
    } catch {
      // already closed
    }
    this.pending?.answer.reject(new CallError("closed", "connection closed"));
    this.pending = null;
  }
}
