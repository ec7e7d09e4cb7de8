"""Test-only page scripts for relay-only ICE: an init script that wraps RTCPeerConnection
to set ``iceTransportPolicy: "relay"`` (as a browser policy, or a network that leaves
nothing but TURN, would) and records its candidates and candidate errors, and a probe
of every connection's selected candidate pair."""

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
