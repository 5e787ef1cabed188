// Shared by the Node interop tests: the Rust echo server and client as child processes, and
// a frame counter that reads the raw bytes of a socket.
import { spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO, "target");
export const ECHO_SERVER = process.env.ECHO_SERVER || path.join(TARGET, "release", "echo-server");
export const ECHO_CLIENT = process.env.ECHO_CLIENT || path.join(TARGET, "release", "echo-client");

const LINE =
  /^(\S+) subprotocol=(\S+) close=(\d+) reason=(".*") deflate=(\S+) compressed_in=(\d+) compressed_out=(\d+) failure=(.*)$/;

/** The Rust echo-server on a free 127.0.0.1 port; `logFor(port)` waits for the log line of
 * the connection from that local port. Stop it with `stop()` (by PID). */
export async function startEchoServer(...args) {
  const proc = spawn(
    ECHO_SERVER,
    ["--host", "127.0.0.1", "--port", "0", "--verbose", "--max-seconds", "600", ...args],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: proc.stdout });
  const logs = new Map();
  const waiters = new Map();
  let last = null;
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("echo-server did not start")), 10000);
    proc.once("exit", (code) => reject(new Error(`echo-server exited with ${code}`)));
    lines.once("line", (first) => {
      clearTimeout(timer);
      const m = /^listening on 127\.0\.0\.1:(\d+)$/.exec(first);
      m ? resolve(Number(m[1])) : reject(new Error(`unexpected first line ${first}`));
    });
  });
  lines.on("line", (line) => {
    const m = LINE.exec(line);
    if (!m) return;
    const log = {
      peer: m[1], subprotocol: m[2], code: Number(m[3]), reason: JSON.parse(m[4]),
      deflate: m[5], compressedIn: Number(m[6]), compressedOut: Number(m[7]), failure: m[8],
    };
    const localPort = Number(m[1].split(":").pop());
    logs.set(localPort, log);
    last = log;
    waiters.get(localPort)?.(log);
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    logFor(localPort, ms = 10000) {
      if (logs.has(localPort)) return Promise.resolve(logs.get(localPort));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line for port ${localPort}`)), ms);
        waiters.set(localPort, (log) => { clearTimeout(timer); resolve(log); });
      });
    },
    /** The most recent connection log line (or null). */
    lastLog() {
      return last;
    },
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    },
  };
}

/** Runs `echo-client script` with `commands`; resolves to its stdout lines. */
export function runClient(url, commands, options = [], ms = 60000) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      ECHO_CLIENT, ["script", "--url", url, "--wait-secs", "20", ...options],
      { timeout: ms, maxBuffer: 64 << 20, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`echo-client: ${err.message}\n${stderr}`));
        else resolve(stdout.split("\n").filter((l) => l.length > 0));
      },
    );
    child.stdin.end(commands.map((c) => c + "\n").join(""));
  });
}

/** Counts the data frames (text, binary, continuation) on a byte stream, and the messages
 * whose first frame has RSV1 (compressed messages), from the raw bytes: an independent check that messages
 * went compressed. Feed it every chunk read from the socket. */
export class FrameCounter {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.skip = 0; // payload bytes of the current frame still to pass
    this.dataFrames = 0;
    this.compressed = 0;
  }

  feed(chunk) {
    let data = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        if (this.skip > 0) break;
      }
      if (data.length < 2) break;
      const b0 = data[0], b1 = data[1];
      let len = b1 & 0x7f, off = 2;
      if (len === 126) {
        if (data.length < 4) break;
        len = data.readUInt16BE(2); off = 4;
      } else if (len === 127) {
        if (data.length < 10) break;
        len = Number(data.readBigUInt64BE(2)); off = 10;
      }
      if (b1 & 0x80) off += 4; // masking key
      if (data.length < off) break;
      const opcode = b0 & 0x0f;
      if (opcode <= 2) {
        this.dataFrames += 1; // text, binary or continuation
        if (opcode !== 0 && b0 & 0x40) this.compressed += 1;
      }
      data = data.subarray(off);
      this.skip = len;
    }
    this.buf = Buffer.from(data);
  }
}

/** Text of exactly `n` UTF-8 bytes, mixing 1- to 4-byte characters. */
export function textOfSize(n) {
  const alphabet = ["a", "é", "€", "😀", " ", "w", "o", "r", "d"];
  let out = "", size = 0, i = 0;
  for (;;) {
    const ch = alphabet[i++ % alphabet.length];
    const w = Buffer.byteLength(ch);
    if (size + w > n) break;
    out += ch; size += w;
  }
  return out + "a".repeat(n - size);
}

/** Compressible bytes: words from a small random vocabulary. */
export function compressibleBytes(n, seed = 1) {
  let x = seed * 2654435761 >>> 0 || 1;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const words = Array.from({ length: 64 }, () =>
    Buffer.from(Array.from({ length: 3 + (rnd() % 9) }, () => rnd() & 0xff)));
  const parts = [];
  let size = 0;
  while (size < n) { const w = words[rnd() % 64]; parts.push(w); size += w.length; }
  return Buffer.concat(parts).subarray(0, n);
}
