//! permessage-deflate (RFC 7692): the configuration, the codecs in caller memory
//! (`wsm_inflater`, `wsm_deflater`), reading the agreed parameters, inflating received
//! messages and sending compressed ones. Thin over the core's `deflate` module and the
//! connection's `inflate` / `send_compressed` calls.

use crate::types::*;

/// The C defaults of `wsm_config.deflate`: the core's `DeflateConfig::new()`, off, level 6.
pub(crate) fn default_config() -> wsm_deflate_config {
    #[cfg(feature = "deflate")]
    {
        let d = wsmachine::deflate::DeflateConfig::new();
        wsm_deflate_config {
            enabled: 0,
            compress_window_bits: d.compress_window_bits,
            decompress_window_bits: d.decompress_window_bits,
            min_window_bits: d.min_window_bits,
            level: wsmachine::deflate::DEFAULT_LEVEL,
            no_context_takeover: u8::from(d.no_context_takeover),
            peer_no_context_takeover: u8::from(d.peer_no_context_takeover),
            min_message_size: d.min_message_size,
        }
    }
    // Without the feature: the same numbers, so that a wsm_config filled in by one build
    // reads the same in the other.
    #[cfg(not(feature = "deflate"))]
    wsm_deflate_config {
        enabled: 0,
        compress_window_bits: 15,
        decompress_window_bits: 15,
        min_window_bits: 9,
        level: 6,
        no_context_takeover: 0,
        peer_no_context_takeover: 0,
        min_message_size: 32,
    }
}

#[cfg(feature = "deflate")]
type CoreDeflateConfig = Option<wsmachine::deflate::DeflateConfig>;
#[cfg(not(feature = "deflate"))]
type CoreDeflateConfig = ();

/// The core's setting for `wsm_config.deflate`: `None` when not enabled. The 0/1 fields are
/// checked here (WSM_ERR_INVALID_ARGUMENT, as for auto_pong), the level too (it is not the
/// core's); window bits are left to the core's `Config::validate` (WSM_ERR_INVALID_CONFIG).
pub(crate) fn to_deflate_config(c: &wsm_deflate_config) -> Result<CoreDeflateConfig, wsm_result> {
    if c.enabled > 1 || c.no_context_takeover > 1 || c.peer_no_context_takeover > 1 {
        return Err(wsm_result::WSM_ERR_INVALID_ARGUMENT);
    }
    #[cfg(feature = "deflate")]
    {
        if c.enabled == 0 {
            return Ok(None);
        }
        if c.level > wsmachine::deflate::MAX_LEVEL {
            return Err(wsm_result::WSM_ERR_INVALID_CONFIG);
        }
        let mut d = wsmachine::deflate::DeflateConfig::new();
        d.compress_window_bits = c.compress_window_bits;
        d.decompress_window_bits = c.decompress_window_bits;
        d.min_window_bits = c.min_window_bits;
        d.no_context_takeover = c.no_context_takeover == 1;
        d.peer_no_context_takeover = c.peer_no_context_takeover == 1;
        d.min_message_size = c.min_message_size;
        Ok(Some(d))
    }
    #[cfg(not(feature = "deflate"))]
    {
        if c.enabled == 1 {
            return Err(wsm_result::WSM_ERR_INVALID_CONFIG);
        }
        Ok(())
    }
}

#[cfg(feature = "deflate")]
pub use codecs::*;

#[cfg(feature = "deflate")]
mod codecs {
    use wsmachine::deflate::{
        deflater_memory, Compress, Deflater, Inflater, Params, MAX_LEVEL, MAX_WINDOW_BITS,
        MIN_WINDOW_BITS,
    };
    use wsmachine::{Connection, DataChunk, MessageKind, Role};

    use crate::types::*;
    use crate::{
        bytes, bytes_mut, finish_write, guard, put, tri, with_conn, with_handle, wsm_conn,
    };

    const INFLATER_MAGIC: u32 = 0x5753_4d49; // "WSMI"
    const DEFLATER_MAGIC: u32 = 0x5753_4d44; // "WSMD"

    /// Largest frame header (64-bit length and a masking key).
    const MAX_HEADER: usize = 14;

    /// Codec memory inside the caller's block, after the handle: a pointer and a length (the
    /// codec handle therefore must not be moved after init).
    struct Tail {
        ptr: *mut u8,
        len: usize,
    }

    impl AsMut<[u8]> for Tail {
        fn as_mut(&mut self) -> &mut [u8] {
            // SAFETY: `ptr` and `len` describe the part of the caller's block after the handle
            // (set by the init functions from a block the caller guaranteed writable and
            // exclusively ours while the handle is used); only this handle touches it, and the
            // `&mut self` borrow keeps the returned slice unique.
            unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
        }
    }

    /// A permessage-deflate decompressor in caller memory (opaque to C). One per connection.
    pub struct wsm_inflater {
        magic: u32,
        inner: Inflater<Tail>,
    }

    /// A permessage-deflate compressor in caller memory (opaque to C). One per connection, or
    /// shared by connections on which this end keeps no context.
    pub struct wsm_deflater {
        magic: u32,
        shared: bool,
        /// Shared: the connection (handle address) whose fragmented compressed message is in
        /// progress, 0 when none.
        owner: usize,
        inner: Deflater<Tail>,
    }

    fn valid_bits(bits: u8) -> bool {
        (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits)
    }

    /// Bytes of caller memory a wsm_inflater for windows of up to `window_bits` (8-15) needs:
    /// the handle with the decoder's tables (about 11 KiB) and the window (1 << window_bits).
    /// 0 for window bits outside 8-15.
    #[no_mangle]
    pub extern "C" fn wsm_inflater_size(window_bits: u8) -> usize {
        if !valid_bits(window_bits) {
            return 0;
        }
        core::mem::size_of::<wsm_inflater>() + (1usize << window_bits)
    }

    /// Alignment in bytes the memory of a wsm_inflater needs.
    #[no_mangle]
    pub extern "C" fn wsm_inflater_align() -> usize {
        core::mem::align_of::<wsm_inflater>()
    }

    /// Bytes of caller memory a wsm_deflater with a window of `window_bits` (8-15) at `level`
    /// (0-9) needs: the handle (about 4.3 KiB) and the compressor's window, hash table and
    /// symbol buffer (about 184 KiB for 15 bits at levels 2-9, 6.5 KiB for 9 bits). 0 for
    /// window bits outside 8-15 or a level above 9.
    #[no_mangle]
    pub extern "C" fn wsm_deflater_size(window_bits: u8, level: u8) -> usize {
        if !valid_bits(window_bits) || level > MAX_LEVEL {
            return 0;
        }
        core::mem::size_of::<wsm_deflater>() + deflater_memory(window_bits, level)
    }

    /// Alignment in bytes the memory of a wsm_deflater needs.
    #[no_mangle]
    pub extern "C" fn wsm_deflater_align() -> usize {
        core::mem::align_of::<wsm_deflater>()
    }

    /// Checks a caller block for a handle of type `H` followed by `tail` bytes; the handle
    /// pointer and the tail.
    fn place<H>(
        mem: *mut core::ffi::c_void,
        mem_len: usize,
        tail: usize,
    ) -> Result<(*mut H, Tail), wsm_result> {
        if mem.is_null() {
            return Err(wsm_result::WSM_ERR_NULL);
        }
        let head = core::mem::size_of::<H>();
        if mem_len < head.saturating_add(tail)
            || !(mem as usize).is_multiple_of(core::mem::align_of::<H>())
        {
            return Err(wsm_result::WSM_ERR_MEMORY);
        }
        let base = mem.cast::<u8>();
        // SAFETY: `head + tail <= mem_len`, so `base + head` stays inside the caller's block.
        let ptr = unsafe { base.add(head) };
        Ok((mem.cast::<H>(), Tail { ptr, len: tail }))
    }

    /// Initialises an inflater in caller memory `mem` of `mem_len` bytes (at least
    /// wsm_inflater_size(window_bits), aligned to wsm_inflater_align()) for peer windows of up
    /// to `window_bits` (8-15: wsm_get_deflate's inflate_window_bits, or 15 for any peer).
    /// `*out` is the handle (equal to `mem`). It keeps a pointer into `mem`: do not move or
    /// copy it; it needs no destruction. Errors: WSM_ERR_NULL, WSM_ERR_INVALID_ARGUMENT (window
    /// bits), WSM_ERR_MEMORY (too small or misaligned).
    ///
    /// # Safety
    /// `mem` NULL or `mem_len` writable bytes, not used otherwise while the handle is in use;
    /// `out` NULL or writable.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_inflater_init(
        mem: *mut core::ffi::c_void,
        mem_len: usize,
        window_bits: u8,
        out: *mut *mut wsm_inflater,
    ) -> wsm_result {
        guard(wsm_result::WSM_ERR_PANIC, || {
            if out.is_null() {
                return wsm_result::WSM_ERR_NULL;
            }
            if !valid_bits(window_bits) {
                return wsm_result::WSM_ERR_INVALID_ARGUMENT;
            }
            let (p, tail) = tri!(place::<wsm_inflater>(mem, mem_len, 1usize << window_bits));
            let Some(inner) = Inflater::new(tail, window_bits) else {
                return wsm_result::WSM_ERR_MEMORY;
            };
            // SAFETY: `p` is non-NULL, aligned and has room for a wsm_inflater (checked by
            // `place`), writable by contract; `write` does not read the old contents.
            unsafe {
                p.write(wsm_inflater {
                    magic: INFLATER_MAGIC,
                    inner,
                })
            };
            // SAFETY: `out` is non-NULL and writable by contract.
            unsafe { out.write(p) };
            wsm_result::WSM_OK
        })
    }

    /// Initialises a compressor in caller memory `mem` of `mem_len` bytes (at least
    /// wsm_deflater_size(window_bits, level), aligned to wsm_deflater_align()) with a window
    /// of `window_bits` (8-15, at most wsm_get_deflate's compress_window_bits of each
    /// connection it serves) and `level` (0-9). With `shared`, one compressor serves several
    /// connections: each must reset it after every message (compress_resets, from
    /// no_context_takeover), else sending fails with WSM_ERR_SHARED_CONTEXT, and while one
    /// connection is in the middle of a fragmented compressed message the others get
    /// WSM_ERR_CODEC_BUSY. `*out` is the handle (equal to `mem`); it keeps a pointer into
    /// `mem`: do not move or copy it; it needs no destruction. Errors: WSM_ERR_NULL,
    /// WSM_ERR_INVALID_ARGUMENT (window bits or level), WSM_ERR_MEMORY.
    ///
    /// # Safety
    /// As for wsm_inflater_init.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_deflater_init(
        mem: *mut core::ffi::c_void,
        mem_len: usize,
        window_bits: u8,
        level: u8,
        shared: bool,
        out: *mut *mut wsm_deflater,
    ) -> wsm_result {
        guard(wsm_result::WSM_ERR_PANIC, || {
            if out.is_null() {
                return wsm_result::WSM_ERR_NULL;
            }
            if !valid_bits(window_bits) || level > MAX_LEVEL {
                return wsm_result::WSM_ERR_INVALID_ARGUMENT;
            }
            let (p, tail) = tri!(place::<wsm_deflater>(
                mem,
                mem_len,
                deflater_memory(window_bits, level)
            ));
            let Ok(inner) = Deflater::new(tail, window_bits, level) else {
                return wsm_result::WSM_ERR_MEMORY;
            };
            // SAFETY: as in wsm_inflater_init.
            unsafe {
                p.write(wsm_deflater {
                    magic: DEFLATER_MAGIC,
                    shared,
                    owner: 0,
                    inner,
                })
            };
            // SAFETY: `out` is non-NULL and writable by contract.
            unsafe { out.write(p) };
            wsm_result::WSM_OK
        })
    }

    /// The inflater behind `p`, checked.
    ///
    /// # Safety
    /// `p` NULL or a handle from wsm_inflater_init not used by another thread.
    unsafe fn inflater<'a>(p: *mut wsm_inflater) -> Result<&'a mut wsm_inflater, wsm_result> {
        if p.is_null() {
            return Err(wsm_result::WSM_ERR_NULL);
        }
        // SAFETY: non-NULL; by contract a live handle used only by this thread.
        let h = unsafe { &mut *p };
        if h.magic != INFLATER_MAGIC {
            return Err(wsm_result::WSM_ERR_INVALID_HANDLE);
        }
        Ok(h)
    }

    /// The compressor behind `p`, checked.
    ///
    /// # Safety
    /// `p` NULL or a handle from wsm_deflater_init not used by another thread.
    unsafe fn deflater<'a>(p: *mut wsm_deflater) -> Result<&'a mut wsm_deflater, wsm_result> {
        if p.is_null() {
            return Err(wsm_result::WSM_ERR_NULL);
        }
        // SAFETY: non-NULL; by contract a live handle used only by this thread.
        let h = unsafe { &mut *p };
        if h.magic != DEFLATER_MAGIC {
            return Err(wsm_result::WSM_ERR_INVALID_HANDLE);
        }
        Ok(h)
    }

    /// Forgets the inflater's history and any partial message, to use it for a new
    /// connection (a connection resets it itself between messages when the peer keeps no
    /// context).
    ///
    /// # Safety
    /// `inflater` NULL or a live handle.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_inflater_reset(inflater: *mut wsm_inflater) -> wsm_result {
        guard(wsm_result::WSM_ERR_PANIC, || {
            // SAFETY: forwarded contract.
            let h = tri!(unsafe { self::inflater(inflater) });
            wsmachine::deflate::Decompress::reset(&mut h.inner);
            wsm_result::WSM_OK
        })
    }

    /// Forgets the compressor's history (and, for a shared one, the connection whose
    /// fragmented message was in progress), to use it for a new connection.
    ///
    /// # Safety
    /// `deflater` NULL or a live handle.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_deflater_reset(deflater: *mut wsm_deflater) -> wsm_result {
        guard(wsm_result::WSM_ERR_PANIC, || {
            // SAFETY: forwarded contract.
            let h = tri!(unsafe { self::deflater(deflater) });
            h.inner.reset();
            h.owner = 0;
            wsm_result::WSM_OK
        })
    }

    /// Output room wsm_send_compressed needs for a message of `len` bytes with this
    /// compressor: the compressed bound and the largest frame header, not counting queued
    /// pings/pongs (each at most 131 bytes). 0 for a NULL or invalid handle.
    ///
    /// # Safety
    /// `deflater` NULL or a live handle.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_deflater_bound(deflater: *mut wsm_deflater, len: usize) -> usize {
        guard(0, || {
            // SAFETY: forwarded contract.
            match unsafe { self::deflater(deflater) } {
                Ok(h) => h
                    .inner
                    .bound(len)
                    .max(Deflater::<Tail>::MIN_OUTPUT)
                    .saturating_add(MAX_HEADER),
                Err(_) => 0,
            }
        })
    }

    fn export_params(p: Option<Params>, role: Role, level: u8) -> wsm_deflate_params {
        let Some(p) = p else {
            return wsm_deflate_params::default();
        };
        wsm_deflate_params {
            agreed: true,
            server_no_context_takeover: p.server_no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover,
            server_max_window_bits: p.server_max_window_bits,
            client_max_window_bits: p.client_max_window_bits,
            inflate_window_bits: p.decompress_window_bits(role),
            compress_window_bits: p.compress_window_bits(role),
            compress_resets: p.compress_resets(role),
            inflate_resets: p.decompress_resets(role),
            level,
        }
    }

    /// Fills `*params` with the permessage-deflate parameters agreed in the handshake (or set
    /// with wsm_set_deflate); `agreed` is false (and every field 0) when there are none.
    /// Create the codecs from them: wsm_inflater_size(params.inflate_window_bits),
    /// wsm_deflater_size(params.compress_window_bits, params.level).
    ///
    /// # Safety
    /// `conn` NULL or a live handle; `params` NULL or writable.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_get_deflate(
        conn: *mut wsm_conn,
        params: *mut wsm_deflate_params,
    ) -> wsm_result {
        if params.is_null() {
            return wsm_result::WSM_ERR_NULL;
        }
        // SAFETY: forwarded contract.
        unsafe {
            with_handle(conn, |h| {
                let c = &h.conn;
                let v = export_params(c.deflate(), c.role(), h.deflate_level);
                tri!(put(params, v));
                wsm_result::WSM_OK
            })
        }
    }

    /// Sets the agreed permessage-deflate parameters of a connection whose handshake took
    /// place elsewhere (wsm_conn_init with `open`; RFC 8441): the five RFC fields of
    /// `*params` are used (`agreed` false, or `params` NULL, for none). Errors:
    /// WSM_ERR_INVALID_ARGUMENT (window bits outside 8-15), WSM_ERR_INVALID_STATE (allowed_rsv
    /// gives RSV1 to the application, or a message is in progress).
    ///
    /// # Safety
    /// `conn` NULL or a live handle; `params` NULL or readable.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_set_deflate(
        conn: *mut wsm_conn,
        params: *const wsm_deflate_params,
    ) -> wsm_result {
        let p = if params.is_null() {
            None
        } else {
            // SAFETY: non-NULL and readable by contract.
            let v = unsafe { &*params };
            if !v.agreed {
                None
            } else if !valid_bits(v.server_max_window_bits) || !valid_bits(v.client_max_window_bits)
            {
                return wsm_result::WSM_ERR_INVALID_ARGUMENT;
            } else {
                Some(Params {
                    server_no_context_takeover: v.server_no_context_takeover,
                    client_no_context_takeover: v.client_no_context_takeover,
                    server_max_window_bits: v.server_max_window_bits,
                    client_max_window_bits: v.client_max_window_bits,
                })
            }
        };
        // SAFETY: forwarded contract.
        unsafe {
            with_conn(conn, |c| match c.set_deflate(p) {
                Ok(()) => wsm_result::WSM_OK,
                Err(e) => e.into(),
            })
        }
    }

    /// Inflates (the rest of) a compressed chunk: `event` is the WSM_EVENT_DATA event from
    /// wsm_read with WSM_FLAG_COMPRESSED set, `input` the part of event->data not yet consumed
    /// (all of it on the first call). Writes message bytes to the start of `out` and checks
    /// them as they come (max_message_size on the inflated size, UTF-8 for text). Call again
    /// with `input + result->consumed` until `result->done`, and do so before the next
    /// wsm_read; an empty last chunk still needs its call. If `result->failed` is not
    /// WSM_PE_NONE the connection has failed (1007/1009): flush wsm_poll_transmit. Errors:
    /// WSM_ERR_NOT_COMPRESSED (not a compressed chunk, nothing agreed, or an inflater window
    /// smaller than the peer's), WSM_ERR_INVALID_STATE (the connection has failed).
    ///
    /// # Safety
    /// `conn` and `inflater` NULL or live handles; `event` NULL or readable; `input`
    /// `input_len` readable bytes; `out` `out_len` writable bytes; `result` NULL or writable.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_inflate(
        conn: *mut wsm_conn,
        now: u64,
        inflater: *mut wsm_inflater,
        event: *const wsm_event,
        input: *const u8,
        input_len: usize,
        out: *mut u8,
        out_len: usize,
        result: *mut wsm_inflated,
    ) -> wsm_result {
        if event.is_null() || result.is_null() {
            return wsm_result::WSM_ERR_NULL;
        }
        // SAFETY: non-NULL and readable by contract.
        let ev = unsafe { *event };
        // SAFETY: forwarded contract.
        unsafe {
            with_conn(conn, |c| {
                let d = tri!(self::inflater(inflater));
                let input = tri!(bytes(input, input_len));
                let out = tri!(bytes_mut(out, out_len));
                if ev.kind != wsm_event_type::WSM_EVENT_DATA || ev.flags & WSM_FLAG_COMPRESSED == 0
                {
                    return wsm_result::WSM_ERR_NOT_COMPRESSED;
                }
                let chunk = DataChunk {
                    kind: if ev.flags & WSM_FLAG_TEXT != 0 {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    },
                    data: input,
                    message_start: ev.flags & WSM_FLAG_MESSAGE_START != 0,
                    frame_finished: ev.flags & WSM_FLAG_FRAME_FIN != 0,
                    message_finished: ev.flags & WSM_FLAG_MESSAGE_FIN != 0,
                    rsv: ev.rsv,
                    compressed: true,
                };
                match c.inflate(now, &mut d.inner, &chunk, input, out) {
                    Ok(i) => {
                        let v = wsm_inflated {
                            consumed: i.consumed,
                            produced: i.produced,
                            done: i.done,
                            failed: i.failed.map_or(wsm_protocol_error::WSM_PE_NONE, Into::into),
                            close_code: i.failed.map_or(0, |e| e.close_code().get()),
                        };
                        tri!(put(result, v));
                        wsm_result::WSM_OK
                    }
                    Err(e) => e.into(),
                }
            })
        }
    }

    /// The common part of the compressed sends: checks, the shared compressor's rules, then
    /// `f` with the connection, the compressor and the output.
    ///
    /// # Safety
    /// As for wsm_send_compressed.
    unsafe fn send_with(
        conn: *mut wsm_conn,
        deflater: *mut wsm_deflater,
        out: *mut u8,
        out_len: usize,
        written: *mut usize,
        fin: bool,
        f: impl FnOnce(
            &mut Connection,
            &mut Deflater<Tail>,
            &mut [u8],
        ) -> Result<Result<usize, wsmachine::Error>, wsm_result>,
    ) -> wsm_result {
        if written.is_null() {
            return wsm_result::WSM_ERR_NULL;
        }
        let me = conn as usize;
        // SAFETY: forwarded contract.
        unsafe {
            with_conn(conn, |c| {
                let d = tri!(self::deflater(deflater));
                let out = tri!(bytes_mut(out, out_len));
                let agreed = c.deflate();
                if d.shared {
                    if agreed.is_some_and(|p| !p.compress_resets(c.role())) {
                        return wsm_result::WSM_ERR_SHARED_CONTEXT;
                    }
                    if d.owner != 0 && d.owner != me {
                        return wsm_result::WSM_ERR_CODEC_BUSY;
                    }
                }
                let r = tri!(f(c, &mut d.inner, out));
                if d.shared && r.is_ok() && agreed.is_some() {
                    d.owner = if fin { 0 } else { me };
                }
                finish_write(r, written)
            })
        }
    }

    fn kind(v: u32) -> Result<MessageKind, wsm_result> {
        match wsm_message_kind::from_u32(v) {
            Some(wsm_message_kind::WSM_TEXT) => Ok(MessageKind::Text),
            Some(wsm_message_kind::WSM_BINARY) => Ok(MessageKind::Binary),
            None => Err(wsm_result::WSM_ERR_INVALID_ARGUMENT),
        }
    }

    /// Sends a whole message (`kind`: a wsm_message_kind) as one compressed frame (RSV1 set)
    /// after any queued pings/pongs. Without an agreed extension, or below
    /// min_message_size, it is sent uncompressed as by wsm_send. The compressor is reset after
    /// the message when this end keeps no context. `out` needs wsm_deflater_bound(deflater,
    /// len) bytes plus queued control frames, else WSM_ERR_BUFFER_TOO_SMALL (*written: the size
    /// needed; nothing changed). Errors also: WSM_ERR_NOT_COMPRESSED (a compressor window
    /// larger than agreed), WSM_ERR_SHARED_CONTEXT, WSM_ERR_CODEC_BUSY, and those of wsm_send.
    ///
    /// # Safety
    /// `conn` and `deflater` NULL or live handles; `data` `len` readable bytes; `out`
    /// `out_len` writable bytes; `written` NULL or writable.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_send_compressed(
        conn: *mut wsm_conn,
        kind: u32,
        data: *const u8,
        len: usize,
        deflater: *mut wsm_deflater,
        out: *mut u8,
        out_len: usize,
        written: *mut usize,
    ) -> wsm_result {
        // SAFETY: forwarded contract.
        unsafe {
            send_with(conn, deflater, out, out_len, written, true, |c, d, out| {
                let k = self::kind(kind)?;
                let data = bytes(data, len)?;
                Ok(c.send_compressed(k, data, d, out))
            })
        }
    }

    /// Sends one frame of a compressed message, for messages too large for one buffer: the
    /// first call starts a message of `kind` (RSV1 on its frame), later calls (same `kind`)
    /// continue it, `fin` ends it. A frame may be empty while the compressor holds output
    /// back. Without an agreed extension this is wsm_send_fragment. `out` needs
    /// wsm_deflater_bound(deflater, len) bytes plus queued control frames.
    ///
    /// # Safety
    /// As for wsm_send_compressed.
    #[no_mangle]
    pub unsafe extern "C" fn wsm_send_compressed_fragment(
        conn: *mut wsm_conn,
        kind: u32,
        data: *const u8,
        len: usize,
        fin: bool,
        deflater: *mut wsm_deflater,
        out: *mut u8,
        out_len: usize,
        written: *mut usize,
    ) -> wsm_result {
        // SAFETY: forwarded contract.
        unsafe {
            send_with(conn, deflater, out, out_len, written, fin, |c, d, out| {
                let k = self::kind(kind)?;
                let data = bytes(data, len)?;
                Ok(c.send_compressed_fragment(k, data, fin, d, out))
            })
        }
    }
}
