// One call in one room: the signalling connection, the two peer connections
// (docs/protocol.md), what we publish, what the others publish, chat transport, and
// reconnecting by itself. It holds no DOM: the page listens to its events.
//
// Events: "state" (state), "roster" (participants or their media changed), "local"
// (our tracks or mute state changed), "chat" ({message, own, pending, history}),
// "chat-ready" (bool), "chat-error" (error), "notice" ({text, tone, ms}), "connection"
// (see connectionInfo()), "lobby" ({room, participantId} while waiting for a host, then
// null), "waiting" (room admins: who waits in the lobby), "grants" (what we may do),
// "ended" (CallError: a host removed us or closed the room; no reconnect follows).
//
// Reconnecting: the server has no ICE restart, so a lost WebSocket or media connection
// means a new WebSocket, a join with the same identity (the server then drops our old
// participant), new peer connections publishing the current tracks, and a resend of the
// chat messages not acknowledged yet (same client_id, so the server stores them once).

import { Backoff, Signalling, SignallingError } from "./signalling.js";
import { getCamera, getMicrophone, MediaError } from "./media.js";
import { TokenError } from "./tokens.js";
import { deferred, Emitter, randomId, withTimeout } from "./util.js";

const PROTOCOL_VERSION = 1;
const JOIN_TIMEOUT_MS = 10_000;
const ANSWER_TIMEOUT_MS = 15_000;
const MEDIA_CONNECT_TIMEOUT_MS = 20_000;
const MEDIA_GRACE_MS = 5_000; // a "disconnected" connection gets this long to come back

// Errors after which trying again cannot help.
const FATAL = new Set([
  "room_full",
  "invalid_message",
  "already_joined",
  "replaced",
  "token_required",
  "token_refused",
  "token_invalid",
  "token_expired",
  "token_not_yet_valid",
  "token_revoked",
  "room_mismatch",
  "permission_denied",
  "room_locked",
  "lobby_rejected",
  "kicked",
  "room_closed",
  "e2ee_required",
  "e2ee_passphrase_required",
]);

// Endings decided by a host: the page leaves the call and does not come back by itself.
export const ENDED_BY_HOST = new Set(["kicked", "token_revoked", "room_closed", "lobby_rejected"]);
const SOURCES = { microphone: "audio", camera: "video" };

export class CallError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
    this.fatal = FATAL.has(code);
  }
}

function describeJoinError(code, message) {
  switch (code) {
    case "room_full":
      return "This room is full. Try again later, or ask the host for another room.";
    case "invalid_message":
      return "This room link is not valid. Room names use letters, digits, dots, dashes and underscores (at most 64).";
    case "unreachable":
      return "Can't reach the Huddle server. Check your network connection; retrying may help.";
    case "timeout":
      return "The server did not answer in time. Please try again.";
    case "replaced":
      return "You joined this room from another tab or window.";
    case "token_required":
      return "This server admits people with an invitation link only. Ask the host for one.";
    case "token_expired":
      return "This invitation link has expired. Ask the host for a new one.";
    case "token_not_yet_valid":
      return "This invitation link is not valid yet. Check your computer's clock, or try again later.";
    case "token_invalid":
    case "token_refused":
      return "This invitation link is not valid. Ask the host for a new one.";
    case "token_revoked":
    case "kicked":
      return "You were removed from this room.";
    case "room_mismatch":
      return "This invitation link is for another room.";
    case "permission_denied":
      return "Your invitation does not allow joining this room.";
    case "room_locked":
      return "This room is locked.";
    case "lobby_rejected":
      return "The host declined your request to join.";
    case "e2ee_required":
    case "e2ee_passphrase_required":
      return "This room is end-to-end encrypted. Enter the room's passphrase to join.";
    case "room_closed":
      return "A host closed this room. The call has ended.";
    default:
      return message || `The server refused to join (${code}).`;
  }
}

// Send our ICE candidates; hold them until the SDP they belong to has been sent.
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

export class Call extends Emitter {
  constructor({ room, name, identity, getToken, devices = {}, local = {}, micMuted = false, cameraOff = false, e2ee = null }) {
    super();
    this.room = room;
    this.name = name;
    this.identity = identity;
    this.getToken = getToken; // async () => an access token for this room (tokens.js)
    this.e2ee = e2ee; // FrameCrypto (e2ee.js) when our media is end-to-end encrypted, else null
    this.devices = { cameraId: devices.cameraId ?? null, micId: devices.micId ?? null };
    this.state = "idle";
    this.participantId = null;
    this.failure = null; // CallError of the last failure
    this.participants = new Map(); // participant id -> {participantId, identity, name, tracks: Map}
    this.remote = new Map(); // track id -> {trackId, mid, participantId, kind, source, receiver, track}
    // Our media. A device that is off has no track: the camera is released when off.
    this.local = { microphone: local.microphone ?? null, camera: local.camera ?? null, screen: null };
    this.micMuted = micMuted || !this.local.microphone;
    this.cameraOff = cameraOff || !this.local.camera;
    if (this.local.microphone) this.local.microphone.enabled = !this.micMuted;
    if (this.cameraOff && this.local.camera) {
      this.local.camera.stop();
      this.local.camera = null;
    }
    this.localStream = new MediaStream(); // groups our tracks under one msid
    this.sig = null;
    this.publisher = null;
    this.subscriber = null;
    this.slots = {}; // source -> {source, kind, transceiver, trackId, announcedMuted}
    this.chatChannel = null;
    this.outbox = new Map(); // client_id -> {clientId, text, sentOn}: chat not acknowledged yet
    this.seenChat = new Set(); // server ids of messages already given to the page
    this.epoch = 0; // bumps on every connection attempt: callbacks of older ones are ignored
    this.backoff = new Backoff();
    this.retryTimer = null;
    this.retryAt = null;
    this.lostReason = null;
    this.mediaUnstable = false;
    this.timers = new Set();
    this.negotiation = Promise.resolve();
    this.pendingPublish = null;
    this.requests = 0;
    this.busy = new Set(); // device toggles in progress
    this.grants = null; // what our token allows (joined.grants, then grants_changed); null: not known yet
    this.lobby = null; // {room, participantId} while a host has not let us in yet
    this.waiting = []; // room admins: who waits in the lobby [{participant_id, identity, name}]
    this.onlineListener = () => {
      if (this.state === "reconnecting") this.retryNow();
    };
    window.addEventListener("online", this.onlineListener);
    this.healthTimer = setInterval(() => this.#checkHealth(), 3000);
  }

  // --- life cycle -----------------------------------------------------------------

  // Resolves once joined; rejects with a CallError when the first join fails.
  async start() {
    this.#setState("joining");
    try {
      await this.#attempt();
    } catch (err) {
      if (this.state !== "joining") return; // left meanwhile
      this.#teardown();
      this.failure = err instanceof CallError ? err : new CallError("failed", String(err?.message || err));
      this.#setState("failed");
      throw this.failure;
    }
    if (this.state !== "joining") return;
    this.backoff.reset();
    this.#setState("joined");
  }

  leave() {
    if (this.state === "left") return;
    this.epoch += 1;
    clearTimeout(this.retryTimer);
    this.sig?.send({ type: "leave" }); // sent before the close frame
    this.#teardown();
    this.#stopLocal();
    this.e2ee?.close();
    window.removeEventListener("online", this.onlineListener);
    clearInterval(this.healthTimer);
    this.#setState("left");
  }

  // After a failed first join: hand the devices back (to the join screen) unstopped.
  releaseLocal() {
    const { microphone, camera } = this.local;
    this.local = { microphone: null, camera: null, screen: null };
    window.removeEventListener("online", this.onlineListener);
    clearInterval(this.healthTimer);
    return { microphone, camera };
  }

  retryNow() {
    if (this.state !== "reconnecting" && this.state !== "failed") return;
    clearTimeout(this.retryTimer);
    if (this.state === "failed") {
      this.failure = null;
      this.#setState("reconnecting");
    }
    this.#reconnect();
  }

  connectionInfo() {
    return {
      state: this.state,
      reason: this.lostReason,
      retryAt: this.retryAt,
      lastError: this.lastError ?? null,
      mediaUnstable: this.mediaUnstable,
      failure: this.failure,
      failureText: this.failure ? describeJoinError(this.failure.code, this.failure.message) : null,
    };
  }

  static describe(error) {
    return describeJoinError(error?.code, error?.message);
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
    this.emit("connection", this.connectionInfo());
  }

  async #attempt() {
    const epoch = ++this.epoch;
    const live = () => epoch === this.epoch;
    this.#teardown();
    let token;
    try {
      token = await this.getToken();
    } catch (err) {
      throw new CallError(err instanceof TokenError ? err.code : "unreachable", err.message);
    }
    if (!live()) throw new CallError("cancelled", "cancelled");
    const sig = new Signalling({
      onMessage: (message) => live() && this.#handle(message),
      onClose: (info) => live() && this.#closed(info),
    });
    this.sig = sig;
    try {
      await sig.open();
    } catch (err) {
      throw new CallError(err instanceof SignallingError ? err.code : "unreachable", err.message);
    }
    if (!live()) throw new CallError("cancelled", "cancelled");
    const wait = (this.joinWait = deferred());
    sig.send({
      type: "join",
      version: PROTOCOL_VERSION,
      room: this.room,
      name: this.name,
      token,
      request_id: "join",
    });
    wait.waiting = deferred(); // resolved by lobby_waiting
    const answered = Promise.race([wait.promise, wait.waiting.promise]);
    await withTimeout(answered, JOIN_TIMEOUT_MS, new CallError("timeout", "no answer to join"));
    await wait.promise; // in a lobby: as long as the host takes (or until leave/reject)
    if (!live()) throw new CallError("cancelled", "cancelled");
  }

  // The connection is gone while we were in the call: tell the page, try again soon.
  #lost(reason) {
    if (this.state !== "joined") return;
    this.lostReason = reason;
    this.epoch += 1;
    this.#teardown();
    this.#setState("reconnecting");
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    const delay = this.backoff.next();
    this.retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.#reconnect(), delay);
    this.emit("connection", this.connectionInfo());
  }

  async #reconnect() {
    if (this.state !== "reconnecting") return;
    this.retryAt = null;
    this.emit("connection", this.connectionInfo());
    try {
      await this.#attempt();
    } catch (err) {
      if (this.state !== "reconnecting") return; // left meanwhile
      this.#teardown();
      this.lastError = err;
      if (err.fatal) {
        this.failure = err;
        if (ENDED_BY_HOST.has(err.code)) this.#stopLocal();
        this.#setState("failed");
        if (ENDED_BY_HOST.has(err.code)) this.emit("ended", err);
      } else {
        this.#scheduleReconnect();
      }
      return;
    }
    this.backoff.reset();
    this.lastError = null;
    this.lostReason = null;
    this.#setState("joined");
    this.emit("notice", { text: "Reconnected", tone: "ok" });
  }

  #closed({ code, reason }) {
    if (this.joinWait) {
      this.joinWait.reject(new CallError("unreachable", reason || `connection closed (${code})`));
      this.joinWait = null;
      return;
    }
    if (reason === "replaced by a new connection") {
      this.epoch += 1;
      this.#teardown();
      this.failure = new CallError("replaced", reason);
      this.#setState("failed");
      return;
    }
    this.#lost(reason === "media connection failed" ? "media" : "signalling");
  }

  #teardown() {
    this.joinWait?.reject(new CallError("cancelled", "cancelled"));
    this.joinWait = null;
    this.lobby = null;
    this.sig?.close();
    this.sig = null;
    for (const pc of [this.publisher, this.subscriber]) {
      try {
        pc?.close();
      } catch {
        // already closed
      }
    }
    this.publisher = this.subscriber = null;
    this.slots = {};
    if (this.chatChannel) this.emit("chat-ready", false);
    this.chatChannel = null;
    this.pendingPublish?.answer.reject(new CallError("closed", "connection closed"));
    this.pendingPublish = null;
    this.negotiation = Promise.resolve();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.mediaUnstable = false;
    if (this.remote.size) {
      this.remote.clear();
      this.emit("roster");
    }
  }

  #stopLocal() {
    for (const track of Object.values(this.local)) track?.stop();
    this.local = { microphone: null, camera: null, screen: null };
    this.emit("local");
  }

  #timer(fn, ms) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  #send(message) {
    return this.sig?.send(message) ?? false;
  }

  // --- server messages (one at a time, in order) -----------------------------------

  async #handle(m) {
    switch (m.type) {
      case "joined":
        return this.#onJoined(m);
      case "participant_joined": {
        this.#addParticipant(m.participant);
        this.emit("notice", { text: `${m.participant.name} joined`, tone: "info" });
        return this.emit("roster");
      }
      case "participant_left": {
        const p = this.participants.get(m.participant_id);
        this.participants.delete(m.participant_id);
        for (const [trackId, r] of this.remote) if (r.participantId === m.participant_id) this.remote.delete(trackId);
        if (p) this.emit("notice", { text: `${p.name} left`, tone: "info" });
        return this.emit("roster");
      }
      case "track_published":
        this.participants.get(m.participant_id)?.tracks.set(m.track.track_id, { ...m.track });
        return this.emit("roster");
      case "track_unpublished":
        this.participants.get(m.participant_id)?.tracks.delete(m.track_id);
        this.remote.delete(m.track_id);
        return this.emit("roster");
      case "track_muted": {
        if (m.participant_id === this.participantId) return this.#mutedByHost(m);
        const track = this.participants.get(m.participant_id)?.tracks.get(m.track_id);
        if (track) track.muted = m.muted;
        return this.emit("roster");
      }
      case "lobby_waiting":
        this.participantId = m.participant_id;
        this.lobby = { room: m.room, participantId: m.participant_id };
        this.joinWait?.waiting.resolve();
        return this.emit("lobby", this.lobby);
      case "lobby_update":
        this.waiting = m.waiting;
        return this.emit("waiting", this.waiting);
      case "grants_changed":
        return this.#grantsChanged(m.grants);
      case "room_closed":
        return this.#endedByHost(new CallError("room_closed", m.reason));
      case "publish_answer":
        return this.pendingPublish?.answer.resolve(m);
      case "subscribe_offer":
        return this.#onSubscribeOffer(m);
      case "error":
        return this.#onError(m);
      default:
        return undefined; // pong, or a type from a newer server
    }
  }

  #onJoined(m) {
    this.participantId = m.participant_id;
    this.identity = m.identity;
    if (m.name) this.name = m.name;
    this.room = m.room;
    this.iceServers = m.ice_servers ?? [];
    this.roomOptions = m.room_options ?? {};
    if (this.roomOptions.e2ee_required && !this.e2ee) {
      // Without the passphrase we could only publish media the room refuses: stop here.
      this.#send({ type: "leave" });
      this.joinWait?.reject(new CallError("e2ee_passphrase_required", "this room requires end-to-end encryption"));
      this.joinWait = null;
      return;
    }
    if (this.lobby) {
      this.lobby = null;
      this.emit("lobby", null);
    }
    this.waiting = m.lobby ?? [];
    this.#applyGrants(m.grants ?? null);
    this.emit("waiting", this.waiting);
    this.participants.clear();
    this.remote.clear();
    m.participants.forEach((p) => this.#addParticipant(p));
    for (const message of m.chat_history) {
      if (message.identity === this.identity) this.outbox.delete(message.client_id);
      this.#deliverChat(message, { history: true });
    }
    this.emit("roster");
    this.#createPublisher();
    this.negotiate();
    const wait = this.joinWait;
    this.joinWait = null;
    wait?.resolve();
  }

  #onError(m) {
    if (this.joinWait) {
      // Not joined yet on this connection: the error is about the join (invalid_message
      // errors carry no request_id, so any error counts).
      this.joinWait.reject(new CallError(m.code, m.message));
      this.joinWait = null;
      return;
    }
    if (this.pendingPublish && m.request_id === this.pendingPublish.requestId) {
      this.pendingPublish.answer.reject(new CallError(m.code, m.message));
      return;
    }
    if (m.code === "join_timeout") return; // the socket closes next; reconnecting handles it
    if (m.code === "kicked") return this.#endedByHost(new CallError(m.code, m.message));
    console.warn("server error", m);
  }

  #addParticipant(p) {
    this.participants.set(p.participant_id, {
      participantId: p.participant_id,
      identity: p.identity,
      name: p.name,
      tracks: new Map(p.tracks.map((t) => [t.track_id, { ...t }])),
    });
  }

  // --- peer connections ----------------------------------------------------------------

  #configuration() {
    return { iceServers: this.iceServers ?? [], bundlePolicy: "max-bundle", ...this.e2ee?.peerConnectionConfig };
  }

  #watch(pc, which) {
    let grace = null;
    const connectTimer = this.#timer(() => {
      if (pc.connectionState !== "connected") this.#mediaLost(pc, which, "did not connect");
    }, MEDIA_CONNECT_TIMEOUT_MS);
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.publisher && pc !== this.subscriber) return;
      const state = pc.connectionState;
      if (state === "connected") {
        clearTimeout(connectTimer);
        clearTimeout(grace);
        if (this.mediaUnstable) {
          this.mediaUnstable = false;
          this.emit("connection", this.connectionInfo());
        }
      } else if (state === "disconnected") {
        this.mediaUnstable = true;
        this.emit("connection", this.connectionInfo());
        clearTimeout(grace);
        grace = this.#timer(() => {
          if (pc.connectionState !== "connected") this.#mediaLost(pc, which, "disconnected");
        }, MEDIA_GRACE_MS);
      } else if (state === "failed") {
        this.#mediaLost(pc, which, "failed");
      }
    });
  }

  // A connection can also end without an event (closed by the browser or by code):
  // look at the current ones every few seconds while in the call.
  #checkHealth() {
    if (this.state !== "joined") return;
    for (const [pc, which] of [[this.publisher, "publisher"], [this.subscriber, "subscriber"]]) {
      if (pc && (pc.connectionState === "closed" || pc.connectionState === "failed")) {
        this.#mediaLost(pc, which, pc.connectionState);
        return;
      }
    }
  }

  #mediaLost(pc, which, why) {
    if (pc !== this.publisher && pc !== this.subscriber) return;
    console.warn(`media connection (${which}) ${why}`);
    this.#lost("media");
  }

  #createPublisher() {
    const pc = (this.publisher = new RTCPeerConnection(this.#configuration()));
    this.flushPublisher = trickler(pc, "publisher", (m) => this.#send(m));
    this.#watch(pc, "publisher");
    const channel = pc.createDataChannel("chat");
    channel.onopen = () => {
      if (this.chatChannel !== channel) return;
      this.emit("chat-ready", true);
      this.#flushChat();
    };
    channel.onclose = () => {
      if (this.chatChannel === channel) this.emit("chat-ready", false);
    };
    channel.onmessage = (event) => this.#onChatPayload(event.data);
    this.chatChannel = channel;
    this.slots = {};
    if (this.mayPublish("microphone")) this.#addSlot("microphone", "audio", this.local.microphone);
    if (this.mayPublish("camera")) this.#addSlot("camera", "video", this.cameraOff ? null : this.local.camera);
    if (this.local.screen) this.#addSlot("screen", "video", this.local.screen);
  }

  #addSlot(source, kind, track) {
    const transceiver = this.publisher.addTransceiver(track ?? kind, {
      direction: "sendonly",
      streams: [this.localStream],
    });
    this.e2ee?.protectSender(transceiver.sender, kind);
    this.slots[source] = { source, kind, transceiver, trackId: null, announcedMuted: null };
    return this.slots[source];
  }

  #slotMuted(source) {
    if (source === "microphone") return this.micMuted || !this.local.microphone;
    if (source === "camera") return this.cameraOff || !this.local.camera;
    return false;
  }

  // Offer our current tracks on the publisher connection (one negotiation at a time).
  // The promise returned never rejects: failures are handled here.
  negotiate() {
    const pc = this.publisher;
    const run = this.negotiation.then(() => (pc === this.publisher ? this.#negotiate(pc) : undefined));
    this.negotiation = run.catch((err) => {
      if (pc !== this.publisher || err?.code === "closed") return;
      console.error("publishing failed", err);
      this.emit("notice", {
        text: `Couldn't send your audio and video (${err.code || err.message}). Reconnecting…`,
        tone: "error",
      });
      this.#lost("media"); // a refused offer can leave the server's side unusable: start afresh
    });
    return this.negotiation;
  }

  async #negotiate(pc) {
    await pc.setLocalDescription(await pc.createOffer());
    const tracks = [];
    for (const slot of Object.values(this.slots)) {
      const t = slot.transceiver;
      if (!t.mid || t.direction === "inactive" || t.currentDirection === "stopped") continue;
      const muted = this.#slotMuted(slot.source);
      slot.announcedMuted = muted;
      tracks.push({ mid: t.mid, source: slot.source, muted });
    }
    const requestId = `publish-${++this.requests}`;
    const answer = deferred();
    this.pendingPublish = { requestId, answer };
    const offer = { type: "publish_offer", request_id: requestId, sdp: pc.localDescription.sdp, tracks };
    if (this.e2ee) offer.e2ee = true;
    this.#send(offer);
    this.flushPublisher();
    const m = await withTimeout(answer.promise, ANSWER_TIMEOUT_MS, new CallError("timeout", "no publish_answer"));
    if (pc !== this.publisher) return;
    this.pendingPublish = null;
    await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    const byMid = new Map(m.tracks.map((t) => [t.mid, t.track_id]));
    for (const slot of Object.values(this.slots)) {
      slot.trackId = byMid.get(slot.transceiver.mid) ?? null;
      this.#syncMute(slot.source); // the state may have changed while we negotiated
    }
    this.emit("local");
  }

  async #onSubscribeOffer(m) {
    let pc = this.subscriber;
    if (!pc) {
      pc = this.subscriber = new RTCPeerConnection(this.#configuration());
      this.flushSubscriber = trickler(pc, "subscriber", (msg) => this.#send(msg));
      this.#watch(pc, "subscriber");
    }
    await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
    if (pc !== this.subscriber) return;
    const transceivers = pc.getTransceivers();
    const next = new Map();
    for (const t of m.tracks) {
      const transceiver = transceivers.find((x) => x.mid === t.mid);
      if (!transceiver) continue;
      const receiverInfo = { participantId: t.participant_id, trackId: t.track_id, kind: t.kind };
      this.e2ee?.protectReceiver(transceiver.receiver, receiverInfo);
      next.set(t.track_id, {
        trackId: t.track_id,
        mid: t.mid,
        participantId: t.participant_id,
        kind: t.kind,
        source: t.source,
        receiver: transceiver.receiver,
        track: transceiver.receiver.track,
      });
    }
    this.remote = next;
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc !== this.subscriber) return;
    this.#send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
    this.flushSubscriber();
    this.emit("roster");
  }

  // --- our media -------------------------------------------------------------------------

  #syncMute(source) {
    const slot = this.slots[source];
    if (!slot?.trackId) return;
    const muted = this.#slotMuted(source);
    if (slot.announcedMuted === muted) return;
    if (this.#send({ type: "mute", track_id: slot.trackId, muted })) slot.announcedMuted = muted;
  }

  async #replace(source, track) {
    const slot = this.slots[source];
    if (!slot) return;
    try {
      await slot.transceiver.sender.replaceTrack(track);
    } catch (err) {
      console.warn(`replaceTrack(${source})`, err);
    }
  }

  async setMicMuted(muted) {
    if (this.busy.has("microphone") || (!muted && !this.mayPublish("microphone"))) return;
    if (!muted && !this.local.microphone) {
      this.busy.add("microphone");
      try {
        this.local.microphone = await getMicrophone(this.devices.micId);
        this.#ended(this.local.microphone, "microphone");
      } catch (err) {
        this.emit("notice", { text: err instanceof MediaError ? err.message : String(err), tone: "error" });
        return;
      } finally {
        this.busy.delete("microphone");
      }
      if (this.state === "left") {
        this.local.microphone?.stop();
        return;
      }
      await this.#replace("microphone", this.local.microphone);
    }
    this.micMuted = muted;
    if (this.local.microphone) this.local.microphone.enabled = !muted; // silence, instantly undone
    this.#syncMute("microphone");
    this.emit("local");
  }

  async setCameraOff(off) {
    if (this.busy.has("camera") || (!off && !this.mayPublish("camera"))) return;
    if (off) {
      const track = this.local.camera;
      this.local.camera = null;
      this.cameraOff = true;
      this.#syncMute("camera");
      this.emit("local");
      await this.#replace("camera", null); // stop sending; the camera light goes off
      track?.stop();
      return;
    }
    this.busy.add("camera");
    let track;
    try {
      track = await getCamera(this.devices.cameraId);
    } catch (err) {
      this.emit("notice", { text: err instanceof MediaError ? err.message : String(err), tone: "error" });
      return;
    } finally {
      this.busy.delete("camera");
    }
    if (this.state === "left") {
      track.stop();
      return;
    }
    this.local.camera = track;
    this.#ended(track, "camera");
    this.cameraOff = false;
    await this.#replace("camera", track);
    this.#syncMute("camera");
    this.emit("local");
  }

  // A device unplugged or revoked: show it as off.
  #ended(track, source) {
    track.addEventListener("ended", () => {
      if (this.local[source] !== track) return;
      if (source === "camera") this.setCameraOff(true);
      else if (source === "microphone") {
        this.local.microphone = null;
        this.micMuted = true;
        this.#replace("microphone", null);
        this.#syncMute("microphone");
        this.emit("local");
      }
    });
  }

  watchLocalTracks() {
    if (this.local.camera) this.#ended(this.local.camera, "camera");
    if (this.local.microphone) this.#ended(this.local.microphone, "microphone");
  }

  async startScreenShare(track) {
    if (this.local.screen || !this.mayPublish("screen")) {
      if (this.local.screen !== track) track.stop();
      return;
    }
    this.local.screen = track;
    track.addEventListener("ended", () => this.stopScreenShare(track)); // the browser's own "Stop sharing"
    this.emit("local");
    if (!this.publisher) return; // reconnecting: the next publisher takes it
    const slot = this.slots.screen;
    if (slot) {
      slot.transceiver.direction = "sendonly"; // an inactive m-line comes back as a new track
      await this.#replace("screen", track);
    } else {
      this.#addSlot("screen", "video", track);
    }
    await this.negotiate();
  }

  async stopScreenShare(which = this.local.screen) {
    if (!which || this.local.screen !== which) return;
    this.local.screen = null;
    which.stop();
    this.emit("local");
    const slot = this.slots.screen;
    if (!slot || !this.publisher) return;
    slot.transceiver.direction = "inactive"; // the server unpublishes it
    await this.#replace("screen", null);
    slot.trackId = null;
    await this.negotiate();
  }

  // Levels (0..1) of the others' microphones, from the receivers' statistics.
  async remoteAudioLevels() {
    const levels = new Map();
    this.energy ??= new Map();
    const audio = [...this.remote.values()].filter((r) => r.kind === "audio");
    await Promise.all(
      audio.map(async (r) => {
        let stats;
        try {
          stats = await r.receiver.getStats();
        } catch {
          return;
        }
        stats.forEach((s) => {
          if (s.type !== "inbound-rtp" || (s.kind ?? s.mediaType) !== "audio") return;
          let level = typeof s.audioLevel === "number" ? s.audioLevel : 0;
          if (typeof s.totalAudioEnergy === "number" && typeof s.totalSamplesDuration === "number") {
            const before = this.energy.get(r.mid);
            this.energy.set(r.mid, { e: s.totalAudioEnergy, d: s.totalSamplesDuration });
            const dt = before ? s.totalSamplesDuration - before.d : 0;
            if (dt > 0) level = Math.max(level, Math.sqrt(Math.max(0, s.totalAudioEnergy - before.e) / dt));
          }
          levels.set(r.participantId, Math.max(levels.get(r.participantId) ?? 0, level));
        });
      }),
    );
    return levels;
  }

  // --- access: grants, the lobby, what hosts do to us --------------------------------------

  // Before joined, everything the page offers is allowed; the server says otherwise on join.
  mayPublish(source) {
    return !this.grants || this.grants.publish.includes(source);
  }

  get mayChat() {
    return !this.grants || this.grants.data;
  }

  get isAdmin() {
    return Boolean(this.grants?.admin);
  }

  admit(participantId) {
    return this.#send({ type: "lobby_admit", participant_id: participantId });
  }

  reject(participantId) {
    return this.#send({ type: "lobby_reject", participant_id: participantId });
  }

  // At join: devices we may not publish are let go before the publisher is made.
  #applyGrants(grants) {
    this.grants = grants ? { ...grants, publish: [...grants.publish] } : null;
    for (const source of Object.keys(SOURCES)) if (!this.mayPublish(source)) this.#dropDevice(source);
    if (this.local.screen && !this.mayPublish("screen")) {
      this.local.screen.stop();
      this.local.screen = null;
    }
    this.emit("grants", this.grants);
    this.emit("local");
  }

  #dropDevice(source) {
    this.local[source]?.stop();
    this.local[source] = null;
    if (source === "microphone") this.micMuted = true;
    else this.cameraOff = true;
  }

  // A host changed our grants: withdrawn sources stop now (the server has already stopped
  // forwarding them); their m-lines go inactive so that later offers stay within the grants.
  // Sources granted again get a muted slot: turning them on stays the user's choice.
  async #grantsChanged(grants) {
    const before = this.grants;
    this.#applyGrants(grants);
    if (!this.publisher) return;
    let renegotiate = false;
    for (const [source, kind] of [...Object.entries(SOURCES), ["screen", "video"]]) {
      const slot = this.slots[source];
      const allowed = this.mayPublish(source);
      if (!allowed && slot && slot.transceiver.direction !== "inactive") {
        slot.transceiver.direction = "inactive";
        slot.trackId = null;
        await this.#replace(source, null);
        renegotiate = true;
      } else if (allowed && source !== "screen" && !before?.publish.includes(source)) {
        if (!slot) this.#addSlot(source, kind, null);
        else slot.transceiver.direction = "sendonly";
        renegotiate = true;
      }
    }
    if (before && before.data !== this.grants.data && !this.grants.data) {
      this.emit("notice", { text: "A host turned off chat for you.", tone: "info" });
    }
    if (renegotiate) this.negotiate(); // not awaited: its answer is a later message of this queue
  }

  // A host muted (or unmuted) one of our tracks. The server stopped forwarding it already;
  // here it stops at the source too, and unmuting again is left to the user.
  #mutedByHost(m) {
    const slot = Object.values(this.slots).find((s) => s.trackId === m.track_id);
    if (!slot) return;
    slot.announcedMuted = m.muted; // the server's view now; #syncMute corrects it if needed
    if (!m.muted) {
      this.#syncMute(slot.source);
      return;
    }
    const what = { microphone: "muted your microphone", camera: "turned off your camera" }[slot.source];
    this.emit("notice", { text: `A host ${what ?? "stopped your screen share"}`, tone: "info", ms: 8000 });
    if (slot.source === "microphone") this.setMicMuted(true);
    else if (slot.source === "camera") this.setCameraOff(true);
    else this.stopScreenShare();
  }

  // Kicked or the room closed: no reconnect; the page goes back to the join screen.
  #endedByHost(error) {
    if (this.joinWait) {
      this.joinWait.reject(error);
      this.joinWait = null;
      return;
    }
    if (this.state === "left" || this.state === "failed") return;
    this.epoch += 1;
    clearTimeout(this.retryTimer);
    this.#teardown();
    this.#stopLocal();
    window.removeEventListener("online", this.onlineListener);
    clearInterval(this.healthTimer);
    this.failure = error;
    this.#setState("failed");
    this.emit("ended", error);
  }

  // --- chat ------------------------------------------------------------------------------

  get chatReady() {
    return this.chatChannel?.readyState === "open";
  }

  sendChat(text) {
    const clientId = randomId(8);
    this.outbox.set(clientId, { clientId, text, sentOn: null });
    this.emit("chat", {
      message: { client_id: clientId, identity: this.identity, name: this.name, text, ts: Date.now() / 1000 },
      own: true,
      pending: true,
    });
    this.#flushChat();
    return clientId;
  }

  // Send what is not acknowledged yet, in order, once per channel.
  #flushChat() {
    const channel = this.chatChannel;
    if (channel?.readyState !== "open") return;
    for (const entry of this.outbox.values()) {
      if (entry.sentOn === channel) continue;
      try {
        channel.send(JSON.stringify({ type: "chat", client_id: entry.clientId, text: entry.text }));
        entry.sentOn = channel;
      } catch (err) {
        console.warn("chat send", err);
        return;
      }
    }
  }

  #onChatPayload(raw) {
    let m;
    try {
      m = JSON.parse(raw);
    } catch {
      return;
    }
    if (m.type === "chat_ack") {
      this.outbox.delete(m.message.client_id);
      this.#deliverChat(m.message, {});
    } else if (m.type === "chat") {
      this.#deliverChat(m.message, { live: true });
    } else if (m.type === "error") {
      this.emit("chat-error", m);
      this.emit("notice", { text: `Message not sent: ${m.message}`, tone: "error" });
    }
  }

  #deliverChat(message, { history = false, live = false }) {
    if (this.seenChat.has(message.id)) return;
    this.seenChat.add(message.id);
    const own = message.identity === this.identity;
    this.emit("chat", { message, own, pending: false, history, live: live && !own });
  }
}
