// The signalling WebSocket (docs/protocol.md): one JSON object per text frame.
// Incoming messages are handled strictly one after another, in order; a keepalive
// ping notices a dead connection that the browser has not reported yet. Reconnecting
// is the call's business: a Signalling object lives for one connection only.

const KEEPALIVE_MS = 10_000;
const DEAD_AFTER_MS = 25_000;

export class SignallingError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export function signallingUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

export class Signalling {
  // onMessage(message) may be async: the next message waits for it.
  // onClose({code, reason}) is called once, when the connection ends for any reason
  // other than our own close().
  constructor({ url = signallingUrl(), onMessage, onClose }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
    this.closed = false;
    this.inbox = Promise.resolve();
    this.lastHeard = 0;
    this.keepalive = null;
  }

  // Resolves when the socket is open; rejects with SignallingError("unreachable").
  open(timeoutMs = 8000) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = this.ws = new WebSocket(this.url);
      } catch (err) {
        reject(new SignallingError("unreachable", err.message));
        return;
      }
      let opened = false;
      const timer = setTimeout(() => {
        if (opened) return;
        this.close();
        reject(new SignallingError("unreachable", "the server did not answer in time"));
      }, timeoutMs);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        this.lastHeard = Date.now();
        this.keepalive = setInterval(() => this.#checkAlive(), KEEPALIVE_MS);
        resolve();
      };
      ws.onmessage = (event) => this.#receive(event.data);
      ws.onerror = () => {
        // Followed by onclose; only the opening step reports it as an error.
      };
      ws.onclose = (event) => {
        clearTimeout(timer);
        if (!opened) {
          this.closed = true;
          reject(new SignallingError("unreachable", "the server could not be reached"));
          return;
        }
        // What arrived before the close is handled first: a server that says why it closes
        // (kicked, room_closed) sends that just before closing.
        clearInterval(this.keepalive);
        this.inbox = this.inbox.then(() => this.#ended(event.code, event.reason));
      };
    });
  }

  send(message) {
    if (this.closed || this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // Our own close: no onClose callback. A queued message (e.g. leave) still goes out first.
  close(code = 1000) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    try {
      this.ws?.close(code);
    } catch {
      // already closing
    }
  }

  #receive(data) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("signalling: a frame that is not JSON", data);
      return;
    }
    this.inbox = this.inbox.then(async () => {
      if (this.closed) return;
      try {
        await this.onMessage(message);
      } catch (err) {
        console.error(`signalling: handling ${message.type}`, err);
      }
    });
  }

  #checkAlive() {
    if (this.closed) return;
    if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
      this.#ended(4900, "no answer from the server");
      try {
        this.ws.close();
      } catch {
        // ignore
      }
      return;
    }
    this.send({ type: "ping" });
  }

  #ended(code, reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.onClose?.({ code, reason });
  }
}

// Exponential backoff with jitter: 0.5 s, 1 s, 2 s, 4 s … at most 15 s.
export class Backoff {
  constructor(first = 500, max = 15_000) {
    this.first = first;
    this.max = max;
    this.attempt = 0;
  }

  next() {
    const base = Math.min(this.max, this.first * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  reset() {
    this.attempt = 0;
  }
}
