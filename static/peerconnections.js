// The two peer connections (docs/protocol.md) of one signalling connection: the publisher,
// made at join, and the subscriber, made by the first subscribe_offer. Their configuration,
// trickling our ICE candidates, and noticing one that never connects, fails, or stays
// disconnected: the server has no ICE restart, so the call then reconnects from scratch.
// A reconnect makes new PeerConnections; closed ones report nothing more.

import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";

const MEDIA_CONNECT_TIMEOUT_MS = 20_000;
const MEDIA_GRACE_MS = 5_000; // a "disconnected" connection gets this long to come back

// Send our ICE candidates; hold them until the SDP they belong to has been sent.
// Returns the function to call once it has.
function trickler(pc, target, send) {
  const held = [];
  let ready = false;
  pc.addEventListener("icecandidate", ({ candidate }) => {
    if (!candidate || !candidate.candidate) return; // end of candidates: nothing to send
    const message = {
      type: "ice_candidate",
      target,
      candidate: candidate.candidate,
      sdp_mid: candidate.sdpMid,
      sdp_mline_index: candidate.sdpMLineIndex,
    };
    if (ready) send(message);
    else held.push(message);
  });
  return () => {
    ready = true;
    held.splice(0).forEach(send);
  };
}

export class PeerConnections {
  // call: the Call (ice servers, e2ee, chat, our media). send(message): to the server.
  // requestId(): a new request_id. lost(): media is gone, reconnect. unstable(bool): a
  // connection is disconnected (true) or connected (false).
  constructor(call, { send, requestId, lost, unstable }) {
    Object.assign(this, { call, send, requestId, lost, unstable });
    this.pub = null; // Publisher
    this.sub = null; // Subscriber
    this.timers = new Set();
    this.closed = false;
  }

  // At join: the chat's data channel first (its m-line comes first), then our tracks.
  publish() {
    const pc = this.#create();
    const flush = trickler(pc, "publisher", this.send);
    this.pub = new Publisher(this.call, pc, { send: this.send, flush, requestId: this.requestId, failed: this.lost });
    this.#watch(pc, "publisher");
    this.call.chatLink.attach(pc.createDataChannel("chat"));
    this.pub.addSlots();
    return this.pub;
  }

  subscriber() {
    if (!this.sub) {
      const pc = this.#create();
      this.sub = new Subscriber(this.call, pc, { send: this.send, flush: trickler(pc, "subscriber", this.send) });
      this.#watch(pc, "subscriber");
    }
    return this.sub;
  }

  // A connection can also end without an event (closed by the browser or by code).
  checkHealth() {
    for (const [x, which] of [[this.pub, "publisher"], [this.sub, "subscriber"]]) {
      const state = x?.pc.connectionState;
      if (state === "closed" || state === "failed") {
        this.#mediaLost(x.pc, which, state);
        return;
      }
    }
  }

  close() {
    this.closed = true;
    this.pub?.close();
    this.sub?.close();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  #create() {
    const config = { iceServers: this.call.iceServers ?? [], bundlePolicy: "max-bundle" };
    return new RTCPeerConnection({ ...config, ...this.call.e2ee?.peerConnectionConfig });
  }

  #current(pc) {
    return !this.closed && (pc === this.pub?.pc || pc === this.sub?.pc);
  }

  #watch(pc, which) {
    let grace = null;
    const connectTimer = this.#timer(() => {
      if (pc.connectionState !== "connected") this.#mediaLost(pc, which, "did not connect");
    }, MEDIA_CONNECT_TIMEOUT_MS);
    pc.addEventListener("connectionstatechange", () => {
      if (!this.#current(pc)) return;
      const state = pc.connectionState;
      if (state === "connected") {
        clearTimeout(connectTimer);
        clearTimeout(grace);
        this.unstable(false);
      } else if (state === "disconnected") {
        this.unstable(true);
        clearTimeout(grace);
        grace = this.#timer(() => {
          if (pc.connectionState !== "connected") this.#mediaLost(pc, which, "disconnected");
        }, MEDIA_GRACE_MS);
      } else if (state === "failed") {
        this.#mediaLost(pc, which, "failed");
      }
    });
  }

  #mediaLost(pc, which, why) {
    if (!this.#current(pc)) return;
    console.warn(`media connection (${which}) ${why}`);
    this.lost();
  }

  #timer(fn, ms) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }
}
