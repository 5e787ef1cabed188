//! `WSConnection` (and wsproto's post-handshake `Connection`): wsproto's event API on top of
//! the core state machine.
//!
//! Bytes received are appended to an internal buffer (the core unmasks in place and needs the
//! unconsumed tail kept) and parsed lazily, one event per `events()` step, as wsproto does:
//! what the application sends while handling an event is judged against the state that event
//! left, not against frames that are still unread.

use std::collections::VecDeque;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};

use wsmachine::config::defaults;
use wsmachine::utf8::complete_prefix;
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Error, Event as CoreEvent, Failure,
    HandshakeError, Header, MessageKind, ParsedRequest, Phase, ProtocolError, ReadyState,
    ResponseStatus, Role, EMPTY_HEADER,
};

use crate::deflate::{self as pmd, Codec};
use crate::events::{
    self, AcceptConnection, CloseConnection, Message, Ping, Pong, RejectConnection, RejectData,
    Request,
};
use crate::extensions as ext;
use crate::pytypes::{close_code, core_error, local_error, member, remote_error};

/// Output room kept free for each `inflate` call.
const INFLATE_STEP: usize = 16 * 1024;

/// Header slots for parsing a handshake head (more gives 431).
const MAX_HEADERS: usize = 128;

/// The default of `auto_pong`. The core answers pings itself by default
/// (`defaults::AUTO_PONG`); wsproto leaves that to the application (`Ping.response()`), and a
/// wsproto application that also sent its own pong would send two.
const AUTO_PONG: bool = false;

/// A core timeout default (milliseconds, 0 = off) as the Python default (seconds, `None` =
/// off).
fn seconds(ms: u32) -> Option<f64> {
    (ms != 0).then(|| f64::from(ms) / 1000.0)
}

/// The defaults of the constructors' keyword arguments, by argument name and in Python units
/// (exported as `DEFAULTS`; the docstrings are checked against it by
/// `python/tests/test_defaults.py`). The size limits default to `None` in the signatures,
/// which stands for these values; the others are the signatures' own defaults.
pub(crate) fn defaults_dict(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("max_frame_payload", defaults::MAX_FRAME_PAYLOAD)?;
    d.set_item("max_message_size", defaults::MAX_MESSAGE_SIZE)?;
    d.set_item("max_fragments", defaults::MAX_FRAGMENTS)?;
    d.set_item("max_handshake_size", defaults::MAX_HANDSHAKE_SIZE)?;
    d.set_item("handshake_timeout", seconds(defaults::HANDSHAKE_TIMEOUT_MS))?;
    d.set_item("auth_timeout", seconds(defaults::AUTH_TIMEOUT_MS))?;
    d.set_item(
        "keepalive_interval",
        seconds(defaults::KEEPALIVE_INTERVAL_MS),
    )?;
    d.set_item("keepalive_timeout", seconds(defaults::KEEPALIVE_TIMEOUT_MS))?;
    d.set_item("close_timeout", seconds(defaults::CLOSE_TIMEOUT_MS))?;
    d.set_item("auto_pong", AUTO_PONG)?;
    // Read-only: changing it would not change the defaults.
    py.import("types")?.getattr("MappingProxyType")?.call1((d,))
}

/// wsproto's name for a state. wsproto's `ConnectionState` and the core's `Phase` enumerate the
/// same states: CONNECTING is `Handshake`, the others have the same names.
fn state_name(p: Phase) -> &'static str {
    match p {
        Phase::Handshake => "CONNECTING",
        Phase::Rejecting => "REJECTING",
        Phase::Open => "OPEN",
        Phase::LocalClosing => "LOCAL_CLOSING",
        Phase::RemoteClosing => "REMOTE_CLOSING",
        // `Phase` is non-exhaustive; a phase added later would need a decision here.
        Phase::Closed | _ => "CLOSED",
    }
}

/// What a client sent, kept to validate the response against.
struct SentRequest {
    host: String,
    target: String,
    subprotocols: Vec<String>,
    headers: Vec<(String, Vec<u8>)>,
    /// The offer elements of the `Request`'s other extensions (not permessage-deflate), and
    /// those objects (`finalize` is called on the ones the server accepts).
    extensions: Vec<String>,
    ext_objects: Vec<Py<PyAny>>,
}

/// Headers a refusal may not carry because the core writes the message framing itself (it
/// refuses them with `Error::InvalidHeader`). wsproto hands an application's headers to h11,
/// which honours them (`content-length` frames the body by length, `transfer-encoding`
/// chunks it), so wsproto applications do pass them: they are dropped here rather than
/// refused. The peer gets the same body; only the framing may differ from wsproto's (a
/// `RejectConnection(has_body=True)` is always answered with a chunked body here).
const FRAMING_HEADERS: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

/// Up to three bytes of a code point split across text chunks.
#[derive(Default)]
struct Utf8Tail {
    bytes: [u8; 4],
    len: usize,
}

fn decode_text<'py>(
    py: Python<'py>,
    tail: &mut Utf8Tail,
    data: &[u8],
) -> PyResult<Bound<'py, PyString>> {
    let internal = |_| PyRuntimeError::new_err("wsmachine internal error: text chunk split");
    if tail.len == 0 {
        let cut = complete_prefix(data);
        // The core validated the text already; simdutf8 (AVX2) re-checks it for the `&str`
        // PyO3 needs at a small fraction of `core::str::from_utf8`'s cost.
        let s = simdutf8::basic::from_utf8(&data[..cut]).map_err(internal)?;
        let rest = &data[cut..];
        tail.bytes[..rest.len()].copy_from_slice(rest);
        tail.len = rest.len();
        return Ok(PyString::new(py, s));
    }
    let mut joined = Vec::with_capacity(tail.len + data.len());
    joined.extend_from_slice(&tail.bytes[..tail.len]);
    joined.extend_from_slice(data);
    tail.len = 0;
    decode_text(py, tail, &joined)
}

/// Calls `f` with the bytes of a bytes-like object: `bytes`, `bytearray` or `memoryview`.
/// `f` must not run Python code (the slice may point into a `bytearray`).
fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<Option<R>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(f(b.as_bytes())));
    }
    if let Ok(ba) = obj.cast::<PyByteArray>() {
        // SAFETY: the GIL is held and `f` runs no Python code, so nothing can resize or free
        // the bytearray while the slice is alive.
        #[allow(unsafe_code)]
        let bytes = unsafe { ba.as_bytes() };
        return Ok(Some(f(bytes)));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        // The stable ABI of Python 3.9/3.10 has no buffer access: take one copy.
        let b = obj.call_method0("tobytes")?;
        let b = b.cast::<PyBytes>()?;
        return Ok(Some(f(b.as_bytes())));
    }
    Ok(None)
}

/// A bytes-like object as `bytes` or `bytearray` (a `memoryview` is copied once), so that
/// `with_bytes` never runs Python code.
fn bytes_like<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        Ok(obj.clone())
    } else if obj.is_instance_of::<PyMemoryView>() {
        obj.call_method0("tobytes")
    } else {
        Err(PyTypeError::new_err(
            "payload must be bytes, bytearray or memoryview",
        ))
    }
}

/// `bytes` or `str` → owned bytes (header names and values, paths).
fn bytes_or_str(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.encode_utf8()?.as_bytes().to_vec());
    }
    match with_bytes(obj, |b| b.to_vec())? {
        Some(v) => Ok(v),
        None => Err(PyTypeError::new_err(format!("{what} must be bytes or str"))),
    }
}

/// A list of `(name, value)` pairs (bytes or str) → owned headers.
fn owned_headers(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        let name = String::from_utf8(bytes_or_str(&name, "header name")?)
            .map_err(|_| local_error(py, "header names must be ASCII"))?;
        out.push((name, bytes_or_str(&value, "header value")?));
    }
    Ok(out)
}

fn core_headers(h: &[(String, Vec<u8>)]) -> Vec<Header<'_>> {
    h.iter()
        .map(|(n, v)| Header {
            name: n.as_str(),
            value: v.as_slice(),
        })
        .collect()
}

/// Received headers as wsproto gives them: `(lowercase name, value)` byte pairs, without the
/// names in `skip`.
fn header_list<'py>(
    py: Python<'py>,
    headers: &[Header<'_>],
    skip: &[&str],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for h in headers {
        if skip.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            continue;
        }
        let name = h.name.to_ascii_lowercase();
        let pair = PyTuple::new(
            py,
            [PyBytes::new(py, name.as_bytes()), PyBytes::new(py, h.value)],
        )?;
        list.append(pair)?;
    }
    Ok(list)
}

fn str_list<'py, 'a>(
    py: Python<'py>,
    items: impl Iterator<Item = &'a [u8]>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for i in items {
        list.append(PyString::new(py, &String::from_utf8_lossy(i)))?;
    }
    Ok(list)
}

/// Writes one output `bytes` object: asks the core for the exact size first (a too-small
/// buffer changes nothing), then lets it write straight into the new object.
fn emit<'py>(
    py: Python<'py>,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, Error>,
) -> PyResult<Bound<'py, PyBytes>> {
    let needed = match f(&mut []) {
        Ok(0) => return Ok(PyBytes::new(py, b"")),
        Ok(_) => {
            return Err(PyRuntimeError::new_err(
                "wsmachine internal error: wrote to an empty buffer",
            ))
        }
        Err(Error::BufferTooSmall { needed }) => needed,
        Err(e) => return Err(core_error(py, e)),
    };
    PyBytes::new_with(py, needed, |buf| match f(buf) {
        Ok(n) if n == needed => Ok(()),
        Ok(_) => Err(PyRuntimeError::new_err(
            "wsmachine internal error: output size changed",
        )),
        Err(e) => Err(core_error(py, e)),
    })
}

/// Writes one output `bytes` object whose size is only known afterwards (compressed frames):
/// the core writes into `scratch` (grown to what it asks for), and the bytes written are
/// copied out.
fn emit_into<'py>(
    py: Python<'py>,
    scratch: &mut Vec<u8>,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, Error>,
) -> PyResult<Bound<'py, PyBytes>> {
    let result = loop {
        match f(scratch) {
            Ok(n) => break Ok(PyBytes::new(py, &scratch[..n])),
            Err(Error::BufferTooSmall { needed }) if needed > scratch.len() => {
                scratch.resize(needed, 0);
            }
            Err(e) => break Err(core_error(py, e)),
        }
    };
    if scratch.len() > KEEP_BUFFER {
        *scratch = Vec::new();
    }
    result
}

/// Seconds (`None` or 0: off) as the core's milliseconds. Values over `u32::MAX` ms are
/// clamped to it, which the core's validator refuses as too long.
fn seconds_to_ms(v: Option<f64>, name: &str) -> PyResult<u32> {
    match v {
        None => Ok(0),
        Some(s) if s.is_nan() || s < 0.0 => Err(PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds or None"
        ))),
        Some(0.0) => Ok(0),
        Some(s) => Ok((s * 1000.0).round().clamp(1.0, f64::from(u32::MAX)) as u32),
    }
}

/// Options shared by the constructors.
pub(crate) struct Options {
    pub(crate) config: Config,
    pub(crate) clock: Option<Py<PyAny>>,
}

/// The constructors' keyword arguments as a core `Config` (`None` for a size limit: the
/// default). Only the conversion is checked here (seconds must be a number >= 0); whether the
/// values can work together is for the core's `Config::validate`, which the connection
/// constructors call (`ValueError` with its message).
#[allow(clippy::too_many_arguments)]
pub(crate) fn options(
    py: Python<'_>,
    max_frame_payload: Option<u64>,
    max_message_size: Option<u64>,
    max_fragments: Option<u32>,
    max_handshake_size: Option<usize>,
    handshake_timeout: Option<f64>,
    auth_timeout: Option<f64>,
    keepalive_interval: Option<f64>,
    keepalive_timeout: Option<f64>,
    close_timeout: Option<f64>,
    auto_pong: bool,
    clock: Option<Py<PyAny>>,
) -> PyResult<Options> {
    let mut c = Config::new();
    if let Some(v) = max_frame_payload {
        c.max_frame_payload = v;
    }
    if let Some(v) = max_message_size {
        c.max_message_size = v;
    }
    if let Some(v) = max_fragments {
        c.max_fragments = v;
    }
    if let Some(v) = max_handshake_size {
        c.max_handshake_size = v;
    }
    c.handshake_timeout_ms = seconds_to_ms(handshake_timeout, "handshake_timeout")?;
    c.auth_timeout_ms = seconds_to_ms(auth_timeout, "auth_timeout")?;
    c.keepalive_interval_ms = seconds_to_ms(keepalive_interval, "keepalive_interval")?;
    c.keepalive_timeout_ms = seconds_to_ms(keepalive_timeout, "keepalive_timeout")?;
    c.close_timeout_ms = seconds_to_ms(close_timeout, "close_timeout")?;
    c.auto_pong = auto_pong;
    Ok(Options {
        config: c,
        clock: clock.filter(|c| !c.is_none(py)),
    })
}

/// Which role a `ConnectionType` (ours, or wsproto's own enum) stands for.
fn role_of(ct: &Bound<'_, PyAny>) -> PyResult<Role> {
    let py = ct.py();
    if ct.is(&member(py, "ConnectionType", "CLIENT")?) {
        return Ok(Role::Client);
    }
    if ct.is(&member(py, "ConnectionType", "SERVER")?) {
        return Ok(Role::Server);
    }
    if let Ok(name) = ct.getattr("name") {
        if let Ok(name) = name.extract::<String>() {
            match name.as_str() {
                "CLIENT" => return Ok(Role::Client),
                "SERVER" => return Ok(Role::Server),
                _ => {}
            }
        }
    }
    Err(PyTypeError::new_err(
        "connection_type must be ConnectionType.CLIENT or ConnectionType.SERVER",
    ))
}

fn urandom16(py: Python<'_>) -> PyResult<[u8; 16]> {
    let b = py.import("os")?.getattr("urandom")?.call1((16,))?;
    let b = b.cast::<PyBytes>()?;
    let mut out = [0u8; 16];
    out.copy_from_slice(b.as_bytes());
    Ok(out)
}

/// Outcome of one `read` step.
enum Step {
    Event(Py<PyAny>),
    Progress,
    NeedMore,
}

/// A WebSocket connection with wsproto's API: ``send(event) -> bytes``,
/// ``receive_data(bytes | None)``, ``events()`` and ``state``, plus limits, timers and
/// ``data_to_send()``.
///
/// Options (keyword-only; their defaults are ``wsmachine.DEFAULTS``):
///
/// * ``max_frame_payload=16777216`` (16 MiB): a larger data frame closes the connection with
///   1009.
/// * ``max_message_size=16777216`` (16 MiB): a larger message closes it with 1009.
/// * ``max_fragments=65536``: a message of more frames closes it with 1009.
/// * ``max_handshake_size=8192`` (8 KiB): a larger handshake head is refused (server: 431).
/// * ``handshake_timeout=10.0``, ``auth_timeout=None``, ``keepalive_interval=None``,
///   ``keepalive_timeout=10.0``, ``close_timeout=5.0``: timers in seconds (``None`` or 0
///   turns one off), driven by ``poll_timeout`` / ``handle_timeout``.
/// * ``auto_pong=False``: answer pings without the application (wsproto leaves that to it).
/// * ``clock``: a function returning monotonic seconds (default ``time.monotonic``; use
///   ``loop.time`` under asyncio).
///
/// Values the engine cannot work with raise ``ValueError``.
#[pyclass(subclass, module = "wsmachine._wsmachine")]
pub struct WSConnection {
    /// The core connection: the state (`state` is read off its `phase()`), limits and timers.
    conn: Connection,
    client: bool,
    /// Received bytes not yet parsed (from `start`): the core parses lazily, one event per
    /// `events()` step.
    inbuf: Vec<u8>,
    start: usize,
    /// Events produced but not yet handed out (handshake events, timer events, the end of a
    /// refusal body).
    pending: VecDeque<Py<PyAny>>,
    /// `receive_data(None)` was called. wsproto is CLOSED from then on, while the input
    /// buffered before the end of file is still parsed (then the core is told: `eof_done`).
    eof: bool,
    eof_done: bool,
    sent_request: Option<SentRequest>,
    /// Server: the request head was parsed (the core waits for accept or reject).
    request_seen: bool,
    offered: Vec<String>,
    /// Server: the request was invalid and `RemoteProtocolError` was raised. The core has
    /// queued its error response (for `data_to_send()`); wsproto stays CONNECTING until a
    /// response is written, so that the application may send the error's `event_hint`.
    bad_request: bool,
    tx_kind: Option<MessageKind>,
    tail: Utf8Tail,
    clock: Py<PyAny>,
    t0: f64,
    /// The options the connection was made with (a client offering permessage-deflate is
    /// made anew with them when its `Request` names the extension).
    config: Config,
    /// Server: the request's Sec-WebSocket-Extensions elements.
    ext_offers: Vec<Vec<u8>>,
    /// The opening handshake succeeded (or happened elsewhere): after a clean closing
    /// handshake `receive_data` raises, as wsproto's does once it is CLOSED.
    was_open: bool,
    /// Client: the `PerMessageDeflate` of the `Request`, told what was agreed.
    pmd_offer: Option<Py<PyAny>>,
    /// The codecs, once permessage-deflate is agreed.
    codec: Option<Box<Codec>>,
    /// Inflated data of the current chunk, and compressed output (kept between calls).
    inflated: Vec<u8>,
    deflated: Vec<u8>,
    /// `receive_messages` is running: data chunks are gathered into `whole` and handed out
    /// as one `str` or `bytes` per message.
    assemble: bool,
    whole: Vec<u8>,
    /// Automatic pongs taken from the core as soon as their ping was parsed
    /// (`receive_messages`; the core keeps one pending pong), ahead of `data_to_send()`.
    early_out: Vec<u8>,
}

/// Reusable buffers above this size are freed after use.
const KEEP_BUFFER: usize = 4 << 20;

impl WSConnection {
    pub(crate) fn build(
        py: Python<'_>,
        connection_type: &Bound<'_, PyAny>,
        opts: Options,
        open: bool,
    ) -> PyResult<WSConnection> {
        let role = role_of(connection_type)?;
        let clock = match opts.clock {
            Some(c) => c,
            None => py.import("time")?.getattr("monotonic")?.unbind(),
        };
        let t0: f64 = clock.bind(py).call0()?.extract()?;
        let client = role == Role::Client;
        let seed = if client { urandom16(py)? } else { [0; 16] };
        let conn = if open {
            Connection::new_open(role, opts.config, 0, seed)
        } else if client {
            Connection::client(opts.config, 0, seed)
        } else {
            Connection::server(opts.config, 0)
        };
        let conn = conn.map_err(|e| core_error(py, e))?;
        let config = opts.config;
        Ok(WSConnection {
            conn,
            client,
            inbuf: Vec::new(),
            start: 0,
            pending: VecDeque::new(),
            eof: false,
            eof_done: false,
            sent_request: None,
            request_seen: false,
            offered: Vec::new(),
            bad_request: false,
            tx_kind: None,
            tail: Utf8Tail::default(),
            clock,
            t0,
            config,
            ext_offers: Vec::new(),
            was_open: open,
            pmd_offer: None,
            codec: None,
            inflated: Vec::new(),
            deflated: Vec::new(),
            assemble: false,
            whole: Vec::new(),
            early_out: Vec::new(),
        })
    }

    fn role(&self) -> Role {
        if self.client {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// Makes the codecs for what the core agreed (nothing when nothing was).
    fn start_deflate(&mut self) -> Option<wsmachine::deflate::Params> {
        let agreed = self.conn.deflate();
        self.codec = agreed.map(|p| Box::new(Codec::new(p, self.role())));
        agreed
    }

    fn to_ms(&self, now: f64) -> u64 {
        let ms = ((now - self.t0) * 1000.0).round();
        if ms.is_nan() || ms <= 0.0 {
            0
        } else {
            ms as u64
        }
    }

    fn now_ms(&self, py: Python<'_>) -> PyResult<u64> {
        let now: f64 = self.clock.bind(py).call0()?.extract()?;
        Ok(self.to_ms(now))
    }

    /// The core failed the connection (a protocol violation, or the auth timeout) and its close
    /// frame is still queued. The core calls that `RemoteClosing`; wsproto reports the failure
    /// as a `CloseConnection` event and stays OPEN until the application answers with its own
    /// close (for which the core's queued frame is sent).
    fn failing(&self) -> bool {
        self.conn.phase() == Phase::RemoteClosing
            && matches!(self.conn.failure(), Some(Failure::Protocol(_)))
    }

    /// wsproto's `ConnectionState` (as the `Phase` of the same name): the core's `phase()`, but
    ///
    /// * CLOSED as soon as the application reported end-of-file (`eof`);
    /// * OPEN while the core is failing the connection (`failing`);
    /// * CONNECTING after an invalid request until a response is written (`bad_request`; the
    ///   core's phase is `Closed` then, with the transport still to be answered, so
    ///   `should_close_transport()` is false until `data_to_send()` or a `RejectConnection`
    ///   wrote the response).
    ///
    /// Frames are parsed lazily, one event per `events()` step, as wsproto does, so the core's
    /// phase moves when the event that moves it is handed out (a close frame still unread
    /// leaves the state OPEN). The opening handshake is parsed by `receive_data` (also as in
    /// wsproto): the state changes before `events()` hands out `AcceptConnection` or
    /// `RejectConnection`.
    fn wsproto_state(&self) -> Phase {
        if self.eof {
            return Phase::Closed;
        }
        match self.conn.phase() {
            Phase::RemoteClosing if self.failing() => Phase::Open,
            Phase::Closed if self.bad_request && !self.conn.should_close_transport() => {
                Phase::Handshake
            }
            p => p,
        }
    }

    fn state_obj<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        member(py, "ConnectionState", state_name(self.wsproto_state()))
    }

    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start >= self.inbuf.len() {
            self.inbuf.clear();
        } else {
            self.inbuf.drain(..self.start);
        }
        self.start = 0;
    }

    fn append(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.compact();
        let inbuf = &mut self.inbuf;
        match with_bytes(data, |b| inbuf.extend_from_slice(b))? {
            Some(()) => Ok(()),
            None => Err(PyTypeError::new_err(
                "data must be bytes, bytearray, memoryview or None",
            )),
        }
    }

    // ------------------------------------------------------------------------------------
    // Handshake input
    // ------------------------------------------------------------------------------------

    fn advance_handshake(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.client {
            self.read_response(py)
        } else {
            self.read_request(py)
        }
    }

    fn read_request(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.request_seen || self.start >= self.inbuf.len() {
            return Ok(());
        }
        let now = self.now_ms(py)?;
        let mut headers = vec![EMPTY_HEADER; MAX_HEADERS];
        let parsed = self
            .conn
            .read_request(now, &self.inbuf[self.start..], &mut headers);
        let (event, len, offered, ext_offers) = match parsed {
            Ok(ParsedRequest::Partial) => return Ok(()),
            Ok(ParsedRequest::Complete { request, len }) => {
                let offered: Vec<String> = request
                    .subprotocols()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                let host = host_from_wire(py, request.host().unwrap_or_default());
                let ev = Request {
                    host: PyString::new(py, &host).into_any().unbind(),
                    target: PyString::new(py, request.target()).into_any().unbind(),
                    extensions: str_list(py, request.extensions())?.into_any().unbind(),
                    extra_headers: header_list(
                        py,
                        request.headers(),
                        &["host", "sec-websocket-extensions", "sec-websocket-protocol"],
                    )?
                    .into_any()
                    .unbind(),
                    subprotocols: str_list(py, offered.iter().map(|s| s.as_bytes()))?
                        .into_any()
                        .unbind(),
                };
                let ext_offers = request.extensions().map(<[u8]>::to_vec).collect();
                (ev, len, offered, ext_offers)
            }
            Err(Error::Handshake(e)) => {
                self.bad_request = true;
                return Err(self.bad_request_error(py, e));
            }
            Err(e) => return Err(core_error(py, e)),
        };
        self.start += len;
        self.offered = offered;
        self.ext_offers = ext_offers;
        self.request_seen = true;
        self.pending
            .push_back(Py::new(py, events::sub(event))?.into_any());
        Ok(())
    }

    /// The `RemoteProtocolError` for an invalid request; its `event_hint` is the core's
    /// standard response (status and headers, e.g. `Sec-WebSocket-Version: 13` with 426).
    fn bad_request_error(&self, py: Python<'_>, e: HandshakeError) -> PyErr {
        let hint = (|| -> PyResult<Py<PyAny>> {
            let list = PyList::empty(py);
            for h in e.response_headers() {
                list.append((
                    PyBytes::new(py, h.name.as_bytes()),
                    PyBytes::new(py, h.value),
                ))?;
            }
            events::reject_connection(py, e.status(), list.into_any().unbind(), false)
        })();
        match hint {
            Ok(h) => remote_error(py, wsproto_message(e), h),
            Err(err) => err,
        }
    }

    fn read_response(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(req) = &self.sent_request else {
            return Ok(());
        };
        if self.start >= self.inbuf.len() {
            return Ok(());
        }
        let now = self.now_ms(py)?;
        let subs: Vec<&str> = req.subprotocols.iter().map(String::as_str).collect();
        let exts: Vec<&str> = req.extensions.iter().map(String::as_str).collect();
        let hdrs = core_headers(&req.headers);
        let creq = ClientRequest {
            host: &req.host,
            // (Not looked at when reading the response; `/` as when the request was written.)
            target: if req.target.starts_with('/') {
                &req.target
            } else {
                "/"
            },
            origin: None,
            subprotocols: &subs,
            extensions: &exts,
            headers: &hdrs,
        };
        let mut headers = vec![EMPTY_HEADER; MAX_HEADERS];
        let status = self
            .conn
            .read_response(now, &creq, &self.inbuf[self.start..], &mut headers);
        let mut out: Vec<Py<PyAny>> = Vec::new();
        let len = match status {
            Ok(ResponseStatus::Partial) => return Ok(()),
            Ok(ResponseStatus::Accepted { response, len }) => {
                let sub = match response.subprotocol() {
                    Some(s) => PyString::new(py, s).into_any().unbind(),
                    None => py.None(),
                };
                // The agreed extensions in the order of the response: permessage-deflate (the
                // core agreed on it) and the others (their `finalize` takes the element).
                let extensions = PyList::empty(py);
                for element in response.extensions() {
                    let element = String::from_utf8_lossy(element);
                    let name = ext::element_name(&element);
                    if name.eq_ignore_ascii_case(wsmachine::deflate::EXTENSION_NAME) {
                        if let (Some(p), Some(e)) = (self.conn.deflate(), &self.pmd_offer) {
                            pmd::record(e.bind(py), &p)?;
                            extensions.append(e.bind(py))?;
                        }
                    } else if let Some(e) = ext::finalize(py, &req.ext_objects, &element)? {
                        extensions.append(e)?;
                    } else {
                        let hint = events::reject_connection(
                            py,
                            400,
                            PyList::empty(py).into_any().unbind(),
                            false,
                        )?;
                        return Err(remote_error(
                            py,
                            format!("unrecognized extension {name}"),
                            hint,
                        ));
                    }
                }
                let ev = AcceptConnection {
                    subprotocol: sub,
                    extensions: extensions.into_any().unbind(),
                    extra_headers: header_list(
                        py,
                        response.headers(),
                        &[
                            "connection",
                            "sec-websocket-extensions",
                            "sec-websocket-accept",
                            "sec-websocket-protocol",
                            "upgrade",
                        ],
                    )?
                    .into_any()
                    .unbind(),
                };
                out.push(Py::new(py, events::sub(ev))?.into_any());
                len
            }
            Ok(ResponseStatus::Rejected {
                response,
                body,
                body_complete,
                len,
            }) => {
                let headers = header_list(py, response.headers(), &[])?
                    .into_any()
                    .unbind();
                let status = response.status();
                if status < 200 {
                    // As in wsproto: a 1xx other than 101 is a refusal without a body, and the
                    // connection is over (the core, too, reads no body after a 1xx).
                    out.push(events::reject_connection(py, status, headers, false)?);
                } else {
                    // The core frames the body (chunked, Content-Length or end of file) and
                    // hands over decoded data only.
                    out.push(events::reject_connection(py, status, headers, true)?);
                    if !body.is_empty() {
                        out.push(events::reject_data(py, body, false)?);
                    }
                    if body_complete {
                        out.push(events::reject_data(py, b"", true)?);
                    }
                }
                len
            }
            Err(Error::Handshake(e)) => {
                let hint = events::reject_connection(
                    py,
                    400,
                    PyList::empty(py).into_any().unbind(),
                    false,
                )?;
                let head = &self.inbuf[self.start..];
                let message = match e {
                    HandshakeError::UnofferedSubprotocol => format!(
                        "unrecognized subprotocol {}",
                        head_values(head, "sec-websocket-protocol")
                            .next()
                            .unwrap_or_default()
                    ),
                    HandshakeError::UnofferedExtension => {
                        let offered = |n: &str| {
                            req.extensions.iter().any(|o| ext::element_name(o) == n)
                                || (self.pmd_offer.is_some()
                                    && n.eq_ignore_ascii_case(wsmachine::deflate::EXTENSION_NAME))
                        };
                        let name = head_values(head, "sec-websocket-extensions")
                            .flat_map(|v| {
                                v.split(',')
                                    .map(|e| ext::element_name(e).to_owned())
                                    .collect::<Vec<_>>()
                            })
                            .find(|n| !offered(n))
                            .unwrap_or_default();
                        format!("unrecognized extension {name}")
                    }
                    e => wsproto_message(e).to_owned(),
                };
                return Err(remote_error(py, message, hint));
            }
            Err(e) => return Err(core_error(py, e)),
        };
        self.start += len;
        self.pending.extend(out);
        if self.conn.phase() == Phase::Open {
            self.was_open = true;
            self.start_deflate();
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Frames
    // ------------------------------------------------------------------------------------

    /// Whether the core's `read` takes input now: frames, or a client's refusal body.
    fn frames_readable(&self) -> bool {
        match self.conn.phase() {
            Phase::Open | Phase::LocalClosing | Phase::RemoteClosing => true,
            Phase::Rejecting => self.client,
            _ => false,
        }
    }

    fn read_one(&mut self, py: Python<'_>, now: u64) -> PyResult<Step> {
        let WSConnection {
            conn,
            inbuf,
            start,
            tail,
            pending,
            codec,
            inflated,
            config,
            assemble,
            whole,
            ..
        } = self;
        let asm = if *assemble { Some(whole) } else { None };
        let read = conn
            .read(now, &mut inbuf[*start..])
            .map_err(|e| core_error(py, e))?;
        *start += read.consumed;
        let Some(event) = read.event else {
            return Ok(if read.consumed == 0 {
                Step::NeedMore
            } else {
                Step::Progress
            });
        };
        let obj = match event {
            CoreEvent::Data(chunk) if chunk.compressed => {
                let Some(codec) = codec.as_deref_mut() else {
                    return Err(PyRuntimeError::new_err(
                        "wsmachine internal error: compressed data without codecs",
                    ));
                };
                // The whole chunk, inflated: at most the message size limit (the core fails
                // the connection beyond it), in a buffer that grows no further than that.
                let cap = usize::try_from(config.max_message_size)
                    .unwrap_or(usize::MAX)
                    .saturating_add(INFLATE_STEP);
                let mut input = chunk.data;
                let mut len = 0usize;
                loop {
                    if inflated.len() - len < INFLATE_STEP {
                        let grown = (inflated.len() * 2).max(4 * INFLATE_STEP).min(cap);
                        inflated.resize(grown.max(len + 1), 0);
                    }
                    let r = conn
                        .inflate(now, codec.inflater(), &chunk, input, &mut inflated[len..])
                        .map_err(|e| core_error(py, e))?;
                    if let Some(e) = r.failed {
                        tail.len = 0;
                        if let Some(w) = asm {
                            w.clear();
                        }
                        if inflated.len() > KEEP_BUFFER {
                            *inflated = Vec::new();
                        }
                        return Ok(Step::Event(failure_event(py, e)?));
                    }
                    len += r.produced;
                    input = input.get(r.consumed..).unwrap_or_default();
                    if r.done {
                        break;
                    }
                }
                let data = inflated.get(..len).unwrap_or_default();
                let obj = data_event(
                    py,
                    asm,
                    tail,
                    chunk.kind,
                    data,
                    chunk.frame_finished,
                    chunk.message_finished,
                );
                if inflated.len() > KEEP_BUFFER {
                    *inflated = Vec::new();
                }
                match obj? {
                    Some(o) => o,
                    None => return Ok(Step::Progress),
                }
            }
            CoreEvent::Data(chunk) => {
                let obj = data_event(
                    py,
                    asm,
                    tail,
                    chunk.kind,
                    chunk.data,
                    chunk.frame_finished,
                    chunk.message_finished,
                )?;
                match obj {
                    Some(o) => o,
                    None => return Ok(Step::Progress),
                }
            }
            CoreEvent::Ping(p) => events::ping(py, p)?,
            CoreEvent::Pong(p) => events::pong(py, p)?,
            CoreEvent::Close { status, reason } => {
                let code = close_code(py, status.as_u16())?;
                events::close(py, code, PyString::new(py, reason).into_any().unbind())?
            }
            CoreEvent::Failed(e) => {
                tail.len = 0;
                if let Some(w) = asm {
                    w.clear();
                }
                failure_event(py, e)?
            }
            CoreEvent::RejectBody { data, finished } => {
                if finished {
                    pending.push_back(events::reject_data(py, b"", true)?);
                    if data.is_empty() {
                        return Ok(Step::Progress);
                    }
                }
                events::reject_data(py, data, false)?
            }
        };
        Ok(Step::Event(obj))
    }

    /// The input buffered before the end of file is parsed: tell the core, and report how the
    /// connection ended (the end of a refusal body, or 1006 for a connection that was open).
    fn finish_eof(&mut self, py: Python<'_>) -> PyResult<()> {
        self.eof_done = true;
        let phase = self.conn.phase();
        self.conn.handle_eof();
        match phase {
            Phase::Rejecting if self.client => {
                self.pending.push_back(events::reject_data(py, b"", true)?);
            }
            Phase::Open | Phase::RemoteClosing | Phase::LocalClosing => {
                let code = close_code(py, 1006)?;
                self.pending.push_back(events::close(py, code, py.None())?);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn next_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.conn.phase() == Phase::Closed && !self.eof {
                // Nothing more can come out of this connection.
                self.start = self.inbuf.len();
            }
            if self.frames_readable() && self.start < self.inbuf.len() {
                let now = self.now_ms(py)?;
                match self.read_one(py, now)? {
                    Step::Event(e) => return Ok(Some(e)),
                    Step::Progress => continue,
                    Step::NeedMore => {}
                }
            }
            if self.eof && !self.eof_done {
                self.finish_eof(py)?;
                continue;
            }
            self.compact();
            return Ok(None);
        }
    }

    // ------------------------------------------------------------------------------------
    // Sending
    // ------------------------------------------------------------------------------------

    fn wrong_state(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<PyErr> {
        let state = self.state_obj(py)?;
        Ok(local_error(
            py,
            format!(
                "Event {} cannot be sent in state {}.",
                event.repr()?,
                state.str()?
            ),
        ))
    }

    fn send_request<'py>(&mut self, py: Python<'py>, r: &Request) -> PyResult<Bound<'py, PyBytes>> {
        if !self.client {
            return Err(local_error(py, "only a client sends a Request"));
        }
        if self.sent_request.is_some() {
            return Err(local_error(py, "the Request has already been sent"));
        }
        let host = host_to_wire(r.host.bind(py))?;
        let target: String = r.target.bind(py).extract()?;
        // wsproto (through h11) sends any request target of visible ASCII (its own docs use
        // `target="foo"`); the core writes origin-form targets only (`/...`), so another one
        // is written in place of `/` afterwards.
        let relative = !target.starts_with('/');
        if relative && (target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(local_error(
                py,
                format!("invalid request target {target:?}"),
            ));
        }
        let mut subprotocols = Vec::new();
        for p in r.subprotocols.bind(py).try_iter()? {
            subprotocols.push(p?.extract::<String>()?);
        }
        let headers = owned_headers(py, r.extra_headers.bind(py))?;
        if let Some(ext) = pmd::find(py, r.extensions.bind(py))? {
            // The offer is the core's: a client connection is made with its options, so it
            // is made anew with permessage-deflate on. Nothing has happened on it yet (its
            // request is unsent), and it keeps its time base (`t0`, `now` 0).
            if self.conn.phase() == Phase::Handshake && self.conn.failure().is_none() {
                let mut config = self.config;
                config.deflate = Some(pmd::config_of(&ext, Role::Client)?);
                self.conn =
                    Connection::client(config, 0, urandom16(py)?).map_err(|e| core_error(py, e))?;
                self.pmd_offer = Some(ext.unbind());
            }
        }
        let others = ext::others(py, r.extensions.bind(py))?;
        let ext_offers = ext::client_offers(&others)?;
        let key = urandom16(py)?;
        let subs: Vec<&str> = subprotocols.iter().map(String::as_str).collect();
        let exts: Vec<&str> = ext_offers.iter().map(String::as_str).collect();
        let hdrs = core_headers(&headers);
        let creq = ClientRequest {
            host: &host,
            target: if relative { "/" } else { &target },
            origin: None,
            subprotocols: &subs,
            extensions: &exts,
            headers: &hdrs,
        };
        let conn = &mut self.conn;
        let mut out = emit(py, |buf| conn.write_request(&creq, key, buf))?;
        if relative {
            // `GET / HTTP/1.1\r\n...` -> `GET <target> HTTP/1.1\r\n...`
            let head = out.as_bytes();
            let mut line = Vec::with_capacity(head.len() + target.len());
            line.extend_from_slice(b"GET ");
            line.extend_from_slice(target.as_bytes());
            line.extend_from_slice(head.get(5..).unwrap_or_default());
            out = PyBytes::new(py, &line);
        }
        drop(hdrs);
        drop(exts);
        self.sent_request = Some(SentRequest {
            host,
            target,
            subprotocols,
            headers,
            extensions: ext_offers,
            ext_objects: others.into_iter().map(Bound::unbind).collect(),
        });
        // A response may already be buffered.
        self.read_response(py)?;
        Ok(out)
    }

    fn send_accept<'py>(
        &mut self,
        py: Python<'py>,
        a: &AcceptConnection,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.client || !self.request_seen || self.conn.phase() != Phase::Handshake {
            return Err(local_error(
                py,
                format!(
                    "Connection cannot be accepted in state {}",
                    self.state_obj(py)?.str()?
                ),
            ));
        }
        let sub: Option<String> = a.subprotocol.bind(py).extract()?;
        if let Some(s) = &sub {
            if !self.offered.iter().any(|o| o == s) {
                return Err(local_error(py, format!("unexpected subprotocol {s}")));
            }
        }
        let headers = owned_headers(py, a.extra_headers.bind(py))?;
        // permessage-deflate: the core's negotiation over the request's offers, with the
        // settings of the `PerMessageDeflate` given (none: declined, as before).
        let ext = pmd::find(py, a.extensions.bind(py))?;
        let agreed = match &ext {
            Some(e) => pmd::negotiate_offers(&self.ext_offers, &pmd::config_of(e, Role::Server)?),
            None => None,
        };
        self.conn
            .set_deflate(agreed)
            .map_err(|e| core_error(py, e))?;
        // The other extensions: each one's `accept` for the request's elements of its name.
        let accepted =
            ext::server_accepts(&ext::others(py, a.extensions.bind(py))?, &self.ext_offers)?;
        let hdrs = core_headers(&headers);
        let opts = Accept {
            subprotocol: sub.as_deref(),
            extensions: (!accepted.is_empty()).then_some(accepted.as_str()),
            headers: &hdrs,
        };
        let now = self.now_ms(py)?;
        let conn = &mut self.conn;
        let out = emit(py, |buf| conn.accept(now, &opts, buf))?;
        drop(hdrs);
        self.was_open = true;
        if let (Some(p), Some(e)) = (self.start_deflate(), &ext) {
            pmd::record(e, &p)?;
        }
        Ok(out)
    }

    /// Server: `RejectConnection`. Without a body, the whole response (`Content-Length: 0`);
    /// with one, its head (chunked body), and each `RejectData` then sends a chunk at once, as
    /// wsproto does (h11 chunks a body whose length the application did not give).
    fn send_reject<'py>(
        &mut self,
        py: Python<'py>,
        r: &RejectConnection,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.client || self.wsproto_state() != Phase::Handshake {
            return Err(local_error(
                py,
                format!(
                    "Connection cannot be rejected in state {}",
                    self.state_obj(py)?.str()?
                ),
            ));
        }
        // The core judges the status (200-599); one that is not even a u16 fails the same way.
        let status: u16 = r
            .status_code
            .bind(py)
            .extract()
            .map_err(|_| core_error(py, Error::InvalidStatus))?;
        let headers: Vec<(String, Vec<u8>)> = owned_headers(py, r.headers.bind(py))?
            .into_iter()
            .filter(|(n, _)| !FRAMING_HEADERS.iter().any(|f| n.eq_ignore_ascii_case(f)))
            .collect();
        let hdrs = core_headers(&headers);
        let conn = &mut self.conn;
        if r.has_body.bind(py).is_truthy()? {
            emit(py, |buf| conn.reject_head(status, &hdrs, buf))
        } else {
            emit(py, |buf| conn.reject(status, &hdrs, b"", buf))
        }
    }

    /// Server: `RejectData`: one chunk of the refusal body (nothing for empty data), and with
    /// `body_finished` the last chunk too.
    fn send_reject_data<'py>(
        &mut self,
        py: Python<'py>,
        d: &RejectData,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.client || self.conn.phase() != Phase::Rejecting {
            return Err(local_error(
                py,
                format!(
                    "Cannot send rejection data in state {}",
                    self.state_obj(py)?.str()?
                ),
            ));
        }
        let data = bytes_like(d.data.bind(py))
            .map_err(|_| PyTypeError::new_err("RejectData.data must be bytes"))?;
        let finished = d.body_finished.bind(py).is_truthy()?;
        let conn = &mut self.conn;
        // The slice is taken anew for each core call, and no Python code runs while it lives.
        emit(py, |buf| {
            with_bytes(&data, |b| conn.reject_body(b, finished, buf))
                .ok()
                .flatten()
                .unwrap_or(Err(Error::InvalidState))
        })
    }

    fn send_message<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        m: &Message,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.wsproto_state() != Phase::Open {
            return Err(self.wrong_state(py, event)?);
        }
        let fin = m.message_finished.bind(py).is_truthy()?;
        let data = m.data.bind(py);
        let (kind, encoded) = if let Ok(s) = data.cast::<PyString>() {
            (MessageKind::Text, Some(s.encode_utf8()?))
        } else if data.is_instance_of::<PyBytes>()
            || data.is_instance_of::<PyByteArray>()
            || data.is_instance_of::<PyMemoryView>()
        {
            (MessageKind::Binary, None)
        } else {
            return Err(PyTypeError::new_err("Must provide bytes or text"));
        };
        let payload = match &encoded {
            Some(b) => b.clone().into_any(),
            None => bytes_like(data)?,
        };
        let whole = match self.tx_kind {
            Some(k) if k != kind => {
                return Err(PyTypeError::new_err("Data type mismatch inside message"))
            }
            Some(_) => false,
            None => fin,
        };
        // Whole messages under the minimum go out uncompressed (below).
        let small = whole && payload.len()? < pmd::MIN_MESSAGE_SIZE;
        if let (Some(codec), false) = (self.codec.as_deref_mut(), small) {
            let conn = &mut self.conn;
            let c = codec.deflater()?;
            let out = emit_into(py, &mut self.deflated, |buf| {
                with_bytes(&payload, |bytes| {
                    if whole {
                        conn.send_compressed(kind, bytes, c, buf)
                    } else {
                        conn.send_compressed_fragment(kind, bytes, fin, c, buf)
                    }
                })
                .ok()
                .flatten()
                .unwrap_or(Err(Error::InvalidState))
            })?;
            self.tx_kind = if fin { None } else { Some(kind) };
            return Ok(out);
        }
        let conn = &mut self.conn;
        // The slice is taken anew for each core call, and no Python code runs while it lives.
        let out = emit(py, |buf| {
            with_bytes(&payload, |bytes| {
                if whole {
                    conn.send(kind, bytes, buf)
                } else {
                    conn.send_fragment(kind, bytes, fin, buf)
                }
            })
            .ok()
            .flatten()
            .unwrap_or(Err(Error::InvalidState))
        })?;
        self.tx_kind = if fin { None } else { Some(kind) };
        Ok(out)
    }

    fn send_control<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        payload: &Bound<'py, PyAny>,
        ping: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.wsproto_state() != Phase::Open {
            return Err(self.wrong_state(py, event)?);
        }
        let payload = bytes_like(payload)?;
        let conn = &mut self.conn;
        emit(py, |buf| {
            with_bytes(&payload, |p| {
                if ping {
                    conn.send_ping(p, buf)
                } else {
                    conn.send_pong(p, buf)
                }
            })
            .ok()
            .flatten()
            .unwrap_or(Err(Error::InvalidState))
        })
    }

    fn drain_transmit(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut scratch = vec![0u8; 256];
        loop {
            match self.conn.poll_transmit(&mut scratch) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&scratch[..n]),
                Err(Error::BufferTooSmall { needed }) => scratch.resize(needed, 0),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn send_close<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        c: &CloseConnection,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let st = self.wsproto_state();
        if st != Phase::Open && st != Phase::RemoteClosing {
            return Err(self.wrong_state(py, event)?);
        }
        let code: i64 = c.code.bind(py).extract()?;
        let reason: Option<String> = c.reason.bind(py).extract()?;
        // The core already chose the close frame for a violation; send that one. And echo the
        // peer's code-less close frame (queued by the core too).
        if self.failing() || (code == 1005 && st == Phase::RemoteClosing) {
            let out = self.drain_transmit().map_err(|e| core_error(py, e))?;
            self.tx_kind = None;
            return Ok(PyBytes::new(py, &out));
        }
        // Local-only codes cannot travel; wsproto sends 1000 instead (1005 too, as the core
        // has no code-less close).
        let code = match code {
            1005 | 1006 | 1015 => 1000,
            c => c,
        };
        let code = u16::try_from(code)
            .ok()
            .and_then(CloseCode::new)
            .ok_or_else(|| local_error(py, format!("close code {code} may not be sent")))?;
        let mut reason = reason.unwrap_or_default();
        if reason.len() > 123 {
            let mut cut = 123;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let now = self.now_ms(py)?;
        let conn = &mut self.conn;
        let out = emit(py, |buf| conn.close(now, code, &reason, buf))?;
        self.tx_kind = None;
        Ok(out)
    }
}

/// A data chunk as the event to hand out: a `TextMessage` / `BytesMessage` chunk, or, when
/// assembling (`asm`: `receive_messages`), nothing until the message's last chunk and then the
/// whole message as `str` or `bytes` (a one-chunk message is not copied into `asm`).
fn data_event(
    py: Python<'_>,
    asm: Option<&mut Vec<u8>>,
    tail: &mut Utf8Tail,
    kind: MessageKind,
    data: &[u8],
    frame_finished: bool,
    message_finished: bool,
) -> PyResult<Option<Py<PyAny>>> {
    let Some(whole) = asm else {
        return Ok(Some(match kind {
            MessageKind::Text => {
                let s = decode_text(py, tail, data)?;
                events::text_message(py, s, frame_finished, message_finished)?
            }
            MessageKind::Binary => {
                events::bytes_message(py, data, frame_finished, message_finished)?
            }
        }));
    };
    if !message_finished {
        whole.extend_from_slice(data);
        return Ok(None);
    }
    if whole.is_empty() {
        return message_object(py, kind, data).map(Some);
    }
    whole.extend_from_slice(data);
    let obj = message_object(py, kind, whole);
    whole.clear();
    if whole.capacity() > KEEP_BUFFER {
        *whole = Vec::new();
    }
    obj.map(Some)
}

/// A whole message as `str` (text: the core validated it; simdutf8 re-checks it for the
/// `&str` PyO3 needs) or `bytes`.
fn message_object(py: Python<'_>, kind: MessageKind, data: &[u8]) -> PyResult<Py<PyAny>> {
    Ok(match kind {
        MessageKind::Text => {
            let s = simdutf8::basic::from_utf8(data)
                .map_err(|_| PyRuntimeError::new_err("wsmachine internal error: invalid text"))?;
            PyString::new(py, s).into_any().unbind()
        }
        MessageKind::Binary => PyBytes::new(py, data).into_any().unbind(),
    })
}

/// wsproto's message for a handshake error (its `RemoteProtocolError` texts), or the core's
/// where wsproto has none.
fn wsproto_message(e: HandshakeError) -> &'static str {
    match e {
        HandshakeError::Malformed => "Bad HTTP message",
        HandshakeError::MethodNotAllowed => "Request method must be GET",
        HandshakeError::MissingHost => "Missing header, 'Host'",
        HandshakeError::MissingUpgrade => "Missing header, 'Upgrade: websocket'",
        HandshakeError::MissingConnectionUpgrade => "Missing header, 'Connection: Upgrade'",
        HandshakeError::MissingVersion | HandshakeError::UnsupportedVersion => {
            "Missing header, 'Sec-WebSocket-Version'"
        }
        HandshakeError::InvalidKey => "Missing header, 'Sec-WebSocket-Key'",
        HandshakeError::InvalidAccept => "Bad accept token",
        e => e.as_str(),
    }
}

/// The values of the header `name` (lower case) in an HTTP head, trimmed: for error messages
/// only (the core parsed and refused the head).
fn head_values<'a>(head: &'a [u8], name: &'a str) -> impl Iterator<Item = String> + 'a {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    head.get(..end)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(move |line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (n, v) = line.split_at(colon);
            n.eq_ignore_ascii_case(name.as_bytes()).then(|| {
                String::from_utf8_lossy(v.get(1..).unwrap_or_default())
                    .trim()
                    .to_owned()
            })
        })
}

/// The Host header for `host` (a `str`): IDNA-encoded (`xn--` labels) when it is not ASCII, as
/// wsproto writes it.
fn host_to_wire(host: &Bound<'_, PyAny>) -> PyResult<String> {
    let s: String = host.extract()?;
    if s.is_ascii() {
        return Ok(s);
    }
    let encoded = host.call_method1("encode", ("idna",))?;
    Ok(String::from_utf8_lossy(encoded.cast::<PyBytes>()?.as_bytes()).into_owned())
}

/// A request's Host as `Request.host`: trimmed, and with IDNA (`xn--`) labels decoded, as
/// wsproto reads it (left as it is when it does not decode).
fn host_from_wire(py: Python<'_>, host: &[u8]) -> String {
    let raw = String::from_utf8_lossy(host).trim().to_owned();
    if !raw.to_ascii_lowercase().contains("xn--") {
        return raw;
    }
    PyBytes::new(py, raw.as_bytes())
        .call_method1("decode", ("idna",))
        .and_then(|s| s.extract::<String>())
        .unwrap_or(raw)
}

fn failure_event(py: Python<'_>, e: ProtocolError) -> PyResult<Py<PyAny>> {
    let code = close_code(py, e.close_code().get())?;
    events::close(py, code, PyString::new(py, e.as_str()).into_any().unbind())
}

#[pymethods]
impl WSConnection {
    #[new]
    #[pyo3(signature = (
        connection_type, *, max_frame_payload=None, max_message_size=None, max_fragments=None,
        max_handshake_size=None,
        handshake_timeout=seconds(defaults::HANDSHAKE_TIMEOUT_MS),
        auth_timeout=seconds(defaults::AUTH_TIMEOUT_MS),
        keepalive_interval=seconds(defaults::KEEPALIVE_INTERVAL_MS),
        keepalive_timeout=seconds(defaults::KEEPALIVE_TIMEOUT_MS),
        close_timeout=seconds(defaults::CLOSE_TIMEOUT_MS),
        auto_pong=AUTO_PONG, clock=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        connection_type: &Bound<'_, PyAny>,
        max_frame_payload: Option<u64>,
        max_message_size: Option<u64>,
        max_fragments: Option<u32>,
        max_handshake_size: Option<usize>,
        handshake_timeout: Option<f64>,
        auth_timeout: Option<f64>,
        keepalive_interval: Option<f64>,
        keepalive_timeout: Option<f64>,
        close_timeout: Option<f64>,
        auto_pong: bool,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let opts = options(
            py,
            max_frame_payload,
            max_message_size,
            max_fragments,
            max_handshake_size,
            handshake_timeout,
            auth_timeout,
            keepalive_interval,
            keepalive_timeout,
            close_timeout,
            auto_pong,
            clock,
        )?;
        WSConnection::build(py, connection_type, opts, false)
    }

    /// Whether this is the client end.
    #[getter]
    fn client(&self) -> bool {
        self.client
    }

    /// The ``ConnectionState``.
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.state_obj(py)
    }

    /// The browser-style ``ReadyState`` (0 connecting, 1 open, 2 closing, 3 closed).
    #[getter]
    fn ready_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let name = match self.conn.state() {
            _ if self.eof => "CLOSED",
            ReadyState::Connecting => "CONNECTING",
            ReadyState::Open => "OPEN",
            ReadyState::Closing => "CLOSING",
            ReadyState::Closed => "CLOSED",
        };
        member(py, "ReadyState", name)
    }

    /// How the connection ended (or is ending), once known: the peer's close code, ours when
    /// the connection failed, 1006 when it was lost. ``None`` before that.
    #[getter]
    fn close_code(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.conn.close_status() {
            Some(s) => Ok(Some(close_code(py, s.as_u16())?)),
            None => Ok(None),
        }
    }

    /// Whether the transport should now be closed (after writing ``data_to_send()``).
    #[getter]
    fn should_close_transport(&self) -> bool {
        self.conn.should_close_transport()
    }

    /// Whether received input may still produce events: bytes not parsed yet (what
    /// ``receive_messages`` with ``max_messages`` left behind the last message), events not
    /// handed out yet, or an end of file not acted on. When false, ``receive_messages(b"")``
    /// and ``events()`` produce nothing until more input, a timeout or an end of file.
    #[getter]
    fn input_pending(&self) -> bool {
        !self.pending.is_empty() || self.start < self.inbuf.len() || (self.eof && !self.eof_done)
    }

    /// Whether the application has authenticated the connection (see ``auth_timeout``).
    #[getter]
    fn authenticated(&self) -> bool {
        self.conn.is_authenticated()
    }

    /// Marks a server connection authenticated, stopping the ``auth_timeout`` timer.
    fn set_authenticated(&mut self) {
        self.conn.set_authenticated();
    }

    /// Returns the bytes to send for ``event``.
    fn send<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        // The handshake events while wsproto's handshake is under way; the others after it.
        if matches!(self.wsproto_state(), Phase::Handshake | Phase::Rejecting) {
            if let Ok(r) = event.cast::<Request>() {
                return self.send_request(py, r.get());
            }
            if let Ok(a) = event.cast::<AcceptConnection>() {
                return self.send_accept(py, a.get());
            }
            if let Ok(r) = event.cast::<RejectConnection>() {
                return self.send_reject(py, r.get());
            }
            if let Ok(d) = event.cast::<RejectData>() {
                return self.send_reject_data(py, d.get());
            }
            return Err(local_error(
                py,
                format!(
                    "Event {} cannot be sent during the handshake",
                    event.repr()?
                ),
            ));
        }
        if let Ok(m) = event.cast::<Message>() {
            return self.send_message(py, event, m.get());
        }
        if let Ok(p) = event.cast::<Ping>() {
            return self.send_control(py, event, p.get().payload.bind(py), true);
        }
        if let Ok(p) = event.cast::<Pong>() {
            return self.send_control(py, event, p.get().payload.bind(py), false);
        }
        if let Ok(c) = event.cast::<CloseConnection>() {
            return self.send_close(py, event, c.get());
        }
        Err(self.wrong_state(py, event)?)
    }

    /// Feeds bytes received from the peer (``bytes``, ``bytearray`` or ``memoryview``);
    /// ``None`` means the transport reached end-of-file.
    #[pyo3(signature = (data))]
    fn receive_data(&mut self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        // wsproto hands the refusal's bytes to h11, for which `b""` is end-of-file too (a
        // body framed by the end of the connection ends there).
        let refusal_eof = self.client
            && self.conn.phase() == Phase::Rejecting
            && data.is_some_and(|d| d.len().is_ok_and(|n| n == 0));
        let Some(data) = data.filter(|_| !refusal_eof) else {
            self.eof = true;
            return Ok(());
        };
        // As wsproto: CLOSED after end-of-file or a clean closing handshake. (Input after a
        // failure is ignored: wsproto would still be LOCAL_CLOSING there.)
        if self.eof
            || (self.was_open
                && self.conn.phase() == Phase::Closed
                && self.conn.failure().is_none())
        {
            return Err(local_error(py, "Connection already closed."));
        }
        self.append(data)?;
        match self.conn.phase() {
            // The handshake is parsed at once, as wsproto does; frames as events are taken.
            Phase::Handshake => self.advance_handshake(py),
            Phase::Closed => {
                self.inbuf.clear();
                self.start = 0;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Feeds ``data`` as ``receive_data`` does (empty ``data``, or data after the connection
    /// closed, feeds nothing) and returns the events it produced, parsed at once, with each data message whole: ``str`` for
    /// text, ``bytes`` for binary, instead of ``TextMessage`` / ``BytesMessage`` chunks. Other
    /// events are the usual objects. With ``max_messages``, parsing stops after that many
    /// data messages (0: only the events already parsed, such as the handshake's), and the
    /// rest of the input waits for the next call. With ``auto_pong``, each ping's pong is
    /// taken from the engine as the ping is parsed, so that every ping gets one:
    /// ``data_to_send()`` returns them. For event-loop drivers (``wsmachine.asyncio``); not to
    /// be mixed with ``events()`` inside a message.
    #[pyo3(signature = (data, max_messages=None))]
    fn receive_messages<'py>(
        &mut self,
        py: Python<'py>,
        data: Option<&Bound<'py, PyAny>>,
        max_messages: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let empty = match data {
            Some(d) => d.len().map(|n| n == 0).unwrap_or(false),
            None => false,
        };
        // Bytes after the connection closed are dropped (`receive_data` would raise after a
        // clean closing handshake).
        let closed = data.is_some() && self.conn.phase() == Phase::Closed;
        if !empty && !closed {
            self.receive_data(py, data)?;
        }
        let list = PyList::empty(py);
        self.assemble = true;
        let result = (|| {
            let mut count = 0usize;
            loop {
                if max_messages.is_some_and(|m| count >= m) {
                    while let Some(e) = self.pending.pop_front() {
                        list.append(e)?;
                    }
                    return Ok(());
                }
                let Some(e) = self.next_event(py)? else {
                    return Ok(());
                };
                let ev = e.bind(py);
                if ev.is_instance_of::<PyString>() || ev.is_instance_of::<PyBytes>() {
                    count += 1;
                } else if self.config.auto_pong && ev.is_instance_of::<Ping>() {
                    let pong = self.drain_transmit().map_err(|err| core_error(py, err))?;
                    self.early_out.extend_from_slice(&pong);
                }
                list.append(e)?;
            }
        })();
        self.assemble = false;
        result.map(|()| list)
    }

    /// An iterator over the events the received data produced. Data is parsed as the
    /// iterator advances.
    fn events(slf: &Bound<'_, Self>) -> EventIter {
        EventIter {
            conn: slf.clone().unbind(),
        }
    }

    /// Server: feeds an upgrade request that was already parsed elsewhere.
    fn initiate_upgrade_connection(
        &mut self,
        py: Python<'_>,
        headers: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if self.client {
            return Err(local_error(
                py,
                "Cannot initiate an upgrade connection when acting as the client",
            ));
        }
        let mut head = b"GET ".to_vec();
        head.extend(bytes_or_str(path, "path")?);
        head.extend_from_slice(b" HTTP/1.1\r\n");
        for (n, v) in owned_headers(py, headers)? {
            head.extend_from_slice(n.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(&v);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let b = PyBytes::new(py, &head);
        self.receive_data(py, Some(b.as_any()))
    }

    /// The frames and responses the connection produced on its own, to be written to the
    /// transport: keepalive pings, automatic pongs (``auto_pong=True``), a close reply or a
    /// failure close the application has not sent, the HTTP error response after a timed-out
    /// or invalid handshake. Call it after ``handle_timeout`` and after handling events.
    fn data_to_send<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.drain_transmit().map_err(|e| core_error(py, e))?;
        if self.early_out.is_empty() {
            return Ok(PyBytes::new(py, &out));
        }
        let mut all = std::mem::take(&mut self.early_out);
        all.extend_from_slice(&out);
        Ok(PyBytes::new(py, &all))
    }

    /// The next deadline, in the clock's time base, or ``None`` when no timer is armed.
    fn poll_timeout(&self) -> Option<f64> {
        self.conn
            .poll_timeout()
            .map(|ms| self.t0 + (ms as f64) / 1000.0)
    }

    /// Acts on expired deadlines (``now`` defaults to the clock). Then call
    /// ``data_to_send()`` and ``events()``.
    #[pyo3(signature = (now=None))]
    fn handle_timeout(&mut self, py: Python<'_>, now: Option<f64>) -> PyResult<()> {
        let ms = match now {
            Some(n) => self.to_ms(n),
            None => self.now_ms(py)?,
        };
        let before = self.conn.failure();
        self.conn.handle_timeout(ms);
        let after = self.conn.failure();
        if after != before {
            let (code, reason) = match after {
                Some(Failure::DeadPeer) => (1006, "keepalive timeout"),
                Some(Failure::CloseTimeout) => (1006, "close timeout"),
                Some(Failure::Handshake(HandshakeError::Timeout)) => (1006, "handshake timed out"),
                Some(Failure::Protocol(e)) => (e.close_code().get(), e.as_str()),
                _ => (1006, "connection lost"),
            };
            let code = close_code(py, code)?;
            self.pending.push_back(events::close(
                py,
                code,
                PyString::new(py, reason).into_any().unbind(),
            )?);
        }
        Ok(())
    }
}

/// The iterator returned by ``events()``.
#[pyclass(module = "wsmachine._wsmachine")]
pub struct EventIter {
    conn: Py<WSConnection>,
}

#[pymethods]
impl EventIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.conn.bind(py).borrow_mut().next_event(py)
    }
}

/// wsproto's low-level ``Connection`` (``wsproto.connection.Connection``): a connection
/// whose opening handshake happened elsewhere. It starts OPEN; ``trailing_data`` is fed as
/// received bytes. The keyword options are ``WSConnection``'s (without the handshake ones).
///
/// Python sees it as ``Connection``; in Rust that name is the core's connection.
#[pyclass(name = "Connection", extends = WSConnection, module = "wsmachine._wsmachine")]
pub struct PostHandshakeConnection;

#[pymethods]
impl PostHandshakeConnection {
    #[new]
    #[pyo3(signature = (
        connection_type, extensions=None, trailing_data=None, *, max_frame_payload=None,
        max_message_size=None, max_fragments=None,
        keepalive_interval=seconds(defaults::KEEPALIVE_INTERVAL_MS),
        keepalive_timeout=seconds(defaults::KEEPALIVE_TIMEOUT_MS),
        close_timeout=seconds(defaults::CLOSE_TIMEOUT_MS),
        auto_pong=AUTO_PONG, clock=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        connection_type: &Bound<'_, PyAny>,
        extensions: Option<&Bound<'_, PyAny>>,
        trailing_data: Option<&Bound<'_, PyAny>>,
        max_frame_payload: Option<u64>,
        max_message_size: Option<u64>,
        max_fragments: Option<u32>,
        keepalive_interval: Option<f64>,
        keepalive_timeout: Option<f64>,
        close_timeout: Option<f64>,
        auto_pong: bool,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let opts = options(
            py,
            max_frame_payload,
            max_message_size,
            max_fragments,
            None,
            None,
            None,
            keepalive_interval,
            keepalive_timeout,
            close_timeout,
            auto_pong,
            clock,
        )?;
        let mut base = WSConnection::build(py, connection_type, opts, true)?;
        // A `PerMessageDeflate` negotiated elsewhere (its `accept` or `finalize` ran, so it is
        // enabled) is used with the parameters it holds; others are not negotiated.
        if let Some(ext) = extensions {
            if let Some(e) = pmd::find(py, ext)? {
                if let Some(p) = pmd::enabled_params(&e)? {
                    base.conn
                        .set_deflate(Some(p))
                        .map_err(|err| core_error(py, err))?;
                    base.start_deflate();
                }
            }
        }
        if let Some(d) = trailing_data {
            base.receive_data(py, Some(d))?;
        }
        Ok(PyClassInitializer::from(base).add_subclass(PostHandshakeConnection))
    }
}
