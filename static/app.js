// Huddle's browser client: reads the link (docs/browser-client.md), shows the join
// screen, runs one call at a time, and exposes window.huddle for tests and debugging.

import { Call } from "./call.js";
import { CallView } from "./callview.js";
import { logo, setIcon } from "./icons.js";
import { BAD_LINK, JoinScreen } from "./join.js";
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

const join = new JoinScreen({
  room: link.room,
  name: link.name,
  cameraOn: link.cameraOn,
  micOn: link.micOn,
  roomError: link.roomError,
  onJoin: (values) => start(values),
});

async function start({ room, name, cameraOn, micOn }) {
  if (call && call.state !== "left" && call.state !== "failed") return;
  state = "joining";
  join.setError(null);
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
  }));
  current.on("state", (s) => {
    if (call === current) state = s;
  });
  view.attach(current); // before joining: "joined" brings the chat history
  try {
    await current.start();
  } catch (err) {
    if (call !== current) return;
    state = "failed";
    view.detach();
    join.giveBack(current.releaseLocal());
    join.setError(Call.describe(err));
    join.setBusy(false);
    if (link.autojoin && err.code === "unreachable") {
      setTimeout(() => call === current && state === "failed" && join.submit(), 5000); // kiosks keep trying
    }
    return;
  }
  if (call !== current || current.state === "left") return;
  current.watchLocalTracks();
  join.hide();
  view.show();
  const path = `/r/${encodeURIComponent(current.room)}`;
  if (location.pathname !== path) history.replaceState(null, "", path + location.search);
}

function leave() {
  if (!call) return;
  const room = call.room;
  call.leave();
  state = "left";
  view.hide();
  view.detach();
  join.show(`You left ${room}.`);
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
});

join.show().then(() => {
  if (link.autojoin && link.room && link.name) {
    if (link.roomError) state = "failed";
    else join.submit();
  }
});
$("join-screen").dataset.ready = "true";
