"""SIGHUP reloads a running `evidence serve` (evidence/api/reload.py) without dropping a
request: a real server (one worker, and two behind uvicorn's supervisor, which must
forward the signal), a stream of requests on kept-alive connections throughout, the
configuration file and anchors.json changed, then SIGHUP. Every request of the stream
must succeed; every worker must log the change and apply it (a larger body limit, a
witness added to anchors.json); a file broken afterwards must change nothing."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from evidence.ledger.anchor.config import add_witness, load_anchor_config, save_anchor_config
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.api_server import make_world, start_server

RELOADED = re.compile(r"configuration reloaded \(worker (\d+), [^)]*\): (.*)")
REFUSED = re.compile(r"reload refused, nothing changed \(worker (\d+)\)")


def _config(path: Path, max_body: str) -> None:
    # a generous rate: the stream must never be throttled, whatever the reload does
    path.write_text(f'[limits]\nmax_body = "{max_body}"\nrate = 100000\nburst = 100000\n',
                    encoding="utf-8")


def _wait_for_lines(log: Path, pattern: re.Pattern[str], workers: int,
                    after: int) -> list[re.Match[str]]:
    """The pattern's lines written after byte ``after``, once ``workers`` distinct workers
    wrote one (waits for the server, up to a generous bound; the assertions are on what
    the lines say, never on how long they took)."""
    deadline = time.monotonic() + 60
    while True:
        text = log.read_bytes()[after:].decode("utf-8", "replace")
        found = [m for m in map(pattern.search, text.splitlines()) if m]
        if len({m.group(1) for m in found}) >= workers or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


class Stream:
    """Requests on kept-alive connections until stopped: public reads and authenticated
    ones (through the rate limiter), from two threads. Records every failure."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.done = 0
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}"}) as c:
            while not self.stop.is_set():
                path = "/v1/log/checkpoint" if i == 0 else "/v1/evidence?limit=1"
                try:
                    r = c.get(path)
                    if r.status_code not in (200, 404):
                        self.failures.append(f"{path}: {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as e:
                    self.failures.append(f"{path}: {type(e).__name__}: {e}")
                self.done += 1

    def __enter__(self) -> Stream:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def _post_sizes(base: str, size: int, n: int) -> set[int]:
    """Statuses of ``n`` JSON bodies of ``size`` bytes (new connections, so that every
    worker answers some)."""
    out = set()
    for _ in range(n):
        r = httpx.post(base + "/v1/grants", content=b" " * size,
                       headers={"Content-Type": "application/json"}, timeout=30)
        out.add(r.status_code)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_limits_and_anchors_without_dropping_requests(
        tmp_path: Path, workers: int) -> None:
    world = make_world(tmp_path / "data")
    conf = tmp_path / "evidence.toml"
    _config(conf, "1KiB")
    srv = start_server(world, "--config", str(conf), "--log-level", "info", workers=workers)
    try:
        assert _post_sizes(srv.base, 2000, 8) == {413}
        wkey = generate_signer("w.example/w1", ALG_COSIGNATURE_V1).verifier().to_string()
        with Stream(srv.base, world.tokens["acme"]) as stream:
            while stream.done < 50:  # the stream is under way before the change
                time.sleep(0.05)
            _config(conf, "64KiB")
            cfg = load_anchor_config(world.data)
            # a witness nobody runs: attempts fail and are retried; what counts is that
            # the running server now knows it
            save_anchor_config(add_witness(cfg, "w1", "http://127.0.0.1:9", wkey))
            mark = srv.log.stat().st_size
            srv.proc.send_signal(signal.SIGHUP)
            lines = _wait_for_lines(srv.log, RELOADED, workers, mark)
            before_second = stream.done
            while stream.done < before_second + 50:  # and goes on after it
                time.sleep(0.05)
        assert stream.failures == []
        assert len({m.group(1) for m in lines}) == workers, srv.log.read_text()[-3000:]
        for m in lines:
            assert "limits.max_body 1024 -> 65536" in m.group(2)
            assert "anchors.json: witness w1 added" in m.group(2)
        statuses = _post_sizes(srv.base, 2000, 8)
        assert 413 not in statuses and statuses  # the body reaches the route now
        assert _post_sizes(srv.base, 70_000, 4) == {413}

        # a broken file: every worker refuses it and keeps the limit it has
        conf.write_text("[limits\nmax_body = 1\n", encoding="utf-8")
        mark = srv.log.stat().st_size
        srv.proc.send_signal(signal.SIGHUP)
        refused = _wait_for_lines(srv.log, REFUSED, workers, mark)
        assert len({m.group(1) for m in refused}) == workers
        assert 413 not in _post_sizes(srv.base, 2000, 8)
        assert srv.proc.poll() is None
    finally:
        srv.stop()
