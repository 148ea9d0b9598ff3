"""The mirror's read path: its copy of the log as tlog-tiles over HTTP, standard library
only (``http.server``), in the mirror's process.

Served under two prefixes, each with ``checkpoint`` and ``tile/...``:

* ``/tlog/``: the same paths as the log's own ``evidence serve``, so a client that reads
  the log reads the mirror by changing only the host;
* ``/<origin hash>/``: c2sp.org/tlog-mirror's monitoring path (the lowercase hex
  SHA-256 of the log's origin).

``GET /mirror`` says what the mirror holds and the last refusal, as JSON.

Only what the mirror's last checkpoint covers is served: a file past it (pending in a
round, or left by a refused one) is 404, whatever is on disk. Headers are the log's
(full tiles immutable, partials a minute, the checkpoint seconds); a partial tile no
longer on disk (pruned when its tile filled) is cut from the full one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    TileId,
    TilePathError,
    decode_bundle,
    encode_bundle,
    parse_tile_path,
    tile_at,
)
from evidence.ledger.tiles_store import CHECKPOINT, TileStore, cache_control, content_type
from evidence.verify.checkpoint import parse_checkpoint

__all__ = ["MirrorStatus", "origin_hash", "start_server"]


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()


@dataclass
class MirrorStatus:
    """What the server may serve: set by the mirror loop after each committed round."""

    origin: str | None = None
    size: int | None = None
    source: str | None = None
    mirror_key: str | None = None
    last_error: str | None = None
    last_refusal: str | None = None
    rounds: int = 0
    note: bytes | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def published(self, store: TileStore) -> None:
        """Read the size the store's checkpoint covers (after a round committed it)."""
        raw = store.get(CHECKPOINT)
        if raw is None:
            return
        cp = parse_checkpoint(raw.decode().split("\n\n", 1)[0] + "\n")
        with self.lock:
            self.origin, self.size, self.note = cp.origin, cp.size, raw

    def as_dict(self) -> dict[str, object]:
        with self.lock:
            return {"origin": self.origin, "size": self.size, "source": self.source,
                    "mirror_key": self.mirror_key, "rounds": self.rounds,
                    "last_error": self.last_error, "last_refusal": self.last_refusal,
                    "prefixes": ["/tlog/"] + ([f"/{origin_hash(self.origin)}/"]
                                              if self.origin else [])}


def _prefix(tile: TileId, wider: bytes) -> bytes:
    if tile.level != ENTRIES:
        return wider[:tile.width * HASH_SIZE]
    return encode_bundle(list(decode_bundle(wider))[:tile.width])


class _Handler(BaseHTTPRequestHandler):
    server_version = "evidence-mirror"
    store: TileStore
    status: MirrorStatus

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests and journals
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/mirror"):
            self._send(200, json.dumps(self.status.as_dict()).encode(), "application/json")
            return
        with self.status.lock:
            origin, size, note = self.status.origin, self.status.size, self.status.note
        prefixes = ["/tlog/"] + ([f"/{origin_hash(origin)}/"] if origin else [])
        rest = next((path[len(p):] for p in prefixes if path.startswith(p)), None)
        if rest is None:
            self._send(404, b"not found: the mirror serves /tlog/ and /<origin sha256>/\n")
            return
        if size is None or note is None:
            self._send(404, b"the mirror holds no checkpoint yet\n")
            return
        if rest == CHECKPOINT:
            self._send(200, note, content_type(None), {"Cache-Control": cache_control(None)})
            return
        try:
            tile = parse_tile_path(rest)
        except TilePathError as e:
            self._send(400, f"malformed tile path: {e}\n".encode())
            return
        have = tile_at(size, max(tile.level, 0), tile.index)
        if have is None or have.width < tile.width:
            self._send(404, f"{rest} is past the mirrored tree ({size} entries)\n".encode())
            return
        data = self.store.get(tile.path)
        if data is None and not tile.full:
            wider = self.store.get(TileId(tile.level, tile.index, have.width).path)
            data = None if wider is None else _prefix(tile, wider)
        if data is None:
            self._send(404, f"{rest} is not in the mirror\n".encode())
            return
        self._send(200, data, content_type(tile), {"Cache-Control": cache_control(tile)})


def start_server(host: str, port: int, store: TileStore, status: MirrorStatus
                 ) -> ThreadingHTTPServer:
    """Serve in a daemon thread; ``server.shutdown()`` stops it."""
    handler = type("MirrorHandler", (_Handler,), {"store": store, "status": status})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="mirror-http", daemon=True).start()
    return httpd
