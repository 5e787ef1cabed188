//! The opening handshake.

use core::ffi::c_char;

use wsmachine::{Accept, ClientRequest, Header, ParsedRequest, ResponseStatus, EMPTY_HEADER};

use crate::types::*;
use crate::{array, bytes, cstr, opt_cstr, put, tri, with_conn, write_into, wsm_conn};

/// Copies parsed headers out to the caller's array.
fn export_headers(src: &[Header<'_>], dst: &mut [wsm_header]) -> usize {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = wsm_header {
            name: wsm_str::from(s.name),
            value: s.value.as_ptr(),
            value_len: s.value.len(),
        };
        n += 1;
    }
    n
}

/// Converts caller headers into core headers in `storage`; returns how many.
///
/// # Safety
/// Each header's pointers are valid for their lengths for `'a`.
unsafe fn import_headers<'a>(
    src: &'a [wsm_header],
    storage: &mut [Header<'a>; WSM_MAX_HEADERS],
) -> Result<usize, wsm_result> {
    if src.len() > WSM_MAX_HEADERS {
        return Err(wsm_result::WSM_ERR_INVALID_ARGUMENT);
    }
    for (d, s) in storage.iter_mut().zip(src) {
        // SAFETY: forwarded contract.
        let name = unsafe { bytes(s.name.ptr.cast(), s.name.len) }?;
        // SAFETY: as above.
        let value = unsafe { bytes(s.value, s.value_len) }?;
        let name = core::str::from_utf8(name).map_err(|_| wsm_result::WSM_ERR_INVALID_ARGUMENT)?;
        *d = Header { name, value };
    }
    Ok(src.len())
}

/// Converts a C string array into `&str`s in `storage`; returns how many.
///
/// # Safety
/// `p` is NULL (with `n` 0) or points to `n` NUL-terminated strings.
unsafe fn import_strs(
    p: *const *const c_char,
    n: usize,
    storage: &mut [&str; WSM_MAX_HEADERS],
) -> Result<usize, wsm_result> {
    if n > WSM_MAX_HEADERS {
        return Err(wsm_result::WSM_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: forwarded contract.
    let ptrs = unsafe { array(p, n) }?;
    for (d, s) in storage.iter_mut().zip(ptrs) {
        // SAFETY: forwarded contract: each entry is a NUL-terminated string.
        *d = unsafe { cstr(*s) }?;
    }
    Ok(n)
}

/// Server: parses and validates the upgrade request in `buf` (all bytes received so far).
/// Parsed headers are stored in `headers` (capacity `header_cap`, at most WSM_MAX_HEADERS are
/// used). `*complete` is false when more input is needed. On WSM_ERR_HANDSHAKE the error
/// response is queued (wsm_poll_transmit); see wsm_failure for the reason.
///
/// # Safety
/// `conn` a live handle; `buf` `len` readable bytes; `headers` `header_cap` writable
/// entries; `request` and `complete` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_read_request(
    conn: *mut wsm_conn,
    now: u64,
    buf: *const u8,
    len: usize,
    headers: *mut wsm_header,
    header_cap: usize,
    request: *mut wsm_request,
    complete: *mut bool,
) -> wsm_result {
    if request.is_null() || complete.is_null() || (headers.is_null() && header_cap != 0) {
        return wsm_result::WSM_ERR_NULL;
    }
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let input = tri!(bytes(buf, len));
            let cap = header_cap.min(WSM_MAX_HEADERS);
            let mut storage = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let storage = storage.get_mut(..cap).unwrap_or_default();
            match c.read_request(now, input, storage) {
                Ok(ParsedRequest::Partial) => {
                    tri!(put(complete, false));
                    wsm_result::WSM_OK
                }
                Ok(ParsedRequest::Complete {
                    request: r,
                    len: head_len,
                }) => {
                    let out: &mut [wsm_header] = if header_cap == 0 {
                        &mut []
                    } else {
                        core::slice::from_raw_parts_mut(headers, header_cap)
                    };
                    let n = export_headers(r.headers(), out);
                    let q = match r.query() {
                        Some(q) => wsm_str::from(q),
                        None => wsm_str::NONE,
                    };
                    tri!(put(
                        request,
                        wsm_request {
                            method: wsm_str::from(r.method()),
                            target: wsm_str::from(r.target()),
                            path: wsm_str::from(r.path()),
                            query: q,
                            header_count: n,
                            head_len,
                        }
                    ));
                    tri!(put(complete, true));
                    wsm_result::WSM_OK
                }
                Err(e) => e.into(),
            }
        })
    }
}

/// Server: accepts the request; writes the 101 response into `out`. `opts` may be NULL.
///
/// # Safety
/// `conn` a live handle; `opts` NULL or readable (with valid strings and headers); `out`
/// `out_len` writable bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_accept(
    conn: *mut wsm_conn,
    now: u64,
    opts: *const wsm_accept_options,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let mut hs = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let mut a = Accept::default();
            let o;
            if !opts.is_null() {
                o = *opts;
                a.subprotocol = opt_cstr(o.subprotocol)?;
                a.extensions = opt_cstr(o.extensions)?;
                let n = import_headers(array(o.headers, o.header_count)?, &mut hs)?;
                a.headers = hs.get(..n).unwrap_or_default();
            }
            Ok(c.accept(now, &a, out))
        })
    }
}

/// Server: refuses the request with a complete HTTP response (`status` 200-599, extra
/// headers, body) written into `out`. The library writes Content-Length and Connection:
/// close itself: headers named Content-Length, Transfer-Encoding or Connection are refused
/// (WSM_ERR_INVALID_HEADER). Also allowed after wsm_read_request returned WSM_ERR_HANDSHAKE
/// or after wsm_fail_handshake: this response replaces the standard one queued for
/// wsm_poll_transmit (which then writes nothing). Close the transport after sending it. To
/// stream the body instead, use wsm_reject_head and wsm_reject_body.
///
/// # Safety
/// `conn` a live handle; `headers` `header_count` readable entries; `body` `body_len`
/// readable bytes; `out` `out_len` writable bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_reject(
    conn: *mut wsm_conn,
    status: u16,
    headers: *const wsm_header,
    header_count: usize,
    body: *const u8,
    body_len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let body = bytes(body, body_len)?;
            let mut hs = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let n = import_headers(array(headers, header_count)?, &mut hs)?;
            Ok(c.reject(status, hs.get(..n).unwrap_or_default(), body, out))
        })
    }
}

/// Server: refuses the request with a response whose body is streamed: writes the head
/// (`status` 200-599, extra headers, Transfer-Encoding: chunked, Connection: close) into
/// `out`; send the body with wsm_reject_body. The same states and header rules as wsm_reject
/// apply. Until the body is finished the phase is WSM_PHASE_REJECTING.
///
/// # Safety
/// `conn` a live handle; `headers` `header_count` readable entries; `out` `out_len` writable
/// bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_reject_head(
    conn: *mut wsm_conn,
    status: u16,
    headers: *const wsm_header,
    header_count: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let mut hs = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let n = import_headers(array(headers, header_count)?, &mut hs)?;
            Ok(c.reject_head(status, hs.get(..n).unwrap_or_default(), out))
        })
    }
}

/// Server: after wsm_reject_head, writes `data` as one chunk of the body into `out` (nothing
/// when `len` is 0); with `finished`, also the terminating empty chunk, after which the
/// connection is closed: close the transport after sending it. WSM_ERR_INVALID_STATE
/// without a preceding wsm_reject_head.
///
/// # Safety
/// `conn` a live handle; `data` `len` readable bytes; `out` `out_len` writable bytes;
/// `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_reject_body(
    conn: *mut wsm_conn,
    data: *const u8,
    len: usize,
    finished: bool,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let data = bytes(data, len)?;
            Ok(c.reject_body(data, finished, out))
        })
    }
}

/// Server: rejects the request with the standard response for `error` (a
/// wsm_handshake_error, e.g. WSM_HE_ORIGIN_NOT_ALLOWED for 403), written by
/// wsm_poll_transmit.
///
/// # Safety
/// `conn` a live handle.
#[no_mangle]
pub unsafe extern "C" fn wsm_fail_handshake(conn: *mut wsm_conn, error: u32) -> wsm_result {
    let Some(e) = wsm_handshake_error::from_u32(error).and_then(wsm_handshake_error::to_rust)
    else {
        return wsm_result::WSM_ERR_INVALID_ARGUMENT;
    };
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| match c.fail_handshake(e) {
            Ok(()) => wsm_result::WSM_OK,
            Err(e) => e.into(),
        })
    }
}

/// Builds the core request from the C one, with its arrays in the given storage.
///
/// # Safety
/// `r` points to a valid wsm_client_request.
unsafe fn import_request<'a>(
    r: &'a wsm_client_request,
    protos: &'a mut [&'a str; WSM_MAX_HEADERS],
    exts: &'a mut [&'a str; WSM_MAX_HEADERS],
    hs: &'a mut [Header<'a>; WSM_MAX_HEADERS],
) -> Result<ClientRequest<'a>, wsm_result> {
    // SAFETY: forwarded contract for every pointer in `r`.
    unsafe {
        let host = cstr(r.host)?;
        let target = cstr(r.target)?;
        let origin = opt_cstr(r.origin)?;
        let np = import_strs(r.subprotocols, r.subprotocol_count, protos)?;
        let ne = import_strs(r.extensions, r.extension_count, exts)?;
        let src = array(r.headers, r.header_count)?;
        let nh = import_headers(src, hs)?;
        let mut req = ClientRequest::new(host, target);
        req.origin = origin;
        req.subprotocols = protos.get(..np).unwrap_or_default();
        req.extensions = exts.get(..ne).unwrap_or_default();
        req.headers = hs.get(..nh).unwrap_or_default();
        Ok(req)
    }
}

/// Client: writes the upgrade request. `key` is 16 fresh random bytes.
///
/// # Safety
/// `conn` a live handle; `req` readable with valid strings/arrays; `key` 16 readable bytes;
/// `out` `out_len` writable bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_write_request(
    conn: *mut wsm_conn,
    req: *const wsm_client_request,
    key: *const u8,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> wsm_result {
    if req.is_null() || key.is_null() {
        return wsm_result::WSM_ERR_NULL;
    }
    // SAFETY: forwarded contract.
    unsafe {
        write_into(conn, out, out_len, written, |c, out| {
            let mut k = [0u8; 16];
            k.copy_from_slice(core::slice::from_raw_parts(key, 16));
            let r = *req;
            let mut protos = [""; WSM_MAX_HEADERS];
            let mut exts = [""; WSM_MAX_HEADERS];
            let mut hs = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let creq = import_request(&r, &mut protos, &mut exts, &mut hs)?;
            Ok(c.write_request(&creq, k, out))
        })
    }
}

/// Client: parses and validates the response in `buf` (all bytes received so far) against
/// `req` (the same request that was written). `*complete` is false when more input is
/// needed. On success `response->accepted` tells 101 (open) from a rejection (status,
/// headers, body). A rejection's body is framed as RFC 9112 section 6.3 says
/// (Transfer-Encoding: chunked, decoded in place, wins over Content-Length; else
/// Content-Length; else until end of file; none for 1xx, 204, 304): `response->body` is its
/// first decoded piece, and unless `response->body_complete`, wsm_read on the input from
/// `response->consumed` on delivers the rest. On WSM_ERR_HANDSHAKE the connection is closed;
/// see wsm_failure.
///
/// # Safety
/// `conn` a live handle; `req` readable; `buf` `len` readable bytes; `headers` `header_cap`
/// writable entries; `response` and `complete` writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_read_response(
    conn: *mut wsm_conn,
    now: u64,
    req: *const wsm_client_request,
    buf: *const u8,
    len: usize,
    headers: *mut wsm_header,
    header_cap: usize,
    response: *mut wsm_response,
    complete: *mut bool,
) -> wsm_result {
    if req.is_null()
        || response.is_null()
        || complete.is_null()
        || (headers.is_null() && header_cap != 0)
    {
        return wsm_result::WSM_ERR_NULL;
    }
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let input = tri!(bytes(buf, len));
            let r = *req;
            let mut protos = [""; WSM_MAX_HEADERS];
            let mut exts = [""; WSM_MAX_HEADERS];
            let mut ihs = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let creq = tri!(import_request(&r, &mut protos, &mut exts, &mut ihs));
            let cap = header_cap.min(WSM_MAX_HEADERS);
            let mut storage = [EMPTY_HEADER; WSM_MAX_HEADERS];
            let storage = storage.get_mut(..cap).unwrap_or_default();
            let out_headers: &mut [wsm_header] = if header_cap == 0 {
                &mut []
            } else {
                core::slice::from_raw_parts_mut(headers, header_cap)
            };
            let (resp, accepted, body, body_complete, consumed) =
                match c.read_response(now, &creq, input, storage) {
                    Ok(ResponseStatus::Partial) => {
                        tri!(put(complete, false));
                        return wsm_result::WSM_OK;
                    }
                    Ok(ResponseStatus::Accepted { response, len }) => {
                        (response, true, &[][..], true, len)
                    }
                    Ok(ResponseStatus::Rejected {
                        response,
                        body,
                        body_complete,
                        len,
                    }) => (response, false, body, body_complete, len),
                    Err(e) => return e.into(),
                };
            let n = export_headers(resp.headers(), out_headers);
            let sub = match resp.subprotocol() {
                Some(s) if accepted => wsm_str::from(s),
                _ => wsm_str::NONE,
            };
            tri!(put(
                response,
                wsm_response {
                    status: resp.status(),
                    accepted,
                    reason: wsm_str::from(resp.reason()),
                    subprotocol: sub,
                    header_count: n,
                    body: body.as_ptr(),
                    body_len: body.len(),
                    body_complete,
                    consumed,
                }
            ));
            tri!(put(complete, true));
            wsm_result::WSM_OK
        })
    }
}

/// Finds the first header named `name` (NUL-terminated, case-insensitive) among `count`
/// headers; NULL if absent.
///
/// # Safety
/// `headers` `count` readable entries with valid pointers; `name` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn wsm_header_find(
    headers: *const wsm_header,
    count: usize,
    name: *const c_char,
) -> *const wsm_header {
    // SAFETY: forwarded contract.
    let (Ok(hs), Ok(name)) = (unsafe { array(headers, count) }, unsafe { cstr(name) }) else {
        return core::ptr::null();
    };
    for h in hs {
        // SAFETY: forwarded contract.
        if let Ok(n) = unsafe { bytes(h.name.ptr.cast(), h.name.len) } {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                return h;
            }
        }
    }
    core::ptr::null()
}

/// Whether any header named `name` lists `token` in its comma-separated value
/// (case-insensitive), e.g. ("sec-websocket-protocol", "chat").
///
/// # Safety
/// As for wsm_header_find; `token` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn wsm_header_has_token(
    headers: *const wsm_header,
    count: usize,
    name: *const c_char,
    token: *const c_char,
) -> bool {
    // SAFETY: forwarded contract.
    let (Ok(hs), Ok(name), Ok(token)) = (
        unsafe { array(headers, count) },
        unsafe { cstr(name) },
        unsafe { cstr(token) },
    ) else {
        return false;
    };
    for h in hs {
        // SAFETY: forwarded contract.
        let (Ok(n), Ok(v)) = (unsafe { bytes(h.name.ptr.cast(), h.name.len) }, unsafe {
            bytes(h.value, h.value_len)
        }) else {
            continue;
        };
        if !n.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        for item in v.split(|&b| b == b',') {
            let t = item.trim_ascii();
            if t.eq_ignore_ascii_case(token.as_bytes()) {
                return true;
            }
        }
    }
    false
}
