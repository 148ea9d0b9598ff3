"""A real RFC 3161 time-stamping authority over HTTP, for tests: `openssl ts -reply` behind a
small threaded HTTP server on 127.0.0.1.

Why not a fake: a fake signs whatever the code under test expects, so it proves nothing about
interoperability. Every token here comes from OpenSSL with a real key and certificate built by
`make_test_tsa.sh`; the deliberately bad variants are bad in exactly one way each.

One server serves every variant at ``http://127.0.0.1:PORT/<variant>/`` (see VARIANTS). It can be
used from the pytest plugin (tests/support/tsa.py) or run alone for manual tests::

    python tests/support/tsa_server.py DIR      # builds the PKI in DIR, prints the base URL
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILDER = HERE / "make_test_tsa.sh"

ID_CT_TSTINFO = "1.2.840.113549.1.9.16.1.4"

#: variants whose replies come straight from `openssl ts -reply -config <variant>/tsa.cnf`
OPENSSL_VARIANTS = ("good", "quirky", "untrusted", "expired", "reject")
#: variants whose tokens are signed with `openssl cms -sign` (openssl ts refuses their certificate)
CMS_VARIANTS = ("no-eku", "noncritical-eku")
#: variants that misbehave at the HTTP level
HTTP_VARIANTS = ("garbage", "slow", "http-error", "huge")
VARIANTS = OPENSSL_VARIANTS + CMS_VARIANTS + HTTP_VARIANTS

GARBAGE_REPLY = b"\x30\x03\x02\x01this is not a TimeStampResp"
HUGE_REPLY_SIZE = 4 * 1024 * 1024
MAX_QUERY = 64 * 1024


def build_pki(directory: Path) -> Path:
    """Run make_test_tsa.sh into `directory` (idempotent enough for a fresh temp folder)."""
    subprocess.run(
        ["bash", str(BUILDER), str(directory)], check=True, capture_output=True, timeout=120
    )
    return directory


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def wrap_token_granted(token: bytes) -> bytes:
    """TimeStampResp ::= SEQUENCE { status PKIStatusInfo (granted), timeStampToken }."""
    content = b"\x30\x03\x02\x01\x00" + token
    return b"\x30" + _der_length(len(content)) + content


class TSAServer:
    """Serve the PKI in `pki_dir` over HTTP. `start()` returns the base URL; `close()` stops it."""

    def __init__(self, pki_dir: Path) -> None:
        self.pki_dir = Path(pki_dir).resolve()
        # one `openssl ts -reply` at a time: the serial files are not safe for concurrent writers
        self._lock = threading.Lock()
        self._release_slow = threading.Event()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests_seen = 0

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, variant: str) -> str:
        if variant not in VARIANTS:
            raise KeyError(f"unknown TSA variant {variant!r}; known: {', '.join(VARIANTS)}")
        return f"{self.base_url}/{variant}/"

    def start(self) -> str:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                server.requests_seen += 1
                variant = self.path.strip("/").split("/", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_QUERY:
                    self._send(413, b"query too large", "text/plain")
                    return
                body = self.rfile.read(length)
                status, payload, ctype = server._answer(variant, body)
                self._send(status, payload, ctype)

            def _send(self, status: int, payload: bytes, ctype: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests): nothing to tell it

            def log_message(self, format: str, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="test-tsa", daemon=True)
        self._thread.start()
        return self.base_url

    def close(self) -> None:
        self._release_slow.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # --- replies -------------------------------------------------------------------------

    def _answer(self, variant: str, query: bytes) -> tuple[int, bytes, str]:
        reply_type = "application/timestamp-reply"
        if variant in OPENSSL_VARIANTS:
            return self._openssl_reply(variant, query)
        if variant in CMS_VARIANTS:
            return self._cms_reply(variant, query)
        if variant == "garbage":
            return 200, GARBAGE_REPLY, reply_type
        if variant == "slow":
            # hang until the server closes (or a minute passes): the client must time out first
            self._release_slow.wait(60)
            return 503, b"too late", "text/plain"
        if variant == "http-error":
            return 500, b"internal error", "text/plain"
        if variant == "huge":
            return 200, b"\x30" * HUGE_REPLY_SIZE, reply_type
        return 404, b"unknown TSA variant", "text/plain"

    def _run(self, args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(args, cwd=cwd, capture_output=True, timeout=30, check=False)

    def _openssl_reply(self, variant: str, query: bytes) -> tuple[int, bytes, str]:
        vdir = self.pki_dir / variant
        with self._lock, tempfile.TemporaryDirectory() as td:
            q, r = Path(td, "q.tsq"), Path(td, "r.tsr")
            q.write_bytes(query)
            p = self._run(
                ["openssl", "ts", "-reply", "-config", str(vdir / "tsa.cnf"),
                 "-queryfile", str(q), "-out", str(r)],
                vdir,
            )
            if p.returncode != 0 or not r.exists():
                return 400, p.stderr, "text/plain"
            return 200, r.read_bytes(), "application/timestamp-reply"

    def _cms_reply(self, variant: str, query: bytes) -> tuple[int, bytes, str]:
        """TSTInfo from a well-behaved `openssl ts -reply`, re-signed by this variant's bad
        certificate with `openssl cms -sign`: the signature is real, only the EKU is wrong."""
        vdir = self.pki_dir / variant
        with self._lock, tempfile.TemporaryDirectory() as td:
            t = Path(td)
            (t / "q.tsq").write_bytes(query)
            steps = [
                ["openssl", "ts", "-reply", "-config", str(vdir / "tstinfo.cnf"),
                 "-queryfile", "q.tsq", "-token_out", "-out", "src.tok"],
                ["openssl", "cms", "-verify", "-noverify", "-inform", "DER",
                 "-in", "src.tok", "-out", "tstinfo.der"],
                ["openssl", "cms", "-sign", "-binary", "-nodetach", "-nosmimecap",
                 "-econtent_type", ID_CT_TSTINFO, "-md", "sha256",
                 "-signer", str(vdir / "tsa.crt"), "-inkey", str(vdir / "tsa.key"),
                 "-outform", "DER", "-in", "tstinfo.der", "-out", "token.der"],
            ]
            for args in steps:
                p = self._run(args, t)
                if p.returncode != 0:
                    return 400, p.stderr, "text/plain"
            return 200, wrap_token_granted((t / "token.der").read_bytes()), (
                "application/timestamp-reply"
            )


def main(argv: list[str]) -> None:
    directory = Path(argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="test-tsa-"))
    build_pki(directory)
    srv = TSAServer(directory)
    base = srv.start()
    print(f"{base}/<variant>/   variants: {', '.join(VARIANTS)}", flush=True)
    print(f"trust anchor: {directory / 'root' / 'ca.crt'}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.close()


if __name__ == "__main__":
    main(sys.argv)
