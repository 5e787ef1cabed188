//! Creating handles, configuration, state, timers.

use wsmachine::{CloseStatus, Config, Connection, Failure, Role};

use crate::types::*;
use crate::{guard, put, read_conn, tri, with_conn, wsm_conn, MAGIC};

/// Size in bytes of the memory a handle needs (for wsm_conn_init).
#[no_mangle]
pub extern "C" fn wsm_conn_size() -> usize {
    core::mem::size_of::<wsm_conn>()
}

/// Alignment in bytes the memory for a handle needs (for wsm_conn_init).
#[no_mangle]
pub extern "C" fn wsm_conn_align() -> usize {
    core::mem::align_of::<wsm_conn>()
}

/// Fills `config` with the defaults.
///
/// # Safety
/// `config` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn wsm_config_default(config: *mut wsm_config) -> wsm_result {
    let c = Config::new();
    let v = wsm_config {
        max_frame_payload: c.max_frame_payload,
        max_message_size: c.max_message_size,
        max_fragments: c.max_fragments,
        max_handshake_size: c.max_handshake_size as u32,
        handshake_timeout_ms: c.handshake_timeout_ms,
        auth_timeout_ms: c.auth_timeout_ms,
        keepalive_interval_ms: c.keepalive_interval_ms,
        keepalive_timeout_ms: c.keepalive_timeout_ms,
        close_timeout_ms: c.close_timeout_ms,
        auto_pong: u8::from(c.auto_pong),
        allowed_rsv: c.allowed_rsv,
        deflate: crate::deflate::default_config(),
    };
    // SAFETY: forwarded contract.
    tri!(unsafe { put(config, v) });
    wsm_result::WSM_OK
}

/// The core's `Config` for a C one. Values are checked by the core's validator when the
/// connection is built (`Config::validate`); only what C adds (0/1 booleans, the deflate
/// level) is checked here.
fn to_config(c: &wsm_config) -> Result<Config, wsm_result> {
    if c.auto_pong > 1 {
        return Err(wsm_result::WSM_ERR_INVALID_ARGUMENT);
    }
    let mut cfg = Config::new();
    cfg.max_frame_payload = c.max_frame_payload;
    cfg.max_message_size = c.max_message_size;
    cfg.max_fragments = c.max_fragments;
    cfg.max_handshake_size = c.max_handshake_size as usize;
    cfg.handshake_timeout_ms = c.handshake_timeout_ms;
    cfg.auth_timeout_ms = c.auth_timeout_ms;
    cfg.keepalive_interval_ms = c.keepalive_interval_ms;
    cfg.keepalive_timeout_ms = c.keepalive_timeout_ms;
    cfg.close_timeout_ms = c.close_timeout_ms;
    cfg.auto_pong = c.auto_pong == 1;
    cfg.allowed_rsv = c.allowed_rsv;
    #[cfg(feature = "deflate")]
    {
        cfg.deflate = crate::deflate::to_deflate_config(&c.deflate)?;
    }
    #[cfg(not(feature = "deflate"))]
    crate::deflate::to_deflate_config(&c.deflate)?;
    Ok(cfg)
}

/// Builds the connection from C arguments.
///
/// # Safety
/// `config` is NULL or points to a wsm_config; `seed` is NULL or points to 16 bytes.
unsafe fn make(
    role: u32,
    config: *const wsm_config,
    now: u64,
    seed: *const u8,
    open: bool,
) -> Result<(Connection, u8), wsm_result> {
    let (cfg, level) = if config.is_null() {
        (Config::new(), crate::deflate::default_config().level)
    } else {
        // SAFETY: non-NULL and, by contract, a readable wsm_config.
        let c = unsafe { &*config };
        (to_config(c)?, c.deflate.level)
    };
    let mut s = [0u8; 16];
    if !seed.is_null() {
        // SAFETY: non-NULL and, by contract, 16 readable bytes.
        s.copy_from_slice(unsafe { core::slice::from_raw_parts(seed, 16) });
    }
    let role = match wsm_role::from_u32(role) {
        Some(wsm_role::WSM_ROLE_CLIENT) => Role::Client,
        Some(wsm_role::WSM_ROLE_SERVER) => Role::Server,
        None => return Err(wsm_result::WSM_ERR_INVALID_ARGUMENT),
    };
    if role == Role::Client && seed.is_null() {
        // Masking keys must be unpredictable: a client needs caller entropy.
        return Err(wsm_result::WSM_ERR_NULL);
    }
    let conn = match (open, role) {
        (true, r) => Connection::new_open(r, cfg, now, s),
        (false, Role::Server) => Connection::server(cfg, now),
        (false, Role::Client) => Connection::client(cfg, now, s),
    };
    conn.map(|c| (c, level)).map_err(wsm_result::from)
}

/// Initialises a handle in caller memory `mem` of `mem_len` bytes (at least wsm_conn_size(),
/// aligned to wsm_conn_align()); no heap is used. `role` is a wsm_role. `config` may be NULL
/// for the defaults. `seed`: 16 unpredictable bytes for masking keys — required for clients,
/// may be NULL for servers. `now` is the current time in ms (starts the handshake timer).
/// With `open` true the connection starts OPEN (the handshake happened elsewhere, e.g. RFC
/// 8441 over HTTP/2). On success `*out` is the handle (equal to `mem`). The handle needs no
/// destruction; just stop using the memory.
///
/// # Safety
/// `mem` is NULL or valid for `mem_len` bytes of writes; `config` NULL or readable; `seed` NULL
/// or 16 readable bytes; `out` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn wsm_conn_init(
    mem: *mut core::ffi::c_void,
    mem_len: usize,
    role: u32,
    config: *const wsm_config,
    now: u64,
    seed: *const u8,
    open: bool,
    out: *mut *mut wsm_conn,
) -> wsm_result {
    guard(wsm_result::WSM_ERR_PANIC, || {
        if mem.is_null() || out.is_null() {
            return wsm_result::WSM_ERR_NULL;
        }
        if mem_len < wsm_conn_size() || !(mem as usize).is_multiple_of(wsm_conn_align()) {
            return wsm_result::WSM_ERR_MEMORY;
        }
        // SAFETY: forwarded contract for config and seed.
        let (conn, deflate_level) = tri!(unsafe { make(role, config, now, seed, open) });
        let p = mem.cast::<wsm_conn>();
        // SAFETY: `mem` is non-NULL, large enough and aligned for a wsm_conn (checked above),
        // and writable by contract. `write` does not read or drop the old contents.
        unsafe {
            p.write(wsm_conn {
                magic: MAGIC,
                poisoned: false,
                heap: false,
                deflate_level,
                conn,
            })
        };
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(p) };
        wsm_result::WSM_OK
    })
}

/// Like wsm_conn_init, with the handle on the heap; free it with wsm_conn_free.
///
/// # Safety
/// As for wsm_conn_init (without `mem`).
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn wsm_conn_new(
    role: u32,
    config: *const wsm_config,
    now: u64,
    seed: *const u8,
    open: bool,
    out: *mut *mut wsm_conn,
) -> wsm_result {
    guard(wsm_result::WSM_ERR_PANIC, || {
        if out.is_null() {
            return wsm_result::WSM_ERR_NULL;
        }
        // SAFETY: forwarded contract.
        let (conn, deflate_level) = tri!(unsafe { make(role, config, now, seed, open) });
        let b = Box::new(wsm_conn {
            magic: MAGIC,
            poisoned: false,
            heap: true,
            deflate_level,
            conn,
        });
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(Box::into_raw(b)) };
        wsm_result::WSM_OK
    })
}

/// Frees a handle made by wsm_conn_new (NULL is ignored; a handle from wsm_conn_init is only
/// invalidated, since its memory is the caller's).
///
/// # Safety
/// `conn` is NULL or a handle not used afterwards.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn wsm_conn_free(conn: *mut wsm_conn) {
    if conn.is_null() {
        return;
    }
    // SAFETY: non-NULL, a live handle by contract.
    let h = unsafe { &mut *conn };
    if h.magic != MAGIC {
        return;
    }
    h.magic = 0;
    if h.heap {
        // SAFETY: `heap` is set only by wsm_conn_new, which made this pointer with
        // Box::into_raw; the magic reset above prevents a double free through this function.
        drop(unsafe { Box::from_raw(conn) });
    }
}

/// The ready state (a wsm_ready_state; WSM_CLOSED for a NULL or invalid handle).
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_state(conn: *const wsm_conn) -> wsm_ready_state {
    // SAFETY: forwarded contract.
    let s = unsafe { read_conn(conn, |c| c.state()) };
    s.map_or(wsm_ready_state::WSM_CLOSED, wsm_ready_state::from)
}

/// A finer view of the state than wsm_state (a wsm_conn_phase): which side started the
/// closing handshake, and whether a refusal is being streamed. WSM_PHASE_CLOSED for a NULL
/// or invalid handle.
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_phase(conn: *const wsm_conn) -> wsm_conn_phase {
    // SAFETY: forwarded contract.
    let p = unsafe { read_conn(conn, |c| c.phase()) };
    p.map_or(wsm_conn_phase::WSM_PHASE_CLOSED, wsm_conn_phase::from)
}

/// Whether the caller should close the transport now (after flushing wsm_poll_transmit).
/// True for a NULL or invalid handle.
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_should_close_transport(conn: *const wsm_conn) -> bool {
    // SAFETY: forwarded contract.
    unsafe { read_conn(conn, |c| c.should_close_transport()) }.unwrap_or(true)
}

/// The close status (the peer's code, ours on failure, 1005, or 1006), 0 while open.
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_close_status(conn: *const wsm_conn) -> u16 {
    // SAFETY: forwarded contract.
    unsafe { read_conn(conn, |c| c.close_status().map_or(0, CloseStatus::as_u16)) }.unwrap_or(0)
}

/// Fills `*info` with why the connection failed (kind WSM_FAILURE_NONE if it did not).
///
/// # Safety
/// `conn` is NULL or a live handle; `info` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_failure(
    conn: *const wsm_conn,
    info: *mut wsm_failure_info,
) -> wsm_result {
    // SAFETY: forwarded contract.
    let Some((f, status)) = (unsafe { read_conn(conn, |c| (c.failure(), c.close_status())) })
    else {
        return if conn.is_null() {
            wsm_result::WSM_ERR_NULL
        } else {
            wsm_result::WSM_ERR_INVALID_HANDLE
        };
    };
    let mut v = wsm_failure_info {
        kind: wsm_failure_kind::WSM_FAILURE_NONE,
        protocol_error: wsm_protocol_error::WSM_PE_NONE,
        handshake_error: wsm_handshake_error::WSM_HE_NONE,
        http_status: 0,
        close_status: status.map_or(0, CloseStatus::as_u16),
    };
    match f {
        None => {}
        Some(Failure::Protocol(e)) => {
            v.kind = wsm_failure_kind::WSM_FAILURE_PROTOCOL;
            v.protocol_error = e.into();
        }
        Some(Failure::Handshake(e)) => {
            v.kind = wsm_failure_kind::WSM_FAILURE_HANDSHAKE;
            v.handshake_error = e.into();
            v.http_status = e.status();
        }
        Some(Failure::DeadPeer) => v.kind = wsm_failure_kind::WSM_FAILURE_DEAD_PEER,
        Some(Failure::CloseTimeout) => v.kind = wsm_failure_kind::WSM_FAILURE_CLOSE_TIMEOUT,
        Some(Failure::TransportLost) => v.kind = wsm_failure_kind::WSM_FAILURE_TRANSPORT_LOST,
    }
    // SAFETY: forwarded contract.
    tri!(unsafe { put(info, v) });
    wsm_result::WSM_OK
}

/// The next deadline in ms, or WSM_NO_TIMEOUT (also for a NULL or invalid handle).
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_poll_timeout(conn: *const wsm_conn) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read_conn(conn, |c| c.poll_timeout()) }
        .flatten()
        .unwrap_or(WSM_NO_TIMEOUT)
}

/// Acts on expired deadlines at time `now` (ms). Then flush wsm_poll_transmit.
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_handle_timeout(conn: *mut wsm_conn, now: u64) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            c.handle_timeout(now);
            wsm_result::WSM_OK
        })
    }
}

/// The transport reached EOF or failed.
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_handle_eof(conn: *mut wsm_conn) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            c.handle_eof();
            wsm_result::WSM_OK
        })
    }
}

/// Server: marks the connection authenticated (stops the auth_timeout_ms timer).
///
/// # Safety
/// `conn` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_set_authenticated(conn: *mut wsm_conn) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            c.set_authenticated();
            wsm_result::WSM_OK
        })
    }
}

/// Client: replaces the masking-key seed with 16 new unpredictable bytes.
///
/// # Safety
/// `conn` is NULL or a live handle; `seed` NULL or 16 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn wsm_reseed(conn: *mut wsm_conn, seed: *const u8) -> wsm_result {
    if seed.is_null() {
        return wsm_result::WSM_ERR_NULL;
    }
    let mut s = [0u8; 16];
    // SAFETY: non-NULL and 16 readable bytes by contract.
    s.copy_from_slice(unsafe { core::slice::from_raw_parts(seed, 16) });
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            c.reseed(s);
            wsm_result::WSM_OK
        })
    }
}
