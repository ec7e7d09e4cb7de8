"""Test-only page scripts for relay-only ICE: an init script that wraps RTCPeerConnection
to set ``iceTransportPolicy: "relay"`` (as a browser policy, or a network that leaves
nothing but TURN, would) and records its candidates and candidate errors, and a probe
of every connection's selected candidate pair."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack
from tests.browser.conftest import BrowserParticipant, Opener, close_to, eventually, wait_published
from tests.conftest import RunningServer
from tests.media_checks import tracks_by_sender, video_colour

BOT_COLOUR = (30, 200, 210)  # cyan: none of the browsers' colours

# window.__relayTest = {connections, candidates, errors}
FORCE_RELAY = """
(() => {
  const Native = window.RTCPeerConnection;
  const relay = (config) => ({ ...(config || {}), iceTransportPolicy: "relay" });
  const record = { connections: [], candidates: [], errors: [] };
  window.__relayTest = record;
  class RelayOnly extends Native {
    constructor(config, ...rest) {
      super(relay(config), ...rest);
      record.connections.push(this);
      this.addEventListener("icecandidate", (e) => {
        if (e.candidate && e.candidate.candidate) record.candidates.push(e.candidate.candidate);
      });
      this.addEventListener("icecandidateerror", (e) => {
        record.errors.push({ code: e.errorCode, url: e.url, text: e.errorText });
      });
    }
    setConfiguration(config) {
      return super.setConfiguration(relay(config));
    }
  }
  window.RTCPeerConnection = RelayOnly;
})();
"""

# For every RTCPeerConnection the page made: its configured policy and ICE servers,
# its states, and the local and remote candidates of the transport's selected pair.
SELECTED_PAIRS = """
async () => Promise.all(window.__relayTest.connections.map(async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const byId = new Map(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  const local = pair && byId.get(pair.localCandidateId);
  const remote = pair && byId.get(pair.remoteCandidateId);
  const config = pc.getConfiguration();
  return {
    policy: config.iceTransportPolicy,
    urls: (config.iceServers || []).flatMap((s) => [].concat(s.urls)),
    state: pc.connectionState,
    gathering: pc.iceGatheringState,
    local: local ? {
      type: local.candidateType, relayProtocol: local.relayProtocol ?? null, url: local.url ?? null,
    } : null,
    remote: remote ? { type: remote.candidateType, address: remote.address ?? remote.ip } : null,
    bytes: pair ? (pair.bytesSent || 0) + (pair.bytesReceived || 0) : 0,
  };
}))
"""


async def relay_only_call(
    server: RunningServer, browsers: Opener, clients: Callable[..., HuddleClient], room: str, **launch: Any
) -> tuple[BrowserParticipant, list[dict[str, Any]]]:
    """A relay-only Alice (``launch``: more ``browsers`` options) and a Python bot in
    ``room`` see each other's camera; returns Alice and her selected candidate pairs,
    both connections' pairs carrying media."""
    bot = clients("Bot")
    await bot.join(room)
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera")])

    alice = await browsers("Alice", room, join=False, **launch)
    await alice.context.add_init_script(script=FORCE_RELAY)
    await alice.goto(server, room)
    await alice.wait_joined()

    # The browser shows the Python client's camera ...
    await alice.video_flowing(bot.participant_id, colour=BOT_COLOUR)
    # ... and the Python client decodes the browser's.
    await wait_published(server, room, alice.participant_id, {"camera"})
    await bot.wait_for_tracks(1, timeout=20)
    colour = await video_colour(tracks_by_sender(bot)[(alice.participant_id, "video")], timeout=20)
    assert close_to(colour, alice.colour), colour

    pairs = await eventually(
        alice.page,
        SELECTED_PAIRS,
        None,
        lambda ps: len(ps) >= 2 and all(p["local"] and p["bytes"] > 0 for p in ps),
        what="Alice's selected candidate pairs",
    )
    return alice, pairs
