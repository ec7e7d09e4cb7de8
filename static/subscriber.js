// What the others publish (docs/protocol.md): the subscriber peer connection of one
// signalling connection, answering each subscribe_offer, and the remote tracks it brings
// (call.remote). Also how loud each of the others is, from the receivers' statistics.

export class Subscriber {
  // call: the Call (remote tracks, e2ee, events). send(message): to the server.
  // flush(): let our ICE candidates go once the answer is sent (peerconnections.js).
  constructor(call, pc, { send, flush }) {
    Object.assign(this, { call, pc, send, flush });
    this.closed = false;
  }

  async answer(m) {
    const { pc, call } = this;
    await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
    if (this.closed) return;
    const transceivers = pc.getTransceivers();
    const next = new Map();
    for (const t of m.tracks) {
      const transceiver = transceivers.find((x) => x.mid === t.mid);
      if (!transceiver) continue;
      const receiverInfo = { participantId: t.participant_id, trackId: t.track_id, kind: t.kind };
      call.e2ee?.protectReceiver(transceiver.receiver, receiverInfo);
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
    call.remote = next;
    await pc.setLocalDescription(await pc.createAnswer());
    if (this.closed) return;
    this.send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
    this.flush();
    call.emit("roster");
  }

  close() {
    this.closed = true;
    try {
      this.pc.close();
    } catch {
      // already closed
    }
  }
}

// Levels (0..1) of the others' microphones: participant id -> level. energy (mid ->
// {e, d}) keeps the last totals between calls, to turn them into a level over the interval.
export async function audioLevels(remote, energy) {
  const levels = new Map();
  const audio = [...remote.values()].filter((r) => r.kind === "audio");
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
          const before = energy.get(r.mid);
          energy.set(r.mid, { e: s.totalAudioEnergy, d: s.totalSamplesDuration });
          const dt = before ? s.totalSamplesDuration - before.d : 0;
          if (dt > 0) level = Math.max(level, Math.sqrt(Math.max(0, s.totalAudioEnergy - before.e) / dt));
        }
        levels.set(r.participantId, Math.max(levels.get(r.participantId) ?? 0, level));
      });
    }),
  );
  return levels;
}
