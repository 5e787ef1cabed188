//! permessage-deflate (RFC 7692) for the Python face: the `PerMessageDeflate` objects of
//! `wsmachine.wsproto.extensions` become core `DeflateConfig`s, the core negotiates, and the
//! codecs live here (zlib-rs through the core's `zlib` backend; the core's own compressor
//! for the 8-bit window zlib cannot make).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

use wsmachine::deflate::{
    self, deflater_memory, Compress, DeflateConfig, Deflater, Params, Progress, ZlibDeflater,
    ZlibInflater, DEFAULT_LEVEL, EXTENSION_NAME,
};
use wsmachine::{Header, Role};

/// Messages shorter than this are sent uncompressed (the core's default
/// `DeflateConfig::min_message_size`; compression does not pay below a few dozen bytes).
pub(crate) const MIN_MESSAGE_SIZE: usize = DeflateConfig::new().min_message_size as usize;

static PMD_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The `PerMessageDeflate` class of `wsmachine.wsproto.extensions`.
fn pmd_class(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    PMD_CLASS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("wsmachine.wsproto.extensions")?
                    .getattr("PerMessageDeflate")?
                    .unbind(),
            )
        })
        .map(|c| c.bind(py))
}

/// Whether `obj` is a `PerMessageDeflate` (the engine negotiates those itself).
pub(crate) fn is_pmd(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    obj.is_instance(pmd_class(py)?)
}

/// The first `PerMessageDeflate` in an `extensions` list (`None` for `None`, or when there is
/// none). Other `Extension` objects are negotiated by `crate::extensions`.
pub(crate) fn find<'py>(
    py: Python<'py>,
    extensions: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if extensions.is_none() {
        return Ok(None);
    }
    let class = pmd_class(py)?;
    for e in extensions.try_iter()? {
        let e = e?;
        if e.is_instance(class)? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// The four settings of a `PerMessageDeflate`, as wsproto names them.
struct Settings {
    client_no_context_takeover: bool,
    client_max_window_bits: u8,
    server_no_context_takeover: bool,
    server_max_window_bits: u8,
}

fn bits(v: i64) -> PyResult<u8> {
    u8::try_from(v)
        .ok()
        .filter(|b| (deflate::MIN_WINDOW_BITS..=deflate::MAX_WINDOW_BITS).contains(b))
        .ok_or_else(|| PyValueError::new_err("window bits must be within 8..=15"))
}

fn settings(ext: &Bound<'_, PyAny>) -> PyResult<Settings> {
    Ok(Settings {
        client_no_context_takeover: ext.getattr("client_no_context_takeover")?.is_truthy()?,
        client_max_window_bits: bits(ext.getattr("client_max_window_bits")?.extract()?)?,
        server_no_context_takeover: ext.getattr("server_no_context_takeover")?.is_truthy()?,
        server_max_window_bits: bits(ext.getattr("server_max_window_bits")?.extract()?)?,
    })
}

impl Settings {
    /// What `role` offers (client) or accepts (server) with these settings. The smallest
    /// window is 8: an 8-bit compressor is the core's own (`Codec::new`).
    fn config(&self, role: Role) -> DeflateConfig {
        let mut c = DeflateConfig::new();
        c.min_window_bits = deflate::MIN_WINDOW_BITS;
        let (mine, peer) = match role {
            Role::Client => (
                (self.client_max_window_bits, self.client_no_context_takeover),
                (self.server_max_window_bits, self.server_no_context_takeover),
            ),
            Role::Server => (
                (self.server_max_window_bits, self.server_no_context_takeover),
                (self.client_max_window_bits, self.client_no_context_takeover),
            ),
        };
        c.compress_window_bits = mine.0;
        c.no_context_takeover = mine.1;
        c.decompress_window_bits = peer.0;
        c.peer_no_context_takeover = peer.1;
        c
    }

    /// The settings as agreed parameters (a post-handshake connection's extension).
    fn params(&self) -> Params {
        Params {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: self.server_max_window_bits,
            client_max_window_bits: self.client_max_window_bits,
        }
    }
}

/// The config `ext` (a `PerMessageDeflate`) stands for at `role`.
pub(crate) fn config_of(ext: &Bound<'_, PyAny>, role: Role) -> PyResult<DeflateConfig> {
    Ok(settings(ext)?.config(role))
}

/// The parameters of an extension that was negotiated elsewhere (`enabled()`), for wsproto's
/// post-handshake `Connection`; `None` when it is not enabled.
pub(crate) fn enabled_params(ext: &Bound<'_, PyAny>) -> PyResult<Option<Params>> {
    if !ext.call_method0("enabled")?.is_truthy()? {
        return Ok(None);
    }
    Ok(Some(settings(ext)?.params()))
}

/// Records what was agreed on the Python object (its attributes then say what is in use, as
/// wsproto's do after `accept` / `finalize`), and marks it enabled.
pub(crate) fn record(ext: &Bound<'_, PyAny>, p: &Params) -> PyResult<()> {
    ext.call_method1(
        "_agreed",
        (
            p.client_no_context_takeover,
            p.client_max_window_bits,
            p.server_no_context_takeover,
            p.server_max_window_bits,
        ),
    )?;
    Ok(())
}

/// Server: the parameters to accept for the permessage-deflate offers among `offers` (the
/// request's Sec-WebSocket-Extensions elements), or `None` to decline.
pub(crate) fn negotiate_offers(offers: &[Vec<u8>], config: &DeflateConfig) -> Option<Params> {
    let headers: Vec<Header<'_>> = offers
        .iter()
        .map(|o| Header {
            name: "sec-websocket-extensions",
            value: o.as_slice(),
        })
        .collect();
    deflate::negotiate(&headers, config)
}

/// The compressor: zlib-rs, or the core's own for an 8-bit window (which zlib refuses).
pub(crate) enum Compressor {
    Zlib(Box<ZlibDeflater>),
    Small(Box<Deflater<Vec<u8>>>),
}

impl Compress for Compressor {
    fn compress(&mut self, input: &[u8], out: &mut [u8], end: bool) -> Progress {
        match self {
            Compressor::Zlib(c) => c.compress(input, out, end),
            Compressor::Small(c) => c.compress(input, out, end),
        }
    }

    fn reset(&mut self) {
        match self {
            Compressor::Zlib(c) => c.reset(),
            Compressor::Small(c) => c.reset(),
        }
    }

    fn bound(&self, len: usize) -> usize {
        match self {
            Compressor::Zlib(c) => c.bound(len),
            Compressor::Small(c) => c.bound(len),
        }
    }

    fn window_bits(&self) -> u8 {
        match self {
            Compressor::Zlib(c) => c.window_bits(),
            Compressor::Small(c) => c.window_bits(),
        }
    }

    // The largest of the two backends' minimums.
    const MIN_OUTPUT: usize = if ZlibDeflater::MIN_OUTPUT > Deflater::<Vec<u8>>::MIN_OUTPUT {
        ZlibDeflater::MIN_OUTPUT
    } else {
        Deflater::<Vec<u8>>::MIN_OUTPUT
    };
}

/// The codecs of one connection with permessage-deflate agreed, each made when first needed
/// (a zlib compressor with a 32 KiB window takes about 256 KiB: an idle or receive-only
/// connection does not pay for it).
pub(crate) struct Codec {
    params: Params,
    role: Role,
    inflater: Option<ZlibInflater>,
    deflater: Option<Compressor>,
}

impl Codec {
    /// Codecs for what `role` agreed to in `p`.
    pub(crate) fn new(p: Params, role: Role) -> Codec {
        Codec {
            params: p,
            role,
            inflater: None,
            deflater: None,
        }
    }

    /// The decompressor, with the window the peer may use.
    pub(crate) fn inflater(&mut self) -> &mut ZlibInflater {
        let bits = self.params.decompress_window_bits(self.role);
        self.inflater.get_or_insert_with(|| ZlibInflater::new(bits))
    }

    /// The compressor (level 6), with the agreed window: zlib-rs, or the core's own
    /// compressor for 8 bits.
    pub(crate) fn deflater(&mut self) -> PyResult<&mut Compressor> {
        if self.deflater.is_none() {
            let bits = self.params.compress_window_bits(self.role);
            let c = match ZlibDeflater::new(bits, u32::from(DEFAULT_LEVEL)) {
                Some(z) => Compressor::Zlib(Box::new(z)),
                None => {
                    let mem = vec![0u8; deflater_memory(bits, DEFAULT_LEVEL)];
                    let d = Deflater::new(mem, bits, DEFAULT_LEVEL)
                        .map_err(|e| PyValueError::new_err(format!("deflate: {e:?}")))?;
                    Compressor::Small(Box::new(d))
                }
            };
            self.deflater = Some(c);
        }
        self.deflater
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("deflate: no compressor"))
    }
}

/// The `(client_no_context_takeover, client_max_window_bits, server_no_context_takeover,
/// server_max_window_bits)` of agreed parameters.
type Agreed = (bool, u8, bool, u8);

fn agreed(p: &Params) -> Agreed {
    (
        p.client_no_context_takeover,
        p.client_max_window_bits,
        p.server_no_context_takeover,
        p.server_max_window_bits,
    )
}

/// `PerMessageDeflate.accept` (a server answering one offer outside a `WSConnection`): the
/// core's negotiation for the offer `offer` with the settings given. Returns the agreed
/// parameters and the response's parameter string (without the extension name), or `None`
/// to decline.
#[pyfunction]
pub(crate) fn _pmd_accept<'py>(
    py: Python<'py>,
    offer: &str,
    client_no_context_takeover: bool,
    client_max_window_bits: i64,
    server_no_context_takeover: bool,
    server_max_window_bits: i64,
) -> PyResult<Option<(Agreed, Bound<'py, PyString>)>> {
    let s = Settings {
        client_no_context_takeover,
        client_max_window_bits: bits(client_max_window_bits)?,
        server_no_context_takeover,
        server_max_window_bits: bits(server_max_window_bits)?,
    };
    let Some(p) = negotiate_offers(&[offer.as_bytes().to_vec()], &s.config(Role::Server)) else {
        return Ok(None);
    };
    let mut value = [0u8; deflate::MAX_VALUE_LEN];
    let n = deflate::write_response(&p, &mut value)
        .ok_or_else(|| PyValueError::new_err("deflate response too long"))?;
    let text = String::from_utf8_lossy(&value[..n]);
    let params = text
        .strip_prefix(EXTENSION_NAME)
        .unwrap_or_default()
        .trim_start_matches(';')
        .trim();
    Ok(Some((agreed(&p), PyString::new(py, params))))
}

/// `PerMessageDeflate.finalize` (a client reading the server's response element outside a
/// `WSConnection`): the core's check of the response against what these settings offered.
/// `ValueError` when the client cannot use it (it must fail the connection then).
#[pyfunction]
pub(crate) fn _pmd_finalize(
    response: &str,
    client_no_context_takeover: bool,
    client_max_window_bits: i64,
    server_no_context_takeover: bool,
    server_max_window_bits: i64,
) -> PyResult<Agreed> {
    let s = Settings {
        client_no_context_takeover,
        client_max_window_bits: bits(client_max_window_bits)?,
        server_no_context_takeover,
        server_max_window_bits: bits(server_max_window_bits)?,
    };
    let h = [Header {
        name: "sec-websocket-extensions",
        value: response.as_bytes(),
    }];
    match deflate::parse_response(&h, &s.config(Role::Client)) {
        Ok(Some(p)) => Ok(agreed(&p)),
        Ok(None) => Err(PyValueError::new_err(
            "not a permessage-deflate response element",
        )),
        Err(e) => Err(PyValueError::new_err(e.to_string())),
    }
}
