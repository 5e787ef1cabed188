#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/seed-*) from RFC 6455 test vectors.

The layouts are documented at the top of each fuzz target. Run from anywhere; idempotent.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])

REQUEST = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def frame(b0, payload, mask=None, long_len=False):
    n = len(payload)
    mbit = 0x80 if mask else 0
    out = bytes([b0])
    if long_len or n > 0xFFFF:
        out += bytes([mbit | 127]) + struct.pack(">Q", n)
    elif n >= 126:
        out += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([mbit | n])
    if mask:
        out += mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def rfc_frames(mask):
    """RFC 6455 §5.7 examples (masked with `mask` when given) plus a close."""
    return [
        frame(0x81, b"Hello", mask),
        frame(0x01, b"Hel", mask) + frame(0x80, b"lo", mask),
        frame(0x89, b"Hello", mask),
        frame(0x8A, b"Hello", mask),
        frame(0x82, bytes(range(256)), mask),
        frame(0x82, bytes(300), mask, long_len=True),
        frame(0x81, "κόσμε".encode(), mask),
        frame(0x88, struct.pack(">H", 1000) + b"bye", mask),
        frame(0x88, b"", mask),
    ]


def feed_op(data):
    return bytes([0]) + struct.pack("<H", len(data)) + data


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    # Server handshake: flags, max (u16), header slots, step, request.
    write("handshake_server", "rfc-1-3", bytes([0, 0, 0, 16, 0]) + REQUEST)
    write("handshake_server", "bytewise", bytes([2, 0, 0, 16, 1]) + REQUEST)
    write("handshake_server", "with-frame", bytes([0, 0, 0, 16, 7]) + REQUEST + frame(0x81, b"Hello", KEY))
    write("handshake_server", "reject", bytes([4, 0, 0, 16, 0]) + REQUEST + b"body")
    write("handshake_server", "too-many-headers", bytes([0, 0, 0, 3, 0]) + REQUEST)
    write("handshake_server", "post", bytes([0, 0, 0, 16, 0]) + REQUEST.replace(b"GET", b"POST"))
    write("handshake_server", "version-8", bytes([0, 0, 0, 16, 0]) + REQUEST.replace(b"Version: 13", b"Version: 8"))
    # Client handshake: flags (bit 0-1: valid prefix), max, header slots, step, bytes.
    write("handshake_client", "accepted", bytes([2, 0, 0, 16, 0]) + frame(0x81, b"Hello"))
    write("handshake_client", "subprotocol", bytes([1, 0, 0, 16, 5]) + b"Sec-WebSocket-Protocol: chat\r\n\r\n")
    write("handshake_client", "extension", bytes([1, 0, 0, 16, 0]) + b"Sec-WebSocket-Extensions: x-ext; a=1\r\n\r\n")
    write("handshake_client", "rejected", bytes([0, 0, 0, 16, 3]) +
          b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nforbid")
    write("handshake_client", "rejected-no-length", bytes([8, 0, 0, 16, 0]) +
          b"HTTP/1.1 503 Service Unavailable\r\n\r\nlater")
    chunked_body = (b"4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                    b"0\r\nExpires: never\r\n\r\n")
    write("handshake_client", "rejected-chunked", bytes([0x10, 0, 0, 16, 0]) +
          b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
          chunked_body)
    # Mode 3: the chunked refusal head is the prefix; bare LFs, read one byte at a time.
    write("handshake_client", "chunked-prefix", bytes([3, 0, 0, 16, 0]) +
          b"\r\n3\nabc\n0\nT: 1\n\n")
    write("handshake_client", "chunked-invalid", bytes([0x0B, 0, 0, 16, 0]) +
          b"X-A: b\r\n\r\n5\r\nhello\r\nzz\r\n")
    # Connections: flags (u16), mode, then operations (tag 0: feed len:u16le bytes).
    for target, mask in (("conn_server", KEY), ("conn_client", None)):
        for i, f in enumerate(rfc_frames(mask)):
            write(target, "rfc-5-7-%d" % i, bytes([0, 0, 0]) + feed_op(f))
        allf = b"".join(rfc_frames(mask)[:-2])
        write(target, "all", bytes([0, 0, 0]) + feed_op(allf))
        # Split one byte per read (tag 1: chunk-1, len).
        write(target, "bytewise", bytes([0, 0, 0, 1, 0]) + struct.pack("<H", len(allf)) + allf)
        # After a synthesized handshake, then a ping flood and a jump to the deadlines.
        write(target, "handshake-pings", bytes([0, 0, 1]) + feed_op(frame(0x89, b"p", mask) * 20) + bytes([5]))
        # Sends: text, binary, fragment, stream, ping, close.
        sends = (bytes([6, 10]) + b"hello text" + bytes([7, 3]) + b"bin" +
                 bytes([8, 2, 2]) + b"ab" + bytes([9, 1, 4, 0]) + bytes([10, 4]) + b"abcd" +
                 bytes([11, 1]) + b"p" + bytes([13, 0x03, 0xE8, 2]) + b"ok" + bytes([5]))
        write(target, "sends", bytes([0, 0, 0]) + sends)
        # Keepalive and close timeouts (flags: keepalive + close timeout).
        write(target, "timers", bytes([0xC0, 0, 100, 0, 200, 0, 50, 0, 0]) + bytes([4, 200, 0, 1, 5, 13, 0x03, 0xE8, 0, 5, 5]))
        # Deferred handshake: the deadline passes first.
        write(target, "deferred", bytes([0x10, 0, 10, 0, 2, 5, 16]))
    # UTF-8: number of cuts, cuts (u16), bytes.
    samples = ["κόσμε".encode(), b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf0\x90\x80\x80",
               b"\xc0\xaf", b"\xe2\x82", "𝄞 ascii ünïcödé".encode(), b"ab\xf4\x90\x80\x80cd"]
    for i, s in enumerate(samples):
        write("utf8", "sample-%d" % i, bytes([0]) + s)
        write("utf8", "split-%d" % i, bytes([3, 1, 0, 2, 0, 3, 0]) + s)
    # Close frames: flags, code (big endian), cut, reason.
    for name, code, reason in (("normal", 1000, b"bye"), ("reserved-1004", 1004, b""),
                               ("no-status-1005", 1005, b""), ("private-4999", 4999, "κ".encode()),
                               ("5000", 5000, b""), ("bad-utf8", 1001, b"\xff"), ("unassigned-2999", 2999, b"")):
        write("close_frame", name, bytes([0]) + struct.pack(">H", code) + bytes([3]) + reason)
        write("close_frame", name + "-client", bytes([1]) + struct.pack(">H", code) + bytes([0]) + reason)
    write("close_frame", "empty", bytes([0, 0, 0, 0]))
    write("close_frame", "one-byte", bytes([4, 3, 0xE8, 1]))
    deflate_seeds()


def u16(n):
    return struct.pack("<H", n)


def deflate_seeds():
    """Seeds of the deflate targets (layouts at the top of fuzz_targets/deflate*.rs)."""
    def setup(ib, nb, flags=0, limit=0xFFFF, out=4096, read=0xFFFF):
        b = (ib - 8) | ((nb - 8) << 3)
        return bytes([b, flags]) + u16(limit) + u16(out - 1) + u16(read - 1) + KEY

    def msg(flags, data, frags=1, level=6, reps=1, cuts=(), damage=None):
        m = bytes([flags, frags - 1, level, reps - 1]) + u16(len(data)) + data
        if damage is not None:
            m += u16(damage[0]) + bytes([damage[1]])
        for c in cuts:
            m += u16(c)
        return m

    text = b"permessage-deflate: the same words, the same words again. "
    # Message flags: bits 0-1 source (0 raw bytes, 1-2 flate2, 3 flate2 with a damaged byte),
    # 0x04 text, 0x08 final block, 0x10 uncompressed, 0x20 ping before the last fragment,
    # 0x40 text made valid UTF-8.
    write("deflate", "hello", setup(15, 15) + msg(0x45, b"Hello"))
    write("deflate", "takeover", setup(15, 15) + msg(0x45, text) + msg(0x45, text) + msg(0x01, text, reps=4))
    write("deflate", "no-takeover-9-bits", setup(9, 9, flags=1) + msg(0x45, text, reps=20) + msg(0x45, text))
    write("deflate", "fragments-ping", setup(12, 10) + msg(0x65, text, frags=3, reps=8, cuts=(7, 100)))
    write("deflate", "final-block", setup(15, 15) + msg(0x09, text) + msg(0x01, text))
    write("deflate", "damaged", setup(15, 15) + msg(0x03, text, reps=3, damage=(5, 0x40)))
    # RFC 7692 §7.2.3.1: "Hello" compressed, sent as raw bytes.
    write("deflate", "rfc7692-hello", setup(15, 15) + msg(0x04, bytes.fromhex("f248cdc9c90700")))
    write("deflate", "corrupt", setup(15, 15) + msg(0x00, b"\xff\xff\xff\xff"))
    write("deflate", "uncompressed-between", setup(15, 15) + msg(0x45, text) + msg(0x14, b"plain") + msg(0x45, text))
    write("deflate", "bomb", setup(15, 15, limit=1000) + msg(0x02, bytes(2000), reps=64))
    write("deflate", "tiny-out-bytewise", setup(10, 10, out=1, read=1) + msg(0x45, text, reps=4))
    write("deflate", "8-bits", setup(8, 8) + msg(0x45, text, reps=8))
    write("deflate", "bad-utf8", setup(15, 15) + msg(0x05, b"a\xc3\x28b" * 10))

    def rt(bits, level, flags, room, msgs):
        return bytes([bits - 8, level, flags, room - 1]) + b"".join(msgs)

    def rmsg(data, flags=0, pieces=1, reps=1, cuts=()):
        return bytes([flags, pieces - 1, reps - 1]) + u16(len(data)) + data + b"".join(u16(c) for c in cuts)

    rnd = bytes((i * 131 + (i >> 3) * 17) & 0xFF for i in range(1500))
    write("deflate_roundtrip", "text-15-6", rt(15, 6, 0, 255, [rmsg(text, reps=20), rmsg(text)]))
    write("deflate_roundtrip", "8-bits-split", rt(8, 9, 0, 1, [rmsg(text, pieces=4, reps=30, cuts=(1, 300, 1000))]))
    write("deflate_roundtrip", "9-bits-no-takeover", rt(9, 4, 1, 64, [rmsg(text, reps=10), rmsg(text, reps=10)]))
    write("deflate_roundtrip", "stored-level-0", rt(12, 0, 0, 100, [rmsg(rnd, pieces=2, cuts=(700,))]))
    write("deflate_roundtrip", "level-1-random", rt(15, 1, 2, 3, [rmsg(rnd, reps=40)]))
    write("deflate_roundtrip", "empty-and-reset", rt(11, 2, 0, 16, [rmsg(b""), rmsg(text, flags=1), rmsg(b"")]))

    # hub_protocol: JSON requests, credentials, an HTTP head, RESP replies, rules, URLs.
    for name, data in [
        ("subscribe", b'{"type":"subscribe","channel":"chat.lobby","last_seq":41,"epoch":"a1b2","id":7}'),
        ("publish", b'{"type":"publish","channel":"c","id":"x","payload":{"text":"hi","n":[1,2.5,null,true]}}'),
        ("auth", b'{"type":"auth","token":"dXNlcgoxMDAKYWJj.c2ln"}'),
        ("escapes", b'{"type":"publish","channel":"c","payload":"\\u00e9\\ud83d\\ude00\\n"}'),
        ("head", b"GET /ws?token=abc HTTP/1.1\r\nHost: h\r\nCookie: hub_session=a.b\r\nUpgrade: websocket\r\n\r\n"),
        ("resp-array", b"*3\r\n$7\r\nmessage\r\n$12\r\nhub:messages\r\n$5\r\nc\n1\nx\r\n"),
        ("resp-xrange", b"*4\r\n$4\r\nabcd\r\n:3\r\n:1\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\ns\r\n:3\r\n$1\r\nf\r\n$2\r\n{}\r\n"),
        ("rule", b"ticker.:all:admins"),
        ("url", b"redis://127.0.0.1:6379/2"),
        ("one-byte", b"x"),
    ]:
        write("hub_protocol", name, data)


if __name__ == "__main__":
    main()
