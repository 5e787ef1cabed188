//! The client: `connect` (ws:// and wss://) and `client` (any stream).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use wsmachine::{ClientRequest, Connection, Event, ResponseStatus, EMPTY_HEADER};

use crate::server::write_out;
use crate::shared::{Clock, OutQueue};
use crate::{Error, MaybeTlsStream, Options, WebSocket};

/// Most response headers read.
const MAX_HEADERS: usize = 64;

/// Longest body of a refusal kept in [`Error::Rejected`].
pub const MAX_REJECT_BODY: usize = 64 << 10;

/// A parsed `ws://` or `wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `wss://`.
    pub tls: bool,
    /// The host name or address (without brackets for IPv6).
    pub host: String,
    /// The port (80 or 443 unless given).
    pub port: u16,
    /// Path and query (`/chat?room=1`; `/` when absent).
    pub target: String,
}

impl Url {
    /// Parses `ws://host[:port][/path][?query]` or `wss://…` (a `#fragment` is not allowed).
    pub fn parse(url: &str) -> Result<Url, Error> {
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "ws://") {
            (false, r)
        } else if let Some(r) = strip_prefix_ci(url, "wss://") {
            (true, r)
        } else {
            return Err(Error::Url("the scheme must be ws:// or wss://"));
        };
        if url.contains('#') {
            return Err(Error::Url("a WebSocket URL has no fragment"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(Error::Url("user information is not supported"));
        }
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or(Error::Url("unclosed [ in the host"))?;
            let port = match after {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or(Error::Url("invalid port"))?,
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| Error::Url("invalid port"))?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(Error::Url("no host"));
        }
        Ok(Url {
            tls,
            host,
            port,
            target,
        })
    }

    /// The Host header value: the host, and the port unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// What a client asks for beyond the URL.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The connection's options (limits, timers, permessage-deflate, send queue).
    pub options: Options,
    /// Subprotocols offered, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers (Authorization, Cookie, User-Agent…).
    pub headers: Vec<(String, String)>,
    /// The Origin header, if any.
    pub origin: Option<String>,
    /// The rustls configuration for `wss://` (default: the webpki-roots certificates, no
    /// client certificate). Its ALPN list should be empty or `http/1.1`.
    #[cfg(feature = "rustls")]
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl ClientOptions {
    /// The defaults.
    pub fn new() -> ClientOptions {
        ClientOptions::default()
    }

    /// Sets the connection's options.
    pub fn options(mut self, options: Options) -> ClientOptions {
        self.options = options;
        self
    }

    /// Offers a subprotocol (call once per protocol, in order of preference).
    pub fn subprotocol(mut self, name: impl Into<String>) -> ClientOptions {
        self.subprotocols.push(name.into());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ClientOptions {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the Origin header.
    pub fn origin(mut self, origin: impl Into<String>) -> ClientOptions {
        self.origin = Some(origin.into());
        self
    }

    /// Sets the rustls configuration for `wss://`.
    #[cfg(feature = "rustls")]
    pub fn tls(
        mut self,
        config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> ClientOptions {
        self.tls = Some(config);
        self
    }
}

/// The server's 101 response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
    /// Every header, as received (values as bytes).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Connects to a `ws://` or `wss://` URL with the default options.
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    connect_with(url, ClientOptions::default()).await
}

/// Connects to a `ws://` or `wss://` URL: TCP (and TLS for `wss://`, with SNI and
/// certificate checks by rustls), then the opening handshake with `options`' subprotocols,
/// headers and Origin. A refusal is [`Error::Rejected`] with the status and body.
pub async fn connect_with(
    url: &str,
    options: ClientOptions,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    let parsed = Url::parse(url)?;
    let tcp = TcpStream::connect((parsed.host.as_str(), parsed.port)).await?;
    let _ = tcp.set_nodelay(true);
    let stream = if parsed.tls {
        tls_connect(tcp, &parsed, &options).await?
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client(stream, &parsed, options).await
}

#[cfg(feature = "rustls")]
async fn tls_connect(
    tcp: TcpStream,
    url: &Url,
    options: &ClientOptions,
) -> Result<MaybeTlsStream<TcpStream>, Error> {
    use tokio_rustls::rustls;
    let config = match &options.tls {
        Some(c) => c.clone(),
        None => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            // The process-wide provider if the application installed one, else ring.
            let provider = rustls::crypto::CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| std::sync::Arc::new(ring_provider()));
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Io(std::io::Error::other(e)))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            std::sync::Arc::new(config)
        }
    };
    let name = rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|_| Error::Url("the host is not a valid TLS server name"))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(MaybeTlsStream::Rustls(Box::new(tls)))
}

/// rustls' ring provider (ring builds with a C compiler alone; rustls 0.23.48 deprecates
/// this function because ring lacks post-quantum key exchange: install another provider
/// process-wide to get it).
#[cfg(feature = "rustls")]
#[allow(deprecated)]
fn ring_provider() -> tokio_rustls::rustls::crypto::CryptoProvider {
    tokio_rustls::rustls::crypto::ring::default_provider()
}

#[cfg(not(feature = "rustls"))]
async fn tls_connect(
    _tcp: TcpStream,
    _url: &Url,
    _options: &ClientOptions,
) -> Result<MaybeTlsStream<TcpStream>, Error> {
    Err(Error::Url("wss:// needs the `rustls` feature"))
}

/// 16 random bytes from the operating system.
pub(crate) fn random16() -> Result<[u8; 16], Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(b)
}

/// Runs the client's opening handshake on an established `stream` (TCP, TLS, a Unix
/// socket…) for `url` (its host names the Host header; `tls` is not looked at).
pub async fn client<S>(
    mut stream: S,
    url: &Url,
    options: ClientOptions,
) -> Result<(WebSocket<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let clock = Clock::start();
    let opts = options.options.clone();
    let mut conn =
        Connection::client(opts.config, 0, random16()?).map_err(crate::error::from_core)?;
    let host = url.host_header();
    let protocols: Vec<&str> = options.subprotocols.iter().map(String::as_str).collect();
    let headers: Vec<wsmachine::Header<'_>> = options
        .headers
        .iter()
        .map(|(n, v)| wsmachine::Header {
            name: n,
            value: v.as_bytes(),
        })
        .collect();
    let mut req = ClientRequest::new(&host, &url.target);
    req.origin = options.origin.as_deref();
    req.subprotocols = &protocols;
    req.headers = &headers;
    let mut out = OutQueue::default();
    let key = random16()?;
    out.push(1024, |b| conn.write_request(&req, key, b))
        .map_err(crate::error::from_core)?;
    write_out(&mut stream, &mut out).await?;

    let limit = opts.config.max_handshake_size;
    let mut buf = vec![0u8; limit.clamp(1024, 16 << 10)];
    let mut filled = 0;
    let mut rejected: Option<(u16, Vec<u8>, usize)> = None;
    loop {
        let mut hs = [EMPTY_HEADER; MAX_HEADERS];
        if let Some((status, body, used)) = rejected.as_mut() {
            // The rest of a refusal's body.
            let rest = &mut buf[*used..filled];
            let r = conn
                .read(clock.now(), rest)
                .map_err(crate::error::from_core)?;
            *used += r.consumed;
            if let Some(Event::RejectBody { data, finished }) = r.event {
                let room = MAX_REJECT_BODY.saturating_sub(body.len());
                body.extend_from_slice(&data[..data.len().min(room)]);
                if finished || body.len() >= MAX_REJECT_BODY {
                    return Err(Error::Rejected {
                        status: *status,
                        body: std::mem::take(body),
                    });
                }
                continue;
            }
            buf.copy_within(*used..filled, 0);
            filled -= *used;
            *used = 0;
        } else {
            match conn.read_response(clock.now(), &req, &buf[..filled], &mut hs) {
                Ok(ResponseStatus::Partial) => {}
                Ok(ResponseStatus::Accepted { response, len }) => {
                    let resp = Response {
                        subprotocol: response.subprotocol().map(str::to_owned),
                        headers: response
                            .headers()
                            .iter()
                            .map(|h| (h.name.to_owned(), h.value.to_vec()))
                            .collect(),
                    };
                    let protocol = resp.subprotocol.clone();
                    let rest = buf[len..filled].to_vec();
                    let ws = WebSocket::open(stream, conn, clock, opts, protocol, &rest);
                    return Ok((ws, resp));
                }
                Ok(ResponseStatus::Rejected {
                    response,
                    body,
                    body_complete,
                    len,
                }) => {
                    let status = response.status();
                    let body = body[..body.len().min(MAX_REJECT_BODY)].to_vec();
                    if body_complete || body.len() >= MAX_REJECT_BODY {
                        return Err(Error::Rejected { status, body });
                    }
                    rejected = Some((status, body, len));
                    continue;
                }
                Err(e) => return Err(crate::error::from_core(e)),
            }
            if filled == buf.len() {
                let grown = (buf.len() * 2)
                    .min(limit.saturating_add(1))
                    .max(buf.len() + 1);
                buf.resize(grown, 0);
            }
        }
        let deadline = conn.poll_timeout().map(|ms| clock.instant(ms));
        let read = stream.read(&mut buf[filled..]);
        let n = match deadline {
            Some(at) => match tokio::time::timeout_at(at, read).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(match rejected {
                        Some((status, body, _)) => Error::Rejected { status, body },
                        None => Error::Handshake(wsmachine::HandshakeError::Timeout),
                    })
                }
            },
            None => read.await?,
        };
        if n == 0 {
            return Err(match rejected {
                // A body that runs to the end of the stream.
                Some((status, body, _)) => Error::Rejected { status, body },
                None => Error::Io(std::io::ErrorKind::UnexpectedEof.into()),
            });
        }
        filled += n;
    }
}
