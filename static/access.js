// What our token lets us do, and what hosts do to us (docs/protocol.md): the grants at join
// and when a host changes them, and a track a host muted. Devices we may not publish are
// let go; a withdrawn source stops at once. Turning something on again is the user's choice.

const SOURCES = { microphone: "audio", camera: "video" };

// Before joined (grants null), everything the page offers is allowed; the server says
// otherwise on join.
export function mayPublish(grants, source) {
  return !grants || grants.publish.includes(source);
}

// At join: devices we may not publish are let go before the publisher is made.
export function applyGrants(call, grants) {
  call.grants = grants ? { ...grants, publish: [...grants.publish] } : null;
  for (const source of ["microphone", "camera", "screen"]) if (!call.mayPublish(source)) call.media.drop(source);
  call.emit("grants", call.grants);
  call.emit("local");
}

// A host changed our grants: withdrawn sources stop now (the server has already stopped
// forwarding them); their m-lines go inactive so that later offers stay within the grants.
// Sources granted again get a muted slot: turning them on stays the user's choice.
export async function grantsChanged(call, grants) {
  const before = call.grants;
  applyGrants(call, grants);
  const pub = call.pub;
  if (!pub) return;
  let renegotiate = false;
  for (const [source, kind] of [...Object.entries(SOURCES), ["screen", "video"]]) {
    const slot = pub.slots[source];
    const allowed = call.mayPublish(source);
    if (!allowed && slot && slot.transceiver.direction !== "inactive") {
      slot.transceiver.direction = "inactive";
      slot.trackId = null;
      await pub.replace(source, null);
      renegotiate = true;
    } else if (allowed && source !== "screen" && !before?.publish.includes(source)) {
      if (!slot) pub.addSlot(source, kind, null);
      else slot.transceiver.direction = "sendonly";
      renegotiate = true;
    }
  }
  if (before && before.data !== call.grants.data && !call.grants.data) {
    call.emit("notice", { text: "A host turned off chat for you.", tone: "info" });
  }
  if (renegotiate) pub.negotiate(); // not awaited: its answer is a later message of this queue
}

// A host muted (or unmuted) one of our tracks (track_muted). The server stopped forwarding
// it already; here it stops at the source too, and unmuting again is left to the user.
export function mutedByHost(call, m) {
  const slot = call.pub?.slotFor(m.track_id);
  if (!slot) return;
  slot.announcedMuted = m.muted; // the server's view now; syncMute corrects it if needed
  if (!m.muted) {
    call.pub.syncMute(slot.source);
    return;
  }
  const what = { microphone: "muted your microphone", camera: "turned off your camera" }[slot.source];
  call.emit("notice", { text: `A host ${what ?? "stopped your screen share"}`, tone: "info", ms: 8000 });
  if (slot.source === "microphone") call.setMicMuted(true);
  else if (slot.source === "camera") call.setCameraOff(true);
  else call.stopScreenShare();
}
