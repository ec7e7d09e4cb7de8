// The frame cipher of end-to-end encryption (docs/e2ee.md), run off the main thread.
//
// Every encoded frame a sender produces is sealed with AES-GCM before it is packetized;
// every frame a receiver assembles is opened before it reaches the decoder. A frame
// keeps its first bytes in the clear (authenticated, not encrypted) so that the SFU can
// still spot VP8 keyframes and the receiving browser can still read a keyframe's size:
//
//   [clear header][ciphertext + 16-byte tag][12-byte IV][key id]
//
// The IV is the frame's SSRC, its RTP timestamp and a per-sender counter that starts at
// a random value: unique per frame under one key.
//
// Messages in: {type: "key", key: CryptoKey} (before any stream), and, where
// RTCRtpScriptTransform is missing, {type: "streams", readable, writable, options}.
// {type: "reset", id} when a receiver now carries another track: its status is reported
// afresh. Messages out: {type: "status", id, ok} when a receiver starts or stops decrypting.

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const TRAILER_LENGTH = IV_LENGTH + 1;
const KEY_ID = 0;
// Clear bytes, as Jitsi and LiveKit keep them: a VP8 keyframe's 10-byte header (frame
// tag, start code, size), a delta frame's 3-byte frame tag, Opus's TOC byte.
const CLEAR_KEYFRAME = 10;
const CLEAR_DELTA = 3;
const CLEAR_AUDIO = 1;

let key = null;
const reported = new Map(); // receiver transform id -> last status sent

function clearLength(frame, kind, size) {
  const wanted = kind === "audio" ? CLEAR_AUDIO : frame.type === "key" ? CLEAR_KEYFRAME : CLEAR_DELTA;
  return Math.min(wanted, size);
}

function encryptor({ kind }) {
  let counter = crypto.getRandomValues(new Uint32Array(1))[0];
  return async (frame, controller) => {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) {
      controller.enqueue(frame); // an empty frame carries nothing to protect
      return;
    }
    if (!key) return; // never send media in the clear
    const metadata = frame.getMetadata();
    const iv = new Uint8Array(IV_LENGTH);
    const view = new DataView(iv.buffer);
    view.setUint32(0, metadata.synchronizationSource ?? 0);
    view.setUint32(4, (metadata.rtpTimestamp ?? frame.timestamp ?? 0) >>> 0);
    view.setUint32(8, counter);
    counter = (counter + 1) >>> 0;
    const clear = clearLength(frame, kind, data.length);
    const header = data.subarray(0, clear);
    let sealed;
    try {
      sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: header, tagLength: TAG_LENGTH * 8 },
        key,
        data.subarray(clear),
      );
    } catch {
      return; // dropped, never sent in the clear
    }
    const out = new Uint8Array(clear + sealed.byteLength + TRAILER_LENGTH);
    out.set(header);
    out.set(new Uint8Array(sealed), clear);
    out.set(iv, clear + sealed.byteLength);
    out[out.length - 1] = KEY_ID;
    frame.data = out.buffer;
    controller.enqueue(frame);
  };
}

function decryptor({ kind, id }) {
  const report = (ok) => {
    if (reported.get(id) === ok) return;
    reported.set(id, ok);
    self.postMessage({ type: "status", id, ok });
  };
  return async (frame, controller) => {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) {
      controller.enqueue(frame);
      return;
    }
    const clear = clearLength(frame, kind, data.length);
    const end = data.length - TRAILER_LENGTH;
    if (!key || end < clear + TAG_LENGTH || data[data.length - 1] !== KEY_ID) {
      report(false); // not ours: dropped, so the decoder never sees it
      return;
    }
    let opened;
    try {
      opened = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: data.subarray(end, end + IV_LENGTH), additionalData: data.subarray(0, clear) },
        key,
        data.subarray(clear, end),
      );
    } catch {
      report(false); // another key (a different passphrase) or a damaged frame
      return;
    }
    const out = new Uint8Array(clear + opened.byteLength);
    out.set(data.subarray(0, clear));
    out.set(new Uint8Array(opened), clear);
    frame.data = out.buffer;
    controller.enqueue(frame);
    report(true);
  };
}

function run(readable, writable, options) {
  const transform = options.operation === "encrypt" ? encryptor(options) : decryptor(options);
  readable
    .pipeThrough(new TransformStream({ transform }))
    .pipeTo(writable)
    .catch(() => {}); // the connection closed
}

self.onrtctransform = (event) => {
  const { readable, writable, options } = event.transformer;
  run(readable, writable, options);
};

self.onmessage = ({ data }) => {
  if (data.type === "key") key = data.key;
  else if (data.type === "reset") reported.delete(data.id);
  else if (data.type === "streams") run(data.readable, data.writable, data.options);
};
