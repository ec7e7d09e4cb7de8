// Who else is in the room and what they publish (docs/protocol.md): call.participants,
// filled from joined and kept by participant_joined / participant_left / track_published /
// track_unpublished / track_muted. Their media arrives on the subscriber connection
// (subscriber.js, call.remote).

// participant id -> {participantId, identity, name, tracks: Map of track id -> track}
export function addParticipant(participants, p) {
  participants.set(p.participant_id, {
    participantId: p.participant_id,
    identity: p.identity,
    name: p.name,
    tracks: new Map(p.tracks.map((t) => [t.track_id, { ...t }])),
  });
}

// Applies m when it is a roster message and emits "roster"; false when it is not one.
// (A track_muted about our own track is the call's business: access.js mutedByHost.)
export function updateRoster(call, m) {
  switch (m.type) {
    case "participant_joined":
      addParticipant(call.participants, m.participant);
      call.emit("notice", { text: `${m.participant.name} joined`, tone: "info" });
      break;
    case "participant_left": {
      const p = call.participants.get(m.participant_id);
      call.participants.delete(m.participant_id);
      for (const [trackId, r] of call.remote) if (r.participantId === m.participant_id) call.remote.delete(trackId);
      if (p) call.emit("notice", { text: `${p.name} left`, tone: "info" });
      break;
    }
    case "track_published":
      call.participants.get(m.participant_id)?.tracks.set(m.track.track_id, { ...m.track });
      break;
    case "track_unpublished":
      call.participants.get(m.participant_id)?.tracks.delete(m.track_id);
      call.remote.delete(m.track_id);
      break;
    case "track_muted": {
      const track = call.participants.get(m.participant_id)?.tracks.get(m.track_id);
      if (track) track.muted = m.muted;
      break;
    }
    default:
      return false;
  }
  call.emit("roster");
  return true;
}
