"""Real local web sites on loopback for the capture tests: plain HTTP and HTTPS with a
certificate from a test CA made here. Every response the server sends is logged, so a
test can hold the capture to exactly what was served."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import secrets
import ssl
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def png(r: int, g: int, b: int) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\x00" + bytes([r, g, b]) * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


LAZY = ("<html><head><title>lazy</title></head><body><h1>top</h1>"
        "<div style='height:6000px'>spacer</div>"
        "<img loading='lazy' src='/img/lazy1.png' width=8 height=8>"
        "<img id=js data-src='/img/lazy2.png' width=8 height=8>"
        "<p>bottom</p><script>new IntersectionObserver((es, o) => es.forEach(e => {"
        "if (e.isIntersecting) { e.target.src = e.target.dataset.src; o.disconnect(); }}))"
        ".observe(document.getElementById('js'));</script></body></html>")
FEED = ("<html><head><title>feed</title></head><body><div id=f></div><script>"
        "let n=0;function more(){for(let i=0;i<20;i++){const p=document.createElement('p');"
        "p.style.height='100px';p.textContent='item '+(n++);f.appendChild(p);}}more();"
        "addEventListener('scroll',()=>{if(innerHeight+scrollY>=document.body.scrollHeight-200)"
        "more();});</script></body></html>")
ZH = ("<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>侵权商品页面</title>"
      "</head><body><h1>正品低价 名牌手袋</h1><p>本店所售商品均为现货，欢迎选购。</p>"
      "</body></html>")

# a button that fetches and reveals a price list (green block), a link within the site
# and a link to the other site
REVEAL = ("<html><head><title>reveal</title></head><body><h1>Bags</h1>"
          "<button id=more onclick=\"fetch('/data/prices.json').then(r => r.json()).then(d => {"
          "const b = document.getElementById('prices'); b.textContent = d.text;"
          "b.style.display = 'block'; })\">Show prices</button>"
          "<div id=prices style='display:none;width:400px;height:200px;"
          "background:rgb(0,200,0)'></div>"
          "<p><a id=next href='/zh'>next page</a> <a id=away href='{other}/'>elsewhere</a></p>"
          "</body></html>")


@dataclass
class Site:
    base: str
    other: str = ""  # another site's base, for redirects and embeds across origins
    served: list[tuple[str, int, bytes]] = field(default_factory=list)  # path, status, body


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, *a: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
              extra: dict[str, str] | None = None, gzip: bool = False) -> None:
        wire = zlib.compress(body, wbits=31) if gzip else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(wire)))
        self.send_header("Cache-Control", "no-store")
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(wire)
        self.site.served.append((self.path, status, body))

    def do_GET(self) -> None:
        p = self.path
        if p == "/":
            self._send(200, b"<html><head><title>Shop</title></head><body><h1>Counterfeit "
                            b"bags</h1><img src='/img/a.png'></body></html>", gzip=True)
        elif p.startswith("/img/"):
            self._send(200, png(200, 30, 30), "image/png")
        elif p == "/r1":
            self._send(302, b"", extra={"Location": "/r2"})
        elif p == "/r2":
            self._send(301, b"", extra={"Location": "/"})
        elif p == "/loop":
            self._send(302, b"", extra={"Location": "/loop"})
        elif p == "/counter":
            token = secrets.token_hex(8)
            self._send(200, f"<html><head><title>c</title></head><body><p id=t>served {token}"
                            f"</p><img src='/img/c-{token}.png'></body></html>".encode())
        elif p == "/lazy":
            self._send(200, LAZY.encode())
        elif p == "/feed":
            self._send(200, FEED.encode())
        elif p == "/zh":
            self._send(200, ZH.encode())
        elif p == "/many":
            imgs = "".join(f"<img src='/img/m{i}.png'>" for i in range(30))
            self._send(200, f"<html><head><title>many</title></head><body>{imgs}</body></html>"
                            .encode())
        elif p == "/to-other":
            self._send(302, b"", extra={"Location": self.site.other + "/"})
        elif p == "/embeds-other":
            self._send(200, f"<html><head><title>embeds</title></head><body><p>page</p>"
                            f"<img src='{self.site.other}/img/x.png'></body></html>".encode())
        elif p == "/download":
            self._send(200, b"PK\x03\x04 not really a zip", "application/zip",
                       extra={"Content-Disposition": 'attachment; filename="goods.zip"'})
        elif p == "/with-download":
            self._send(200, b"<html><head><title>dl</title></head><body>"
                            b"<a href='/download'>download the catalogue</a></body></html>")
        elif p == "/mixed":
            self._send(200, f"<html><head><title>mixed</title></head><body><p>secure</p>"
                            f"<img src='{self.site.other}/img/m.png'></body></html>".encode())
        elif p == "/account":
            who = "acme" if "session=s3cret" in (self.headers.get("Cookie") or "") else None
            self._send(200, (f"<html><head><title>account</title></head><body>"
                             f"{'logged in as ' + who if who else 'please log in'}"
                             f"</body></html>").encode())
        elif p == "/tall":
            self._send(200, b"<html><head><title>tall</title></head><body style='margin:0'>"
                            b"<div style='height:40000px;background:linear-gradient(red,blue)'>"
                            b"</div></body></html>")
        elif p == "/reveal":
            self._send(200, REVEAL.replace("{other}", self.site.other).encode())
        elif p == "/data/prices.json":
            self._send(200, b'{"text": "Hidden price list: 5 USD each"}', "application/json")
        elif p == "/favicon.ico":
            self._send(404, b"")
        else:
            self._send(404, b"<html><head><title>Not found</title></head><body>no such page"
                            b"</body></html>")


@contextmanager
def serve(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[Site]:
    site = Site("")
    handler = type("H", (_Handler,), {"site": site})
    httpd = ThreadingHTTPServer((host, 0), handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    site.base = f"{'https' if tls else 'http'}://{host}:{httpd.server_address[1]}"
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class TestCA:
    ctx: ssl.SSLContext
    leaf_spki_b64: str
    subject_cn: str
    issuer_cn: str


def make_ca(tmp: Path) -> TestCA:
    """A CA and a leaf for 127.0.0.1 signed by it; Chromium trusts the leaf only through
    ``--ignore-certificate-errors-spki-list`` with its SPKI hash."""
    now = dt.datetime.now(dt.UTC)
    day, month = dt.timedelta(days=1), dt.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Evidence Test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - day).not_valid_after(now + month)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")])
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - day).not_valid_after(now + month)
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_pem = tmp / "leaf.pem"
    cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                         + ca.public_bytes(serialization.Encoding.PEM))
    key_pem = tmp / "leaf.key"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return TestCA(ctx, base64.b64encode(hashlib.sha256(spki).digest()).decode(),
                  "shop.test", "Evidence Test CA")
