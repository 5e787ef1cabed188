//! A minimal Redis client (RESP2 over TCP): commands and a subscriber connection. Just what
//! the Redis broker needs; every read is bounded (a reply over [`MAX_REPLY`] is an error).

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest reply accepted (bulk strings and arrays together).
pub const MAX_REPLY: usize = 64 << 20;

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR …`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$…` (None: the null bulk string)
    Bulk(Option<Vec<u8>>),
    /// `*…` (None: the null array)
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The value as bytes (bulk or simple string).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(Some(b)) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// The value as an integer (an integer reply or a decimal string).
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => self.str()?.parse().ok(),
        }
    }

    /// The elements of an array reply.
    pub fn array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(Some(a)) => Some(a),
            _ => None,
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A connection to Redis.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

/// Parses `redis://host:port[/db]` (no auth, no TLS: the hub talks to a Redis on a private
/// network or loopback). Returns `host:port` and the database number.
pub fn parse_url(url: &str) -> Result<(String, u32), String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url}: expected redis://host:port[/db]"))?;
    let (addr, db) = match rest.split_once('/') {
        Some((a, "")) => (a, 0),
        Some((a, d)) => (
            a,
            d.parse()
                .map_err(|_| format!("{url}: bad database number"))?,
        ),
        None => (rest, 0),
    };
    if addr.contains('@') {
        return Err(format!("{url}: credentials in the URL are not supported"));
    }
    let addr = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:6379")
    };
    Ok((addr, db))
}

impl Conn {
    /// Connects to `addr` and selects `db`.
    pub async fn connect(addr: &str, db: u32) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let mut c = Conn {
            stream,
            buf: Vec::with_capacity(4096),
            pos: 0,
        };
        if db != 0 {
            let r = c.command(&[b"SELECT", db.to_string().as_bytes()]).await?;
            if let Value::Error(e) = r {
                return Err(bad(&e));
            }
        }
        Ok(c)
    }

    /// Sends one command and reads its reply.
    pub async fn command(&mut self, args: &[&[u8]]) -> io::Result<Value> {
        self.send(args).await?;
        self.read().await
    }

    /// Sends one command without reading a reply (subscriber connections).
    pub async fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).await
    }

    /// Reads one reply (waiting for it).
    pub async fn read(&mut self) -> io::Result<Value> {
        loop {
            let mut budget = MAX_REPLY;
            match parse(&self.buf[self.pos..], &mut budget)? {
                Some((v, n)) => {
                    self.pos += n;
                    if self.pos == self.buf.len() {
                        self.buf.clear();
                        self.pos = 0;
                    }
                    return Ok(v);
                }
                None => {
                    if self.pos > 0 {
                        self.buf.drain(..self.pos);
                        self.pos = 0;
                    }
                    if self.buf.len() > MAX_REPLY {
                        return Err(bad("reply too large"));
                    }
                    let mut chunk = [0u8; 16 * 1024];
                    let n = self.stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let i = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..i], i + 2))
}

fn num(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad number in reply"))
}

/// Parses one reply from `buf`: `Ok(None)` when incomplete, else the value and its length.
pub fn parse(buf: &[u8], budget: &mut usize) -> io::Result<Option<(Value, usize)>> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((l, mut used)) = line(&buf[1..]) else {
        return Ok(None);
    };
    used += 1;
    let text = || String::from_utf8_lossy(l).into_owned();
    let v = match kind {
        b'+' => Value::Simple(text()),
        b'-' => Value::Error(text()),
        b':' => Value::Int(num(l)?),
        b'$' => {
            let n = num(l)?;
            if n < 0 {
                Value::Bulk(None)
            } else {
                let n = n as usize;
                if n > *budget {
                    return Err(bad("reply too large"));
                }
                *budget -= n;
                if buf.len() < used + n + 2 {
                    return Ok(None);
                }
                let b = buf[used..used + n].to_vec();
                used += n + 2;
                Value::Bulk(Some(b))
            }
        }
        b'*' => {
            let n = num(l)?;
            if n < 0 {
                Value::Array(None)
            } else {
                let n = n as usize;
                if n > *budget / 4 {
                    return Err(bad("reply too large"));
                }
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    match parse(&buf[used..], budget)? {
                        Some((v, k)) => {
                            items.push(v);
                            used += k;
                        }
                        None => return Ok(None),
                    }
                }
                Value::Array(Some(items))
            }
        }
        _ => return Err(bad("unknown reply type")),
    };
    Ok(Some((v, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> Option<(Value, usize)> {
        parse(s, &mut MAX_REPLY.clone()).unwrap()
    }

    #[test]
    fn parses_replies_and_waits_for_more() {
        assert_eq!(p(b"+OK\r\n"), Some((Value::Simple("OK".into()), 5)));
        assert_eq!(p(b":-3\r\n").unwrap().0, Value::Int(-3));
        assert_eq!(p(b"$-1\r\n").unwrap().0, Value::Bulk(None));
        assert_eq!(
            p(b"$3\r\nabc\r\n").unwrap().0,
            Value::Bulk(Some(b"abc".to_vec()))
        );
        assert_eq!(p(b"$3\r\nab"), None);
        assert_eq!(
            p(b"*2\r\n$1\r\na\r\n:1\r\n")
                .unwrap()
                .0
                .array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(p(b"*2\r\n$1\r\na\r\n"), None);
        assert_eq!(p(b"-ERR x\r\n").unwrap().0, Value::Error("ERR x".into()));
        assert!(parse(b"?\r\n", &mut 100).is_err());
        assert!(parse(b"$1000\r\n", &mut 100).is_err());
        assert!(parse(b"*1000\r\n", &mut 100).is_err());
        assert!(parse(b":x\r\n", &mut 100).is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("redis://127.0.0.1:7000").unwrap(),
            ("127.0.0.1:7000".into(), 0)
        );
        assert_eq!(parse_url("redis://h/2").unwrap(), ("h:6379".into(), 2));
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("redis://u:p@h").is_err());
        assert!(parse_url("redis://h/x").is_err());
    }
}
