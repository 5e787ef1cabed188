//! What each result code means in words: the message table and the C functions that
//! return it (wsm_result_str, wsm_result_message).

use core::ffi::c_char;

use crate::types::*;

impl wsm_result {
    /// A static, NUL-terminated description.
    pub fn message(self) -> &'static core::ffi::CStr {
        use wsm_result::*;
        match self {
            WSM_OK => c"ok",
            WSM_ERR_NULL => c"a required pointer argument was NULL",
            WSM_ERR_INVALID_HANDLE => c"invalid handle (not initialised, or freed)",
            WSM_ERR_INVALID_ARGUMENT => c"invalid argument",
            WSM_ERR_PANIC => c"internal error: panic caught at the C boundary",
            WSM_ERR_MEMORY => c"memory for the handle or codec is too small or misaligned",
            WSM_ERR_BUFFER_TOO_SMALL => c"output buffer too small (*written holds the size needed)",
            WSM_ERR_INVALID_STATE => c"operation not allowed in the current state",
            WSM_ERR_INVALID_CLOSE_CODE => c"close code may not be sent",
            WSM_ERR_REASON_TOO_LONG => c"close reason longer than 123 bytes",
            WSM_ERR_CONTROL_TOO_LONG => c"control payload longer than 125 bytes",
            WSM_ERR_INVALID_UTF8 => c"outgoing text is not valid UTF-8",
            WSM_ERR_MESSAGE_STATE => c"fragment does not fit the message in progress",
            WSM_ERR_FRAME_IN_PROGRESS => c"a streamed frame is still in progress",
            WSM_ERR_PAYLOAD_OVERRUN => c"more payload than the frame declared",
            WSM_ERR_NO_FRAME_IN_PROGRESS => c"no streamed frame in progress",
            WSM_ERR_INVALID_HEADER => c"invalid HTTP header, host, target or token",
            WSM_ERR_INVALID_STATUS => c"invalid HTTP status code",
            WSM_ERR_HANDSHAKE => c"the peer's opening handshake was invalid",
            WSM_ERR_INVALID_CONFIG => c"the configuration cannot work",
            WSM_ERR_NOT_COMPRESSED => {
                c"not a compressed chunk, no permessage-deflate agreed, or a codec window that does not fit"
            }
            WSM_ERR_SHARED_CONTEXT => {
                c"a shared compressor needs a connection on which this end keeps no context"
            }
            WSM_ERR_CODEC_BUSY => {
                c"the shared compressor is in the middle of another connection's message"
            }
            WSM_ERR_OTHER => c"unknown error",
        }
    }
}

/// A static, NUL-terminated description of a result (`result` is a wsm_result).
#[no_mangle]
pub extern "C" fn wsm_result_str(result: u32) -> *const c_char {
    match wsm_result::from_u32(result) {
        Some(r) => r.message().as_ptr(),
        None => c"unknown result".as_ptr(),
    }
}

/// Copies the description of `result` into `buf` (`len` bytes, NUL-terminated, truncated if
/// needed). Returns the description's full length (without the NUL).
///
/// # Safety
/// `buf` NULL (with `len` 0) or `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn wsm_result_message(result: u32, buf: *mut c_char, len: usize) -> usize {
    let msg = match wsm_result::from_u32(result) {
        Some(r) => r.message(),
        None => c"unknown result",
    }
    .to_bytes();
    if !buf.is_null() && len > 0 {
        let n = msg.len().min(len - 1);
        // SAFETY: `buf` is non-NULL with `len` writable bytes; we write n + 1 <= len bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(msg.as_ptr().cast::<c_char>(), buf, n);
            buf.add(n).write(0);
        }
    }
    msg.len()
}
