//! permessage-deflate on the target (feature `deflate`): a client and a server connection
//! negotiate the extension in a real handshake (9-bit windows both ways, context takeover on),
//! then exchange compressed messages both ways with the caller-memory codecs — an `Inflater`
//! and a `Deflater` per end, all in statics, no heap. Checks: the agreed parameters, every
//! message arrives intact and compressed (RSV1, fewer bytes than the text), a fragmented
//! compressed message, and a corrupt compressed frame failing the connection with 1007.
//!
//! Memory: two inflaters (decoder state + a 512-byte window each) and two deflaters
//! (`deflater_memory(9, LEVEL)` + the struct each), about 43 KB of static RAM: the image runs
//! on the 64 KiB-RAM targets (Cortex-M4F, RV32IMC), not on the 16 KiB Cortex-M0 (one end's
//! pair alone is about 21 KB). `kv` lines report the sizes.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use fw::{black_box, check, check_bytes, entry, kv, stack};
use wsmachine::deflate::{
    deflater_memory, inflater_memory, Compress, DeflateConfig, Deflater, Inflater, Params,
};
use wsmachine::{
    Accept, ClientRequest, Config, Connection, Event, MessageKind, ParsedRequest, ProtocolError,
    ResponseStatus, Role, EMPTY_HEADER,
};

const BITS: u8 = 9;
const LEVEL: u8 = 6;
const WINDOW: usize = 1 << BITS;
const DMEM: usize = deflater_memory(BITS, LEVEL);
/// Largest message of the test.
const MSG: usize = 1200;

type Inf = Inflater<&'static mut [u8]>;
type Def = Deflater<&'static mut [u8]>;

/// Everything the two ends need, in one static.
struct Mem {
    client_window: [u8; WINDOW],
    server_window: [u8; WINDOW],
    client_dmem: [u8; DMEM],
    server_dmem: [u8; DMEM],
    client_inflater: MaybeUninit<Inf>,
    server_inflater: MaybeUninit<Inf>,
    client_deflater: MaybeUninit<Def>,
    server_deflater: MaybeUninit<Def>,
    client: MaybeUninit<Connection>,
    server: MaybeUninit<Connection>,
    /// A message to send, the wire, and the receiver's inflated message.
    msg: [u8; MSG],
    wire: [u8; 2 * MSG + 64],
    got: [u8; MSG],
    out: [u8; 64],
}

static mut MEM: Mem = Mem {
    client_window: [0; WINDOW],
    server_window: [0; WINDOW],
    client_dmem: [0; DMEM],
    server_dmem: [0; DMEM],
    client_inflater: MaybeUninit::uninit(),
    server_inflater: MaybeUninit::uninit(),
    client_deflater: MaybeUninit::uninit(),
    server_deflater: MaybeUninit::uninit(),
    client: MaybeUninit::uninit(),
    server: MaybeUninit::uninit(),
    msg: [0; MSG],
    wire: [0; 2 * MSG + 64],
    got: [0; MSG],
    out: [0; 64],
};

fn fail(what: &str) -> ! {
    check(false, what);
    fw::exit(fw::EXIT_CHECK)
}

fn config() -> Config {
    let mut c = Config::new();
    c.deflate = Some(DeflateConfig::new().window_bits(BITS));
    c
}

/// Writes `len` bytes of text (words from a small vocabulary, chosen by `seed`) to `msg`.
fn text(msg: &mut [u8], len: usize, seed: u32) -> usize {
    const WORDS: [&str; 6] = ["sensor ", "reading ", "42.5 ", "ok ", "κόσμε ", "temp "];
    let mut x = seed | 1;
    let mut n = 0;
    while n < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let w = WORDS[(x % WORDS.len() as u32) as usize].as_bytes();
        if n + w.len() > len {
            break;
        }
        msg[n..n + w.len()].copy_from_slice(w);
        n += w.len();
    }
    msg[n..len].fill(b'.');
    len
}

/// Reads all of `wire` on `to`, inflating compressed chunks with `d` into `got` through the
/// small `out` buffer; returns the message's length, or the failure.
fn receive(
    to: &mut Connection,
    d: &mut Inf,
    wire: &mut [u8],
    got: &mut [u8],
    out: &mut [u8],
    kind: MessageKind,
) -> Result<usize, ProtocolError> {
    let mut pos = 0;
    let mut len = 0;
    while pos < wire.len() {
        let r = match to.read(0, &mut wire[pos..]) {
            Ok(r) => r,
            Err(_) => fail("read"),
        };
        pos += r.consumed;
        match r.event {
            Some(Event::Data(chunk)) => {
                check(chunk.kind == kind, "message kind");
                check(chunk.compressed, "the message arrives compressed");
                let mut input = chunk.data;
                loop {
                    let i = match to.inflate(0, d, &chunk, input, out) {
                        Ok(i) => i,
                        Err(_) => fail("inflate"),
                    };
                    if let Some(e) = i.failed {
                        return Err(e);
                    }
                    if len + i.produced > got.len() {
                        fail("message longer than sent");
                    }
                    got[len..len + i.produced].copy_from_slice(&out[..i.produced]);
                    len += i.produced;
                    input = &input[i.consumed..];
                    if i.done {
                        break;
                    }
                }
                if chunk.message_finished {
                    return Ok(len);
                }
            }
            Some(Event::Ping(_)) | Some(Event::Pong(_)) => {}
            Some(Event::Failed(e)) => return Err(e),
            Some(_) => fail("unexpected event"),
            None => fail("incomplete message on the wire"),
        }
    }
    fail("no message")
}

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: single-threaded; `MEM` is taken once, here.
    let m = unsafe { &mut *addr_of_mut!(MEM) };
    let (wire, got, out, msg) = (&mut m.wire, &mut m.got, &mut m.out, &mut m.msg);

    // The handshake: the client offers, the server accepts 9-bit windows.
    let client = fw::built_in(
        &mut m.client,
        Connection::client(config(), 0, [7; 16]),
        "client config",
    );
    let server = fw::built_in(
        &mut m.server,
        Connection::server(config(), 0),
        "server config",
    );
    let req = ClientRequest::new("sensor.example", "/ws");
    let n = match client.write_request(&req, [9; 16], wire) {
        Ok(n) => n,
        Err(_) => fail("write_request"),
    };
    let mut headers = [EMPTY_HEADER; 16];
    match server.read_request(0, &wire[..n], &mut headers) {
        Ok(ParsedRequest::Complete { .. }) => {}
        _ => fail("read_request"),
    }
    let n = match server.accept(0, &Accept::default(), wire) {
        Ok(n) => n,
        Err(_) => fail("accept"),
    };
    let mut headers = [EMPTY_HEADER; 16];
    match client.read_response(0, &req, &wire[..n], &mut headers) {
        Ok(ResponseStatus::Accepted { .. }) => {}
        _ => fail("read_response"),
    }
    let want = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: BITS,
        client_max_window_bits: BITS,
    };
    check(
        client.deflate() == Some(want),
        "client: 9-bit windows agreed",
    );
    check(
        server.deflate() == Some(want),
        "server: 9-bit windows agreed",
    );

    // The codecs, sized from what was agreed, in static memory.
    let (cw, sw) = (&mut m.client_window, &mut m.server_window);
    let ci = match Inflater::new(&mut cw[..], want.decompress_window_bits(Role::Client)) {
        Some(i) => m.client_inflater.write(i),
        None => fail("client inflater"),
    };
    let si = match Inflater::new(&mut sw[..], want.decompress_window_bits(Role::Server)) {
        Some(i) => m.server_inflater.write(i),
        None => fail("server inflater"),
    };
    let cd = match Deflater::new(
        &mut m.client_dmem[..],
        want.compress_window_bits(Role::Client),
        LEVEL,
    ) {
        Ok(d) => m.client_deflater.write(d),
        Err(_) => fail("client deflater"),
    };
    let sd = match Deflater::new(
        &mut m.server_dmem[..],
        want.compress_window_bits(Role::Server),
        LEVEL,
    ) {
        Ok(d) => m.server_deflater.write(d),
        Err(_) => fail("server deflater"),
    };

    // Messages both ways; the windows carry over between them (context takeover).
    let mut plain_total = 0u32;
    let mut wire_total = 0u32;
    for (round, len) in [100usize, 1200, 40, 700, 1200].into_iter().enumerate() {
        let len = text(msg, black_box(len), round as u32 + 1);
        // Client → server, text.
        let n = match client.send_compressed(MessageKind::Text, &msg[..len], cd, wire) {
            Ok(n) => n,
            Err(_) => fail("client send_compressed"),
        };
        check(wire[0] == 0xC1, "client frame: FIN + RSV1 + text");
        check(n < len, "the text shrank");
        plain_total += len as u32;
        wire_total += n as u32;
        match receive(server, si, &mut wire[..n], got, out, MessageKind::Text) {
            Ok(k) => check_bytes(&got[..k], &msg[..len], "server inflates the client's text"),
            Err(_) => fail("server receive"),
        }
        // Server → client, binary (the text echoed).
        let n = match server.send_compressed(MessageKind::Binary, &msg[..len], sd, wire) {
            Ok(n) => n,
            Err(_) => fail("server send_compressed"),
        };
        check(wire[0] == 0xC2, "server frame: FIN + RSV1 + binary");
        match receive(client, ci, &mut wire[..n], got, out, MessageKind::Binary) {
            Ok(k) => check_bytes(&got[..k], &msg[..len], "client inflates the server's echo"),
            Err(_) => fail("client receive"),
        }
    }
    kv("deflate_plain_bytes", plain_total);
    kv("deflate_wire_bytes", wire_total);

    // A compressed message in three fragments (RSV1 on the first frame only).
    let len = text(msg, 900, 99);
    let mut n = 0;
    for (i, part) in msg[..len].chunks(300).enumerate() {
        let fin = (i + 1) * 300 >= len;
        // Room for the fragment's bound: what the compressor may hold back included.
        let room = cd.bound(part.len()) + 14;
        if n + room > wire.len() {
            fail("wire buffer for the fragments");
        }
        n += match client.send_compressed_fragment(MessageKind::Text, part, fin, cd, &mut wire[n..])
        {
            Ok(k) => k,
            Err(_) => fail("send_compressed_fragment"),
        };
    }
    match receive(server, si, &mut wire[..n], got, out, MessageKind::Text) {
        Ok(k) => check_bytes(&got[..k], &msg[..len], "fragmented compressed message"),
        Err(_) => fail("receive the fragments"),
    }

    // A corrupt compressed frame (masked, as from a client): the server fails with 1007.
    let frame = [0xC2, 0x84, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    wire[..frame.len()].copy_from_slice(&frame);
    match receive(
        server,
        si,
        &mut wire[..frame.len()],
        got,
        out,
        MessageKind::Binary,
    ) {
        Err(ProtocolError::InvalidCompressedData) => check(true, "corrupt data: 1007"),
        _ => fail("corrupt data must fail the connection with 1007"),
    }
    let n = server.poll_transmit(out).unwrap_or(0);
    check(
        n >= 4 && out[0] == 0x88 && u16::from_be_bytes([out[2], out[3]]) == 1007,
        "close frame with 1007 queued",
    );

    kv("inflater_bytes", inflater_memory(BITS) as u32);
    kv(
        "deflater_bytes",
        (DMEM + core::mem::size_of::<Def>()) as u32,
    );
    kv("conn_size", core::mem::size_of::<Connection>() as u32);
    fw::finish("deflate")
}
