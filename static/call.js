// One call in one room, the page's single entry point: the signalling connection and its
// life cycle (join, the lobby, reconnecting by itself), and the server's messages, handed
// to the parts that deal with them: our media (localmedia.js), the peer connections
// (peerconnections.js: what we publish, publisher.js, and what the others publish,
// subscriber.js), who is in the room (roster.js), chat (chatlink.js), grants and hosts
// (access.js), why it failed (callerrors.js). It holds no DOM: the page listens to its
// events.
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

import { applyGrants, grantsChanged, mayPublish, mutedByHost } from "./access.js";
import { CallError, describeCallError, ENDED_BY_HOST } from "./callerrors.js";
import { ChatLink } from "./chatlink.js";
import { LocalMedia } from "./localmedia.js";
import { PeerConnections } from "./peerconnections.js";
import { addParticipant, updateRoster } from "./roster.js";
import { Backoff, Signalling, SignallingError } from "./signalling.js";
import { audioLevels } from "./subscriber.js";
import { TokenError } from "./tokens.js";
import { deferred, Emitter, withTimeout } from "./util.js";

const PROTOCOL_VERSION = 1;
const JOIN_TIMEOUT_MS = 10_000;

export class Call extends Emitter {
  constructor({ room, name, identity, getToken, devices = {}, local = {}, micMuted = false, cameraOff = false, e2ee = null }) {
    super();
    this.room = room;
    this.name = name;
    this.identity = identity;
    this.getToken = getToken; // async () => an access token for this room (tokens.js)
    this.reconnectToken = null; // the latest token_refresh: used to come back after a drop
    this.e2ee = e2ee; // FrameCrypto (e2ee.js) when our media is end-to-end encrypted, else null
    this.state = "idle";
    this.participantId = null;
    this.failure = null; // CallError of the last failure
    this.lastError = null; // CallError of the last failed reconnect
    this.participants = new Map(); // participant id -> {participantId, identity, name, tracks: Map}
    this.remote = new Map(); // track id -> {trackId, mid, participantId, kind, source, receiver, track}
    this.media = new LocalMedia(this, { devices, local, micMuted, cameraOff });
    this.chatLink = new ChatLink({
      emit: (type, detail) => this.emit(type, detail),
      self: () => ({ identity: this.identity, name: this.name }),
      crypto: () => this.e2ee,
    });
    this.sig = null; // Signalling of the current connection
    this.peers = null; // its PeerConnections, from join on
    this.epoch = 0; // bumps on every connection attempt: callbacks of older ones are ignored
    this.backoff = new Backoff();
    this.retryTimer = null;
    this.retryAt = null;
    this.lostReason = null;
    this.mediaUnstable = false;
    this.requests = 0;
    this.grants = null; // what our token allows (joined.grants, then grants_changed); null: not known yet
    this.lobby = null; // {room, participantId} while a host has not let us in yet
    this.waiting = []; // room admins: who waits in the lobby [{participant_id, identity, name}]
    this.energy = new Map(); // remoteAudioLevels' last totals
    this.onlineListener = () => {
      if (this.state === "reconnecting") this.retryNow();
    };
    window.addEventListener("online", this.onlineListener);
    this.healthTimer = setInterval(() => this.#checkHealth(), 3000);
  }

  // --- what the page reads and does ------------------------------------------------------

  get publisher() {
    return this.pub?.pc ?? null;
  }

  get subscriber() {
    return this.peers?.sub?.pc ?? null;
  }

  // The current Publisher (publisher.js), or null while not joined.
  get pub() {
    return this.peers?.pub ?? null;
  }

  // Our tracks {microphone, camera, screen}; a device that is off has none.
  get local() {
    return this.media.local;
  }

  get micMuted() {
    return this.media.micMuted;
  }

  get cameraOff() {
    return this.media.cameraOff;
  }

  setMicMuted(muted) {
    return this.media.setMicMuted(muted);
  }

  setCameraOff(off) {
    return this.media.setCameraOff(off);
  }

  watchLocalTracks() {
    this.media.watchTracks();
  }

  startScreenShare(track) {
    return this.media.startScreenShare(track);
  }

  stopScreenShare(which) {
    return this.media.stopScreenShare(which);
  }

  // Levels (0..1) of the others' microphones, from the receivers' statistics.
  remoteAudioLevels() {
    return audioLevels(this.remote, this.energy);
  }

  get chatReady() {
    return this.chatLink.ready;
  }

  sendChat(text) {
    return this.chatLink.send(text);
  }

  mayPublish(source) {
    return mayPublish(this.grants, source);
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
    this.#stopWatching();
    this.#setState("left");
  }

  // After a failed first join: hand the devices back (to the join screen) unstopped.
  releaseLocal() {
    const tracks = this.media.release();
    this.#stopWatching();
    return tracks;
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
      lastError: this.lastError,
      mediaUnstable: this.mediaUnstable,
      failure: this.failure,
      failureText: this.failure ? describeCallError(this.failure.code, this.failure.message) : null,
    };
  }

  static describe(error) {
    return describeCallError(error?.code, error?.message);
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
      // A reconnect uses the server's latest reconnect token: the first may have expired.
      token = this.reconnectToken ?? (await this.getToken());
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
      if (ENDED_BY_HOST.has(err.code)) {
        this.#endedByHost(err);
      } else if (err.fatal) {
        this.failure = err;
        this.#setState("failed");
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
    this.#stopWatching();
    this.failure = error;
    this.#setState("failed");
    this.emit("ended", error);
  }

  #teardown() {
    this.joinWait?.reject(new CallError("cancelled", "cancelled"));
    this.joinWait = null;
    this.lobby = null;
    this.sig?.close();
    this.sig = null;
    this.peers?.close();
    this.peers = null;
    this.chatLink.detach();
    this.mediaUnstable = false;
    if (this.remote.size) {
      this.remote.clear();
      this.emit("roster");
    }
  }

  #stopLocal() {
    this.media.stopAll();
    this.emit("local");
  }

  // No more reconnecting by itself: the "online" event and the health check stop.
  #stopWatching() {
    window.removeEventListener("online", this.onlineListener);
    clearInterval(this.healthTimer);
  }

  #send(message) {
    return this.sig?.send(message) ?? false;
  }

  // --- server messages (one at a time, in order) -----------------------------------

  async #handle(m) {
    if (m.type === "track_muted" && m.participant_id === this.participantId) return mutedByHost(this, m);
    if (updateRoster(this, m)) return undefined;
    switch (m.type) {
      case "joined":
        return this.#onJoined(m);
      case "lobby_waiting":
        this.participantId = m.participant_id;
        this.lobby = { room: m.room, participantId: m.participant_id };
        this.joinWait?.waiting.resolve();
        return this.emit("lobby", this.lobby);
      case "lobby_update":
        this.waiting = m.waiting;
        return this.emit("waiting", this.waiting);
      case "grants_changed":
        return grantsChanged(this, m.grants);
      case "token_refresh":
        this.reconnectToken = m.token;
        return undefined;
      case "room_closed":
        return this.#endedByHost(new CallError("room_closed", m.reason));
      case "publish_answer":
        return this.pub?.answered(m);
      case "subscribe_offer":
        return this.#peers().subscriber().answer(m);
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
    if (m.room_options?.e2ee_required && !this.e2ee) {
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
    applyGrants(this, m.grants ?? null);
    this.emit("waiting", this.waiting);
    this.participants.clear();
    this.remote.clear();
    m.participants.forEach((p) => addParticipant(this.participants, p));
    this.chatLink.history(m.chat_history);
    this.emit("roster");
    this.#peers().publish().negotiate();
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
    if (this.pub?.refused(m)) return;
    if (m.code === "join_timeout") return; // the socket closes next; reconnecting handles it
    if (m.code === "kicked") return this.#endedByHost(new CallError(m.code, m.message));
    console.warn("server error", m);
  }

  #peers() {
    this.peers ??= new PeerConnections(this, {
      send: (message) => this.#send(message),
      requestId: () => `publish-${++this.requests}`,
      lost: () => this.#lost("media"),
      unstable: (unstable) => {
        if (!unstable && !this.mediaUnstable) return;
        this.mediaUnstable = unstable;
        this.emit("connection", this.connectionInfo());
      },
    });
    return this.peers;
  }

  // Peer connections can also end without an event (closed by the browser or by code):
  // look at the current ones every few seconds while in the call.
  #checkHealth() {
    if (this.state === "joined") this.peers?.checkHealth();
  }
}
