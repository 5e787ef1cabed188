//! Peer: embedded-websocket 0.9.5 (default features off: no_std, no allocation — the closest
//! in design to wsmachine).
//!
//! How it is driven:
//! * decode — `WebSocketServer::new_server()` / `WebSocketClient::new_client(rng)` with
//!   `state = Open` (handshake skipped); the same `MemSocket` and 64 KiB read buffer as
//!   wsmachine's `wsmachine_io` variant, then `read(from, to)` (which unmasks while copying
//!   into a 64 KiB `to` buffer) until it reports `ReadFrameIncomplete`; leftovers move to the
//!   front. embedded-websocket does not validate text, so for the text workloads the
//!   application validates each chunk with simdutf8 (carrying a code point split between
//!   chunks), as an RFC-conforming application must (RFC 6455 §8.1).
//! * encode — `write(Binary, true, payload, to)` into a buffer, then the frame is written to
//!   `MemSocket` (the same one copy out as every engine). Client masks come from a
//!   SplitMix64 `RngCore` (cheaper than the `rand` generators of the other peers).
//! * handshake — what its examples do: `httparse` parses the request into 32 headers,
//!   `read_http_header` extracts the key, `server_accept(key, None, out)` writes the 101.
//!   (embedded-websocket validates little: Upgrade is checked, Connection and the version are
//!   not.)

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use embedded_websocket::{
    read_http_header, Error, WebSocketClient, WebSocketReceiveMessageType,
    WebSocketSendMessageType, WebSocketServer, WebSocketState,
};
use wsmachine_benches::{
    browser_requests, payloads, BenchRng, FramePool, Kind, MemSocket, ReadBuf, SplitMix,
    StreamUtf8, DECODE_GROUPS, ENCODE_GROUPS, READ_BUF, SIZES,
};

/// Either role, behind one `read`/`write`.
enum Ws {
    Server(WebSocketServer),
    Client(WebSocketClient<BenchRng>),
}

impl Ws {
    fn new(client: bool) -> Ws {
        if client {
            let mut ws = WebSocketClient::new_client(BenchRng(SplitMix(3)));
            ws.state = WebSocketState::Open;
            Ws::Client(ws)
        } else {
            let mut ws = WebSocketServer::new_server();
            ws.state = WebSocketState::Open;
            Ws::Server(ws)
        }
    }

    fn read(
        &mut self,
        from: &[u8],
        to: &mut [u8],
    ) -> Result<embedded_websocket::WebSocketReadResult, Error> {
        match self {
            Ws::Server(w) => w.read(from, to),
            Ws::Client(w) => w.read(from, to),
        }
    }

    fn write(&mut self, from: &[u8], to: &mut [u8]) -> Result<usize, Error> {
        match self {
            Ws::Server(w) => w.write(WebSocketSendMessageType::Binary, true, from, to),
            Ws::Client(w) => w.write(WebSocketSendMessageType::Binary, true, from, to),
        }
    }
}

struct Reader {
    from: ReadBuf,
    to: Vec<u8>,
    utf8: StreamUtf8,
}

impl Reader {
    fn run(
        &mut self,
        ws: &mut Ws,
        sock: &mut MemSocket<'_>,
        text: bool,
        iters: u64,
    ) -> std::time::Duration {
        let t = Instant::now();
        let mut msgs = 0u64;
        while msgs < iters {
            match ws.read(self.from.unread(), &mut self.to) {
                Ok(r) => {
                    self.from.start += r.len_from;
                    assert!(matches!(
                        r.message_type,
                        WebSocketReceiveMessageType::Text | WebSocketReceiveMessageType::Binary
                    ));
                    let data = &self.to[..r.len_to];
                    if text {
                        assert!(self.utf8.feed(data));
                    }
                    black_box(data);
                    if r.end_of_message {
                        if text {
                            assert!(self.utf8.complete());
                        }
                        msgs += 1;
                    } else if r.len_from == 0 {
                        self.from.refill(sock);
                    }
                }
                Err(Error::ReadFrameIncomplete) => self.from.refill(sock),
                Err(e) => panic!("{e:?}"),
            }
        }
        t.elapsed()
    }
}

fn bench(c: &mut Criterion) {
    for (group, kind, masked) in DECODE_GROUPS {
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = FramePool::new(kind, size, masked, 1);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(
                BenchmarkId::new("embedded_websocket", size),
                &size,
                |b, _| {
                    let mut ws = Ws::new(!masked);
                    let mut sock = MemSocket::new(&pool.bytes, 1 << 10);
                    let mut rd = Reader {
                        from: ReadBuf::new(READ_BUF),
                        to: vec![0u8; READ_BUF],
                        utf8: StreamUtf8::default(),
                    };
                    b.iter_custom(|iters| rd.run(&mut ws, &mut sock, kind == Kind::Text, iters));
                },
            );
        }
        g.finish();
    }

    for (group, client) in ENCODE_GROUPS {
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = payloads(Kind::Binary, size, 2);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(
                BenchmarkId::new("embedded_websocket", size),
                &size,
                |b, _| {
                    let mut ws = Ws::new(client);
                    let mut sock = MemSocket::new(&[], size + 14);
                    let mut out = vec![0u8; size + 14];
                    let mut i = 0usize;
                    b.iter_custom(|iters| {
                        let t = Instant::now();
                        for _ in 0..iters {
                            let n = ws.write(&pool[i], &mut out).unwrap();
                            sock.write_from(&out[..n]);
                            i = (i + 1) % pool.len();
                        }
                        black_box(sock.written);
                        t.elapsed()
                    });
                },
            );
        }
        g.finish();
    }

    let reqs = browser_requests();
    let mut out = vec![0u8; 1024];
    let mut g = c.benchmark_group("server_handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("embedded_websocket", 0), |b| {
        let mut i = 0usize;
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut headers);
                assert!(req.parse(&reqs[i]).unwrap().is_complete());
                let ctx = read_http_header(req.headers.iter().map(|h| (h.name, h.value)))
                    .unwrap()
                    .unwrap();
                let mut ws = WebSocketServer::new_server();
                let n = ws
                    .server_accept(&ctx.sec_websocket_key, None, &mut out)
                    .unwrap();
                black_box(&out[..n]);
                i = (i + 1) % reqs.len();
            }
            t.elapsed()
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = bench
}
criterion_main!(benches);
