"""``evidence anchor`` makes the items' RFC 4998 evidence records; ``evidence anchor renew``
renews them (timestamp, then SHA-512 hash tree) and ``evidence anchor record`` writes one;
a renewal that no TSA answers exits 1 and changes nothing. End to end through the CLI, with
the real local OpenSSL TSA (tests/support/tsa.py)."""

from __future__ import annotations

import json
from pathlib import Path

from evidence.verify.evidence_record import bytes_document, verify_evidence_record
from tests.support.cli_run import add_submitter, init_data_dir, run_cli
from tests.support.ports import free_ports
from tests.support.tsa import LocalTSA


def _json(*args: str, ok: bool = True) -> dict:
    p = run_cli(*args, "--json", check=ok)
    return json.loads(p.stdout.splitlines()[-1])


def test_records_made_renewed_and_written(tmp_path: Path, tsa: LocalTSA) -> None:
    d = init_data_dir(tmp_path)
    who = add_submitter(d, "c1")
    contents = {}
    for i in range(3):
        (f := tmp_path / f"exhibit-{i}.txt").write_bytes(f"exhibit {i}".encode())
        out = _json("submit", str(f), "--case", "c1", "--kind", "document", "--data-dir", d,
                    "--as", who)
        contents[out["evidence_id"]] = f.read_bytes()
    first = next(iter(contents))
    record = tmp_path / "r.ers"
    missing = _json("anchor", "record", first, "-o", str(record), "--data-dir", d, ok=False)
    assert not missing["ok"] and "no evidence record" in missing["error"]

    _json("anchor", "tsa", "add", "good", tsa.url, "--ca", str(tsa.ca_pem_path), "--data-dir", d)
    rnd = run_cli("anchor", "--once", "--data-dir", d).stdout  # the JSON: test_ers_ledger
    assert "evidence records: 3 made with good" in rnd

    def check(eid: str, timestamps: int, algorithms: tuple[str, ...]) -> None:
        _json("anchor", "record", eid, "-o", str(record), "--data-dir", d)
        v = verify_evidence_record(record.read_bytes(), [bytes_document(contents[eid])],
                                   [tsa.ca_cert_pem])
        assert (len(v.timestamps), v.algorithms) == (timestamps, algorithms)

    for eid in contents:
        check(eid, 1, ("sha256",))
    size = _json("log", "checkpoint", "--data-dir", d)["size"]

    # no TSA answers: exit 1, the reason, nothing changed
    (port,) = free_ports(1)
    cfg = Path(d) / "anchors.json"
    good = cfg.read_text()
    conf = json.loads(good)
    conf["tsas"][0]["url"] = f"http://127.0.0.1:{port}/"
    conf["tsas"][0]["timeout"] = 2.0
    cfg.write_text(json.dumps(conf))
    down = _json("anchor", "renew", "--all", "--data-dir", d, ok=False)
    assert not down["ok"] and down["problem"] == "renewal-refused"
    assert "no TSA could be reached" in down["error"] and "good:" in down["error"]
    cfg.write_text(good)
    check(first, 1, ("sha256",))

    due = _json("anchor", "renew", "--due-within", "30", "--data-dir", d)
    assert due["renewed"] == 0  # the test TSA's certificate is valid for years
    ts = _json("anchor", "renew", "--all", "--data-dir", d)
    assert (ts["kind"], ts["renewed"], ts["tsas"]) == ("timestamp", 3, ["good"])
    ht = _json("anchor", "renew", "--hash-tree", "sha512", "--data-dir", d)
    assert (ht["kind"], ht["algorithm"], ht["renewed"]) == ("hash_tree", "sha512", 3)
    for eid in contents:
        check(eid, 3, ("sha256", "sha512"))
    entries = [json.loads(run_cli("log", "entry", str(s), "--data-dir", d).stdout)
               for s in ts["entries"] + ht["entries"]]
    assert ts["entries"] == [size] and ht["entries"] == [size + 1]
    assert [e["type"] for e in entries] == ["ers.renewed", "ers.renewed"]
    assert [e["body"]["kind"] for e in entries] == ["timestamp", "hash_tree"]
    text = run_cli("anchor", "renew", "--hash-tree", "sha512", "--data-dir", d).stdout
    assert "no evidence record to renew" in text
