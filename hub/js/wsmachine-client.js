// wsmachine-client.js — the browser client of wsmachine-hub (docs/hub.md). One ES module, no
// dependencies.
//
//   import { HubClient } from "/wsmachine-client.js";
//   const hub = new HubClient("/ws", { auth: "cookie" });   // or "token" / "message"
//   hub.addEventListener("message", (e) => console.log(e.detail));
//   hub.addEventListener("state", (e) => console.log(e.detail.state));
//   hub.subscribe("chat");
//   await hub.publish("chat", { text: "hi" });              // resolves with { seq, epoch }
//
// Reconnects with exponential backoff and jitter (1 s doubling to 30 s, ±25 %) after the close
// codes that mean "try again" (1001, 1006, 1011, 1012, 1013, 1014), never after 1000 or 1008.
// On every (re)connect it gets a fresh token when the auth mode needs one, re-subscribes, and
// resumes each channel from the last seq it saw: the hub replays what was missed, or says
// recovered: false when its history no longer reaches back (a "gap" event).

const RETRY_CODES = new Set([1001, 1006, 1011, 1012, 1013, 1014]);

export class HubClient extends EventTarget {
  /**
   * @param {string} url  WebSocket URL or path ("/ws" means the page's host).
   * @param {object} [options]
   * @param {"cookie"|"token"|"message"} [options.auth]  how the connection authenticates:
   *   the session cookie on the upgrade, a single-use token in the query string, or a token
   *   in the first message.
   * @param {string} [options.tokenUrl]  where tokens are minted (POST, cookie-authenticated).
   * @param {number} [options.maxBuffered]  publish refuses above this bufferedAmount.
   * @param {number} [options.maxQueued]  publishes queued while disconnected.
   * @param {number} [options.initialDelay] @param {number} [options.maxDelay]
   * @param {number} [options.jitter]  fraction, e.g. 0.25 for ±25 %.
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = {
      auth: "cookie",
      tokenUrl: "/token",
      maxBuffered: 1 << 20,
      maxQueued: 100,
      initialDelay: 1000,
      maxDelay: 30000,
      jitter: 0.25,
      ...options,
    };
    this.state = "idle"; // idle, connecting, open, reconnecting, closed
    this.user = null;
    this.reconnects = 0;
    this.channels = new Map(); // name -> { seq, epoch }
    this.pending = new Map(); // request id -> { resolve, reject }
    this.queued = []; // publishes made while disconnected
    this.nextId = 1;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.connect();
  }

  _setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, reconnects: this.reconnects, ...extra } }));
  }

  _wsUrl(query) {
    const u = new URL(this.url, location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : u.protocol === "http:" ? "ws:" : u.protocol;
    if (query) u.search = query;
    return u.toString();
  }

  async _token() {
    const r = await fetch(this.options.tokenUrl, { method: "POST", credentials: "same-origin" });
    if (!r.ok) throw new Error(`token: HTTP ${r.status}`);
    return (await r.json()).token;
  }

  async connect() {
    if (this.state === "closed") return;
    this._setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token = null;
    try {
      if (this.options.auth !== "cookie") token = await this._token();
    } catch (e) {
      this.dispatchEvent(new CustomEvent("error", { detail: { code: "UNAUTHORIZED", message: String(e) } }));
      return this._retry(1006);
    }
    const query = this.options.auth === "token" ? `token=${encodeURIComponent(token)}` : "";
    const ws = new WebSocket(this._wsUrl(query));
    this.ws = ws;
    ws.onopen = () => {
      if (this.options.auth === "message") ws.send(JSON.stringify({ type: "auth", token }));
    };
    ws.onmessage = (ev) => this._frame(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, p] of this.pending) p.reject(new Error(`connection closed (${ev.code}) before the answer`));
      this.pending.clear();
      this.dispatchEvent(new CustomEvent("close", { detail: { code: ev.code, reason: ev.reason } }));
      if (this.state !== "closed") this._retry(ev.code, ev.reason);
    };
  }

  _retry(code, reason = "") {
    if (!RETRY_CODES.has(code)) {
      this._setState("closed", { code, reason });
      return;
    }
    const base = Math.min(this.options.maxDelay, this.options.initialDelay * 2 ** this.attempt);
    const delay = Math.round(base * (1 + this.options.jitter * (2 * Math.random() - 1)));
    this.attempt += 1;
    this._setState("reconnecting", { code, reason, delay });
    this.timer = setTimeout(() => {
      this.reconnects += 1;
      this.connect();
    }, delay);
  }

  _frame(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    switch (m.type) {
      case "welcome":
        this.user = m.user;
        this.attempt = 0;
        this._setState("open", { user: m.user });
        for (const [name, pos] of this.channels) this._subscribe(name, pos);
        for (const q of this.queued.splice(0)) this._send(q.msg, q.waiter);
        break;
      case "subscribed": {
        const pos = this.channels.get(m.channel);
        if (pos) {
          if (!m.recovered && pos.seq !== null) {
            this.dispatchEvent(new CustomEvent("gap", { detail: { channel: m.channel, from: pos.seq, epoch: m.epoch } }));
          }
          pos.epoch = m.epoch;
          if (m.replayed === 0) pos.seq = m.seq;
        }
        this.dispatchEvent(new CustomEvent("subscribed", { detail: m }));
        this._answer(m);
        break;
      }
      case "message": {
        const pos = this.channels.get(m.channel);
        if (pos) {
          if (pos.seq !== null && pos.epoch === m.epoch && m.seq <= pos.seq) return; // seen
          pos.seq = m.seq;
          pos.epoch = m.epoch;
        }
        this.dispatchEvent(new CustomEvent("message", { detail: m }));
        break;
      }
      case "ack":
      case "pong":
        this._answer(m);
        break;
      case "error":
        this.dispatchEvent(new CustomEvent("error", { detail: m }));
        this._answer(m, true);
        break;
    }
  }

  _answer(m, failed = false) {
    if (m.id === undefined) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (failed) p.reject(Object.assign(new Error(m.message), { code: m.code }));
    else p.resolve(m);
  }

  _send(msg, waiter) {
    msg.id = this.nextId++;
    if (waiter) this.pending.set(msg.id, waiter);
    this.ws.send(JSON.stringify(msg));
  }

  _subscribe(name, pos) {
    const msg = { type: "subscribe", channel: name };
    // Resume from the last message seen; seq 0 asks for the whole history on first join.
    msg.last_seq = pos.seq === null ? 0 : pos.seq;
    if (pos.epoch) msg.epoch = pos.epoch;
    this._send(msg);
  }

  /** Subscribes to `channel` (kept across reconnects). */
  subscribe(channel) {
    if (this.channels.has(channel)) return;
    const pos = { seq: null, epoch: null };
    this.channels.set(channel, pos);
    if (this.state === "open") this._subscribe(channel, pos);
  }

  /** Unsubscribes from `channel`. */
  unsubscribe(channel) {
    this.channels.delete(channel);
    if (this.state === "open") this._send({ type: "unsubscribe", channel });
  }

  /**
   * Publishes `payload` (any JSON value) on `channel`. Resolves with the ack ({ seq, epoch })
   * once the hub has stored it; rejects on an error frame, when the socket's send buffer is
   * above maxBuffered, or when the connection closes before the ack (the outcome is then
   * unknown: the message may or may not have been stored).
   */
  publish(channel, payload) {
    return new Promise((resolve, reject) => {
      const msg = { type: "publish", channel, payload };
      const waiter = { resolve, reject };
      if (this.state !== "open" || !this.ws) {
        if (this.state === "closed" || this.queued.length >= this.options.maxQueued) {
          return reject(new Error("not connected and the queue is full"));
        }
        this.queued.push({ msg, waiter });
        return;
      }
      if (this.ws.bufferedAmount > this.options.maxBuffered) {
        return reject(Object.assign(new Error("send buffer full"), { code: "BACKPRESSURE" }));
      }
      this._send(msg, waiter);
    });
  }

  /** Closes for good (code 1000: no reconnect). */
  close() {
    this._setState("closed", { code: 1000 });
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
  }
}
