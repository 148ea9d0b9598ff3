"""Pruning of capture jobs (``<data-dir>/captures/``): finished jobs past the retention are
deleted, an unfinished job whose worker is gone is marked ``failed``/``abandoned``
(nothing preserved), a job queued for a remote node waits. On real files, by
``evidence capture prune`` as a process, and by a real ``evidence serve`` (at start and
then periodically) with jobs made over its HTTP API. No browser is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evidence.ledger.capture import jobs
from evidence.verify.note import generate_signer
from tests.support.api_server import CLI, make_world, start_server
from tests.support.ports import free_ports

DAY = 86400.0


def _stamp(seconds_ago: float) -> str:
    t = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _job(folder: Path, cid: str, status: str, seconds_ago: float, **kw: object) -> Path:
    job = {"id": cid, "status": status, "url": "http://example.com/", "case": "case-a",
           "principal": "acme", "created_at": _stamp(seconds_ago + 60),
           "updated_at": _stamp(seconds_ago), "evidence_id": None, "code": None,
           "error": None, "node": None, "title": None, "options": {}, **kw}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cid}.json"
    path.write_text(json.dumps(job))
    return path


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _cid(n: int) -> str:
    return "cap_" + f"{n:032x}"


def test_prune_on_real_files(tmp_path: Path) -> None:
    folder = tmp_path / "captures"
    me = jobs.this_worker()
    dead = {**me, "pid": _dead_pid()}
    reused = {**me, "started": "1"}  # this pid, but another process than the one recorded
    _job(folder, _cid(1), "done", 40 * DAY, evidence_id="ev_1")
    _job(folder, _cid(2), "done", 10 * DAY, evidence_id="ev_2")
    _job(folder, _cid(3), "refused", 31 * DAY, code="private-address")
    _job(folder, _cid(4), "failed", 31 * DAY, code="capture-error")
    _job(folder, _cid(5), "running", 3600, worker=me)  # longer than any capture
    _job(folder, _cid(6), "running", 60, worker=me)  # this process: still running
    _job(folder, _cid(7), "running", 60, worker=dead)
    _job(folder, _cid(8), "queued", 60, worker=dead)
    _job(folder, _cid(9), "queued", 60, worker=reused)
    _job(folder, _cid(10), "queued", 40 * DAY, node="far-node")  # waits for its node
    _job(folder, _cid(11), "running", 60, node="far-node")
    _job(folder, _cid(12), "running", 60, worker={**dead, "host": "elsewhere"})
    (folder / f"{_cid(13)}.json").write_text("{not json")
    old_tmp = folder / f".{_cid(2)}.1.2.tmp"
    old_tmp.write_text("{}")
    os.utime(old_tmp, (time.time() - 2 * DAY, time.time() - 2 * DAY))
    new_tmp = folder / f".{_cid(6)}.1.2.tmp"
    new_tmp.write_text("{}")
    old_result = folder / "capture-result-abc"
    old_result.mkdir()
    (old_result / "screenshot.png").write_bytes(b"x")
    os.utime(old_result, (time.time() - 2 * DAY, time.time() - 2 * DAY))

    done = jobs.prune(folder, retention_days=30, capture_timeout=60)
    assert sorted(done.deleted) == [_cid(1), _cid(3), _cid(4)]
    assert sorted(done.abandoned) == [_cid(5), _cid(7), _cid(8), _cid(9)]
    assert done.unreadable == [f"{_cid(13)}.json"] and done.kept == 5
    left = {p.name for p in folder.iterdir()}
    assert f"{_cid(1)}.json" not in left and f"{_cid(2)}.json" in left
    assert old_tmp.name not in left and old_result.name not in left
    assert new_tmp.name in left and f"{_cid(13)}.json" in left  # not ours to judge
    for n in (5, 7, 8, 9):
        job = json.loads((folder / f"{_cid(n)}.json").read_text())
        assert job["status"] == "failed" and job["code"] == "abandoned"
        assert "nothing was preserved" in job["error"] and job["evidence_id"] is None
    for n, status in ((6, "running"), (10, "queued"), (11, "running"), (12, "running")):
        assert json.loads((folder / f"{_cid(n)}.json").read_text())["status"] == status
    # a second pass changes nothing more; the abandoned jobs go after the retention
    again = jobs.prune(folder, retention_days=30, capture_timeout=60)
    assert again.deleted == [] and again.abandoned == []
    later = jobs.prune(folder, retention_days=30, capture_timeout=60,
                       now=time.time() + 31 * DAY)
    assert set(later.deleted) >= {_cid(2), _cid(5), _cid(7), _cid(8), _cid(9)}
    assert jobs.prune(tmp_path / "none", retention_days=1).to_json() == {
        "deleted": [], "abandoned": [], "kept": 0, "unreadable": []}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_cli_capture_prune(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "captures"
    _job(folder, _cid(1), "done", 10 * DAY)
    _job(folder, _cid(2), "done", 2 * DAY)
    _job(folder, _cid(3), "running", 3600)
    p = _cli("capture", "prune", "--data-dir", str(data), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"deleted": [], "abandoned": [_cid(3)], "kept": 2,
                                    "unreadable": []}
    p = _cli("capture", "prune", "--data-dir", str(data),
             env={"EVIDENCE_CAPTURE_RETENTION_DAYS": "7"})
    assert p.returncode == 0 and "1 finished job(s) older than 7 days deleted" in p.stderr
    p = _cli("capture", "prune", "--data-dir", str(data), "--older-than", "1", "--json")
    assert json.loads(p.stdout)["deleted"] == [_cid(2)]
    assert sorted(f.name for f in folder.glob("cap_*")) == [f"{_cid(3)}.json"]
    bad = _cli("capture", "prune", "--data-dir", str(data), "--older-than", "-1")
    assert bad.returncode == 2 and "-1" in bad.stderr
    # "prune" is the sub-command only in the first place; elsewhere it is a URL, refused
    url = _cli("capture", "http://127.0.0.1:9/", "prune", "--case", "C", "--data-dir",
               str(data))
    assert url.returncode != 0 and "capture-node key" in url.stderr


def test_serve_prunes_at_start_and_periodically(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    folder = world.data / "captures"
    _job(folder, _cid(1), "done", 40 * DAY, evidence_id="ev_old")
    _job(folder, _cid(2), "done", 1 * DAY, evidence_id="ev_new")
    _job(folder, _cid(3), "running", 60, worker={**jobs.this_worker(), "pid": _dead_pid()})
    node_key = generate_signer("capture.test/far")
    (world.data / "capture-nodes").write_text(
        f"far auditor {node_key.verifier().to_string()}\n")
    saved = {k: os.environ.get(k) for k in ("EVIDENCE_CAPTURE_RETENTION_DAYS",
                                            "EVIDENCE_CAPTURE_PRUNE_INTERVAL")}
    os.environ.update({"EVIDENCE_CAPTURE_RETENTION_DAYS": "30",
                       "EVIDENCE_CAPTURE_PRUNE_INTERVAL": "1"})
    try:
        srv = start_server(world)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        with srv.client("acme") as c:
            # pruned before the server answered its first request
            assert c.get(f"/v1/captures/{_cid(1)}").status_code == 404
            assert not (folder / f"{_cid(1)}.json").exists()
            assert c.get(f"/v1/captures/{_cid(2)}").json()["evidence_id"] == "ev_new"
            gone = c.get(f"/v1/captures/{_cid(3)}").json()
            assert gone["status"] == "failed" and gone["code"] == "abandoned"
            assert "nothing was preserved" in gone["error"] and "worker" not in gone
            # a job made over the API for a remote node, claimed, then never answered
            r = c.post("/v1/captures", json={"url": "http://example.com/", "case": "case-a",
                                             "node": "far", "click": ["#more"]})
            assert r.status_code == 202, r.text
            job = r.json()
            assert "worker" not in job
        with srv.client("auditor") as node:
            claimed = node.post("/v1/captures/claim")
            assert claimed.status_code == 200 and claimed.json()["id"] == job["id"]
            assert claimed.json()["options"]["click"] == ["#more"]
            path = folder / f"{job['id']}.json"
            on_disk = json.loads(path.read_text())
            assert on_disk["status"] == "running" and "worker" not in on_disk
            # the node died an hour ago; and another finished job went past the retention
            path.write_text(json.dumps({**on_disk, "updated_at": _stamp(3600)}))
            _job(folder, _cid(4), "refused", 31 * DAY)
            deadline = time.monotonic() + 60
            with srv.client("acme") as c:
                while True:
                    now = c.get(f"/v1/captures/{job['id']}").json()
                    if now["status"] != "running" and not (folder / f"{_cid(4)}.json").exists():
                        break
                    assert time.monotonic() < deadline, "the periodic pruning did not run"
                    time.sleep(0.2)
            assert now["status"] == "failed" and now["code"] == "abandoned"
            # the node's late answer is refused: the job is over, nothing preserved
            late = node.post(f"/v1/captures/{job['id']}/refusal",
                             json={"code": "timeout", "error": "late"})
            assert late.status_code == 409
    finally:
        srv.stop()
    assert "Traceback" not in srv.log.read_text()


def test_serve_refuses_a_bad_retention_setting(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data")
    (port,) = free_ports(1)
    p = subprocess.run([*CLI, "serve", "--data-dir", str(world.data), "--port", str(port)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "EVIDENCE_CAPTURE_RETENTION_DAYS": "soon"})
    assert p.returncode != 0
    assert "EVIDENCE_CAPTURE_RETENTION_DAYS='soon'" in p.stdout + p.stderr

