//! Receiving and sending.

use wsmachine::{CloseCode, Event, MessageKind};

use crate::types::*;
use crate::{bytes, bytes_mut, put, tri, with_conn, write_into, wsm_conn};

fn kind(v: u32) -> Result<MessageKind, wsm_result> {
    match wsm_message_kind::from_u32(v) {
        Some(wsm_message_kind::WSM_TEXT) => Ok(MessageKind::Text),
        Some(wsm_message_kind::WSM_BINARY) => Ok(MessageKind::Binary),
        None => Err(wsm_result::WSM_ERR_INVALID_ARGUMENT),
    }
}

#[inline]
fn export_event(ev: Option<Event<'_>>) -> wsm_event {
    let mut e = wsm_event::NONE;
    let Some(ev) = ev else {
        return e;
    };
    let set_data = |e: &mut wsm_event, d: &[u8]| {
        e.data = d.as_ptr();
        e.len = d.len();
    };
    match ev {
        Event::Data(c) => {
            e.kind = wsm_event_type::WSM_EVENT_DATA;
            set_data(&mut e, c.data);
            e.rsv = c.rsv;
            let mut f = 0;
            if c.kind == MessageKind::Text {
                f |= WSM_FLAG_TEXT;
            }
            if c.message_start {
                f |= WSM_FLAG_MESSAGE_START;
            }
            if c.frame_finished {
                f |= WSM_FLAG_FRAME_FIN;
            }
            if c.message_finished {
                f |= WSM_FLAG_MESSAGE_FIN;
            }
            if c.compressed {
                f |= WSM_FLAG_COMPRESSED;
            }
            e.flags = f;
        }
        Event::Ping(p) => {
            e.kind = wsm_event_type::WSM_EVENT_PING;
            set_data(&mut e, p);
        }
        Event::Pong(p) => {
            e.kind = wsm_event_type::WSM_EVENT_PONG;
            set_data(&mut e, p);
        }
        Event::Close { status, reason } => {
            e.kind = wsm_event_type::WSM_EVENT_CLOSE;
            e.close_code = status.as_u16();
            set_data(&mut e, reason.as_bytes());
        }
        Event::Failed(err) => {
            e.kind = wsm_event_type::WSM_EVENT_FAILED;
            e.error = err.into();
            e.close_code = err.close_code().get();
        }
        Event::RejectBody { data, finished } => {
            e.kind = wsm_event_type::WSM_EVENT_REJECT_BODY;
            set_data(&mut e, data);
            if finished {
                e.flags = WSM_FLAG_BODY_FIN;
            }
        }
    }
    e
}

/// Feeds received bytes (after the handshake): unmasks payload in place, reports at most one
/// event in `*event` (WSM_EVENT_NONE: need more input) and the bytes used in `*consumed`.
/// Call again on `buf + *consumed` until WSM_EVENT_NONE; keep unconsumed bytes for the next
/// read. Event data points into `buf`.
///
/// # Safety
/// `conn` a live handle; `buf` `len` writable bytes; `consumed` and `event` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_read(
    conn: *mut wsm_conn,
    now: u64,
    buf: *mut u8,
    len: usize,
    consumed: *mut usize,
    event: *mut wsm_event,
) -> wsm_result {
    if consumed.is_null() || event.is_null() {
        return wsm_result::WSM_ERR_NULL;
    }
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let input = tri!(bytes_mut(buf, len));
            match c.read(now, input) {
                Ok(r) => {
                    tri!(put(consumed, r.consumed));
                    tri!(put(event, export_event(r.event)));
                    wsm_result::WSM_OK
                }
                Err(e) => e.into(),
            }
        })
    }
}

/// Writes queued control frames (pong, keepalive ping, close) or a server's HTTP error
/// response into `out`; `*written` is 0 when nothing is queued.
///
/// # Safety
/// `conn` a live handle; `out` `out_len` writable bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_poll_transmit(
    conn: *mut wsm_conn,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            Ok(c.poll_transmit(out))
        })
    }
}

/// Sends a whole message (`kind`: a wsm_message_kind) as one frame, after any queued
/// pings/pongs. Text must be valid UTF-8.
///
/// # Safety
/// `conn` a live handle; `data` `len` readable bytes; `out` `out_len` writable bytes;
/// `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_send(
    conn: *mut wsm_conn,
    kind: u32,
    data: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let k = self::kind(kind)?;
            let data = bytes(data, len)?;
            Ok(c.send(k, data, out))
        })
    }
}

/// Sends a whole message as one frame without copying the payload (for a vectored write):
/// writes any queued pings/pongs and the frame header into `out` (`*written` bytes; at most
/// 14 plus the queued control frames) and, for a client, masks `data` in place. Write `out`,
/// then `data`, to the socket in that order (one writev). On an error nothing is written
/// and `data` is unchanged. Text must be valid UTF-8.
///
/// # Safety
/// `conn` a live handle; `data` `len` writable bytes; `out` `out_len` writable bytes;
/// `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_send_in_place(
    conn: *mut wsm_conn,
    kind: u32,
    data: *mut u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let k = self::kind(kind)?;
            let data = bytes_mut(data, len)?;
            Ok(c.send_in_place(k, data, out))
        })
    }
}

/// Sends one frame of a fragmented message: the first call starts a message of `kind`, later
/// calls continue it, `fin` ends it.
///
/// # Safety
/// As for wsm_send.
#[no_mangle]
pub unsafe extern "C" fn wsm_send_fragment(
    conn: *mut wsm_conn,
    kind: u32,
    data: *const u8,
    len: usize,
    fin: bool,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let k = self::kind(kind)?;
            let data = bytes(data, len)?;
            Ok(c.send_fragment(k, data, fin, out))
        })
    }
}

/// Starts a streamed frame of `payload_len` bytes: writes queued pings/pongs and the header.
/// Follow with wsm_send_payload calls totalling `payload_len` bytes.
///
/// # Safety
/// `conn` a live handle; `out` `out_len` writable bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_begin_frame(
    conn: *mut wsm_conn,
    kind: u32,
    fin: bool,
    payload_len: u64,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let k = self::kind(kind)?;
            Ok(c.begin_frame(k, fin, payload_len, out))
        })
    }
}

/// Copies (masking, for clients) the next piece of a streamed frame's payload into `out`
/// (which needs `len` bytes).
///
/// # Safety
/// As for wsm_send.
#[no_mangle]
pub unsafe extern "C" fn wsm_send_payload(
    conn: *mut wsm_conn,
    data: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let data = bytes(data, len)?;
            Ok(c.send_payload(data, out))
        })
    }
}

/// Sends a ping (payload at most 125 bytes).
///
/// # Safety
/// As for wsm_send.
#[no_mangle]
pub unsafe extern "C" fn wsm_send_ping(
    conn: *mut wsm_conn,
    data: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let data = bytes(data, len)?;
            Ok(c.send_ping(data, out))
        })
    }
}

/// Sends an unsolicited pong (payload at most 125 bytes).
///
/// # Safety
/// As for wsm_send.
#[no_mangle]
pub unsafe extern "C" fn wsm_send_pong(
    conn: *mut wsm_conn,
    data: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let data = bytes(data, len)?;
            Ok(c.send_pong(data, out))
        })
    }
}

/// Starts (or completes) the closing handshake with `code` (1000-1003, 1007-1014,
/// 3000-4999) and a UTF-8 `reason` of at most 123 bytes.
///
/// # Safety
/// `conn` a live handle; `reason` `reason_len` readable bytes; `out` `out_len` writable;
/// `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_close(
    conn: *mut wsm_conn,
    now: u64,
    code: u16,
    reason: *const u8,
    reason_len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let code = CloseCode::new(code).ok_or(wsm_result::WSM_ERR_INVALID_CLOSE_CODE)?;
            let reason = core::str::from_utf8(bytes(reason, reason_len)?)
                .map_err(|_| wsm_result::WSM_ERR_INVALID_UTF8)?;
            Ok(c.close(now, code, reason, out))
        })
    }
}
