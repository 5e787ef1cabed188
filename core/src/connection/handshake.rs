//! The opening handshake: server (`read_request`, `accept`, `reject`…) and client
//! (`write_request`, `read_response`).

use crate::close::CloseStatus;
use crate::error::{Error, HandshakeError};
use crate::handshake::body::BodyFraming;
use crate::handshake::client::{
    parse_response, validate_response_with, write_request_with, ClientRequest, ParsedResponse,
};
use crate::handshake::server::{
    checked_key, parse_request, write_accept_with, write_reject, write_reject_chunk,
    write_reject_head, Accept, ParsedRequest,
};
use crate::handshake::{accept_key, encode_key, Header};

use super::state::Lifecycle;
use super::{Connection, Failure, ResponseStatus, Role, EXTENSION_VALUE_LEN};

impl Connection {
    // ----------------------------------------------------------------------------------
    // Server
    // ----------------------------------------------------------------------------------

    /// Server: parses and validates the upgrade request in `buf` (all bytes received so far)
    /// into `headers`.
    ///
    /// * `Ok(ParsedRequest::Partial)`: read more, append, call again with the whole buffer.
    /// * `Ok(ParsedRequest::Complete { request, len })`: the request is valid; inspect it
    ///   (path, query, Origin, Cookie, subprotocols…) and call [`accept`](Self::accept),
    ///   [`reject`](Self::reject) or [`fail_handshake`](Self::fail_handshake). Bytes after
    ///   `len` are already WebSocket frames.
    /// * `Err(Error::Handshake(e))`: an invalid request; the error response (400, 405, 426 with
    ///   `Sec-WebSocket-Version: 13`, 431) is queued: flush `poll_transmit` and close. (Or
    ///   answer with your own response through [`reject`](Self::reject) instead.)
    pub fn read_request<'h, 'b: 'h>(
        &mut self,
        now: u64,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<ParsedRequest<'h>, Error> {
        let _ = now;
        let Lifecycle::AwaitRequest { max_head, auth_ms } = self.lifecycle else {
            return Err(Error::InvalidState);
        };
        let limit = usize::try_from(max_head).unwrap_or(usize::MAX);
        let parsed = match parse_request(buf, headers, limit) {
            Ok(p) => p,
            Err(e) => return Err(self.move_to_handshake_failed(e)),
        };
        if let ParsedRequest::Complete { request, .. } = &parsed {
            let key = match checked_key(request) {
                Ok(k) => k,
                Err(e) => return Err(self.move_to_handshake_failed(e)),
            };
            self.lifecycle = Lifecycle::AwaitDecision {
                accept: accept_key(key),
                auth_ms,
            };
            self.negotiate_deflate(request.headers());
        }
        Ok(parsed)
    }

    /// Whether a server may still decide how to answer the request.
    fn awaiting_decision(&self) -> bool {
        matches!(
            self.lifecycle,
            Lifecycle::AwaitRequest { .. } | Lifecycle::AwaitDecision { .. }
        )
    }

    /// Server: rejects the request with the standard response for `error` (e.g.
    /// [`HandshakeError::OriginNotAllowed`] → 403) after the application's own checks. The
    /// response is written by `poll_transmit`.
    pub fn fail_handshake(&mut self, error: HandshakeError) -> Result<(), Error> {
        if !self.awaiting_decision() {
            return Err(Error::InvalidState);
        }
        self.move_to_handshake_failed(error);
        Ok(())
    }

    /// Server: accepts the request; writes the 101 response into `out`. The connection is
    /// OPEN afterwards.
    pub fn accept(&mut self, now: u64, opts: &Accept<'_>, out: &mut [u8]) -> Result<usize, Error> {
        let Lifecycle::AwaitDecision { accept, auth_ms } = self.lifecycle else {
            return Err(Error::InvalidState);
        };
        let mut value = [0u8; EXTENSION_VALUE_LEN];
        let ext = self.deflate_header(&mut value);
        let n = write_accept_with(&accept, opts, ext, out)?;
        self.move_to_open(now, auth_ms);
        Ok(n)
    }

    /// Server: refuses the request with a complete HTTP response (`status` 200–599, extra
    /// `headers`, `body`) written into `out`; the connection writes `Content-Length` and
    /// `Connection: close` itself (headers naming either, or `Transfer-Encoding`, are
    /// refused with [`Error::InvalidHeader`]). Close the transport after writing it.
    ///
    /// Also allowed after `read_request` or `fail_handshake` reported a bad request: the
    /// response replaces the standard one queued for `poll_transmit`.
    pub fn reject(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if !self.may_reject() {
            return Err(Error::InvalidState);
        }
        let n = write_reject(status, headers, body, out)?;
        self.move_to_closed();
        Ok(n)
    }

    fn may_reject(&self) -> bool {
        self.role == Role::Server
            && (self.awaiting_decision() || matches!(self.lifecycle, Lifecycle::HttpError(_)))
    }

    /// Server: refuses the request with a response whose body is streamed: writes the head
    /// (`status`, extra `headers`, `Transfer-Encoding: chunked`, `Connection: close`) into
    /// `out`. Then send the body with [`reject_body`](Self::reject_body). The same states and
    /// header rules as [`reject`](Self::reject) apply.
    pub fn reject_head(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if !self.may_reject() {
            return Err(Error::InvalidState);
        }
        let n = write_reject_head(status, headers, out)?;
        self.lifecycle = Lifecycle::Rejecting;
        self.timers.stop_all();
        Ok(n)
    }

    /// Server: writes the next piece of a streamed refusal body (after
    /// [`reject_head`](Self::reject_head)) as one chunk; with `finished`, also the last
    /// (empty) chunk, after which the connection is closed. Empty `data` without `finished`
    /// writes nothing.
    pub fn reject_body(
        &mut self,
        data: &[u8],
        finished: bool,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if !matches!(self.lifecycle, Lifecycle::Rejecting) {
            return Err(Error::InvalidState);
        }
        let n = write_reject_chunk(data, finished, out)?;
        if finished {
            self.move_to_closed();
        }
        Ok(n)
    }

    // ----------------------------------------------------------------------------------
    // Client
    // ----------------------------------------------------------------------------------

    /// Client: writes the upgrade request. `key` must be 16 fresh random bytes; it becomes
    /// the Sec-WebSocket-Key.
    pub fn write_request(
        &mut self,
        req: &ClientRequest<'_>,
        key: [u8; 16],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let Lifecycle::RequestUnsent { max_head } = self.lifecycle else {
            return Err(Error::InvalidState);
        };
        let key = encode_key(&key);
        let mut value = [0u8; EXTENSION_VALUE_LEN];
        let offer = self.deflate_header(&mut value);
        let n = write_request_with(req, &key, offer, out)?;
        self.lifecycle = Lifecycle::AwaitResponse { key, max_head };
        Ok(n)
    }

    /// Client: parses and validates the response in `buf` (all bytes received so far)
    /// against the request `req` that was sent.
    ///
    /// * `Partial`: read more and call again with the whole buffer.
    /// * `Accepted`: the connection is OPEN; bytes after `len` are frames.
    /// * `Rejected`: a non-101 response. Its body is framed as RFC 9112 §6.3 says: none for
    ///   1xx, 204 and 304; `Transfer-Encoding: chunked` (decoded here, winning over
    ///   `Content-Length`); else `Content-Length`; else until end of file. `body` is the
    ///   first contiguous run of body data present after the head (for a chunked body, the
    ///   data of the first chunk present, without its framing); `len` counts the bytes of
    ///   `buf` used: the head and the body bytes read so far, framing included. If
    ///   `body_complete` is false, the rest of the body comes from [`read`](Self::read) as
    ///   [`Event::RejectBody`](crate::Event::RejectBody), starting with the bytes of `buf`
    ///   after `len` (a chunked body's next chunks may already be there). If it is true, the
    ///   connection is closed and bytes after `len` are not part of the body.
    /// * `Err(Error::Handshake(e))`: an invalid 101 response; the connection is closed.
    pub fn read_response<'h, 'b: 'h>(
        &mut self,
        now: u64,
        req: &ClientRequest<'_>,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<ResponseStatus<'h>, Error> {
        let Lifecycle::AwaitResponse { key, max_head } = self.lifecycle else {
            return Err(Error::InvalidState);
        };
        let limit = usize::try_from(max_head).unwrap_or(usize::MAX);
        let parsed = match parse_response(buf, headers, limit) {
            Ok(p) => p,
            Err(e) => return Err(self.move_to_handshake_failed(e)),
        };
        let (response, len) = match parsed {
            ParsedResponse::Partial => return Ok(ResponseStatus::Partial),
            ParsedResponse::Complete { response, len } => (response, len),
        };
        if response.status() == 101 {
            let checked = validate_response_with(&response, &key, req, self.deflate_offered())
                .and_then(|()| self.accept_deflate_response(response.headers()));
            if let Err(e) = checked {
                return Err(self.move_to_handshake_failed(e));
            }
            self.move_to_open(now, 0);
            return Ok(ResponseStatus::Accepted { response, len });
        }
        // The body bytes present: the first contiguous run of data (decoded, for a chunked
        // body); `read` delivers the rest, starting with any bytes of `buf` after `len`.
        let mut framing = BodyFraming::of(&response);
        let rest = buf.get(len..).unwrap_or_default();
        let piece = framing.next(rest);
        let body = rest.get(piece.start..piece.end).unwrap_or_default();
        let body_complete = piece.finished;
        self.failure = Some(Failure::Handshake(HandshakeError::Rejected));
        self.status = Some(CloseStatus::Abnormal);
        if body_complete {
            self.move_to_closed();
        } else {
            // The handshake timer keeps running: it bounds the wait for the body too.
            self.lifecycle = Lifecycle::RejectBody { body: framing };
        }
        Ok(ResponseStatus::Rejected {
            response,
            body,
            body_complete,
            len: len.saturating_add(piece.consumed),
        })
    }
}
