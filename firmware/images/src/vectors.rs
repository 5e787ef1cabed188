//! Test vectors shared by the images, so that the wsmachine images and the
//! embedded-websocket anchor do exactly the same work. Frames are built at compile time by
//! [`frame`], which is written independently of the library under test.

/// An upgrade request as Chrome 131 on Linux sends it (`new WebSocket(
/// "ws://192.168.4.1/ws?room=lobby", ["chat.v2", "chat.v1"])` from a page on the device),
/// 14 headers in Chrome's order.
pub const CHROME_REQUEST: &[u8] = b"GET /ws?room=lobby HTTP/1.1\r\n\
Host: 192.168.4.1\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://192.168.4.1\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Cookie: session=7d3f9a1c2b8e4f60; theme=dark\r\n\
Sec-WebSocket-Key: Xk3+e7Q0mU9bqR1c2ZtJ8w==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n\
\r\n";

/// A Firefox 133 request for the same page (Firefox sends `Connection: keep-alive, Upgrade`
/// and `Sec-Fetch-*` headers).
pub const FIREFOX_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\n\
Host: 192.168.4.1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://192.168.4.1\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\
Connection: keep-alive, Upgrade\r\n\
Cookie: session=7d3f9a1c2b8e4f60\r\n\
Sec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: websocket\r\n\
Sec-Fetch-Site: same-origin\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
Upgrade: websocket\r\n\
\r\n";

/// base64(SHA-1(key + GUID)) for the Chrome request's key (computed on the host with Python's
/// hashlib and base64).
pub const CHROME_ACCEPT: &[u8] = b"Um2KU7pVeOZDgz1Npf0csjaenqw=";

/// wsmachine's exact answer to [`CHROME_REQUEST`], choosing subprotocol `chat.v2` and no
/// extension (permessage-deflate is not implemented, so it is not accepted).
pub const CHROME_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: Um2KU7pVeOZDgz1Npf0csjaenqw=\r\n\
Sec-WebSocket-Protocol: chat.v2\r\n\
\r\n";

/// wsmachine's exact answer to [`FIREFOX_REQUEST`] (no subprotocol).
pub const FIREFOX_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: C/0nmHhBztSRGR1CwL6Tf4ZjwpY=\r\n\
\r\n";

/// The masking keys the browser used for the frames below.
pub const KEY_TEXT: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Masking key of [`BINARY_IN`].
pub const KEY_BINARY: [u8; 4] = [0xa5, 0x0f, 0x99, 0x42];

/// The text message the browser sends.
pub const TEXT: &[u8] = "Hello, device! ✓".as_bytes();
/// The text message as a masked frame from the browser.
pub const TEXT_IN: [u8; frame_len(TEXT.len(), true)] = frame(0x81, Some(KEY_TEXT), TEXT);
/// The server's echo of it (unmasked).
pub const TEXT_ECHO: [u8; frame_len(TEXT.len(), false)] = frame(0x81, None, TEXT);

/// A 200-byte binary message (so the frame uses the 16-bit extended length).
pub const BINARY: [u8; 200] = {
    let mut b = [0u8; 200];
    let mut i = 0;
    while i < b.len() {
        b[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    b
};
/// The binary message as a masked frame from the browser.
pub const BINARY_IN: [u8; frame_len(BINARY.len(), true)] = frame(0x82, Some(KEY_BINARY), &BINARY);
/// The server's echo of it.
pub const BINARY_ECHO: [u8; frame_len(BINARY.len(), false)] = frame(0x82, None, &BINARY);

/// The client's fixed Sec-WebSocket-Key bytes (a real client uses 16 random bytes).
pub const CLIENT_KEY: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

/// wsmachine's exact request for `ws://echo.example.com/chat` offering `chat.v2`, with
/// [`CLIENT_KEY`], an Origin and a User-Agent.
pub const CLIENT_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: echo.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat.v2\r\n\
User-Agent: wsmachine-fw/0.1\r\n\
\r\n";

/// What the server sends back, as recorded from a Python `websockets` 13 server: the 101
/// (accept key matching [`CLIENT_KEY`]) followed in the same TCP segment by its first frame,
/// an unmasked text "Welcome".
pub const SERVER_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Date: Sat, 22 Nov 2025 04:00:00 GMT\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: C/0nmHhBztSRGR1CwL6Tf4ZjwpY=\r\n\
Sec-WebSocket-Protocol: chat.v2\r\n\
Server: Python/3.11 websockets/13.1\r\n\
\r\n\
\x81\x07Welcome";

/// Length of the head of [`SERVER_RESPONSE`] (everything before the frame).
pub const SERVER_RESPONSE_HEAD: usize = SERVER_RESPONSE.len() - 9;

/// The message the client sends (masked by the library) and the server echoes.
pub const CLIENT_TEXT: &[u8] = b"Hello, server!";
/// The server's echo of [`CLIENT_TEXT`].
pub const CLIENT_ECHO: [u8; frame_len(CLIENT_TEXT.len(), false)] = frame(0x81, None, CLIENT_TEXT);

/// Length of a frame with `len` payload bytes (at most 65535), masked or not.
pub const fn frame_len(len: usize, masked: bool) -> usize {
    let ext = if len < 126 { 0 } else { 2 };
    let key = if masked { 4 } else { 0 };
    2 + ext + key + len
}

/// A frame with first byte `b0` (FIN, RSV, opcode) and `payload` (at most 65535 bytes),
/// masked with `key` if given. Evaluated at compile time (`N` must be
/// `frame_len(payload.len(), key.is_some())`, or the build fails).
pub const fn frame<const N: usize>(b0: u8, key: Option<[u8; 4]>, payload: &[u8]) -> [u8; N] {
    let len = payload.len();
    assert!(N == frame_len(len, key.is_some()));
    let mut f = [0u8; N];
    f[0] = b0;
    let m = if key.is_some() { 0x80 } else { 0 };
    let mut i = 2;
    if len < 126 {
        f[1] = m | len as u8;
    } else {
        f[1] = m | 126;
        f[2] = (len >> 8) as u8;
        f[3] = len as u8;
        i = 4;
    }
    let k = match key {
        Some(k) => {
            f[i] = k[0];
            f[i + 1] = k[1];
            f[i + 2] = k[2];
            f[i + 3] = k[3];
            i += 4;
            k
        }
        None => [0; 4],
    };
    let mut j = 0;
    while j < len {
        f[i + j] = payload[j] ^ k[j % 4];
        j += 1;
    }
    f
}
