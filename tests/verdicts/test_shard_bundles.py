"""Bundles of three shards (docs/formats.md "Temporal shards") through the three verifiers
as tests/verdicts/ runs them (``package``: ``evidence verify``; ``script``:
``scripts/verify_bundle.py`` in a venv holding only cryptography; ``page``:
``EvidenceVerify.verifyBundle`` in Chromium), which must agree on each.

The log is real (SQLite): an item in each shard, ``start_shard`` twice (each final
checkpoint timestamped by the local OpenSSL TSA and cosigned by the configured witness),
each bundle ``export_bundle`` of the shard that holds the item. Trust files:
``all``, exported by the trust-file writer after the second shard (shard 3's key on the
``log`` line, shards 1 and 2 as ``#@ log-key`` windows ending at their final sizes), and
``shard-1``, exported while shard 1 was active. The forgery is what a thief of shard 1's
key could make from a copy of its database taken before the freeze: a fork past the final
size with an item of its own, timestamped and cosigned; the window of ``all`` refuses it.
Expected verdicts are written from the contract, never read back from a verifier."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from evidence.ledger.anchor.config import (
    add_tsa,
    add_witness,
    load_anchor_config,
    save_anchor_config,
    trust_policy,
)
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.shards import read_registry, shard_holding, start_shard
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44,
    generate_signer,
    parse_verifier_key,
)
from tests.support.bundle_world import anchor
from tests.support.page_runner import Outcome, PageRunner, outcome_of
from tests.support.tsa import LocalTSA
from tests.verdicts.forge import with_members

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
VERIFIERS = ("package", "script", "page")
ORIGINS = ("bundle-shards.example/1", "bundle-shards.example/2", "bundle-shards.example/3")


@dataclass(frozen=True)
class Vector:
    name: str
    why: str
    bundle: str
    trust: str
    verdict: str
    failed_check: str | None = None


VECTORS = [
    Vector("shard-1", "an item of frozen shard 1, proven to its final checkpoint",
           "shard-1", "all", "verified"),
    Vector("shard-2", "an item of frozen shard 2", "shard-2", "all", "verified"),
    Vector("shard-3", "an item of the active shard", "shard-3", "all", "verified"),
    Vector("shard-1-era-trust", "shard 1's item with the trust file of its time",
           "shard-1", "shard-1", "verified"),
    Vector("shard-2-old-trust", "shard 2's checkpoint: its origin is not pinned in the "
           "trust file of shard 1's time", "shard-2", "shard-1", "failed", "checkpoint"),
    Vector("fork-past-final", "shard 1's key signing past the final size: outside its "
           "window", "fork", "all", "failed", "checkpoint"),
    Vector("shard-2-no-pq", "shard 2's final checkpoint with its ML-DSA-44 line cut: the "
           "frozen shard's #@ log-mldsa pin requires it", "shard-2-no-pq", "all", "failed",
           "checkpoint"),
    Vector("shard-1-manifest-lies", "shard 1's bundle whose manifest \"shard\" claims the "
           "active shard 3: informational, never a trust source (the checkpoint decides)",
           "shard-1-lies", "all", "verified"),
    Vector("shard-2-no-pq-unpinned", "the same bundle with a trust file that pins no "
           "ML-DSA-44 key: its Ed25519 line alone passes (the pin is what refuses the cut)",
           "shard-2-no-pq", "all-ed25519", "verified"),
]
BY_NAME = {v.name: v for v in VECTORS}


@dataclass
class Corpus:
    dir: Path
    bundles: dict[str, Path]
    trust: dict[str, Path]


def _submit(led: Ledger, store: FilesystemBlobStore, tmp: Path, name: str) -> str:
    f = tmp / f"{name}.txt"
    f.write_bytes(f"the page preserved in {name}\n".encode())
    return Intake(led, store).submit(ItemSpec(files=[f], kind="document", case="C-1",
                                              principal="acme")).evidence_id


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Corpus]:
    tmp = tmp_path_factory.mktemp("shard-bundles")
    d = tmp / "data"
    witness = generate_signer("witness-s.example", ALG_COSIGNATURE_V1)
    Ledger.create(d, ORIGINS[0], checkpoint_interval=3600).close()
    cfg = add_tsa(load_anchor_config(d), "tsa-local", tsa.url, [tsa.ca_pem_path])
    save_anchor_config(replace(add_witness(cfg, "witness-a", "http://witness.invalid",
                                           witness.verifier().to_string()), witness_quorum=1))

    def anchor_final(led: Ledger, size: int) -> dict[str, bool]:  # the sources' answers
        anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
        return {"tsa-local": True, "witness-a": True}

    store = FilesystemBlobStore(d / "blobs")
    ids: dict[str, str] = {}
    trust: dict[str, Path] = {}
    with Ledger.open(d) as led:
        ids["shard-1"] = _submit(led, store, tmp, "shard-1")
        trust["shard-1"] = tmp / "trust-shard-1.txt"
        trust["shard-1"].write_bytes(trust_policy(load_anchor_config(d), led.verifier).raw or b"")
    fork = tmp / "fork"  # the thief's copy, before the freeze (key included)
    shutil.copytree(d, fork)
    start_shard(d, ORIGINS[1], anchor=anchor_final)
    with Ledger.open(d) as led:  # shard 2 signs with ML-DSA-44 too; so will shard 3
        led.add_mldsa_key(generate_signer(ORIGINS[1], ALG_MLDSA44))
        ids["shard-2"] = _submit(led, store, tmp, "shard-2")
    start_shard(d, ORIGINS[2], anchor=anchor_final)
    with Ledger.open(d) as led:
        ids["shard-3"] = _submit(led, store, tmp, "shard-3")
        anchor(led, led.sign_checkpoint_now().size, tsa.url, tsa.ca_cert_pem, witness)
        trust["all"] = tmp / "trust-all.txt"
        trust["all"].write_bytes(trust_policy(load_anchor_config(d), led.verifier).raw or b"")
    trust["all-ed25519"] = tmp / "trust-all-ed25519.txt"
    trust["all-ed25519"].write_text("".join(
        ln + "\n" for ln in trust["all"].read_text().splitlines()
        if not ln.startswith("#@ log-mldsa ")))
    final_1 = read_registry(d).frozen[0].final_size

    bundles: dict[str, Path] = {}
    for name, evidence_id in ids.items():
        bundles[name] = tmp / f"{name}.zip"
        with shard_holding(Ledger.open(d, read_only=True), evidence_id) as led:
            export_bundle(led, store, evidence_id, bundles[name])
    pq2 = read_registry(d).frozen[1].mldsa
    assert pq2 is not None
    cut: dict[str, bytes] = {}  # the checkpoint and its copy in the tlog-proof member
    with zipfile.ZipFile(bundles["shard-2"]) as z:
        for member in ("checkpoint/checkpoint.note", "tlog-proof/item.tlog-proof"):
            text = z.read(member).decode()
            kept = [ln for ln in text.splitlines(keepends=True)
                    if not (ln.startswith(f"\u2014 {ORIGINS[1]} ") and _signed_by(ln, pq2[0]))]
            assert len(kept) == len(text.splitlines()) - 1  # exactly the ML-DSA-44 line
            cut[member] = "".join(kept).encode()
    with zipfile.ZipFile(bundles["shard-1"]) as z:
        manifest = json.loads(z.read("manifest.json"))
    manifest["shard"] = {"n": 3, "origin": ORIGINS[2], "frozen": False}
    bundles["shard-1-lies"] = tmp / "shard-1-lies.zip"
    bundles["shard-1-lies"].write_bytes(with_members(
        bundles["shard-1"].read_bytes(), {"manifest.json": json.dumps(manifest).encode()}))
    bundles["shard-2-no-pq"] = tmp / "shard-2-no-pq.zip"
    bundles["shard-2-no-pq"].write_bytes(with_members(bundles["shard-2"].read_bytes(), cut))
    with Ledger.open(fork) as led:
        fstore = FilesystemBlobStore(fork / "blobs")
        fake = _submit(led, fstore, tmp, "fork")
        while led.size <= final_1:
            led.append("custody.note", {"text": "the fork grows past the final size"})
        size = led.sign_checkpoint_now().size
        assert size > final_1
        anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
        bundles["fork"] = tmp / "fork.zip"
        export_bundle(led, fstore, fake, bundles["fork"])
    yield Corpus(tmp, bundles, trust)


def _signed_by(line: str, vkey: str) -> bool:
    """Whether a signature line is by the verifier key ``vkey`` (its key ID)."""
    v = parse_verifier_key(vkey)
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    return int.from_bytes(blob[:4], "big") == v.key_id


@pytest.fixture(scope="module")
def page_runner(request: pytest.FixtureRequest) -> PageRunner:
    return PageRunner(request)


def _command(argv: list[str], cwd: Path) -> Outcome:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    report: Any = json.loads(lines[0]) if len(lines) == 1 else None
    return outcome_of(report, p.returncode, f"exit {p.returncode}; {p.stderr[-1500:]}")


_SEEN: dict[tuple[str, str], Outcome] = {}


def _run(request: pytest.FixtureRequest, c: Corpus, v: Vector, verifier: str) -> Outcome:
    key = (v.name, verifier)
    if key not in _SEEN:
        bundle, trust = c.bundles[v.bundle], c.trust[v.trust]
        args = [str(bundle), "--trust", str(trust), "--json"]
        if verifier == "package":
            _SEEN[key] = _command([str(Path(sys.executable).parent / "evidence"), "verify",
                                   *args], c.dir)
        elif verifier == "script":
            python = request.getfixturevalue("bare_python")
            _SEEN[key] = _command([str(python), "-I", str(SCRIPT), *args], c.dir)
        else:
            runner: PageRunner = request.getfixturevalue("page_runner")
            _SEEN[key] = runner.verify(bundle, trust, None)
    return _SEEN[key]


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in VECTORS for w in VERIFIERS])
def test_shard_bundle_verdict(name: str, verifier: str, corpus: Corpus,
                              request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    assert (o.verdict, o.failed_check) == (v.verdict, v.failed_check), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    if verifier != "page":
        assert o.exit_status == {"verified": 0, "failed": 1}[v.verdict]


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_shard_bundle_three_agree(name: str, corpus: Corpus,
                                  request: pytest.FixtureRequest) -> None:
    got = {w: _run(request, corpus, BY_NAME[name], w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states


def test_the_trust_file_pins_each_frozen_shard_to_its_final_size(corpus: Corpus) -> None:
    text = corpus.trust["all"].read_text()
    reg = read_registry(corpus.dir / "data")
    assert [ln for ln in text.splitlines() if ln.startswith("#@ log-key ")] == [
        f"#@ log-key {s.key} 0 {s.final_size}" for s in reg.frozen]
    assert text.count("\nlog ") + text.startswith("log ") == 1
    # shard 2's ML-DSA-44 key pinned beside its window; the active shard 3 got its own
    pq2 = reg.frozen[1].mldsa
    assert reg.frozen[0].mldsa is None and pq2 is not None and pq2[2] == reg.frozen[1].final_size
    pins = [ln.split()[2:] for ln in text.splitlines() if ln.startswith("#@ log-mldsa ")]
    assert pins == [[pq2[0], str(pq2[1])]]  # (the file pins no key of the active shard's)
    d = corpus.dir / "data"  # each shard's key file in its own directory; the frozen gone
    assert not (d / "shards" / "2" / "log-mldsa.key").exists()
    assert (d / "shards" / "3" / "log-mldsa.key").is_file()
    with Ledger.open(d, read_only=True) as led:
        pq3 = led.mldsa_key()
    assert pq3 is not None and pq3[0].name == ORIGINS[2] and pq3[0].to_string() != pq2[0]


def test_each_bundle_names_its_shard(corpus: Corpus) -> None:
    """The manifest's ``shard`` (docs/bundle.md): a frozen shard's number, origin, final
    size and root and its successor; the active shard's number and origin."""
    reg = read_registry(corpus.dir / "data")
    for name, n in (("shard-1", 1), ("shard-2", 2)):
        with zipfile.ZipFile(corpus.bundles[name]) as z:
            shard = json.loads(z.read("manifest.json"))["shard"]
        s = reg.frozen[n - 1]
        assert shard == {"n": n, "origin": s.origin, "frozen": True,
                         "final_size": s.final_size, "final_root": s.final_root,
                         "successor_origin": ORIGINS[n]}
    with zipfile.ZipFile(corpus.bundles["shard-3"]) as z:
        assert json.loads(z.read("manifest.json"))["shard"] == {
            "n": 3, "origin": ORIGINS[2], "frozen": False}
