// Huddle's browser client: reads the link (docs/browser-client.md), shows the join
// screen, runs one call at a time, and exposes window.huddle for tests and debugging.

import { Call } from "./call.js";
import { CallView } from "./callview.js";
import { FrameCrypto } from "./e2ee.js";
import { logo, setIcon } from "./icons.js";
import { BAD_LINK, JoinScreen } from "./join.js";
import { LobbyScreen } from "./lobby.js";
import { takeLinkToken, tokenClaims, tokenFor } from "./tokens.js";
import { $, isValidRoom, tabIdentity } from "./util.js";

// --- the link: /r/<room>?name=…&autojoin=1&camera=0&mic=0 ---------------------------------

function readLink() {
  const params = new URLSearchParams(location.search);
  let room = params.get("room");
  let roomError = null;
  const match = location.pathname.match(/^\/r\/([^/]*)\/?$/);
  if (match) {
    try {
      room = decodeURIComponent(match[1]);
    } catch {
      room = match[1];
      roomError = BAD_LINK;
    }
  }
  if (room !== null && !roomError && !isValidRoom(room)) roomError = BAD_LINK;
  const off = (key) => ["0", "false", "off", "no"].includes((params.get(key) ?? "").toLowerCase());
  return {
    room: room ?? "",
    name: params.get("name"),
    autojoin: params.get("autojoin") === "1" || params.get("autojoin") === "true",
    cameraOn: !off("camera"),
    micOn: !off("mic"),
    roomError: room ? roomError : null,
    // #e2ee=1: end-to-end encryption; the passphrase itself is typed in, never in a link.
    e2ee: new URLSearchParams(location.hash.slice(1)).get("e2ee") === "1",
  };
}

const link = readLink();
link.token = link.room && !link.roomError ? takeLinkToken(link.room) : null;
if (link.token && !link.name) link.name = tokenClaims(link.token).name ?? null;
let state = "idle"; // what window.huddle reports
let call = null;

for (const slot of document.querySelectorAll(".logo")) slot.prepend(logo());
for (const element of document.querySelectorAll("[data-icon-name]")) setIcon(element, element.dataset.iconName);

const view = new CallView({ onLeave: () => leave() });
const lobby = new LobbyScreen({
  screen: $("lobby-screen"),
  room: $("lobby-room"),
  preview: $("lobby-preview"),
  avatar: $("lobby-avatar"),
  cancel: $("lobby-cancel"),
  onCancel: () => leave(),
});

const join = new JoinScreen({
  room: link.room,
  name: link.name,
  cameraOn: link.cameraOn,
  micOn: link.micOn,
  roomError: link.roomError,
  e2ee: link.e2ee,
  onJoin: (values) => start(values),
});

async function start({ room, name, passphrase, cameraOn, micOn }) {
  if (call && call.state !== "left" && call.state !== "failed") return;
  state = "joining";
  join.setError(null);
  let e2ee = null;
  try {
    e2ee = passphrase ? await FrameCrypto.create(passphrase, room) : null;
  } catch (err) {
    state = "failed";
    join.setError(err.message);
    join.setBusy(false);
    return;
  }
  const tracks = join.takeTracks();
  const current = (call = new Call({
    room,
    name,
    identity: tabIdentity(),
    getToken: () => tokenFor({ room, name, identity: tabIdentity(), linkToken: room === link.room ? link.token : null }),
    devices: join.devicesIds(),
    local: tracks,
    micMuted: !micOn,
    cameraOff: !cameraOn,
    e2ee,
  }));
  current.on("state", (s) => {
    if (call === current) state = s;
  });
  current.on("lobby", (waiting) => {
    if (call !== current || current.state !== "joining") return;
    if (!waiting) return lobby.hide();
    join.hide();
    lobby.show({ room: waiting.room, name: current.name, camera: current.local.camera });
  });
  current.on("ended", (err) => call === current && endedByHost(current, err));
  view.attach(current); // before joining: "joined" brings the chat history
  try {
    await current.start();
  } catch (err) {
    if (call !== current) return;
    state = "failed";
    view.detach();
    lobby.hide();
    join.giveBack(current.releaseLocal());
    if (!join.visible) join.show();
    e2ee?.close();
    if (err.code === "e2ee_passphrase_required" || err.code === "e2ee_required") join.askPassphrase(Call.describe(err));
    else join.setError(Call.describe(err));
    join.setBusy(false);
    if (link.autojoin && err.code === "unreachable") {
      setTimeout(() => call === current && state === "failed" && join.submit(), 5000); // kiosks keep trying
    }
    return;
  }
  if (call !== current || current.state === "left") return;
  current.watchLocalTracks();
  lobby.hide();
  join.hide();
  view.show();
  const path = `/r/${encodeURIComponent(current.room)}`;
  if (location.pathname !== path) history.replaceState(null, "", path + location.search);
}

function leave() {
  if (!call) return;
  const room = call.room;
  const waited = lobby.visible;
  call.leave();
  state = "left";
  lobby.hide();
  view.hide();
  view.detach();
  join.show(waited ? `You stopped waiting to join ${room}.` : `You left ${room}.`);
}

// Removed by a host, or the room closed: back to the join screen, saying why; no reconnect.
function endedByHost(current, err) {
  state = "failed";
  lobby.hide();
  view.hide();
  view.detach();
  join.show();
  join.setError(Call.describe(err));
}

window.addEventListener("pagehide", () => call?.leave());

// Debug handle for tests (read-only).
window.huddle = Object.freeze({
  get state() {
    return state;
  },
  get participantId() {
    return call?.participantId ?? null;
  },
  get room() {
    return call?.room ?? (join.values().room || null);
  },
  get publisher() {
    return call?.publisher ?? null;
  },
  get subscriber() {
    return call?.subscriber ?? null;
  },
  get call() {
    return call;
  },
  get lobby() {
    return call?.lobby ? { ...call.lobby } : null;
  },
  get grants() {
    return call?.grants ? { ...call.grants, publish: [...call.grants.publish] } : null;
  },
  get waiting() {
    return call?.waiting?.map((w) => ({ ...w })) ?? [];
  },
  get endReason() {
    return call?.failure?.code ?? null;
  },
  get e2ee() {
    return Boolean(call?.e2ee);
  },
});

join.show().then(() => {
  if (link.autojoin && link.room && link.name) {
    if (link.roomError) state = "failed";
    else join.submit();
  }
});
$("join-screen").dataset.ready = "true";
