//! The pair driver of the `pair_*` tests: a client and a server `Connection` wired together
//! through simulated sockets ([`Wire`]), on a simulated clock, each driven by an [`Endpoint`]
//! exactly as the I/O contract says (socket reads into a bounded buffer, `read` until no event,
//! `poll_transmit` after every event, the transport closed when `should_close_transport` says
//! so). [`Pair::run`] moves bytes until nothing happens; [`Pair::run_until`] also advances the
//! clock from deadline to deadline. [`both_directions!`] runs a scenario client→server and
//! server→client.
//!
//! Indices: `p.ep[C]` is the client's endpoint and `p.ep[S]` the server's; `p.wire[i]` holds
//! the bytes travelling *to* endpoint `i`.

use std::collections::VecDeque;

use wsmachine::{
    Accept, ClientRequest, CloseStatus, Config, Connection, Error, Header, MessageKind,
    ParsedRequest, ProtocolError, ReadyState, ResponseStatus, Role, EMPTY_HEADER,
    MAX_PENDING_INPUT,
};

/// Index of the client endpoint.
pub const C: usize = 0;
/// Index of the server endpoint.
pub const S: usize = 1;

/// The index of the other endpoint.
pub fn other(i: usize) -> usize {
    1 - i
}

/// Bytes in flight towards one endpoint, then possibly end-of-stream.
#[derive(Default)]
pub struct Wire {
    /// The bytes not read yet.
    pub bytes: VecDeque<u8>,
    /// The sender closed its socket: EOF after the bytes.
    pub fin: bool,
    /// The receiver closed its socket: anything sent is lost.
    pub dead: bool,
    /// Most bytes ever queued (memory use of the simulated network).
    pub high_water: usize,
}

impl Wire {
    /// A write by the sender (lost if the receiver's socket is closed).
    pub fn push(&mut self, b: &[u8]) {
        if self.dead {
            return;
        }
        assert!(!self.fin, "write after close");
        self.bytes.extend(b);
        self.high_water = self.high_water.max(self.bytes.len());
    }

    /// Puts bytes back at the front (what a handshake read left over).
    pub fn unread(&mut self, b: &[u8]) {
        for &x in b.iter().rev() {
            self.bytes.push_front(x);
        }
    }
}

/// Where an endpoint is in the opening handshake: what its next socket read is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeStage {
    /// Client before `write_request`.
    Unsent,
    /// Server reading the request.
    AwaitRequest,
    /// Client reading the response.
    AwaitResponse,
    /// Client reading the body of a rejection (`RejectBody` events).
    RejectBody,
    /// Handshake over (accepted, rejected or failed): reads go to `Connection::read`.
    Done,
}

/// A message as reassembled from chunks.
#[derive(Clone, Debug, Default)]
pub struct ReceivedMessage {
    /// Text or binary (`None` before the first chunk).
    pub kind: Option<MessageKind>,
    /// The payload (only when the endpoint stores data).
    pub data: Vec<u8>,
    /// Payload bytes received.
    pub len: u64,
    /// [`fnv`] of the payload.
    pub sum: u64,
    /// Frames finished.
    pub frames: u32,
    /// `Event::Data` chunks.
    pub chunks: u64,
}

/// What an endpoint saw, in order, in [`Endpoint::log`] (data chunks are folded into
/// [`Endpoint::msgs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A frame of message number `n` (an index into `msgs`) ended.
    FrameEnd(usize),
    /// Message number `n` is complete.
    MsgEnd(usize),
    /// `Event::Ping`.
    Ping(Vec<u8>),
    /// `Event::Pong`.
    Pong(Vec<u8>),
    /// `Event::Close`.
    Close(CloseStatus, String),
    /// `Event::Failed`.
    Failed(ProtocolError),
}

/// The request as the server's `read_request` parsed it.
#[derive(Clone, Debug, Default)]
pub struct SeenRequest {
    pub target: String,
    pub path: String,
    pub query: Option<String>,
    pub host: Vec<u8>,
    pub subprotocols: Vec<String>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// The response as the client's `read_response` parsed it.
#[derive(Clone, Debug)]
pub enum SeenResponse {
    Accepted {
        subprotocol: Option<String>,
        extensions: Vec<String>,
        headers: Vec<(String, Vec<u8>)>,
    },
    Rejected {
        status: u16,
        reason: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
        complete: bool,
        /// Body bytes that came with the head.
        body_in_head: usize,
        /// `RejectBody` events.
        body_events: usize,
    },
}

/// What the server application does with the request.
#[derive(Clone, Debug)]
pub enum Decision {
    Accept {
        /// Subprotocols the server supports; it picks the client's first offered one that is
        /// in this list.
        supported: Vec<String>,
        extensions: Option<String>,
        headers: Vec<(String, String)>,
    },
    Reject {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A refusal with a streamed (chunked) body: `reject_head`, then one `reject_body` per
    /// piece, the last one finishing the body.
    RejectStreamed {
        status: u16,
        headers: Vec<(String, String)>,
        pieces: Vec<Vec<u8>>,
    },
}

/// What the client application puts in its request.
#[derive(Clone, Debug, Default)]
pub struct ReqSpec {
    pub host: String,
    pub target: String,
    pub origin: Option<String>,
    pub subprotocols: Vec<String>,
    pub extensions: Vec<String>,
    pub headers: Vec<(String, String)>,
}

/// One side of a [`Pair`]: its connection, the application's buffers around it, and what it
/// received.
pub struct Endpoint {
    /// The connection under test.
    pub conn: Connection,
    /// Capacity of the read buffer once open.
    pub bufsize: usize,
    /// Most bytes one socket read returns.
    pub chunk: usize,
    /// The read buffer once open: bytes read from the socket and not consumed yet.
    pub rbuf: Vec<u8>,
    /// Handshake buffer (capacity `max_handshake_size`).
    pub hsbuf: Vec<u8>,
    /// The connection's `Config::max_handshake_size`.
    pub hscap: usize,
    /// Handshake progress.
    pub hs: HandshakeStage,
    /// Keep received payloads in [`ReceivedMessage::data`] (else only their length and sum).
    pub store: bool,
    /// The message being received.
    pub cur: Option<ReceivedMessage>,
    /// Messages received whole.
    pub msgs: Vec<ReceivedMessage>,
    /// Everything received, in order.
    pub log: Vec<Seen>,
    /// Our socket is closed (sequence number of the close).
    pub closed_at: Option<u64>,
    /// The peer's end-of-stream was seen (and `handle_eof` called).
    pub eof: bool,
    /// A hung process: reads nothing, handles no timers.
    pub frozen: bool,
    /// A misbehaving endpoint that never closes its socket.
    pub never_close: bool,
    /// The error the handshake failed with.
    pub hs_error: Option<Error>,
    /// Server: the request received.
    pub request: Option<SeenRequest>,
    /// Client: the response received.
    pub response: Option<SeenResponse>,
    /// Socket reads that returned bytes.
    pub reads: u64,
}

impl Endpoint {
    /// An endpoint around `conn` with a read buffer of `bufsize` bytes.
    pub fn new(conn: Connection, bufsize: usize) -> Endpoint {
        let hs = match conn.role() {
            Role::Client => HandshakeStage::Unsent,
            Role::Server => HandshakeStage::AwaitRequest,
        };
        Endpoint {
            conn,
            bufsize,
            chunk: usize::MAX,
            rbuf: Vec::with_capacity(bufsize),
            hsbuf: Vec::new(),
            hscap: 0,
            hs,
            store: true,
            cur: None,
            msgs: Vec::new(),
            log: Vec::new(),
            closed_at: None,
            eof: false,
            frozen: false,
            never_close: false,
            hs_error: None,
            request: None,
            response: None,
            reads: 0,
        }
    }

    /// The payloads of the pings received.
    pub fn pings(&self) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Seen::Ping(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// The payloads of the pongs received.
    pub fn pongs(&self) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Seen::Pong(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// The close frames received.
    pub fn closes(&self) -> Vec<(CloseStatus, String)> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Seen::Close(s, r) => Some((*s, r.clone())),
                _ => None,
            })
            .collect()
    }

    /// The protocol failures reported.
    pub fn failures(&self) -> Vec<ProtocolError> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Seen::Failed(e) => Some(*e),
                _ => None,
            })
            .collect()
    }

    /// Folds a data chunk into the message in progress, checking the chunk flags.
    pub fn on_data(&mut self, c: &wsmachine::DataChunk<'_>) {
        assert_eq!(
            c.message_start,
            self.cur.is_none(),
            "message_start must mark exactly the first chunk of a message"
        );
        let m = self.cur.get_or_insert_with(ReceivedMessage::default);
        if let Some(k) = m.kind {
            assert_eq!(k, c.kind, "kind changed within a message");
        }
        m.kind = Some(c.kind);
        if self.store {
            m.data.extend_from_slice(c.data);
        }
        m.len += c.data.len() as u64;
        m.sum = fnv(if m.chunks == 0 { FNV_INIT } else { m.sum }, c.data);
        m.chunks += 1;
        assert!(
            !c.message_finished || c.frame_finished,
            "message finished inside a frame"
        );
        let idx = self.msgs.len();
        if c.frame_finished {
            m.frames += 1;
            self.log.push(Seen::FrameEnd(idx));
        }
        if c.message_finished {
            let m = self.cur.take().unwrap();
            if self.store && m.kind == Some(MessageKind::Text) {
                assert!(std::str::from_utf8(&m.data).is_ok());
            }
            self.msgs.push(m);
            self.log.push(Seen::MsgEnd(idx));
        }
    }
}

/// Owned copies of parsed headers.
pub fn headers_of(hs: &[Header<'_>]) -> Vec<(String, Vec<u8>)> {
    hs.iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect()
}

/// Borrowed `Header`s of owned (name, value) pairs.
pub fn owned_headers(v: &[(String, String)]) -> Vec<Header<'_>> {
    v.iter()
        .map(|(n, val)| Header {
            name: n,
            value: val.as_bytes(),
        })
        .collect()
}

/// How to build a [`Pair`].
pub struct Opts {
    /// The client's configuration.
    pub client_cfg: Config,
    /// The server's configuration.
    pub server_cfg: Config,
    /// Read buffer sizes once open (`[client, server]`).
    pub bufsize: [usize; 2],
    /// The client's request.
    pub req: ReqSpec,
    /// The server's answer.
    pub decision: Decision,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            client_cfg: Config::new(),
            server_cfg: Config::new(),
            bufsize: [4096, 4096],
            req: ReqSpec {
                host: "example.com".into(),
                target: "/chat".into(),
                ..ReqSpec::default()
            },
            decision: Decision::Accept {
                supported: Vec::new(),
                extensions: None,
                headers: Vec::new(),
            },
        }
    }
}

/// A client and a server connected through two [`Wire`]s, on a simulated clock.
pub struct Pair {
    /// The simulated clock (ms).
    pub now: u64,
    /// The endpoints: `ep[C]` the client, `ep[S]` the server.
    pub ep: [Endpoint; 2],
    /// `wire[i]`: bytes travelling to endpoint `i`.
    pub wire: [Wire; 2],
    /// The applications' output buffer (for sends and handshake messages).
    pub scratch: Vec<u8>,
    /// The client's request.
    pub req: ReqSpec,
    /// The server's answer.
    pub decision: Decision,
    /// Counter that orders socket closes ([`Endpoint::closed_at`]).
    pub seq: u64,
}

/// The client's handshake key.
pub const KEY16: [u8; 16] = [7; 16];

impl Pair {
    /// A pair before the handshake (the client has not written its request yet).
    pub fn new(o: Opts) -> Pair {
        let c = Connection::client(o.client_cfg, 0, [3; 16]).unwrap();
        let s = Connection::server(o.server_cfg, 0).unwrap();
        let mut ep = [
            Endpoint::new(c, o.bufsize[0]),
            Endpoint::new(s, o.bufsize[1]),
        ];
        ep[C].hscap = o.client_cfg.max_handshake_size;
        ep[S].hscap = o.server_cfg.max_handshake_size;
        ep[C].hsbuf.reserve(ep[C].hscap);
        ep[S].hsbuf.reserve(ep[S].hscap);
        Pair {
            now: 0,
            ep,
            wire: [Wire::default(), Wire::default()],
            scratch: vec![0; (1 << 20) + 4096],
            req: o.req,
            decision: o.decision,
            seq: 0,
        }
    }

    /// A pair that has completed the handshake.
    pub fn open(o: Opts) -> Pair {
        let mut p = Pair::new(o);
        p.write_request();
        p.run();
        assert_eq!(p.ep[C].conn.state(), ReadyState::Open);
        assert_eq!(p.ep[S].conn.state(), ReadyState::Open);
        p
    }

    /// A pair open with the default options.
    pub fn open_default() -> Pair {
        Pair::open(Opts::default())
    }

    /// A pair open with read buffers of `n` bytes on both sides.
    pub fn with_bufsize(n: usize) -> Pair {
        Pair::open(Opts {
            bufsize: [n, n],
            ..Opts::default()
        })
    }

    fn client_request<'a>(
        spec: &'a ReqSpec,
        protos: &'a [&'a str],
        exts: &'a [&'a str],
        headers: &'a [Header<'a>],
    ) -> ClientRequest<'a> {
        ClientRequest {
            host: &spec.host,
            target: &spec.target,
            origin: spec.origin.as_deref(),
            subprotocols: protos,
            extensions: exts,
            headers,
        }
    }

    /// The client writes its request onto the wire.
    pub fn write_request(&mut self) {
        let spec = &self.req;
        let protos: Vec<&str> = spec.subprotocols.iter().map(|s| s.as_str()).collect();
        let exts: Vec<&str> = spec.extensions.iter().map(|s| s.as_str()).collect();
        let hv = owned_headers(&spec.headers);
        let req = Pair::client_request(spec, &protos, &exts, &hv);
        let n = self.ep[C]
            .conn
            .write_request(&req, KEY16, &mut self.scratch)
            .unwrap();
        self.wire[S].push(&self.scratch[..n]);
        self.ep[C].hs = HandshakeStage::AwaitResponse;
    }

    /// Application send on endpoint `i`: `f` writes into a scratch buffer, which goes on the
    /// wire. Then the contract's post-call duties (transport close).
    pub fn send(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Connection, &mut [u8]) -> Result<usize, Error>,
    ) -> Result<usize, Error> {
        assert!(self.ep[i].closed_at.is_none(), "send on a closed socket");
        let n = f(&mut self.ep[i].conn, &mut self.scratch)?;
        self.wire[other(i)].push(&self.scratch[..n]);
        self.flush(i);
        Ok(n)
    }

    /// `poll_transmit` until 0, then close the socket if asked to.
    pub fn flush(&mut self, i: usize) {
        let mut buf = [0u8; 1024];
        loop {
            let n = self.ep[i].conn.poll_transmit(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(self.ep[i].closed_at.is_none(), "output after closing");
            self.wire[other(i)].push(&buf[..n]);
        }
        // poll_transmit reports 0 and stays at 0.
        assert_eq!(self.ep[i].conn.poll_transmit(&mut buf), Ok(0));
        if self.ep[i].conn.should_close_transport()
            && self.ep[i].closed_at.is_none()
            && !self.ep[i].never_close
        {
            self.close_socket(i);
        }
    }

    /// Endpoint `i` closes its socket: the peer reads EOF after what is in flight; what is
    /// in flight to `i` is lost.
    pub fn close_socket(&mut self, i: usize) {
        self.seq += 1;
        self.ep[i].closed_at = Some(self.seq);
        self.wire[other(i)].fin = true;
        self.wire[i].dead = true;
        self.wire[i].bytes.clear();
    }

    /// One socket read on endpoint `i` and its processing. Returns whether anything happened.
    pub fn step(&mut self, i: usize) -> bool {
        if self.ep[i].closed_at.is_some() || self.ep[i].frozen {
            return false;
        }
        let progress = match self.ep[i].hs {
            HandshakeStage::Unsent => false,
            HandshakeStage::AwaitRequest => self.step_request(),
            HandshakeStage::AwaitResponse => self.step_response(),
            HandshakeStage::RejectBody | HandshakeStage::Done => self.step_frames(i),
        };
        if progress {
            return true;
        }
        let ep = &mut self.ep[i];
        if self.wire[i].bytes.is_empty() && self.wire[i].fin && !ep.eof {
            ep.eof = true;
            ep.conn.handle_eof();
            self.flush(i);
            return true;
        }
        false
    }

    /// Moves up to `room` bytes (at most one socket read) from the wire into `dst`.
    fn socket_read(wire: &mut Wire, dst: &mut Vec<u8>, room: usize, chunk: usize) -> usize {
        let n = room.min(chunk).min(wire.bytes.len());
        dst.extend(wire.bytes.drain(..n));
        n
    }

    fn step_request(&mut self) -> bool {
        let now = self.now;
        let ep = &mut self.ep[S];
        let cap = ep.hscap;
        let room = cap - ep.hsbuf.len();
        if Pair::socket_read(&mut self.wire[S], &mut ep.hsbuf, room, ep.chunk) == 0 {
            return false;
        }
        ep.reads += 1;
        let mut headers = [EMPTY_HEADER; 32];
        let mut leftover = Vec::new();
        match ep.conn.read_request(now, &ep.hsbuf, &mut headers) {
            Ok(ParsedRequest::Partial) => return true,
            Ok(ParsedRequest::Complete { request, len }) => {
                ep.request = Some(SeenRequest {
                    target: request.target().to_string(),
                    path: request.path().to_string(),
                    query: request.query().map(str::to_string),
                    host: request.host().unwrap_or_default().to_vec(),
                    subprotocols: request
                        .subprotocols()
                        .map(|p| String::from_utf8(p.to_vec()).unwrap())
                        .collect(),
                    headers: headers_of(request.headers()),
                });
                let n = match &self.decision {
                    Decision::Accept {
                        supported,
                        extensions,
                        headers: hh,
                    } => {
                        let chosen = request
                            .subprotocols()
                            .find(|p| supported.iter().any(|s| s.as_bytes() == *p))
                            .map(|p| std::str::from_utf8(p).unwrap());
                        let hv = owned_headers(hh);
                        let acc = Accept {
                            subprotocol: chosen,
                            extensions: extensions.as_deref(),
                            headers: &hv,
                        };
                        ep.conn.accept(now, &acc, &mut self.scratch).unwrap()
                    }
                    Decision::Reject {
                        status,
                        headers: hh,
                        body,
                    } => {
                        let hv = owned_headers(hh);
                        ep.conn
                            .reject(*status, &hv, body, &mut self.scratch)
                            .unwrap()
                    }
                    Decision::RejectStreamed {
                        status,
                        headers: hh,
                        pieces,
                    } => {
                        let hv = owned_headers(hh);
                        let mut n = ep
                            .conn
                            .reject_head(*status, &hv, &mut self.scratch)
                            .unwrap();
                        for (k, piece) in pieces.iter().enumerate() {
                            let last = k + 1 == pieces.len();
                            n += ep
                                .conn
                                .reject_body(piece, last, &mut self.scratch[n..])
                                .unwrap();
                        }
                        if pieces.is_empty() {
                            n += ep
                                .conn
                                .reject_body(&[], true, &mut self.scratch[n..])
                                .unwrap();
                        }
                        n
                    }
                };
                self.wire[C].push(&self.scratch[..n]);
                leftover.extend_from_slice(&ep.hsbuf[len..]);
                ep.hs = HandshakeStage::Done;
            }
            Err(e) => {
                ep.hs_error = Some(e);
                ep.hs = HandshakeStage::Done;
            }
        }
        ep.hsbuf.clear();
        self.wire[S].unread(&leftover);
        self.flush(S);
        true
    }

    fn step_response(&mut self) -> bool {
        let now = self.now;
        let ep = &mut self.ep[C];
        let cap = ep.hscap;
        let room = cap - ep.hsbuf.len();
        if Pair::socket_read(&mut self.wire[C], &mut ep.hsbuf, room, ep.chunk) == 0 {
            return false;
        }
        ep.reads += 1;
        let spec = &self.req;
        let protos: Vec<&str> = spec.subprotocols.iter().map(|s| s.as_str()).collect();
        let exts: Vec<&str> = spec.extensions.iter().map(|s| s.as_str()).collect();
        let hv = owned_headers(&spec.headers);
        let req = Pair::client_request(spec, &protos, &exts, &hv);
        let mut headers = [EMPTY_HEADER; 32];
        let mut leftover = Vec::new();
        match ep.conn.read_response(now, &req, &ep.hsbuf, &mut headers) {
            Ok(ResponseStatus::Partial) => return true,
            Ok(ResponseStatus::Accepted { response, len }) => {
                assert_eq!(response.status(), 101);
                ep.response = Some(SeenResponse::Accepted {
                    subprotocol: response.subprotocol().map(str::to_string),
                    extensions: response
                        .extensions()
                        .map(|e| String::from_utf8(e.to_vec()).unwrap())
                        .collect(),
                    headers: headers_of(response.headers()),
                });
                leftover.extend_from_slice(&ep.hsbuf[len..]);
                ep.hs = HandshakeStage::Done;
            }
            Ok(ResponseStatus::Rejected {
                response,
                body,
                body_complete,
                len,
            }) => {
                ep.response = Some(SeenResponse::Rejected {
                    status: response.status(),
                    reason: response.reason().to_string(),
                    headers: headers_of(response.headers()),
                    body: body.to_vec(),
                    complete: body_complete,
                    body_in_head: body.len(),
                    body_events: 0,
                });
                leftover.extend_from_slice(&ep.hsbuf[len..]);
                ep.hs = if body_complete {
                    HandshakeStage::Done
                } else {
                    HandshakeStage::RejectBody
                };
            }
            Err(e) => {
                ep.hs_error = Some(e);
                ep.hs = HandshakeStage::Done;
            }
        }
        ep.hsbuf.clear();
        self.wire[C].unread(&leftover);
        self.flush(C);
        true
    }

    fn step_frames(&mut self, i: usize) -> bool {
        let now = self.now;
        let ep = &mut self.ep[i];
        let room = ep.bufsize - ep.rbuf.len();
        if Pair::socket_read(&mut self.wire[i], &mut ep.rbuf, room, ep.chunk) == 0 {
            return false;
        }
        ep.reads += 1;
        assert!(ep.rbuf.len() <= ep.bufsize);
        let mut pos = 0;
        let mut rbuf = std::mem::take(&mut self.ep[i].rbuf);
        loop {
            let ep = &mut self.ep[i];
            let avail = rbuf.len() - pos;
            let r = ep.conn.read(now, &mut rbuf[pos..]).unwrap();
            assert!(r.consumed <= avail);
            let Some(ev) = r.event else {
                pos += r.consumed;
                break;
            };
            assert!(r.consumed > 0, "an event must consume input");
            pos += r.consumed;
            match ev {
                wsmachine::Event::Data(c) => ep.on_data(&c),
                wsmachine::Event::Ping(p) => ep.log.push(Seen::Ping(p.to_vec())),
                wsmachine::Event::Pong(p) => ep.log.push(Seen::Pong(p.to_vec())),
                wsmachine::Event::Close { status, reason } => {
                    ep.log.push(Seen::Close(status, reason.to_string()))
                }
                wsmachine::Event::Failed(e) => ep.log.push(Seen::Failed(e)),
                wsmachine::Event::RejectBody { data, finished } => {
                    assert_eq!(ep.hs, HandshakeStage::RejectBody);
                    let Some(SeenResponse::Rejected {
                        body,
                        complete,
                        body_events,
                        ..
                    }) = &mut ep.response
                    else {
                        panic!("RejectBody without a rejection")
                    };
                    body.extend_from_slice(data);
                    *complete = finished;
                    *body_events += 1;
                    if finished {
                        ep.hs = HandshakeStage::Done;
                    }
                }
            }
            self.flush(i);
            if self.ep[i].closed_at.is_some() {
                rbuf.clear();
                self.ep[i].rbuf = rbuf;
                return true;
            }
        }
        rbuf.drain(..pos);
        let ep = &mut self.ep[i];
        ep.rbuf = rbuf;
        if ep.hs == HandshakeStage::Done {
            assert!(
                ep.rbuf.len() <= MAX_PENDING_INPUT,
                "{} bytes unconsumed",
                ep.rbuf.len()
            );
        }
        self.flush(i);
        true
    }

    /// Moves bytes until nothing happens any more (no time passes).
    pub fn run(&mut self) {
        for _ in 0..100_000_000u64 {
            let a = self.step(C);
            let b = self.step(S);
            if !a && !b {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Whether endpoint `i` still runs (socket open, not frozen).
    pub fn live(&self, i: usize) -> bool {
        self.ep[i].closed_at.is_none() && !self.ep[i].frozen
    }

    /// The earliest deadline of a live endpoint.
    pub fn next_deadline(&self) -> Option<u64> {
        (0..2)
            .filter(|&i| self.live(i))
            .filter_map(|i| self.ep[i].conn.poll_timeout())
            .min()
    }

    /// Runs, jumping the clock from deadline to deadline, while deadlines are at most `t`;
    /// then sets the clock to `t` (if later).
    pub fn run_until(&mut self, t: u64) {
        self.run();
        let mut guard = 0;
        while let Some(d) = self.next_deadline() {
            if d > t {
                break;
            }
            guard += 1;
            assert!(guard < 1_000_000, "timer loop");
            self.now = self.now.max(d);
            for i in 0..2 {
                if self.live(i)
                    && self.ep[i]
                        .conn
                        .poll_timeout()
                        .is_some_and(|x| x <= self.now)
                {
                    self.ep[i].conn.handle_timeout(self.now);
                    self.flush(i);
                }
            }
            self.run();
        }
        self.now = self.now.max(t);
    }

    /// Runs until no timer is left (no keepalive!).
    pub fn settle(&mut self) {
        self.run_until(u64::MAX - 1);
    }

    /// The state of endpoint `i`'s connection.
    pub fn state(&self, i: usize) -> ReadyState {
        self.ep[i].conn.state()
    }

    /// Sends a whole message from `i`.
    pub fn send_msg(&mut self, i: usize, kind: MessageKind, data: &[u8]) {
        let n = self
            .send(i, |c, out| c.send(kind, data, out))
            .expect("send");
        assert!(n >= data.len() + 2);
    }
}

/// Generates `<name>::client_to_server` and `<name>::server_to_client` tests calling
/// `body(sender, receiver)` with the endpoint indices ([`C`], [`S`]).
#[allow(unused_macros)] // not every binary that includes `common` runs pair tests
macro_rules! both_directions {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn client_to_server() {
                ($body)($crate::common::pair::C, $crate::common::pair::S)
            }
            #[test]
            fn server_to_client() {
                ($body)($crate::common::pair::S, $crate::common::pair::C)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_directions;

/// The role of endpoint `i`.
pub fn role_of(i: usize) -> Role {
    if i == C {
        Role::Client
    } else {
        Role::Server
    }
}

/// 64-bit FNV-1a: a checksum of received data when an endpoint does not store it.
pub fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// The initial value of [`fnv`].
pub const FNV_INIT: u64 = 0xcbf2_9ce4_8422_2325;
