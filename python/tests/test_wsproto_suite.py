"""wsproto's own test-suite and examples, run against ``wsmachine.wsproto``.

The tests are wsproto 1.3.2's (``tests/`` of its sdist). The sdist is downloaded once with pip
into ``<repo>/.tools/wsproto-sdist/`` (git-ignored) and checked against its SHA-256; its tests
are copied into a temporary directory with every ``wsproto`` import rewritten to
``wsmachine.wsproto`` and run by pytest in a subprocess (from there, so the installed
``wsmachine`` is the one imported). Nothing of wsproto is kept in this repository.

Every wsproto test must pass except those in ``EXPECTED_FAILURES``, each with the reason; a
listed test that passes fails the check as well, so the list stays exact. The reasons are the
ones python/README.md gives under "Differences from wsproto". wsproto's two example
programs (a synchronous echo server and client over sockets) run against each other the same
way, unchanged but for the imports.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import socket
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path


WSPROTO_VERSION = "1.3.2"
SDIST_SHA256 = "b86885dcf294e15204919950f666e06ffc6c7c114ca900b060d6e16293528294"
SDIST_DIR = Path(__file__).resolve().parents[2] / ".tools" / "wsproto-sdist"

#: How many tests wsproto 1.3.2's suite has, and how many of them pass here.
TOTAL = 230
PASSED = 103

_FRAME_INTERNALS = (
    "wsproto's frame-level classes (FrameProtocol, FrameDecoder, MessageDecoder, Buffer, Frame, "
    "XorMaskerSimple, ParseFailed) are internals outside wsproto's documented API; the framing "
    "is in Rust"
)
_PMD_FRAME_HOOKS = (
    "PerMessageDeflate's frame hooks, driven by wsproto's FrameProtocol: wsmachine compresses "
    "and inflates in Rust and has neither"
)

#: wsproto tests that fail here (patterns over ``module.Class::test[params]``), with why.
EXPECTED_FAILURES: dict[str, str] = {
    "tests.test_frame_protocol*": _FRAME_INTERNALS,
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_inbound_*": _PMD_FRAME_HOOKS,
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_outbound_*": _PMD_FRAME_HOOKS,
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_client_*": _PMD_FRAME_HOOKS,
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_compressor_reset*": _PMD_FRAME_HOOKS,
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_decompressor_reset*": (
        _PMD_FRAME_HOOKS
    ),
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_accept_ignores_rubbish": (
        "RFC 7692 section 7: an offer with parameters it does not define is declined "
        "(accept returns None); wsproto accepts it"
    ),
    "tests.test_permessage_deflate.TestPerMessageDeflate::test_finalize_ignores_rubbish": (
        "RFC 7692 section 7: a response with parameters it does not define fails the "
        "connection (finalize raises ValueError); wsproto takes it"
    ),
    "tests.test_server::test_handshake_rejection": (
        "the engine's refusal head has a reason phrase ('400 Bad Request') and "
        "'Connection: close'; h11 writes neither"
    ),
    "tests.test_server::test_handshake_rejection_with_body": (
        "a refusal body is chunked and its Content-Length header dropped (the engine frames "
        "the response); h11 frames it by the application's Content-Length"
    ),
    "tests.test_connection::test_receive_data_when_closed": (
        "sets the private attribute Connection._state; the state is the engine's"
    ),
}

_IMPORT = re.compile(r"^(\s*)(from|import) wsproto(?=[\s.])", re.MULTILINE)


def _sdist() -> Path:
    """wsproto's sdist, downloaded (pip, hash-checked) when it is not there yet."""
    path = SDIST_DIR / f"wsproto-{WSPROTO_VERSION}.tar.gz"
    if not path.exists():
        SDIST_DIR.mkdir(parents=True, exist_ok=True)
        pin = SDIST_DIR / "requirements.txt"
        pin.write_text(f"wsproto=={WSPROTO_VERSION} --hash=sha256:{SDIST_SHA256}\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r", str(pin),
             "-d", str(SDIST_DIR)],
            check=True,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == SDIST_SHA256, f"{path}: sha256 {digest}, expected {SDIST_SHA256}"
    return path


def _extract(sdist: Path, dest: Path, folder: str) -> None:
    """The ``.py`` files of ``folder`` in the sdist, into ``dest/folder``, imports rewritten."""
    prefix = f"wsproto-{WSPROTO_VERSION}/{folder}/"
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not (member.isfile() and member.name.startswith(prefix)):
                continue
            if not member.name.endswith(".py"):
                continue
            source = tar.extractfile(member)
            assert source is not None
            text = source.read().decode("utf-8")
            target = dest / folder / member.name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_IMPORT.sub(r"\1\2 wsmachine.wsproto", text), encoding="utf-8")


def _outcomes(junit: Path) -> dict[str, str]:
    """``module.Class::test[params]`` -> ``passed`` / ``failed`` / ``skipped``."""
    results: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            results[test_id] = "failed"
        elif case.find("skipped") is not None:
            results[test_id] = "skipped"
        else:
            results[test_id] = "passed"
    return results


def _reason(test_id: str) -> str | None:
    for pattern, reason in EXPECTED_FAILURES.items():
        if fnmatch.fnmatchcase(test_id, pattern):
            return reason
    return None


def test_wsproto_suite(tmp_path: Path) -> None:
    _extract(_sdist(), tmp_path, "tests")
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o",
         "addopts=", "--junitxml", str(junit), "tests"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    outcomes = _outcomes(junit)
    passed = sorted(t for t, o in outcomes.items() if o == "passed")
    failed = sorted(t for t, o in outcomes.items() if o != "passed")
    unexpected = [t for t in failed if _reason(t) is None]
    fixed = [t for t in passed if _reason(t) is not None]
    stale = [p for p in EXPECTED_FAILURES if not any(fnmatch.fnmatchcase(t, p) for t in failed)]
    report = run.stdout[-6000:]
    assert not unexpected, f"wsproto tests failing here: {unexpected}\n{report}"
    assert not fixed, f"passing now, take them out of EXPECTED_FAILURES: {fixed}"
    assert not stale, f"EXPECTED_FAILURES patterns that match no failure: {stale}"
    assert (len(outcomes), len(passed)) == (TOTAL, PASSED), report


def test_wsproto_examples(tmp_path: Path) -> None:
    _extract(_sdist(), tmp_path, "example")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-u", "example/synchronous_server.py", "127.0.0.1", str(port)],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while "Waiting for connection" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        client = subprocess.run(
            [sys.executable, "example/synchronous_client.py", "127.0.0.1", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )
    finally:
        server.terminate()
        server.wait(10)
    assert client.returncode == 0, client.stdout + client.stderr
    for line in ("WebSocket negotiation complete", "Received message: taerg si otorpsw",
                 "Received pong: b'table tennis'", "Received 0 bytes (connection closed)"):
        assert line in client.stdout, client.stdout
    assert "Connection closed: code=1000 reason=sample reason" in log.read_text()
