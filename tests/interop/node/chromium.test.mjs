// Headless Chromium (the Debian package, driven by playwright-core) against the Rust
// echo-server: the browser's own WebSocket offers permessage-deflate, the page checks that
// the server accepted it (ws.extensions) and that text and binary messages, up to 100 KiB,
// round-trip; the server's log says it received and sent them compressed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startEchoServer } from "./helpers.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let browser;
const servers = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root has no user namespace sandbox here; the page only talks to 127.0.0.1.
    args: ["--no-sandbox"],
    timeout: 60000,
  });
});

after(async () => {
  servers.forEach((s) => s.stop());
  if (browser) await browser.close();
});

// The page: connects, sends each message after the previous echo, compares the echoes, and
// reports what it saw.
const PAGE = `<!doctype html><meta charset="utf-8"><title>wsmachine deflate</title>
<script>
function pattern(n, seed) {
  // Compressible bytes: words from a small vocabulary.
  const words = [];
  let x = seed;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0) >>> 8;
  for (let i = 0; i < 32; i++) words.push(Array.from({ length: 3 + rnd() % 8 }, () => rnd() & 255));
  const out = new Uint8Array(n);
  for (let i = 0; i < n;) for (const b of words[rnd() % 32]) { if (i < n) out[i++] = b; }
  return out;
}
async function run(url) {
  const text100k = Array.from({ length: 14000 }, (_, i) => "wörd " + (i % 97) + " ").join("").slice(0, 102400);
  const random = new Uint8Array(16384);
  crypto.getRandomValues(random);
  const messages = ["hello from chromium", "ü€😀 ".repeat(50), text100k,
                    new Uint8Array([0, 1, 2, 255]), pattern(100 * 1024, 7), random];
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let wake = null;
  ws.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("ws error")); });
  const result = { extensions: ws.extensions, protocol: ws.protocol, echoes: [] };
  for (const m of messages) {
    ws.send(m);
    while (inbox.length === 0) await new Promise((r) => (wake = r));
    const got = inbox.shift();
    let same, size;
    if (typeof m === "string") {
      same = got === m; size = new TextEncoder().encode(m).length;
    } else {
      const g = new Uint8Array(got);
      same = got instanceof ArrayBuffer && g.length === m.length && g.every((b, i) => b === m[i]);
      size = m.length;
    }
    result.echoes.push({ kind: typeof m === "string" ? "text" : "binary", size, same });
  }
  await new Promise((resolve) => { ws.onclose = resolve; ws.close(1000, "done"); });
  return result;
}
</script>`;

const CASES = [
  ["default", [], "permessage-deflate"],
  ["small windows, no context takeover",
    ["--window-bits", "9", "--no-context-takeover", "--peer-no-context-takeover"],
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; " +
    "server_max_window_bits=9; client_max_window_bits=9"],
  ["zlib backend", ["--zlib"], "permessage-deflate"],
];

for (const [name, args, extensions] of CASES) {
  test(`chromium -> echo-server: ${name}`, { timeout: 90000 }, async () => {
    const server = await startEchoServer(...args);
    servers.push(server);
    const page = await browser.newPage();
    try {
      await page.setContent(PAGE);
      const r = await page.evaluate((url) => run(url), server.url);
      assert.equal(r.extensions, extensions);
      assert.deepEqual(r.echoes.map((e) => e.same), r.echoes.map(() => true), JSON.stringify(r.echoes));
      assert.ok(r.echoes.some((e) => e.kind === "text" && e.size >= 100 * 1024));
      assert.ok(r.echoes.some((e) => e.kind === "binary" && e.size >= 100 * 1024));
      // The log line of the browser's connection (the only one on this server).
      const log = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no log line")), 10000);
        const poll = () => {
          const line = server.lastLog();
          line ? (clearTimeout(timer), resolve(line)) : setTimeout(poll, 20);
        };
        poll();
      });
      assert.equal(log.deflate, extensions.replaceAll("; ", ";"));
      // Chromium compresses every message; the server echoed every one compressed.
      assert.deepEqual([log.compressedIn, log.compressedOut], [r.echoes.length, r.echoes.length]);
      assert.deepEqual([log.code, log.reason, log.failure], [1000, "done", "None"]);
    } finally {
      await page.close();
      server.stop();
    }
  });
}
