//! Rust tests of the C ABI through raw pointers, the way C calls it: handles in caller memory
//! and on the heap, a server and a client handshake, reads that unmask in place, sends, the
//! closing handshake, and the argument checks. They run under Miri (`scripts/test/miri.sh`), which
//! checks every pointer the functions dereference against Rust's aliasing and provenance rules.

use core::ffi::{c_char, c_void};
use core::ptr::{null, null_mut};

use crate::*;

/// Caller memory for a handle, aligned like a C `max_align_t` buffer would be.
#[repr(C, align(16))]
struct Mem([u8; 1024]);

const REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

const EMPTY: wsm_header = wsm_header {
    name: wsm_str::NONE,
    value: null(),
    value_len: 0,
};

fn str_of(s: wsm_str) -> &'static [u8] {
    if s.ptr.is_null() {
        return b"";
    }
    // SAFETY: the library returns pointers into the caller's input, which the tests keep
    // alive (REQUEST is 'static; other inputs outlive every use of the result).
    unsafe { core::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) }
}

/// Initialises a handle in `mem`.
fn init(mem: &mut Mem, role: wsm_role, seed: Option<&[u8; 16]>) -> *mut wsm_conn {
    assert!(wsm_conn_size() <= core::mem::size_of::<Mem>());
    assert!(wsm_conn_align() <= 16);
    let mut h: *mut wsm_conn = null_mut();
    let seed = seed.map_or(null(), |s| s.as_ptr());
    // SAFETY: `mem` is writable for its size; a NULL config means the defaults; `seed` is
    // NULL or 16 bytes; `h` is writable.
    let r = unsafe {
        wsm_conn_init(
            (mem as *mut Mem).cast::<c_void>(),
            core::mem::size_of::<Mem>(),
            role as u32,
            null(),
            0,
            seed,
            false,
            &mut h,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!(h.cast::<u8>(), (mem as *mut Mem).cast::<u8>());
    h
}

/// Calls `wsm_read` on `buf[*pos..]`, advancing `*pos`.
fn read(h: *mut wsm_conn, now: u64, buf: &mut [u8], pos: &mut usize) -> wsm_event {
    let mut consumed = 0usize;
    let mut ev = wsm_event::NONE;
    let rest = &mut buf[*pos..];
    // SAFETY: `h` is a live handle; `rest` is writable for its length; the out-pointers are
    // writable.
    let r = unsafe {
        wsm_read(
            h,
            now,
            rest.as_mut_ptr(),
            rest.len(),
            &mut consumed,
            &mut ev,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert!(consumed <= rest.len());
    *pos += consumed;
    ev
}

fn event_data(ev: &wsm_event) -> &[u8] {
    if ev.len == 0 {
        return &[];
    }
    // SAFETY: event data points into the buffer given to wsm_read, still alive here.
    unsafe { core::slice::from_raw_parts(ev.data, ev.len) }
}

fn poll(h: *mut wsm_conn, out: &mut [u8]) -> usize {
    let mut n = 0usize;
    // SAFETY: live handle; `out` writable; `n` writable.
    let r = unsafe { wsm_poll_transmit(h, out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, wsm_result::WSM_OK);
    n
}

fn state(h: *mut wsm_conn) -> wsm_ready_state {
    // SAFETY: live handle.
    unsafe { wsm_state(h) }
}

#[test]
fn server_in_caller_memory_handshake_read_send_close() {
    let mut mem = Mem([0xAA; 1024]);
    let h = init(&mut mem, wsm_role::WSM_ROLE_SERVER, None);
    assert_eq!(state(h), wsm_ready_state::WSM_CONNECTING);

    // The request, first incomplete, then whole.
    let mut headers = [EMPTY; 8];
    let mut req = wsm_request {
        method: wsm_str::NONE,
        target: wsm_str::NONE,
        path: wsm_str::NONE,
        query: wsm_str::NONE,
        header_count: 0,
        head_len: 0,
    };
    let mut complete = true;
    for len in [10, REQUEST.len()] {
        // SAFETY: live handle; REQUEST readable; `headers` has 8 writable entries; the
        // out-pointers are writable.
        let r = unsafe {
            wsm_read_request(
                h,
                0,
                REQUEST.as_ptr(),
                len,
                headers.as_mut_ptr(),
                headers.len(),
                &mut req,
                &mut complete,
            )
        };
        assert_eq!(r, wsm_result::WSM_OK);
        assert_eq!(complete, len == REQUEST.len());
    }
    assert_eq!(str_of(req.method), b"GET");
    assert_eq!(str_of(req.path), b"/chat");
    assert_eq!(str_of(req.query), b"room=1");
    assert_eq!(req.head_len, REQUEST.len());
    assert_eq!(req.header_count, 5);
    assert_eq!(str_of(headers[0].name), b"Host");

    // Accept: first with too small a buffer (needed size reported, nothing changes).
    let mut out = [0u8; 512];
    let mut n = 0usize;
    // SAFETY: live handle; NULL options; `out` writable for 8 bytes; `n` writable.
    let r = unsafe { wsm_accept(h, 0, null(), out.as_mut_ptr(), 8, &mut n) };
    assert_eq!(r, wsm_result::WSM_ERR_BUFFER_TOO_SMALL);
    assert!(n > 8);
    assert_eq!(state(h), wsm_ready_state::WSM_CONNECTING);
    // SAFETY: as above, with the whole buffer.
    let r = unsafe { wsm_accept(h, 0, null(), out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, wsm_result::WSM_OK);
    assert!(out[..n].starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    let accept = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    assert!(out[..n].windows(accept.len()).any(|w| w == accept));
    assert_eq!(state(h), wsm_ready_state::WSM_OPEN);

    // RFC 6455 §5.7: a masked "Hello", then a masked ping, in one buffer.
    let mut buf = [
        0x81,
        0x85,
        0x37,
        0xfa,
        0x21,
        0x3d,
        0x7f,
        0x9f,
        0x4d,
        0x51,
        0x58, // "Hello"
        0x89,
        0x82,
        1,
        2,
        3,
        4,
        b'p' ^ 1,
        b'q' ^ 2, // ping "pq"
    ];
    let mut pos = 0;
    let ev = read(h, 0, &mut buf, &mut pos);
    assert_eq!(ev.kind, wsm_event_type::WSM_EVENT_DATA);
    assert_eq!(
        ev.flags,
        WSM_FLAG_TEXT | WSM_FLAG_MESSAGE_START | WSM_FLAG_FRAME_FIN | WSM_FLAG_MESSAGE_FIN
    );
    assert_eq!(event_data(&ev), b"Hello");
    // Unmasked in place: the event points into the caller's buffer.
    assert_eq!(ev.data, buf[6..].as_ptr());
    let ev = read(h, 0, &mut buf, &mut pos);
    assert_eq!(ev.kind, wsm_event_type::WSM_EVENT_PING);
    assert_eq!(event_data(&ev), b"pq");
    let ev = read(h, 0, &mut buf, &mut pos);
    assert_eq!((ev.kind, pos), (wsm_event_type::WSM_EVENT_NONE, buf.len()));

    // A send writes the queued pong first, then the frame.
    // SAFETY: live handle; `data` readable; `out` writable; `n` writable.
    let r = unsafe {
        wsm_send(
            h,
            wsm_message_kind::WSM_BINARY as u32,
            b"Hello".as_ptr(),
            5,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!(&out[..n], b"\x8a\x02pq\x82\x05Hello");
    assert_eq!(poll(h, &mut out), 0);

    // We close; the client answers; the server is done.
    let reason = b"bye";
    // SAFETY: live handle; `reason` readable; `out` writable; `n` writable.
    let r = unsafe {
        wsm_close(
            h,
            5,
            1000,
            reason.as_ptr(),
            reason.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!(&out[..n], b"\x88\x05\x03\xe8bye");
    assert_eq!(state(h), wsm_ready_state::WSM_CLOSING);
    // SAFETY: live handle.
    assert_eq!(unsafe { wsm_poll_timeout(h) }, 5 + 5_000);
    let mut reply = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    let mut pos = 0;
    let ev = read(h, 6, &mut reply, &mut pos);
    assert_eq!(ev.kind, wsm_event_type::WSM_EVENT_CLOSE);
    assert_eq!(ev.close_code, 1000);
    assert_eq!(state(h), wsm_ready_state::WSM_CLOSED);
    // SAFETY: live handle.
    unsafe {
        assert!(wsm_should_close_transport(h));
        assert_eq!(wsm_close_status(h), 1000);
        assert_eq!(wsm_poll_timeout(h), WSM_NO_TIMEOUT);
    }
    // Sending now is refused.
    // SAFETY: live handle; NULL data with length 0 is allowed; `out`, `n` writable.
    let r = unsafe {
        wsm_send(
            h,
            wsm_message_kind::WSM_TEXT as u32,
            null(),
            0,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(r, wsm_result::WSM_ERR_INVALID_STATE);
}

#[test]
fn client_handshake_and_masked_sends() {
    let mut mem = Mem([0; 1024]);
    let seed = [7u8; 16];
    let h = init(&mut mem, wsm_role::WSM_ROLE_CLIENT, Some(&seed));
    let host = c"example.com";
    let target = c"/chat";
    let protos: [*const c_char; 1] = [c"chat".as_ptr()];
    let creq = wsm_client_request {
        host: host.as_ptr(),
        target: target.as_ptr(),
        origin: null(),
        subprotocols: protos.as_ptr(),
        subprotocol_count: 1,
        extensions: null(),
        extension_count: 0,
        headers: null(),
        header_count: 0,
    };
    let key = *b"the sample nonce";
    let mut out = [0u8; 512];
    let mut n = 0usize;
    // SAFETY: live handle; `creq` with valid strings; `key` 16 bytes; `out`, `n` writable.
    let r =
        unsafe { wsm_write_request(h, &creq, key.as_ptr(), out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, wsm_result::WSM_OK);
    let request = &out[..n];
    assert!(request.starts_with(b"GET /chat HTTP/1.1\r\n"));
    let key_line = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    assert!(request.windows(key_line.len()).any(|w| w == key_line));

    // The server's answer, with a first frame right behind the head.
    let mut input =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
            .to_vec();
    let head = input.len();
    input.extend_from_slice(b"\x81\x05Hello");
    let mut headers = [EMPTY; 8];
    let mut resp = core::mem::MaybeUninit::<wsm_response>::uninit();
    let mut complete = false;
    // SAFETY: live handle; `creq` as above; `input` readable; `headers` writable; `resp` and
    // `complete` writable.
    let r = unsafe {
        wsm_read_response(
            h,
            0,
            &creq,
            input.as_ptr(),
            input.len(),
            headers.as_mut_ptr(),
            headers.len(),
            resp.as_mut_ptr(),
            &mut complete,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert!(complete);
    // SAFETY: wsm_read_response wrote the whole struct on success with `complete` set.
    let resp = unsafe { resp.assume_init() };
    assert!(resp.accepted);
    assert_eq!(resp.status, 101);
    assert_eq!(resp.consumed, head);
    assert_eq!(str_of(resp.subprotocol), b"chat");
    assert_eq!(state(h), wsm_ready_state::WSM_OPEN);

    let mut frames = input[head..].to_vec();
    let mut pos = 0;
    let ev = read(h, 0, &mut frames, &mut pos);
    assert_eq!(event_data(&ev), b"Hello");

    // Client frames are masked: decode what the library wrote.
    // SAFETY: live handle; `data` readable; `out`, `n` writable.
    let r = unsafe {
        wsm_send(
            h,
            wsm_message_kind::WSM_TEXT as u32,
            b"hi there".as_ptr(),
            8,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!((out[0], out[1], n), (0x81, 0x88, 2 + 4 + 8));
    let k = [out[2], out[3], out[4], out[5]];
    let plain: Vec<u8> = out[6..n]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ k[i % 4])
        .collect();
    assert_eq!(plain, b"hi there");

    // A protocol error from the server (a masked frame): failure event and close 1002.
    let mut bad = [0x82, 0x81, 1, 2, 3, 4, 5];
    let mut pos = 0;
    let ev = read(h, 0, &mut bad, &mut pos);
    assert_eq!(ev.kind, wsm_event_type::WSM_EVENT_FAILED);
    assert_eq!(ev.close_code, 1002);
    let n = poll(h, &mut out);
    assert_eq!(out[0], 0x88);
    let k = [out[2], out[3], out[4], out[5]];
    assert_eq!(u16::from_be_bytes([out[6] ^ k[0], out[7] ^ k[1]]), 1002);
    assert!(n >= 8);
    let mut info = core::mem::MaybeUninit::<wsm_failure_info>::uninit();
    // SAFETY: live handle; `info` writable.
    let r = unsafe { wsm_failure(h, info.as_mut_ptr()) };
    assert_eq!(r, wsm_result::WSM_OK);
    // SAFETY: written by wsm_failure on success.
    let info = unsafe { info.assume_init() };
    assert_eq!(info.kind, wsm_failure_kind::WSM_FAILURE_PROTOCOL);
    assert_eq!(info.protocol_error, wsm_protocol_error::WSM_PE_MASKED_FRAME);
}

#[test]
fn argument_checks() {
    let mut out = [0u8; 16];
    let mut n = 0usize;
    let mut ev = wsm_event::NONE;
    let mut consumed = 0usize;
    // SAFETY: every call below passes NULL or valid pointers; the library must check them.
    unsafe {
        assert_eq!(
            wsm_read(null_mut(), 0, out.as_mut_ptr(), 1, &mut consumed, &mut ev),
            wsm_result::WSM_ERR_NULL
        );
        assert_eq!(
            wsm_poll_transmit(null_mut(), out.as_mut_ptr(), out.len(), &mut n),
            wsm_result::WSM_ERR_NULL
        );
        assert_eq!(wsm_state(null()), wsm_ready_state::WSM_CLOSED);
    }
    // Memory that is too small or misaligned.
    let mut mem = Mem([0; 1024]);
    let base = (&mut mem as *mut Mem).cast::<u8>();
    let mut h: *mut wsm_conn = null_mut();
    // SAFETY: `base` is writable for 1024 bytes; a client without a seed is refused.
    unsafe {
        let r = wsm_conn_init(base.cast(), 8, 1, null(), 0, null(), false, &mut h);
        assert_eq!(r, wsm_result::WSM_ERR_MEMORY);
        let r = wsm_conn_init(
            base.add(1).cast(),
            1000,
            1,
            null(),
            0,
            null(),
            false,
            &mut h,
        );
        assert_eq!(r, wsm_result::WSM_ERR_MEMORY);
        let r = wsm_conn_init(base.cast(), 1024, 0, null(), 0, null(), false, &mut h);
        assert_eq!(r, wsm_result::WSM_ERR_NULL);
        let r = wsm_conn_init(base.cast(), 1024, 9, null(), 0, null(), false, &mut h);
        assert_eq!(r, wsm_result::WSM_ERR_INVALID_ARGUMENT);
        assert!(h.is_null());
    }
    // Too small an output buffer: BUFFER_TOO_SMALL with the size needed.
    let h = init(&mut mem, wsm_role::WSM_ROLE_SERVER, None);
    let mut cfg = core::mem::MaybeUninit::<wsm_config>::uninit();
    // SAFETY: `cfg` writable.
    let r = unsafe { wsm_config_default(cfg.as_mut_ptr()) };
    assert_eq!(r, wsm_result::WSM_OK);
    // SAFETY: initialised by wsm_config_default.
    let cfg = unsafe { cfg.assume_init() };
    assert_eq!(cfg.close_timeout_ms, 5_000);
    // An open server handle built from an explicit configuration.
    let mut h2: *mut wsm_conn = null_mut();
    let mut mem2 = Mem([0; 1024]);
    // SAFETY: `mem2` writable; `cfg` readable; `h2` writable.
    let r = unsafe {
        wsm_conn_init(
            (&mut mem2 as *mut Mem).cast(),
            1024,
            1,
            &cfg,
            0,
            null(),
            true,
            &mut h2,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    let data = [0u8; 100];
    // SAFETY: live handle; `data` readable; `out` writable for 16 bytes; `n` writable.
    let r = unsafe {
        wsm_send(
            h2,
            2,
            data.as_ptr(),
            data.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        )
    };
    assert_eq!(r, wsm_result::WSM_ERR_BUFFER_TOO_SMALL);
    assert_eq!(n, 102);
    // Sending on a connection still in the handshake is refused.
    // SAFETY: live handle; as above.
    let r = unsafe { wsm_send(h, 2, data.as_ptr(), 1, out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, wsm_result::WSM_ERR_INVALID_STATE);
}

fn phase(h: *mut wsm_conn) -> wsm_conn_phase {
    // SAFETY: live handle.
    unsafe { wsm_phase(h) }
}

#[test]
fn server_streams_a_refusal() {
    let mut mem = Mem([0; 1024]);
    let h = init(&mut mem, wsm_role::WSM_ROLE_SERVER, None);
    let mut headers = [EMPTY; 8];
    let mut req = wsm_request {
        method: wsm_str::NONE,
        target: wsm_str::NONE,
        path: wsm_str::NONE,
        query: wsm_str::NONE,
        header_count: 0,
        head_len: 0,
    };
    let mut complete = false;
    // SAFETY: live handle; REQUEST readable; `headers` has 8 writable entries; the
    // out-pointers are writable.
    let r = unsafe {
        wsm_read_request(
            h,
            0,
            REQUEST.as_ptr(),
            REQUEST.len(),
            headers.as_mut_ptr(),
            headers.len(),
            &mut req,
            &mut complete,
        )
    };
    assert_eq!(r, wsm_result::WSM_OK);
    assert!(complete);
    assert_eq!(phase(h), wsm_conn_phase::WSM_PHASE_HANDSHAKE);

    let mut out = [0u8; 256];
    let mut n = 0usize;
    // A body before the head is refused.
    // SAFETY: live handle; "x" readable; `out` writable; `n` writable.
    let r = unsafe { wsm_reject_body(h, b"x".as_ptr(), 1, false, out.as_mut_ptr(), 256, &mut n) };
    assert_eq!(r, wsm_result::WSM_ERR_INVALID_STATE);
    let retry = wsm_header {
        name: wsm_str::from("Retry-After"),
        value: b"5".as_ptr(),
        value_len: 1,
    };
    // SAFETY: live handle; one readable header; `out` writable; `n` writable.
    let r = unsafe { wsm_reject_head(h, 503, &retry, 1, out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\
Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"[..]
    );
    assert_eq!(phase(h), wsm_conn_phase::WSM_PHASE_REJECTING);
    // SAFETY: live handle; NULL data with length 0; `out` writable; `n` writable.
    let r = unsafe { wsm_reject_body(h, null(), 0, true, out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!(&out[..n], b"0\r\n\r\n");
    assert_eq!(phase(h), wsm_conn_phase::WSM_PHASE_CLOSED);
    // SAFETY: live handle.
    assert!(unsafe { wsm_should_close_transport(h) });
    // SAFETY: NULL is allowed.
    let p = unsafe { wsm_phase(null()) };
    assert_eq!(p, wsm_conn_phase::WSM_PHASE_CLOSED);
    // SAFETY: live handle; NULL `written` must be refused.
    let r = unsafe { wsm_reject_head(h, 503, null(), 0, out.as_mut_ptr(), 8, null_mut()) };
    assert_eq!(r, wsm_result::WSM_ERR_NULL);
}

#[test]
fn heap_handle_new_and_free() {
    let mut h: *mut wsm_conn = null_mut();
    let seed = [1u8; 16];
    // SAFETY: NULL config; `seed` 16 bytes; `h` writable.
    let r = unsafe { wsm_conn_new(0, null(), 0, seed.as_ptr(), true, &mut h) };
    assert_eq!(r, wsm_result::WSM_OK);
    assert_eq!(state(h), wsm_ready_state::WSM_OPEN);
    // SAFETY: `h` came from wsm_conn_new and is not used after this.
    unsafe { wsm_conn_free(h) };
    // Freeing NULL is a no-op.
    // SAFETY: NULL is allowed.
    unsafe { wsm_conn_free(null_mut()) };
}
