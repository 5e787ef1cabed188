//! WebSockets over HTTP/2 ([RFC 8441]): an extended CONNECT request opens one stream of an
//! HTTP/2 connection, and that stream carries the WebSocket frames (masked by the client, as
//! over HTTP/1.1). Many WebSockets (and ordinary requests) can share one connection.
//!
//! Built on the [`h2`] crate (feature `http2`). The application drives the HTTP/2
//! connection as usual; this module turns one stream into a [`WebSocket`]:
//!
//! * **Server.** Build the connection with
//!   [`enable_connect_protocol`](h2::server::Builder::enable_connect_protocol) (it announces
//!   `SETTINGS_ENABLE_CONNECT_PROTOCOL`), and pass each request that
//!   [`is_websocket`] to [`accept_h2`] / [`accept_h2_with`]: the request is checked with the
//!   core's [`validate_extended_connect`](wsmachine::validate_extended_connect) (`:method
//!   CONNECT`, `:protocol websocket`, `sec-websocket-version: 13`; else 400 / 426),
//!   permessage-deflate is negotiated with the core's `negotiate`, the callback may refuse
//!   with a status and body, and `200` opens the connection (the core's `new_open`).
//! * **Client.** [`connect_h2`] sends the extended CONNECT on an
//!   [`h2::client::SendRequest`] once the server has enabled the protocol, checks the `200`
//!   (its subprotocol and permessage-deflate answer), and opens the connection. A refusal is
//!   [`Error::Rejected`] with the status and body.
//!
//! The stream is an [`H2Stream`]: HTTP/2 DATA frames as an `AsyncRead + AsyncWrite`, with
//! HTTP/2 flow control (received data is released as it is read; writes wait for the peer's
//! window). Closing the WebSocket ends the stream (END_STREAM).
//!
//! [RFC 8441]: https://www.rfc-editor.org/rfc/rfc8441

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Accept, ClientOptions, Error, Options, Reject, Response, Url, WebSocket};

/// One HTTP/2 stream as a byte stream: DATA frames in and out.
#[derive(Debug)]
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received bytes not yet read.
    pending: Bytes,
}

impl H2Stream {
    /// The stream of a request or response: its send and receive sides.
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> H2Stream {
        H2Stream {
            send,
            recv,
            pending: Bytes::new(),
        }
    }
}

fn h2_io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into())
    } else {
        io::Error::other(e)
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(this.recv.poll_data(cx)) {
                // END_STREAM: the end of the byte stream.
                None => return Poll::Ready(Ok(())),
                Some(Ok(data)) => {
                    // The peer may send more as soon as we have taken these bytes.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.pending = data;
                }
                Some(Err(e)) => {
                    // A stream reset with NO_ERROR is an ordinary end.
                    if e.reason() == Some(h2::Reason::NO_ERROR) {
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Ready(Err(h2_io_error(e)));
                }
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.send.reserve_capacity(buf.len());
        // Capacity already assigned is used at once: `poll_capacity` reports increases only.
        let mut n = this.send.capacity();
        while n == 0 {
            n = match ready!(this.send.poll_capacity(cx)) {
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                Some(Err(e)) => return Poll::Ready(Err(h2_io_error(e))),
                Some(Ok(n)) => n,
            };
        }
        let n = n.min(buf.len());
        match this
            .send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
        {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(e) => Poll::Ready(Err(h2_io_error(e))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection task writes queued DATA frames.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // END_STREAM; an error means the stream is over already.
        let _ = this.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

/// Whether `req` is an RFC 8441 WebSocket request (`CONNECT` with `:protocol websocket`);
/// other requests are the application's.
pub fn is_websocket<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::CONNECT
        && req
            .extensions()
            .get::<h2::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// [`accept_h2_with`], accepting every valid request.
pub async fn accept_h2(
    req: http::Request<RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
    options: Options,
) -> Result<WebSocket<H2Stream>, Error> {
    accept_h2_with(req, respond, options, |_| Ok(Accept::new())).await
}

/// Server: answers an RFC 8441 extended CONNECT request. An invalid one gets 400 (426 for
/// another WebSocket version) and [`Error::Handshake`]; `callback` sees the request (path
/// and query in its URI, headers: cookies, Origin, `sec-websocket-protocol`) and may refuse
/// with a status and body (then `Err(Error::Handshake(HandshakeError::Rejected))`);
/// otherwise the answer is `200` with the subprotocol chosen and permessage-deflate when
/// offered and configured.
pub async fn accept_h2_with<F>(
    req: http::Request<RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    options: Options,
    callback: F,
) -> Result<WebSocket<H2Stream>, Error>
where
    F: FnOnce(&http::Request<RecvStream>) -> Result<Accept, Reject>,
{
    let protocol = req.extensions().get::<h2::ext::Protocol>();
    let version = req
        .headers()
        .get("sec-websocket-version")
        .map(|v| v.as_bytes());
    let checked = wsmachine::validate_extended_connect(
        req.method().as_str(),
        protocol.map(|p| p.as_str()),
        version,
    );
    if let Err(e) = checked {
        let mut resp = http::Response::builder().status(e.status());
        if e == wsmachine::HandshakeError::UnsupportedVersion {
            resp = resp.header("sec-websocket-version", "13");
        }
        send_final(&mut respond, resp, &[])?;
        return Err(Error::Handshake(e));
    }
    let accept = match callback(&req) {
        Ok(a) => a,
        Err(r) => {
            let mut resp = http::Response::builder().status(r.status);
            for (n, v) in &r.headers {
                resp = resp.header(n.as_str(), v.as_str());
            }
            send_final(&mut respond, resp, &r.body)?;
            return Err(Error::Handshake(wsmachine::HandshakeError::Rejected));
        }
    };
    let mut resp = http::Response::builder().status(200);
    if let Some(p) = &accept.subprotocol {
        resp = resp.header("sec-websocket-protocol", p.as_str());
    }
    for (n, v) in &accept.headers {
        resp = resp.header(n.as_str(), v.as_str());
    }
    #[cfg(feature = "deflate")]
    let deflate = {
        let offers: Vec<wsmachine::Header<'_>> = req
            .headers()
            .get_all("sec-websocket-extensions")
            .iter()
            .map(|v| wsmachine::Header {
                name: "Sec-WebSocket-Extensions",
                value: v.as_bytes(),
            })
            .collect();
        let agreed = options
            .config
            .deflate
            .as_ref()
            .and_then(|cfg| wsmachine::deflate::negotiate(&offers, cfg));
        if let Some(p) = &agreed {
            let mut value = [0u8; wsmachine::deflate::MAX_VALUE_LEN];
            if let Some(n) = wsmachine::deflate::write_response(p, &mut value) {
                resp = resp.header("sec-websocket-extensions", &value[..n]);
            }
        }
        agreed
    };
    let resp = resp
        .body(())
        .map_err(|_| Error::Usage(wsmachine::Error::InvalidHeader))?;
    let send = respond
        .send_response(resp, false)
        .map_err(|e| Error::Io(h2_io_error(e)))?;
    let stream = H2Stream::new(send, req.into_body());
    #[cfg(not(feature = "deflate"))]
    let deflate = None;
    WebSocket::open_elsewhere(
        stream,
        wsmachine::Role::Server,
        options,
        deflate,
        accept.subprotocol,
    )
}

/// Sends a complete (refusing) response with `body`.
fn send_final(
    respond: &mut h2::server::SendResponse<Bytes>,
    resp: http::response::Builder,
    body: &[u8],
) -> Result<(), Error> {
    let resp = resp
        .body(())
        .map_err(|_| Error::Usage(wsmachine::Error::InvalidHeader))?;
    let mut send = respond
        .send_response(resp, body.is_empty())
        .map_err(|e| Error::Io(h2_io_error(e)))?;
    if !body.is_empty() {
        send.send_data(Bytes::copy_from_slice(body), true)
            .map_err(|e| Error::Io(h2_io_error(e)))?;
    }
    Ok(())
}

/// Client: opens a WebSocket on the HTTP/2 connection of `send_request` (whose connection
/// task the application drives) with an RFC 8441 extended CONNECT to `url` (its host is the
/// `:authority`; `wss://` gives the `https` scheme). Waits, up to the handshake timeout, for
/// the server's SETTINGS to enable the protocol. `options` give the subprotocols, headers,
/// Origin and permessage-deflate offer.
pub async fn connect_h2(
    send_request: &mut h2::client::SendRequest<Bytes>,
    url: &Url,
    options: ClientOptions,
) -> Result<(WebSocket<H2Stream>, Response), Error> {
    let opts = options.options.clone();
    let limit = Duration::from_millis(u64::from(opts.config.handshake_timeout_ms.max(1)));
    let handshake = async {
        // SETTINGS_ENABLE_CONNECT_PROTOCOL arrives in the server's first SETTINGS frame.
        let mut ready = send_request
            .clone()
            .ready()
            .await
            .map_err(|e| Error::Io(h2_io_error(e)))?;
        while !ready.is_extended_connect_protocol_enabled() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            ready = ready.ready().await.map_err(|e| Error::Io(h2_io_error(e)))?;
        }
        let scheme = if url.tls { "https" } else { "http" };
        let uri = format!("{scheme}://{}{}", url.host_header(), url.target);
        let mut req = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(uri)
            .extension(h2::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13");
        if !options.subprotocols.is_empty() {
            req = req.header("sec-websocket-protocol", options.subprotocols.join(", "));
        }
        if let Some(o) = &options.origin {
            req = req.header("origin", o.as_str());
        }
        for (n, v) in &options.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        #[cfg(feature = "deflate")]
        if let Some(cfg) = &opts.config.deflate {
            let mut value = [0u8; wsmachine::deflate::MAX_VALUE_LEN];
            if let Some(n) = wsmachine::deflate::write_offer(cfg, &mut value) {
                req = req.header("sec-websocket-extensions", &value[..n]);
            }
        }
        let req = req
            .body(())
            .map_err(|_| Error::Usage(wsmachine::Error::InvalidHeader))?;
        let (response, send) = ready
            .send_request(req, false)
            .map_err(|e| Error::Io(h2_io_error(e)))?;
        let response = response.await.map_err(|e| Error::Io(h2_io_error(e)))?;
        Ok::<_, Error>((response, send))
    };
    let (response, send) = tokio::time::timeout(limit, handshake)
        .await
        .map_err(|_| Error::Handshake(wsmachine::HandshakeError::Timeout))??;
    let (parts, mut body) = response.into_parts();
    if parts.status != http::StatusCode::OK {
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let Ok(chunk) = chunk else { break };
            let _ = body.flow_control().release_capacity(chunk.len());
            let room = crate::MAX_REJECT_BODY.saturating_sub(data.len());
            data.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if data.len() >= crate::MAX_REJECT_BODY {
                break;
            }
        }
        return Err(Error::Rejected {
            status: parts.status.as_u16(),
            body: data,
        });
    }
    let subprotocol = match parts.headers.get("sec-websocket-protocol") {
        None => None,
        Some(v) => {
            let p = v.to_str().ok().map(str::trim).unwrap_or_default();
            if !options.subprotocols.iter().any(|o| o == p) {
                return Err(Error::Handshake(
                    wsmachine::HandshakeError::UnofferedSubprotocol,
                ));
            }
            Some(p.to_owned())
        }
    };
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    #[cfg(feature = "deflate")]
    let deflate = match &opts.config.deflate {
        None => None,
        Some(cfg) => {
            let answer: Vec<wsmachine::Header<'_>> = headers
                .iter()
                .filter(|(n, _)| n == "sec-websocket-extensions")
                .map(|(_, v)| wsmachine::Header {
                    name: "Sec-WebSocket-Extensions",
                    value: v,
                })
                .collect();
            wsmachine::deflate::parse_response(&answer, cfg)
                .map_err(|_| Error::Handshake(wsmachine::HandshakeError::InvalidExtension))?
        }
    };
    #[cfg(not(feature = "deflate"))]
    if headers.iter().any(|(n, _)| n == "sec-websocket-extensions") {
        return Err(Error::Handshake(
            wsmachine::HandshakeError::UnofferedExtension,
        ));
    }
    let stream = H2Stream::new(send, body);
    #[cfg(not(feature = "deflate"))]
    let deflate = None;
    let ws = WebSocket::open_elsewhere(
        stream,
        wsmachine::Role::Client,
        opts,
        deflate,
        subprotocol.clone(),
    )?;
    Ok((
        ws,
        Response {
            subprotocol,
            headers,
        },
    ))
}
