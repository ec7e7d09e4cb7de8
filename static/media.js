// Local media: camera and microphone capture, device lists, the microphone level,
// screen capture, and clear words for what can go wrong with them.

export class MediaError extends Error {
  constructor(kind, reason, message) {
    super(message);
    this.kind = kind; // "camera" | "microphone" | "screen"
    this.reason = reason; // "denied" | "missing" | "busy" | "insecure" | "unsupported" | "cancelled" | "failed"
  }
}

const supported = () => Boolean(navigator.mediaDevices?.getUserMedia);
export const canShareScreen = () => Boolean(navigator.mediaDevices?.getDisplayMedia);

function explain(kind, err) {
  const device = kind === "camera" ? "camera" : "microphone";
  const Device = device[0].toUpperCase() + device.slice(1);
  if (!window.isSecureContext) {
    return new MediaError(kind, "insecure", `${Device} access needs a secure (https) address.`);
  }
  switch (err?.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return new MediaError(
        kind,
        "denied",
        `${Device} access is blocked. Allow it in your browser's site settings, then try again.`,
      );
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return new MediaError(kind, "missing", `No ${device} was found. Plug one in, or join without it.`);
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return new MediaError(kind, "busy", `Your ${device} is in use by another app, or could not be started.`);
    default:
      return new MediaError(kind, "failed", `The ${device} could not be started (${err?.message || err}).`);
  }
}

const videoConstraints = (deviceId) => ({
  ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30, max: 30 },
});

const audioConstraints = (deviceId) => ({
  ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
});

async function capture(kind, deviceId) {
  if (!supported()) {
    const reason = window.isSecureContext ? "unsupported" : "insecure";
    const text = window.isSecureContext
      ? "This browser cannot use a camera or microphone."
      : "Camera and microphone need a secure (https) address.";
    throw new MediaError(kind, reason, text);
  }
  const constraints =
    kind === "camera" ? { video: videoConstraints(deviceId) } : { audio: audioConstraints(deviceId) };
  try {
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    return stream.getTracks()[0];
  } catch (err) {
    if (deviceId && (err?.name === "OverconstrainedError" || err?.name === "NotFoundError")) {
      return capture(kind, null); // the remembered device is gone: take the default one
    }
    throw explain(kind, err);
  }
}

export const getCamera = (deviceId) => capture("camera", deviceId);
export const getMicrophone = (deviceId) => capture("microphone", deviceId);

// Both at once (one permission prompt); when that fails, each alone, so that one
// missing or blocked device does not cost the other. Returns {camera, microphone, errors}.
export async function getCameraAndMicrophone({ camera, microphone, cameraId, micId }) {
  const result = { camera: null, microphone: null, errors: [] };
  if (camera && microphone && supported()) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: videoConstraints(cameraId),
        audio: audioConstraints(micId),
      });
      result.camera = stream.getVideoTracks()[0] ?? null;
      result.microphone = stream.getAudioTracks()[0] ?? null;
      return result;
    } catch {
      // fall through: ask for each one alone to learn which failed and why
    }
  }
  const wanted = [camera && "camera", microphone && "microphone"].filter(Boolean);
  for (const kind of wanted) {
    try {
      result[kind] = await capture(kind, kind === "camera" ? cameraId : micId);
    } catch (err) {
      result.errors.push(err);
    }
  }
  return result;
}

export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  const named = (list, fallback) =>
    list.map((d, i) => ({ deviceId: d.deviceId, label: d.label || `${fallback} ${i + 1}` }));
  return {
    cameras: named(
      devices.filter((d) => d.kind === "videoinput" && d.deviceId),
      "Camera",
    ),
    microphones: named(
      devices.filter((d) => d.kind === "audioinput" && d.deviceId),
      "Microphone",
    ),
  };
}

export async function getScreen() {
  if (!canShareScreen()) {
    throw new MediaError("screen", "unsupported", "Screen sharing is not available in this browser.");
  }
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    const track = stream.getVideoTracks()[0];
    if ("contentHint" in track) track.contentHint = "detail"; // keep text sharp
    return track;
  } catch (err) {
    console.info("getDisplayMedia:", err?.name, err?.message);
    if (err?.name === "NotAllowedError" || err?.name === "AbortError") {
      throw new MediaError("screen", "cancelled", "Screen sharing was cancelled.");
    }
    throw new MediaError("screen", "failed", `Screen sharing could not start (${err?.message || err}).`);
  }
}

// --- microphone level ------------------------------------------------------------

let audioContext = null;

export function sharedAudioContext() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  if (!audioContext) audioContext = new Context();
  if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
  return audioContext;
}

// Browsers start an AudioContext suspended until the page is used; resume on first use.
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, () => audioContext?.state === "suspended" && audioContext.resume(), {
    capture: true,
  });
}

// The level (0..1, roughly like WebRTC's audioLevel) of one audio track, by a WebAudio analyser.
export class LevelMeter {
  constructor(track) {
    this.track = track;
    this.context = sharedAudioContext();
    this.buffer = null;
    if (!this.context || !track) return;
    this.source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source.connect(this.analyser);
    this.buffer = new Float32Array(this.analyser.fftSize);
  }

  level() {
    if (!this.buffer || this.track.readyState !== "live" || !this.track.enabled) return 0;
    this.analyser.getFloatTimeDomainData(this.buffer);
    let sum = 0;
    for (const sample of this.buffer) sum += sample * sample;
    const rms = Math.sqrt(sum / this.buffer.length);
    return Math.min(1, rms * 2.5);
  }

  stop() {
    this.source?.disconnect();
    this.analyser?.disconnect();
    this.buffer = null;
  }
}
