// Read-only probes that the browser tests add to every page as an init script.
// They look at the page only through its contract (docs/browser-client.md): the
// DOM ids and attributes, and the RTCPeerConnections on window.huddle.
(() => {
  const tileSelector = (participantId, kind) =>
    `.tile[data-participant-id="${CSS.escape(participantId)}"][data-kind="${kind}"]`;

  function firstTrack(element, kind) {
    const stream = element && element.srcObject;
    if (!stream || typeof stream.getTracks !== "function") return null;
    return stream.getTracks().find((t) => t.kind === kind) || null;
  }

  // The inbound-rtp stats of the subscriber connection's receiver that carries `track`.
  async function inboundStats(track) {
    const pc = window.huddle && window.huddle.subscriber;
    if (!pc || !track || pc.connectionState === "closed") return null;
    const receiver = pc.getReceivers().find((r) => r.track && r.track.id === track.id);
    if (!receiver) return null;
    let found = null;
    (await receiver.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp") found = s;
    });
    return found;
  }

  // Mean colour of the central quarter of what a video element shows, or null.
  function colourOf(video) {
    if (!video || !video.videoWidth) return null;
    const canvas = document.createElement("canvas");
    canvas.width = 32;
    canvas.height = 24;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, 32, 24);
    const data = context.getImageData(8, 6, 16, 12).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
    const n = data.length / 4;
    return sum.map((v) => Math.round(v / n));
  }

  function visible(element) {
    return Boolean(element && element.checkVisibility({ visibilityProperty: true }));
  }

  // Every state the #banner went through, recorded as it changes, so a short
  // "reconnecting" moment is not missed between two polls.
  const bannerHistory = [];
  function recordBanner() {
    const banner = document.getElementById("banner");
    if (!banner) return;
    const entry = {
      state: banner.getAttribute("data-state"),
      visible: visible(banner),
      text: (banner.textContent || "").trim(),
    };
    const last = bannerHistory[bannerHistory.length - 1];
    if (!last || last.state !== entry.state || last.visible !== entry.visible || last.text !== entry.text) {
      bannerHistory.push({ ...entry, at: performance.now() });
    }
  }
  new MutationObserver(recordBanner).observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["data-state", "hidden", "class", "style"],
  });

  window.__huddleTest = {
    bannerHistory,
    visible: (selector) => visible(document.querySelector(selector)),
    // Mean colour of the centre of the video element matched by `selector`, or null.
    colour: (selector) => colourOf(document.querySelector(selector)),

    // What the tile of `participantId` (kind "camera" or "screen") shows.
    async tile(participantId, kind = "camera") {
      const tile = document.querySelector(tileSelector(participantId, kind));
      if (!tile) return { present: false };
      const video = tile.querySelector("video");
      const stats = await inboundStats(firstTrack(video, "video"));
      return {
        present: true,
        visible: visible(tile),
        local: tile.getAttribute("data-local"),
        name: (tile.querySelector(".tile-name")?.textContent || "").trim(),
        micMuted: tile.getAttribute("data-mic-muted"),
        cameraOff: tile.getAttribute("data-camera-off"),
        videoWidth: video ? video.videoWidth : 0,
        framesShown: video ? video.getVideoPlaybackQuality().totalVideoFrames : 0,
        framesDecoded: stats ? stats.framesDecoded : null,
        colour: colourOf(video),
      };
    },

    // The remote tiles: [{participantId, kind, local}].
    tiles() {
      return [...document.querySelectorAll(".tile")].map((tile) => ({
          participantId: tile.getAttribute("data-participant-id"),
          kind: tile.getAttribute("data-kind"),
          local: tile.getAttribute("data-local") === "true",
        }));
    },

    // The audio element of remote track `trackId` and its receiver's stats.
    async audio(trackId) {
      const element = document.querySelector(`audio[data-track-id="${CSS.escape(trackId)}"]`);
      if (!element) return { present: false };
      const stats = await inboundStats(firstTrack(element, "audio"));
      return {
        present: true,
        paused: element.paused,
        packetsReceived: stats ? stats.packetsReceived : null,
        audioLevel: stats ? (stats.audioLevel ?? null) : null,
      };
    },

    audioTrackIds() {
      return [...document.querySelectorAll("audio[data-track-id]")].map((a) => a.getAttribute("data-track-id"));
    },

    chat() {
      return [...document.querySelectorAll("#chat-messages .chat-message")].map((m) => {
        const time = m.querySelector("time.chat-time, .chat-time time");
        return {
          id: m.getAttribute("data-message-id"),
          sender: (m.querySelector(".chat-sender")?.textContent || "").trim(),
          text: m.querySelector(".chat-text")?.textContent ?? null,
          datetime: time ? time.getAttribute("datetime") : null,
        };
      });
    },
  };
})();
