// permessage-deflate between wsmachine's Rust examples and Node's `ws`, both roles.
// Compression is checked three ways: the Sec-WebSocket-Extensions response header, the RSV1
// bits of the data frames on the wire (FrameCounter on the raw socket), and the counts of
// compressed messages the Rust programs report.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import WebSocket, { WebSocketServer } from "ws";
import {
  FrameCounter, compressibleBytes, runClient, startEchoServer, textOfSize,
} from "./helpers.mjs";

const MIB = 1 << 20;
const servers = [];
after(() => servers.forEach((s) => s.stop()));

// --- our echo-server <- ws client ---------------------------------------------------------

const MESSAGES = [
  ["short", false],
  [textOfSize(20000), false],
  [compressibleBytes(100 * 1024), true],
  [randomBytes(64 * 1024), true],
  [compressibleBytes(MIB, 2), true],
];

async function echoThrough(url, perMessageDeflate) {
  const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 4 * MIB });
  const counter = new FrameCounter();
  const header = await new Promise((resolve, reject) => {
    let h;
    ws.once("upgrade", (res) => { h = res.headers["sec-websocket-extensions"]; });
    ws.once("open", () => resolve(h));
    ws.once("error", reject);
  });
  ws._socket.prependListener("data", (chunk) => counter.feed(chunk));
  const localPort = ws._socket.localPort;
  const received = [];
  ws.on("message", (data, isBinary) => received.push([data, isBinary]));
  const waitFor = (n) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("echo timed out")), 30000);
    const check = () => (received.length >= n ? (clearTimeout(timer), resolve()) : setTimeout(check, 5));
    check();
  });
  let sent = 0;
  for (const [m, binary] of MESSAGES) {
    ws.send(m, { binary });
    await waitFor(++sent);
  }
  // One message in three frames.
  ws.send("frag", { fin: false });
  ws.send("mented ", { fin: false });
  ws.send("tëxt ".repeat(200), { fin: true });
  await waitFor(++sent);
  const closed = new Promise((resolve) => ws.once("close", resolve));
  ws.close(1000);
  await closed;
  return { header, received, counter, localPort, sent };
}

const SERVER_CASES = [
  ["default", [], {}, "permessage-deflate"],
  ["no context takeover", [], { serverNoContextTakeover: true, clientNoContextTakeover: true },
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
  ["8-bit server window", [], { serverMaxWindowBits: 8, clientMaxWindowBits: 9 },
    "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"],
  ["server imposes small windows, no takeover",
    ["--window-bits", "9", "--no-context-takeover", "--peer-no-context-takeover"], {},
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; " +
    "server_max_window_bits=9; client_max_window_bits=9"],
  ["zlib backend", ["--zlib"], { clientNoContextTakeover: true },
    "permessage-deflate; client_no_context_takeover"],
];

for (const [name, args, offer, response] of SERVER_CASES) {
  test(`ws client -> echo-server: ${name}`, { timeout: 60000 }, async () => {
    const server = await startEchoServer(...args);
    servers.push(server);
    // threshold 0: ws compresses every message (its default skips those under 1 KiB).
    const r = await echoThrough(server.url, { threshold: 0, ...offer });
    assert.equal(r.header, response);
    assert.equal(r.received.length, r.sent);
    MESSAGES.forEach(([m, binary], i) => {
      const [data, isBinary] = r.received[i];
      assert.equal(isBinary, binary);
      assert.ok(Buffer.from(m).equals(data), `message ${i} differs`);
    });
    assert.equal(r.received[r.sent - 1][0].toString(), "fragmented " + "tëxt ".repeat(200));
    // Every echo came back compressed: RSV1 on the first frame of each.
    assert.equal(r.counter.compressed, r.sent);
    const log = await server.logFor(r.localPort);
    assert.deepEqual(
      [log.deflate, log.compressedIn, log.compressedOut, log.code, log.failure],
      [response.replaceAll("; ", ";"), r.sent, r.sent, 1000, "None"],
    );
    server.stop();
  });
}

// --- ws server <- our echo-client ---------------------------------------------------------

async function startWsServer(perMessageDeflate) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate });
  await new Promise((resolve) => wss.once("listening", resolve));
  const conns = new Map(); // path -> { header, counter, received }
  wss.on("headers", (headers, req) => {
    const h = headers.find((l) => /^sec-websocket-extensions:/i.test(l));
    conns.set(req.url, { header: h && h.replace(/^[^:]*:\s*/, ""), counter: new FrameCounter() });
  });
  wss.on("connection", (ws, req) => {
    const c = conns.get(req.url);
    req.socket.prependListener("data", (chunk) => c.counter.feed(chunk));
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return { wss, conns, url: `ws://127.0.0.1:${wss.address().port}` };
}

const hex = (d) => Buffer.from(d).toString("hex");
const params = (ext) => ext.split(";").map((p) => p.trim()).sort();
const CLIENT_MESSAGES = [
  ["text", "hi"], // under the client's 32-byte minimum: sent uncompressed
  ["text", textOfSize(20000)],
  ["binary", compressibleBytes(100 * 1024, 3)],
  ["binary", randomBytes(70000)],
];

const CLIENT_CASES = [
  ["ws defaults", {}, [], null],
  ["small windows, no takeover",
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10,
      clientMaxWindowBits: 9 }, [],
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; " +
    "server_max_window_bits=10; client_max_window_bits=9"],
  ["8-bit client window", { clientMaxWindowBits: 8 }, [],
    "permessage-deflate; client_max_window_bits=8"],
  ["client asks no takeover", {}, ["--no-context-takeover", "--peer-no-context-takeover"],
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
  ["zlib backend", { serverMaxWindowBits: 11, clientMaxWindowBits: 12 }, ["--zlib"],
    "permessage-deflate; server_max_window_bits=11; client_max_window_bits=12"],
];

for (const [name, serverOptions, clientOptions, response] of CLIENT_CASES) {
  test(`echo-client -> ws server: ${name}`, { timeout: 60000 }, async () => {
    const { wss, conns, url } = await startWsServer({ threshold: 0, ...serverOptions });
    try {
      const commands = [];
      for (const [kind, m] of CLIENT_MESSAGES) commands.push(`${kind} ${hex(m)}`, "recv");
      commands.push(`fragments text ${hex("frag")},${hex("mented ")},${hex("tëxt ".repeat(100))}`,
        "recv", "stats");
      const out = await runClient(`${url}/node`, commands, clientOptions);
      assert.equal(out[0], "open -");
      CLIENT_MESSAGES.forEach(([kind, m], i) => {
        assert.equal(out[1 + i], `${kind} 1 ${hex(m)}`, `echo ${i}`);
      });
      // ws echoes a message as one frame.
      assert.equal(out[5], `text 1 ${hex("fragmented " + "tëxt ".repeat(100))}`);
      const stats = Object.fromEntries(
        out[6].split(" ").slice(1).map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]));
      const conn = conns.get("/node");
      assert.ok(conn.header && conn.header.startsWith("permessage-deflate"), conn.header);
      // ws writes the parameters in its own order; our client prints them in its order.
      if (response) assert.deepEqual(params(conn.header), params(response));
      assert.deepEqual(params(stats.deflate), params(conn.header));
      const ours = CLIENT_MESSAGES.length - 1 + 1; // all but "hi", plus the fragmented one
      assert.deepEqual([Number(stats.compressed_in), Number(stats.compressed_out)],
        [CLIENT_MESSAGES.length + 1, ours]);
      // On the wire from our client: 4 single-frame messages + 3 frames; RSV1 on `ours`.
      assert.equal(conn.counter.dataFrames, CLIENT_MESSAGES.length + 3);
      assert.equal(conn.counter.compressed, ours);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
}
