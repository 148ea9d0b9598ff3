"""Reading a log's tiles over HTTP (c2sp.org/tlog-tiles): the checkpoint, hash tiles and
entry bundles under one URL prefix, with the size of every answer capped before it is
read (a hostile source cannot make the mirror buffer more than a bundle can hold).

Standard library only (``urllib``), no compression asked for: tiles are small and a
static server or CDN answers plain bytes to a client that accepts nothing else.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from evidence.ledger.tiles_layout import (
    ENTRIES,
    HASH_SIZE,
    MAX_BUNDLE_ENTRY,
    TILE_WIDTH,
    TileId,
    decode_bundle,
    encode_bundle,
)
from evidence.mirror.errors import SourceUnavailable
from evidence.verify.note import MAX_NOTE_SIZE

__all__ = ["TileSource", "normalise_url"]

USER_AGENT = "evidence-mirror"
TIMEOUT = 30.0


def normalise_url(url: str) -> str:
    """The tiles prefix with one trailing slash; only http(s) URLs without credentials."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL of a log's tiles "
                         "(e.g. https://log.example/tlog/)")
    if parts.username or parts.password:
        raise ValueError("the log's URL must not carry credentials")
    if parts.query or parts.fragment:
        raise ValueError("the log's URL is a prefix: no query or fragment")
    return url.strip().rstrip("/") + "/"


def _limit(tile: TileId | None) -> int:
    if tile is None:
        return MAX_NOTE_SIZE
    if tile.level == ENTRIES:
        return tile.width * (2 + MAX_BUNDLE_ENTRY)
    return tile.width * HASH_SIZE


class TileSource:
    """A log's tiles prefix (``https://log.example/tlog/``)."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT) -> None:
        self.base = normalise_url(url)
        self.timeout = timeout
        self.fetched = 0
        """Objects read so far (for the round's report)."""

    def __repr__(self) -> str:
        return f"TileSource({self.base!r})"

    def _get(self, path: str, limit: int) -> bytes | None:
        """The object's bytes; None for 404; :class:`SourceUnavailable` otherwise."""
        url = self.base + path
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Accept-Encoding": "identity"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = resp.read(limit + 1)
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                return None
            raise SourceUnavailable(f"GET {url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise SourceUnavailable(f"GET {url}: {reason}") from None
        if len(data) > limit:
            raise SourceUnavailable(f"GET {url}: more than the {limit} bytes it can hold")
        self.fetched += 1
        return data

    def checkpoint(self) -> bytes:
        data = self._get("checkpoint", _limit(None))
        if data is None:
            raise SourceUnavailable(f"{self.base}checkpoint: the log publishes no checkpoint "
                                    "(404): is this its tiles prefix?")
        return data

    def tile(self, tile: TileId) -> bytes:
        """A hash tile or entry bundle as the log serves it. A partial tile the log no
        longer holds (it may delete partials once their tile is full) is cut from the full
        one, of which it is a prefix; whether either is right is checked by the caller."""
        data = self._get(tile.path, _limit(tile))
        if data is None and not tile.full:
            full = self._get(tile.as_full().path, _limit(tile.as_full()))
            if full is not None:
                data = _prefix(tile, full)
        if data is None:
            hint = (f" (a log leaves out the bundle of an entry longer than "
                    f"{MAX_BUNDLE_ENTRY} bytes)" if tile.level == ENTRIES else "")
            raise SourceUnavailable(f"{self.base}{tile.path}: the log does not serve it "
                                    f"(404){hint}")
        return data


def _prefix(tile: TileId, full: bytes) -> bytes:
    if tile.level != ENTRIES:
        return full[:tile.width * HASH_SIZE]
    try:
        entries = list(decode_bundle(full))
    except ValueError:
        return full  # the caller's check names the bad bundle
    return encode_bundle(entries[:tile.width]) if len(entries) == TILE_WIDTH else full
