//! C ABI over the `wsmachine` core: `libwsmachine.a` and `include/wsmachine.h`.
//!
//! Names follow `wsm_<object>_<verb>`. Every entry point checks its pointers, runs behind a
//! panic boundary (with the `std` feature) and reports a [`wsm_result`]. See the conventions
//! block at the top of the generated header.
#![cfg_attr(not(feature = "std"), no_std)]
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod types;

mod c_enum;
#[cfg(test)]
mod config_doc_tests;
mod conn;
mod deflate;
#[cfg(test)]
mod enum_numbers_tests;
mod handshake;
mod io;
mod reconnect;
mod result;
#[cfg(test)]
mod tests;

pub use conn::*;
#[cfg(feature = "deflate")]
pub use deflate::*;
pub use handshake::*;
pub use io::*;
pub use reconnect::*;
pub use result::*;
pub use types::*;

use core::ffi::{c_char, CStr};

use wsmachine::Connection;

/// The connection handle (opaque to C).
pub struct wsm_conn {
    magic: u32,
    poisoned: bool,
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    heap: bool,
    /// wsm_config.deflate.level, reported by wsm_get_deflate.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    deflate_level: u8,
    conn: Connection,
}

const MAGIC: u32 = 0x5753_4d31; // "WSM1"

/// The library version, NUL-terminated.
#[no_mangle]
pub extern "C" fn wsm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Runs `f` behind the panic boundary.
#[cfg(feature = "std")]
#[inline(always)]
fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// Without std there is no unwinding: a panic goes to the application's panic handler (the
/// core is built to have no panicking paths).
#[cfg(not(feature = "std"))]
#[inline(always)]
fn guard<T>(_on_panic: T, f: impl FnOnce() -> T) -> T {
    f()
}

/// Runs `f` on the connection behind `p`, poisoning the handle if `f` panics.
///
/// # Safety
/// `p` is NULL or points to a handle made by `wsm_conn_init`/`wsm_conn_new` that no other
/// thread is using.
#[inline(always)]
unsafe fn with_conn(p: *mut wsm_conn, f: impl FnOnce(&mut Connection) -> wsm_result) -> wsm_result {
    // SAFETY: forwarded contract.
    unsafe { with_handle(p, |h| f(&mut h.conn)) }
}

/// Like [`with_conn`], with the whole handle (the connection and what the C layer keeps
/// beside it).
///
/// # Safety
/// As for [`with_conn`].
#[inline(always)]
unsafe fn with_handle(p: *mut wsm_conn, f: impl FnOnce(&mut wsm_conn) -> wsm_result) -> wsm_result {
    if p.is_null() {
        return wsm_result::WSM_ERR_NULL;
    }
    // SAFETY: non-NULL, and by the contract above it points to a live, exclusively used handle.
    let h = unsafe { &mut *p };
    if h.magic != MAGIC {
        return wsm_result::WSM_ERR_INVALID_HANDLE;
    }
    if h.poisoned {
        return wsm_result::WSM_ERR_PANIC;
    }
    let r = guard(wsm_result::WSM_ERR_PANIC, || f(&mut *h));
    if r == wsm_result::WSM_ERR_PANIC {
        h.poisoned = true;
    }
    r
}

/// Reads from the connection behind `p`; `None` if the handle is NULL or invalid.
///
/// # Safety
/// As for [`with_conn`].
unsafe fn read_conn<T>(p: *const wsm_conn, f: impl FnOnce(&Connection) -> T) -> Option<T> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and, by contract, a live handle not being mutated concurrently.
    let h = unsafe { &*p };
    if h.magic != MAGIC || h.poisoned {
        return None;
    }
    Some(f(&h.conn))
}

/// A byte slice from C; NULL is allowed only with length 0.
///
/// # Safety
/// If non-NULL, `p` points to `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], wsm_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(wsm_result::WSM_ERR_NULL);
    }
    // SAFETY: non-NULL; the caller guarantees `len` readable bytes.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A mutable byte slice from C; NULL is allowed only with length 0.
///
/// # Safety
/// If non-NULL, `p` points to `len` writable bytes, not aliased, that outlive `'a`.
unsafe fn bytes_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], wsm_result> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(wsm_result::WSM_ERR_NULL);
    }
    // SAFETY: non-NULL; the caller guarantees `len` writable, unaliased bytes.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// A slice of C structs; NULL allowed with length 0.
///
/// # Safety
/// If non-NULL, `p` points to `len` initialised values that outlive `'a`.
unsafe fn array<'a, T>(p: *const T, len: usize) -> Result<&'a [T], wsm_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(wsm_result::WSM_ERR_NULL);
    }
    // SAFETY: non-NULL; the caller guarantees `len` initialised values.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A NUL-terminated UTF-8 string from C.
///
/// # Safety
/// If non-NULL, `p` points to a NUL-terminated string that outlives `'a`.
unsafe fn cstr<'a>(p: *const c_char) -> Result<&'a str, wsm_result> {
    if p.is_null() {
        return Err(wsm_result::WSM_ERR_NULL);
    }
    // SAFETY: non-NULL and NUL-terminated by contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| wsm_result::WSM_ERR_INVALID_ARGUMENT)
}

/// Like [`cstr`], with NULL meaning "absent".
///
/// # Safety
/// As for [`cstr`].
unsafe fn opt_cstr<'a>(p: *const c_char) -> Result<Option<&'a str>, wsm_result> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { cstr(p) }.map(Some)
    }
}

/// Writes `v` through an out-pointer that must not be NULL.
///
/// # Safety
/// If non-NULL, `p` is valid for writes of `T`.
unsafe fn put<T>(p: *mut T, v: T) -> Result<(), wsm_result> {
    if p.is_null() {
        return Err(wsm_result::WSM_ERR_NULL);
    }
    // SAFETY: non-NULL and writable by contract.
    unsafe { p.write(v) };
    Ok(())
}

/// Turns a `Result<usize, Error>` from a writing call into a result and `*written`
/// (the needed size on `BufferTooSmall`).
///
/// # Safety
/// `written` was checked non-NULL by the caller and is valid for writes.
unsafe fn finish_write(r: Result<usize, wsmachine::Error>, written: *mut usize) -> wsm_result {
    let (n, res) = match r {
        Ok(n) => (n, wsm_result::WSM_OK),
        Err(wsmachine::Error::BufferTooSmall { needed }) => {
            (needed, wsm_result::WSM_ERR_BUFFER_TOO_SMALL)
        }
        Err(e) => (0, e.into()),
    };
    // SAFETY: forwarded contract.
    match unsafe { put(written, n) } {
        Ok(()) => res,
        Err(e) => e,
    }
}

/// The shape of every call that writes into a caller buffer: `written` must not be NULL, the
/// handle is checked, `out` becomes a slice, `f` converts its own arguments (failing with a
/// result) and does the work, and `*written` gets the length written (or the size needed).
///
/// # Safety
/// `conn` as for [`with_conn`]; `out` NULL or `out_len` writable bytes; `written` NULL or
/// writable; whatever `f` dereferences is valid by the caller's contract.
#[inline(always)]
unsafe fn write_into(
    conn: *mut wsm_conn,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    f: impl FnOnce(&mut Connection, &mut [u8]) -> Result<Result<usize, wsmachine::Error>, wsm_result>,
) -> wsm_result {
    if written.is_null() {
        return wsm_result::WSM_ERR_NULL;
    }
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let out = tri!(bytes_mut(out, out_len));
            let r = tri!(f(c, out));
            finish_write(r, written)
        })
    }
}

/// `?` for functions returning `wsm_result`.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}
pub(crate) use tri;

#[cfg(all(not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Firmware images built with the std feature off reach here only through a library bug;
    // the core is checked to have no panicking paths. Spin: there is no way to report.
    loop {}
}
