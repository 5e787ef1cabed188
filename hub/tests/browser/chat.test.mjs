// The demo chat in headless Chromium (Debian `chromium`, driven by playwright-core from
// tests/interop/node/node_modules): `make demo`'s script starts the hub, here with the Redis
// broker (a redis-server started by the test: $HUB_REDIS_SERVER) so that history outlives the
// hub; two pages log in and chat; the hub restarts (SIGTERM drain, then a new process with
// the same secret) and both pages reconnect by themselves, resume without a gap and chat
// again; a page that joins afterwards gets the history from before the restart replayed; the
// token and first-message auth modes work from the browser too. Screenshots go to
// $HUB_ARTIFACTS (default target/hub-browser).
//
//   node --test hub/tests/browser/chat.test.mjs     (scripts/test/hub.sh runs it)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const require = createRequire(path.join(REPO, "tests/interop/node/package.json"));
const { chromium } = require("playwright-core");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = process.env.HUB_ARTIFACTS || path.join(REPO, "target", "hub-browser");
const SECRET = "browser-test-secret-0123456789abcdef";
mkdirSync(ARTIFACTS, { recursive: true });

const REDIS_SERVER = process.env.HUB_REDIS_SERVER;
let browser;
let hub;
let port;
let redis;
let redisPort;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on("error", reject);
  });
}

/** Starts the hub through `make demo`'s script; resolves once it prints the demo line. */
function startHub() {
  const proc = spawn("bash", [path.join(REPO, "scripts/tools/demo.sh")], {
    env: { ...process.env, PORT: String(port), HUB_SECRET: SECRET, HUB_ARGS: "--quiet",
           HUB_REDIS: `redis://127.0.0.1:${redisPort}` },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the hub did not start in 300 s")), 300000);
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      if (out.includes(`demo: http://127.0.0.1:${port}/`)) {
        clearTimeout(timer);
        resolve(proc);
      }
    });
    proc.once("exit", (code) => reject(new Error(`the hub exited with ${code}: ${out}`)));
  });
}

function stopHub(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const timer = setTimeout(() => proc.kill("SIGKILL"), 40000);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill("SIGTERM");
  });
}

before(async () => {
  assert.ok(REDIS_SERVER, "HUB_REDIS_SERVER is not set (scripts/test/hub.sh sets it)");
  redisPort = await freePort();
  redis = spawn(REDIS_SERVER, ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--loglevel", "warning"], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(redisPort, "127.0.0.1", () => { s.end(); resolve(true); });
      s.on("error", () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error("redis-server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  port = await freePort();
  hub = await startHub();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"], timeout: 60000 });
});

after(async () => {
  if (browser) await browser.close();
  if (hub) await stopHub(hub);
  if (redis) redis.kill("SIGKILL");
});

async function joined(name, query = "") {
  const context = await browser.newContext(); // own cookie jar
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/${query}`);
  await page.fill("#name", name);
  await page.click("#login button");
  await page.waitForFunction(() => window.hub && window.hub.state === "open", null, { timeout: 15000 });
  assert.equal(await page.textContent("#user"), name);
  assert.equal(await page.isVisible("#login"), false, "the login form is still shown");
  assert.equal(await page.isVisible("#text"), true, "no message box");
  return { context, page };
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

async function sees(page, text, timeout = 15000) {
  await page.waitForFunction((t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes(t)), text, { timeout });
}

test("two pages chat, survive a hub restart, and reconnect by themselves", async () => {
  const a = await joined("ann");
  const b = await joined("ben");
  await say(a.page, "hello from ann");
  await sees(b.page, "hello from ann");
  await say(b.page, "hi ann, ben here");
  await sees(a.page, "hi ann, ben here");
  await a.page.screenshot({ path: path.join(ARTIFACTS, "1-chat-ann.png") });

  // Restart: SIGTERM drains (1001: the pages reconnect with backoff), a new hub starts on the
  // same port with the same secret, so the session cookies stay valid.
  await stopHub(hub);
  await a.page.waitForFunction(() => window.hub.state === "reconnecting", null, { timeout: 10000 });
  await b.page.waitForFunction(() => window.hub.state === "reconnecting", null, { timeout: 10000 });
  hub = await startHub();
  for (const p of [a.page, b.page]) {
    await p.waitForFunction(() => window.hub.state === "open" && window.hub.reconnects >= 1, null, { timeout: 30000 });
    await sees(p, "reconnected");
  }
  // History lives in Redis: the pages resumed where they were, nothing was lost.
  for (const p of [a.page, b.page]) {
    const lost = await p.evaluate(() => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("lost")));
    assert.equal(lost, false, "a page reports lost messages after the restart");
  }
  await say(a.page, "after the restart");
  await sees(b.page, "after the restart");
  await b.page.screenshot({ path: path.join(ARTIFACTS, "2-after-restart-ben.png") });
  assert.equal(await a.page.textContent("#state"), "open");

  // A page that joins now gets the whole history replayed (greyed), from before the restart
  // too.
  const c = await joined("cat");
  await sees(c.page, "hello from ann");
  await sees(c.page, "after the restart");
  const replayed = Number(await c.page.textContent("#replayed"));
  assert.equal(replayed, 3, `replayed ${replayed}`);
  await c.page.screenshot({ path: path.join(ARTIFACTS, "3-replayed-cat.png") });
  for (const x of [a, b, c]) await x.context.close();
});

test("token and first-message auth from the browser", async () => {
  for (const mode of ["token", "message"]) {
    const x = await joined(`tm_${mode}`, `?auth=${mode}`);
    assert.equal(await x.page.textContent("#auth"), mode);
    await say(x.page, `via ${mode}`);
    await sees(x.page, `via ${mode}`);
    await x.context.close();
  }
});
