//! Negotiation (RFC 7692 §5, §7.1): reading offers and responses, choosing an offer, and
//! writing the header values.

use core::fmt;

use super::{DeflateConfig, Params, EXTENSION_NAME, MAX_WINDOW_BITS};
use crate::handshake::{trim, Header, ListIter};

/// Smallest window this end ever asks the peer to use, or answers with: zlib (most peers)
/// cannot compress raw deflate with 8 bits, so a request for 8 would be refused or ignored.
const MIN_ASKED_BITS: u8 = 9;

/// Why one offer (or a response) is not a valid permessage-deflate element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfferError {
    /// A parameter this extension does not define.
    UnknownParameter,
    /// A parameter given twice.
    DuplicateParameter,
    /// A value that is missing, present where none is allowed, or not one of 8..=15.
    InvalidValue,
    /// Not `name[=value]` syntax (RFC 6455 §9.1).
    Syntax,
}

impl fmt::Display for OfferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OfferError::UnknownParameter => "unknown permessage-deflate parameter",
            OfferError::DuplicateParameter => "duplicate permessage-deflate parameter",
            OfferError::InvalidValue => "invalid permessage-deflate parameter value",
            OfferError::Syntax => "malformed permessage-deflate parameter",
        })
    }
}

/// Why a client cannot use the server's permessage-deflate response (the client fails the
/// connection, RFC 7692 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NegotiationError {
    /// The response element is malformed.
    Invalid(OfferError),
    /// The response accepts permessage-deflate more than once.
    Repeated,
    /// The response sets `client_max_window_bits` although the offer did not have it.
    UnofferedClientWindow,
    /// A window larger than the offer allows, or smaller than this end's compressor can use.
    WindowOutOfRange,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Invalid(e) => write!(f, "{e}"),
            NegotiationError::Repeated => f.write_str("permessage-deflate accepted twice"),
            NegotiationError::UnofferedClientWindow => {
                f.write_str("client_max_window_bits in a response to an offer without it")
            }
            NegotiationError::WindowOutOfRange => {
                f.write_str("window bits outside what was offered or can be used")
            }
        }
    }
}

/// The parameters of one element, as written (nothing defaulted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Element {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` (`Some(None)`: without a value).
    client_max_window_bits: Option<Option<u8>>,
}

/// Splits one extension element into its name and what follows its first `;` (`None`
/// without one).
fn split_name(element: &[u8]) -> (&[u8], Option<&[u8]>) {
    match element.iter().position(|&b| b == b';') {
        Some(i) => (
            trim(element.get(..i).unwrap_or_default()),
            Some(element.get(i + 1..).unwrap_or_default()),
        ),
        None => (trim(element), None),
    }
}

/// Whether `element` names permessage-deflate.
fn is_deflate(element: &[u8]) -> bool {
    split_name(element)
        .0
        .eq_ignore_ascii_case(EXTENSION_NAME.as_bytes())
}

/// `8`..=`15` exactly (no sign, no leading zero), possibly as a quoted string.
fn window_value(v: &[u8]) -> Result<u8, OfferError> {
    let v = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    };
    match v {
        [d @ b'8'..=b'9'] => Ok(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Ok(10 + d - b'0'),
        _ => Err(OfferError::InvalidValue),
    }
}

/// Parses the parameters after the name's `;` (`a; b=1`); `None`: there are none.
fn parse_params(params: Option<&[u8]>) -> Result<Element, OfferError> {
    let mut e = Element::default();
    let Some(params) = params else {
        return Ok(e);
    };
    // (An empty list after a `;` is a syntax error: the loop sees one empty parameter.)
    for p in params.split(|&b| b == b';') {
        let p = trim(p);
        let (name, value) = match p.iter().position(|&b| b == b'=') {
            Some(i) => (
                trim(p.get(..i).unwrap_or_default()),
                Some(trim(p.get(i + 1..).unwrap_or_default())),
            ),
            None => (p, None),
        };
        if name.is_empty() || value.is_some_and(<[u8]>::is_empty) {
            return Err(OfferError::Syntax);
        }
        let flag = |seen: &mut bool| {
            if value.is_some() {
                Err(OfferError::InvalidValue)
            } else if core::mem::replace(seen, true) {
                Err(OfferError::DuplicateParameter)
            } else {
                Ok(())
            }
        };
        if name.eq_ignore_ascii_case(b"server_no_context_takeover") {
            flag(&mut e.server_no_context_takeover)?;
        } else if name.eq_ignore_ascii_case(b"client_no_context_takeover") {
            flag(&mut e.client_no_context_takeover)?;
        } else if name.eq_ignore_ascii_case(b"server_max_window_bits") {
            if e.server_max_window_bits.is_some() {
                return Err(OfferError::DuplicateParameter);
            }
            e.server_max_window_bits = Some(window_value(value.unwrap_or_default())?);
        } else if name.eq_ignore_ascii_case(b"client_max_window_bits") {
            if e.client_max_window_bits.is_some() {
                return Err(OfferError::DuplicateParameter);
            }
            e.client_max_window_bits = Some(value.map(window_value).transpose()?);
        } else {
            return Err(OfferError::UnknownParameter);
        }
    }
    Ok(e)
}

/// Parses one Sec-WebSocket-Extensions element as permessage-deflate: `Ok(None)` if it names
/// another extension.
fn parse_element(element: &[u8]) -> Result<Option<Element>, OfferError> {
    let (name, params) = split_name(element);
    if !name.eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()) {
        return Ok(None);
    }
    parse_params(params).map(Some)
}

/// Server: the response to one offer under `config`, or `None` to decline it.
fn answer(offer: &Element, config: &DeflateConfig) -> Option<Params> {
    // Our compressor: at most what the client allows, at least what we can do.
    let offered = offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    let server_bits = config.compress_window_bits.min(offered);
    if server_bits < config.min_window_bits {
        return None;
    }
    // Our decompressor: the client may use 15 bits unless it said it can be limited.
    let want = config.decompress_window_bits.max(MIN_ASKED_BITS);
    let client_bits = match offer.client_max_window_bits {
        None if want < MAX_WINDOW_BITS => return None,
        None => MAX_WINDOW_BITS,
        Some(None) => want,
        Some(Some(v)) => want.min(v),
    };
    Some(Params {
        server_no_context_takeover: offer.server_no_context_takeover || config.no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.peer_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    })
}

/// Server: chooses the first permessage-deflate offer in `headers` (every
/// Sec-WebSocket-Extensions header, in order) that `config` can accept. Malformed offers
/// (unknown or repeated parameters, bad values) are declined one by one, as RFC 7692 §5.1
/// says; `None` means permessage-deflate is declined.
pub fn negotiate(headers: &[Header<'_>], config: &DeflateConfig) -> Option<Params> {
    if !config.is_valid() {
        return None;
    }
    ListIter::new(headers, "sec-websocket-extensions")
        .filter_map(|e| parse_element(e).ok().flatten())
        .find_map(|offer| answer(&offer, config))
}

/// A small writer over a byte slice; `None` once it runs out of room.
struct Out<'o> {
    buf: &'o mut [u8],
    len: usize,
}

impl Out<'_> {
    fn put(&mut self, s: &[u8]) -> Option<()> {
        let end = self.len.checked_add(s.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(s);
        self.len = end;
        Some(())
    }

    fn bits(&mut self, name: &[u8], bits: u8) -> Option<()> {
        self.put(b"; ")?;
        self.put(name)?;
        self.put(b"=")?;
        if bits >= 10 {
            self.put(b"1")?;
        }
        self.put(&[b'0' + bits % 10])
    }
}

/// Longest value [`write_response`] or [`write_offer`] writes.
pub const MAX_VALUE_LEN: usize = 128;

/// Server: writes the Sec-WebSocket-Extensions value that accepts `params` (as returned by
/// [`negotiate`]); its length, or `None` if `out` is shorter than [`MAX_VALUE_LEN`] needs.
pub fn write_response(params: &Params, out: &mut [u8]) -> Option<usize> {
    let mut w = Out { buf: out, len: 0 };
    w.put(EXTENSION_NAME.as_bytes())?;
    if params.server_no_context_takeover {
        w.put(b"; server_no_context_takeover")?;
    }
    if params.client_no_context_takeover {
        w.put(b"; client_no_context_takeover")?;
    }
    if params.server_max_window_bits < MAX_WINDOW_BITS {
        w.bits(b"server_max_window_bits", params.server_max_window_bits)?;
    }
    if params.client_max_window_bits < MAX_WINDOW_BITS {
        w.bits(b"client_max_window_bits", params.client_max_window_bits)?;
    }
    Some(w.len)
}

/// Client: writes the offer for `config` (one element); its length, or `None` if `out` is
/// too short. The offer always has `client_max_window_bits` (a server may then limit our
/// window, which browsers allow too), and asks for a smaller server window when this end's
/// decompressor has less than 32 KiB.
pub fn write_offer(config: &DeflateConfig, out: &mut [u8]) -> Option<usize> {
    let mut w = Out { buf: out, len: 0 };
    w.put(EXTENSION_NAME.as_bytes())?;
    if config.no_context_takeover {
        w.put(b"; client_no_context_takeover")?;
    }
    if config.peer_no_context_takeover {
        w.put(b"; server_no_context_takeover")?;
    }
    let server_bits = config.decompress_window_bits.max(MIN_ASKED_BITS);
    if server_bits < MAX_WINDOW_BITS {
        w.bits(b"server_max_window_bits", server_bits)?;
    }
    if config.compress_window_bits < MAX_WINDOW_BITS {
        w.bits(b"client_max_window_bits", config.compress_window_bits)?;
    } else {
        w.put(b"; client_max_window_bits")?;
    }
    Some(w.len)
}

/// Client: reads the server's answer to the offer [`write_offer`] made for `config`.
/// `Ok(None)`: the server declined. An answer this end cannot honour is an error: the
/// client must fail the connection (RFC 7692 §5).
pub fn parse_response(
    headers: &[Header<'_>],
    config: &DeflateConfig,
) -> Result<Option<Params>, NegotiationError> {
    let mut found = None;
    for element in ListIter::new(headers, "sec-websocket-extensions") {
        if !is_deflate(element) {
            continue;
        }
        if found.is_some() {
            return Err(NegotiationError::Repeated);
        }
        found = parse_element(element).map_err(NegotiationError::Invalid)?;
    }
    let Some(e) = found else {
        return Ok(None);
    };
    let client_bits = match e.client_max_window_bits {
        None => config.compress_window_bits,
        // Only an offer may leave the value out.
        Some(None) => return Err(NegotiationError::Invalid(OfferError::InvalidValue)),
        Some(Some(v)) => v.min(config.compress_window_bits),
    };
    let asked_server = config.decompress_window_bits.max(MIN_ASKED_BITS);
    let server_bits = e.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    if server_bits > asked_server {
        return Err(NegotiationError::WindowOutOfRange);
    }
    if client_bits < config.min_window_bits {
        return Err(NegotiationError::WindowOutOfRange);
    }
    Ok(Some(Params {
        server_no_context_takeover: e.server_no_context_takeover,
        client_no_context_takeover: e.client_no_context_takeover || config.no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn headers(values: &[&'static str]) -> std::vec::Vec<Header<'static>> {
        values
            .iter()
            .map(|v| Header {
                name: "Sec-WebSocket-Extensions",
                value: v.as_bytes(),
            })
            .collect()
    }

    fn server(values: &[&'static str], config: DeflateConfig) -> Option<String> {
        let p = negotiate(&headers(values), &config)?;
        let mut out = [0u8; MAX_VALUE_LEN];
        let n = write_response(&p, &mut out).unwrap();
        Some(String::from_utf8(out[..n].to_vec()).unwrap())
    }

    #[test]
    fn a_browser_offer_is_accepted_with_full_windows() {
        let r = server(
            &["permessage-deflate; client_max_window_bits"],
            DeflateConfig::new(),
        );
        assert_eq!(r.as_deref(), Some("permessage-deflate"));
    }

    #[test]
    fn the_server_limits_its_own_and_the_clients_window() {
        let r = server(
            &["permessage-deflate; client_max_window_bits"],
            DeflateConfig::new().window_bits(10),
        );
        assert_eq!(
            r.as_deref(),
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=10")
        );
    }

    #[test]
    fn an_offer_without_client_window_is_declined_by_a_small_decompressor() {
        let cfg = DeflateConfig::new().window_bits(12);
        assert_eq!(server(&["permessage-deflate"], cfg), None);
        // ... but a later offer in the same header that allows it is taken.
        let r = server(
            &["permessage-deflate, permessage-deflate; client_max_window_bits=11"],
            cfg,
        );
        assert_eq!(
            r.as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=11")
        );
    }

    #[test]
    fn window_bits_eight_is_met_only_by_a_compressor_that_can() {
        let offer = ["permessage-deflate; server_max_window_bits=8"];
        // zlib-like backends cannot make 8-bit streams: decline rather than break the rule.
        assert_eq!(server(&offer, DeflateConfig::new()), None);
        let mut own = DeflateConfig::new();
        own.min_window_bits = 8;
        assert_eq!(
            server(&offer, own).as_deref(),
            Some("permessage-deflate; server_max_window_bits=8")
        );
        // A client window of 8 is never asked for: 9 is, which every peer can do.
        let r = server(
            &["permessage-deflate; client_max_window_bits"],
            DeflateConfig::new().window_bits(8),
        );
        assert_eq!(r, None, "server window 8 < min 9 of the default config");
        let mut small = DeflateConfig::new().window_bits(8);
        small.min_window_bits = 8;
        assert_eq!(
            server(&["permessage-deflate; client_max_window_bits"], small).as_deref(),
            Some("permessage-deflate; server_max_window_bits=8; client_max_window_bits=9")
        );
    }

    #[test]
    fn context_takeover_parameters_are_echoed_or_imposed() {
        let r = server(
            &["permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"],
            DeflateConfig::new(),
        );
        assert_eq!(
            r.as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        let mut cfg = DeflateConfig::new();
        cfg.no_context_takeover = true;
        cfg.peer_no_context_takeover = true;
        let r = server(&["permessage-deflate; client_max_window_bits"], cfg);
        assert_eq!(
            r.as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
    }

    #[test]
    fn malformed_offers_are_declined_one_by_one() {
        let bad = [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
            "permessage-deflate; =9",
            "permessage-deflate;",
        ];
        for b in bad {
            let one = [b];
            assert_eq!(server(&one, DeflateConfig::new()), None, "{b}");
            let with_fallback = [b, "permessage-deflate; client_max_window_bits"];
            assert_eq!(
                server(&with_fallback, DeflateConfig::new()).as_deref(),
                Some("permessage-deflate"),
                "{b}"
            );
        }
        // Quoted values and odd case are fine.
        assert_eq!(
            server(
                &["Permessage-Deflate; Server_Max_Window_Bits=\"10\"; client_max_window_bits"],
                DeflateConfig::new()
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
        // Other extensions are skipped.
        assert_eq!(
            server(
                &["x-webkit-deflate-frame", "permessage-deflate"],
                DeflateConfig::new()
            )
            .as_deref(),
            Some("permessage-deflate")
        );
    }

    fn offer(config: &DeflateConfig) -> String {
        let mut out = [0u8; MAX_VALUE_LEN];
        let n = write_offer(config, &mut out).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn offers_state_this_ends_limits() {
        assert_eq!(
            offer(&DeflateConfig::new()),
            "permessage-deflate; client_max_window_bits"
        );
        let mut c = DeflateConfig::new().window_bits(10);
        c.no_context_takeover = true;
        c.peer_no_context_takeover = true;
        assert_eq!(
            offer(&c),
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10"
        );
    }

    #[test]
    fn every_offer_is_accepted_by_our_own_server() {
        for bits in 8..=15u8 {
            for flags in 0..4u8 {
                let mut c = DeflateConfig::new().window_bits(bits);
                c.min_window_bits = 8;
                c.no_context_takeover = flags & 1 != 0;
                c.peer_no_context_takeover = flags & 2 != 0;
                let o = offer(&c);
                let h = [Header {
                    name: "Sec-WebSocket-Extensions",
                    value: o.as_bytes(),
                }];
                let p = negotiate(&h, &c).unwrap_or_else(|| panic!("{o}"));
                let mut out = [0u8; MAX_VALUE_LEN];
                let n = write_response(&p, &mut out).unwrap();
                let r = [Header {
                    name: "Sec-WebSocket-Extensions",
                    value: &out[..n],
                }];
                let q = parse_response(&r, &c).unwrap().unwrap();
                assert_eq!(p, q, "{o}");
                assert!(p.server_max_window_bits <= bits.max(9));
            }
        }
    }

    fn client(value: &'static str) -> Result<Option<Params>, NegotiationError> {
        parse_response(&headers(&[value]), &DeflateConfig::new().window_bits(12))
    }

    #[test]
    fn bad_responses_fail_the_client() {
        use NegotiationError as N;
        assert_eq!(client("x-other"), Ok(None));
        assert_eq!(
            client("permessage-deflate, permessage-deflate"),
            Err(N::Repeated)
        );
        assert_eq!(
            client("permessage-deflate; server_max_window_bits=13"),
            Err(N::WindowOutOfRange)
        );
        // We asked for a 12-bit server window; leaving the parameter out means 15.
        assert_eq!(client("permessage-deflate"), Err(N::WindowOutOfRange));
        assert_eq!(
            client("permessage-deflate; client_max_window_bits"),
            Err(N::Invalid(OfferError::InvalidValue))
        );
        assert_eq!(
            client("permessage-deflate; bogus"),
            Err(N::Invalid(OfferError::UnknownParameter))
        );
        assert_eq!(
            client("permessage-deflate; client_max_window_bits=8"),
            Err(N::WindowOutOfRange)
        );
        let ok = client("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10")
            .unwrap()
            .unwrap();
        assert_eq!(
            (ok.server_max_window_bits, ok.client_max_window_bits),
            (9, 10)
        );
    }
}
