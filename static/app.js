// Huddle's minimal test client. It speaks the protocol in docs/protocol.md:
// the page offers on its publisher connection (camera, microphone and the
// "chat" data channel); the server offers on the subscriber connection
// whenever tracks come or go, and the page answers each offer in turn.

const PROTOCOL_VERSION = 1;
const $ = (id) => document.getElementById(id);

let call = null; // everything about the current call; null when not in one

function setStatus(text) {
  $("status").textContent = text;
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function send(message) {
  if (call && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify(message));
}

// --- joining and leaving -------------------------------------------------------

async function join(room, name) {
  setStatus("Starting camera and microphone…");
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  call = {
    ws, local, name, joined: false, participantId: null, identity: null, iceServers: [],
    publisher: null, subscriber: null, flushSubscriber: null, chat: null,
    published: new Map(), // kind -> our track id, from publish_answer
    participants: new Map(), // participant id -> { name, tracks: Map(track id -> track) }
    remote: new Map(), // track id -> { participantId, kind, element }
    seenChat: new Set(), // server ids of chat messages shown
    pendingChat: new Map(), // client_id -> <li> of our messages not yet acknowledged
    inbox: Promise.resolve(), // server messages are handled one at a time, in order
  };
  addTile("local", local.getVideoTracks()[0], null).querySelector(".name").textContent = `${name} (you)`;
  $("join-form").hidden = true;
  $("controls").hidden = false;
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const current = call;
    if (!current || current.ws !== ws) return;
    current.inbox = current.inbox.then(async () => {
      if (call !== current) return; // left meanwhile
      try {
        await handlers[message.type]?.(message);
      } catch (err) {
        console.error(`handling ${message.type}`, err);
        if (call === current) setStatus(`Failed to handle ${message.type}: ${err.message || err}`);
      }
    });
  };
  ws.onclose = (event) => {
    if (call && call.ws === ws) {
      leave(false);
      setStatus(`Disconnected${event.reason ? `: ${event.reason}` : ""} (code ${event.code})`);
    }
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("the WebSocket could not connect"));
  });
  setStatus("Joining…");
  send({ type: "join", version: PROTOCOL_VERSION, room, name });
}

function leave(polite = true) {
  if (!call) return;
  const { ws, publisher, subscriber, local } = call;
  if (polite) send({ type: "leave" });
  call = null;
  ws.close(); // a leave already queued is sent before the close frame
  publisher?.close();
  subscriber?.close();
  local.getTracks().forEach((track) => track.stop());
  for (const id of ["grid", "audio", "people", "messages"]) $(id).replaceChildren();
  $("controls").hidden = true;
  $("join-form").hidden = false;
  setChatEnabled(false);
  setStatus("You left.");
}

function rtcConfiguration() {
  return { iceServers: call.iceServers, bundlePolicy: "max-bundle" };
}

// Send our ICE candidates to the server; hold them until the SDP they belong to has been sent.
function trickle(pc, target) {
  const held = [];
  let ready = false;
  pc.onicecandidate = ({ candidate }) => {
    if (!candidate || !candidate.candidate) return; // end of candidates: nothing to send
    const message = {
      type: "ice_candidate", target, candidate: candidate.candidate,
      sdp_mid: candidate.sdpMid, sdp_mline_index: candidate.sdpMLineIndex,
    };
    if (ready) send(message);
    else held.push(message);
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected" || pc.connectionState === "failed") {
      setStatus(`Media (${target}): ${pc.connectionState}`);
    }
  };
  return () => {
    ready = true;
    held.splice(0).forEach(send);
  };
}

// --- server messages -----------------------------------------------------------

const handlers = {
  async joined(m) {
    call.joined = true;
    call.participantId = m.participant_id;
    call.identity = m.identity;
    call.iceServers = m.ice_servers;
    $("room-label").textContent = `Room ${m.room}`;
    renderPeople();
    m.participants.forEach(addParticipant);
    m.chat_history.forEach(showChat);
    await publish();
    setStatus("Joined; connecting media…");
  },
  participant_joined: (m) => addParticipant(m.participant),
  participant_left(m) {
    for (const [trackId, remote] of call.remote) {
      if (remote.participantId === m.participant_id) removeRemoteTrack(trackId);
    }
    call.participants.delete(m.participant_id);
    renderPeople();
  },
  track_published(m) {
    // Its media arrives with a subscribe_offer; here only the roster is updated.
    call.participants.get(m.participant_id)?.tracks.set(m.track.track_id, m.track);
    updateLabels(m.participant_id);
  },
  track_unpublished(m) {
    call.participants.get(m.participant_id)?.tracks.delete(m.track_id);
    removeRemoteTrack(m.track_id);
  },
  track_muted(m) {
    const track = call.participants.get(m.participant_id)?.tracks.get(m.track_id);
    if (track) track.muted = m.muted;
    updateLabels(m.participant_id);
  },
  async publish_answer(m) {
    await call.publisher.setRemoteDescription({ type: "answer", sdp: m.sdp });
    for (const { mid, track_id } of m.tracks) {
      const transceiver = call.publisher.getTransceivers().find((t) => t.mid === mid);
      if (transceiver?.sender.track) call.published.set(transceiver.sender.track.kind, track_id);
    }
  },
  subscribe_offer: (m) => answerSubscription(m),
  error(m) {
    if (!call.joined) leave(false); // e.g. a room name the server refuses
    setStatus(`Server error ${m.code}: ${m.message}`);
  },
  pong() {},
};

async function publish() {
  const pc = (call.publisher = new RTCPeerConnection(rtcConfiguration()));
  const flush = trickle(pc, "publisher");
  const channel = (call.chat = pc.createDataChannel("chat"));
  channel.onopen = () => setChatEnabled(true);
  channel.onclose = () => setChatEnabled(false);
  channel.onmessage = (event) => onChatPayload(event.data);
  const declared = [];
  for (const track of call.local.getTracks()) {
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [call.local] });
    declared.push({ transceiver, source: track.kind === "audio" ? "microphone" : "camera" });
  }
  await pc.setLocalDescription(await pc.createOffer());
  const tracks = declared.map(({ transceiver, source }) => ({ mid: transceiver.mid, source }));
  send({ type: "publish_offer", sdp: pc.localDescription.sdp, tracks });
  flush();
}

// Runs inside the inbox chain, so one offer is fully answered before the next is looked at.
async function answerSubscription(m) {
  let pc = call.subscriber;
  if (!pc) {
    pc = call.subscriber = new RTCPeerConnection(rtcConfiguration());
    call.flushSubscriber = trickle(pc, "subscriber");
  }
  await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
  const listed = new Set(m.tracks.map((t) => t.track_id));
  for (const trackId of [...call.remote.keys()]) {
    if (!listed.has(trackId)) removeRemoteTrack(trackId);
  }
  for (const info of m.tracks) {
    if (call.remote.has(info.track_id)) continue;
    const transceiver = pc.getTransceivers().find((t) => t.mid === info.mid);
    if (transceiver) addRemoteTrack(info, transceiver.receiver.track);
  }
  await pc.setLocalDescription(await pc.createAnswer());
  send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
  call.flushSubscriber();
}

// --- participants and media ----------------------------------------------------

function addParticipant(p) {
  const tracks = new Map(p.tracks.map((t) => [t.track_id, t]));
  call.participants.set(p.participant_id, { name: p.name, tracks });
  renderPeople();
  updateLabels(p.participant_id);
}

function renderPeople() {
  const names = [`${call.name} (you)`, ...[...call.participants.values()].map((p) => p.name)];
  $("people").replaceChildren(...names.map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    return li;
  }));
}

function addTile(key, track, participantId) {
  const tile = document.createElement("figure");
  tile.className = "tile";
  tile.dataset.key = key;
  if (participantId) tile.dataset.participant = participantId;
  const video = document.createElement("video");
  video.autoplay = video.playsInline = video.muted = true; // sound plays from <audio>
  video.srcObject = new MediaStream([track]);
  const label = document.createElement("figcaption");
  label.className = "name";
  tile.append(video, label);
  $("grid").append(tile);
  return tile;
}

function addRemoteTrack(info, track) {
  let element;
  if (info.kind === "video") {
    element = addTile(info.track_id, track, info.participant_id);
  } else {
    element = document.createElement("audio");
    element.autoplay = true;
    element.srcObject = new MediaStream([track]);
    $("audio").append(element);
  }
  call.remote.set(info.track_id, { participantId: info.participant_id, kind: info.kind, element });
  updateLabels(info.participant_id);
}

function removeRemoteTrack(trackId) {
  const remote = call.remote.get(trackId);
  if (!remote) return;
  call.remote.delete(trackId);
  remote.element.srcObject = null;
  remote.element.remove();
}

function updateLabels(participantId) {
  const p = call.participants.get(participantId);
  if (!p) return;
  const micMuted = [...p.tracks.values()].some((t) => t.kind === "audio" && t.muted);
  for (const tile of $("grid").querySelectorAll(".tile")) {
    if (tile.dataset.participant !== participantId) continue;
    const video = p.tracks.get(tile.dataset.key);
    tile.classList.toggle("video-off", Boolean(video?.muted));
    tile.querySelector(".name").textContent = p.name + (micMuted ? " (muted)" : "");
  }
}

function toggleLocal(kind, button, onText, offText) {
  const track = call?.local.getTracks().find((t) => t.kind === kind);
  if (!track) return;
  track.enabled = !track.enabled; // a disabled track sends silence or black frames
  button.textContent = track.enabled ? onText : offText;
  const trackId = call.published.get(kind);
  if (trackId) send({ type: "mute", track_id: trackId, muted: !track.enabled });
}

// --- chat --------------------------------------------------------------------

function setChatEnabled(enabled) {
  $("chat-text").disabled = $("chat-send").disabled = !enabled;
}

function onChatPayload(raw) {
  let m;
  try {
    m = JSON.parse(raw);
  } catch {
    return;
  }
  if (m.type === "chat" || m.type === "chat_ack") showChat(m.message);
  else if (m.type === "error") setStatus(`Chat error ${m.code}: ${m.message}`);
}

// One line per stored message; our own line is shown at once and completed by its chat_ack.
function showChat(message) {
  if (message.id !== undefined) {
    if (call.seenChat.has(message.id)) return;
    call.seenChat.add(message.id);
  }
  let li = message.identity === call.identity ? call.pendingChat.get(message.client_id) : undefined;
  if (li) call.pendingChat.delete(message.client_id);
  if (!li) {
    li = document.createElement("li");
    li.append(document.createElement("time"), document.createElement("b"), document.createElement("span"));
    $("messages").append(li);
  }
  const [time, who, text] = li.children;
  time.textContent = new Date(message.ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  who.textContent = message.name;
  text.textContent = message.text; // never innerHTML: chat text is untrusted
  li.classList.toggle("pending", message.id === undefined);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

function sendChat(text) {
  const clientId = randomId();
  call.chat.send(JSON.stringify({ type: "chat", client_id: clientId, text }));
  const li = showChat({ client_id: clientId, name: call.name, text, ts: Date.now() / 1000 });
  call.pendingChat.set(clientId, li);
}

// --- page wiring -------------------------------------------------------------

$("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (call) return;
  $("join").disabled = true;
  try {
    await join($("room").value.trim(), $("name").value.trim());
  } catch (err) {
    leave(false);
    setStatus(`Could not join: ${err.message || err}`);
  } finally {
    $("join").disabled = false;
  }
});
$("leave").addEventListener("click", () => leave());
$("toggle-mic").addEventListener("click", (e) => toggleLocal("audio", e.target, "Mute mic", "Unmute mic"));
$("toggle-cam").addEventListener("click", (e) => toggleLocal("video", e.target, "Stop camera", "Start camera"));
$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-text").value;
  if (!call?.chat || call.chat.readyState !== "open" || !text.trim()) return;
  sendChat(text);
  $("chat-text").value = "";
});
window.addEventListener("pagehide", () => leave());
