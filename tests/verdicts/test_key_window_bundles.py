"""Log key windows on whole evidence bundles (docs/verdict.md section 3, docs/formats.md
"Log key rotation"), through the three verifiers as tests/verdicts/ runs them:

- ``package``: ``evidence verify B.zip --trust T --json``;
- ``script``: ``python -I scripts/verify_bundle.py`` in a venv holding only cryptography;
- ``page``: ``EvidenceVerify.verifyBundle`` in Chromium.

The log is real (SQLite): an item, its checkpoint signed by the old key, timestamped by
the local OpenSSL TSA and cosigned by a witness; then ``rotate_key`` with overlap 1 (the
rotation's checkpoint signed by both keys, anchored); then more entries and a checkpoint
the new key alone signs, anchored. Each bundle is ``export_bundle`` of the item at one of
those checkpoints. The forgery is what a thief of the old key makes after the window:
the new-key bundle's checkpoint signed again by the old key alone (the RFC 3161 token and
the cosignature are over the checkpoint's body, so they stay valid, and the manifest is
written again). Expected verdicts are written from the contract, never read back from a
verifier; all three must agree on each."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.bundle.export import export_bundle
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_note, sign_note
from tests.support.bundle_world import anchor, members, rezip
from tests.support.page_runner import Outcome, PageRunner, outcome_of
from tests.support.tsa import LocalTSA

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
VERIFIERS = ("package", "script", "page")
ORIGIN = "bundle-rotation.example/log"
CHECKPOINT = "checkpoint/checkpoint.note"


@dataclass(frozen=True)
class Vector:
    name: str
    why: str
    bundle: str   # old, overlap, new, forged-old-after
    trust: str    # old, new, revoked
    verdict: str
    failed_check: str | None = None


VECTORS = [
    Vector("retired-inside-window", "the old key signed the bundle's checkpoint, inside "
           "its window 0..U of the new trust file", "old", "new", "verified"),
    Vector("retired-after-window", "the old key alone signed a checkpoint past U (a "
           "thief's forgery): refused", "forged-old-after", "new", "failed", "checkpoint"),
    Vector("revoked-past-n", "the old key revoked from N below the bundle's checkpoint",
           "old", "revoked", "failed", "checkpoint"),
    Vector("overlap/old-trust", "both keys signed the rotation's checkpoint; the court "
           "holds the trust file of before", "overlap", "old", "verified"),
    Vector("overlap/new-trust", "both keys signed; the new trust file", "overlap", "new",
           "verified"),
    Vector("overlap/revoked-trust", "both keys signed; the old key's line is past its "
           "revoked window, the new key's holds", "overlap", "revoked", "verified"),
    Vector("new-key/new-trust", "the new key alone, past the overlap", "new", "new",
           "verified"),
    Vector("new-key/old-trust", "the new key alone; the court holds only the old key",
           "new", "old", "failed", "checkpoint"),
]
BY_NAME = {v.name: v for v in VECTORS}


@dataclass
class Corpus:
    dir: Path
    bundles: dict[str, Path]
    trust: dict[str, Path]
    sizes: dict[str, int]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Corpus]:
    tmp = tmp_path_factory.mktemp("key-window-bundles")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    try:
        store = FilesystemBlobStore(d / "blobs")
        intake = Intake(led, store)
        f = tmp / "contract.txt"
        f.write_bytes(b"the contract, signed 2026-11-30\n")
        led.append("custody.note", {"text": "first"})
        item = intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                      principal="acme")).evidence_id
        led.append("custody.note", {"text": "second"})
        witness = generate_signer("witness-k.example", ALG_COSIGNATURE_V1)
        old = read_private_key(d / "log.key")
        sizes: dict[str, int] = {}
        bundles: dict[str, Path] = {}

        def anchored_bundle(name: str) -> None:
            size = led.sign_checkpoint_now().size
            anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
            sizes[name] = size
            bundles[name] = tmp / f"{name}.zip"
            export_bundle(led, store, item, bundles[name], checkpoint_size=size)

        anchored_bundle("old")
        new = generate_signer(ORIGIN)
        w = led.rotate_key(new, overlap=1)
        anchored_bundle("overlap")
        assert sizes["overlap"] == w.from_size
        for i in range(3):
            led.append("custody.note", {"after": i})
        anchored_bundle("new")
        until = w.from_size + 1
        assert sizes["new"] > until
        n = sizes["old"] - 1  # the old key revoked below its bundle's checkpoint
    finally:
        led.close()

    m = members(bundles["new"].read_bytes())
    text = parse_note(m[CHECKPOINT].decode()).text
    lines = [ln for ln in m[CHECKPOINT].decode().split("\n\n", 1)[1].splitlines()
             if ln.startswith("\u2014 witness-k.example ")]
    assert lines, "the new bundle's checkpoint carries the witness's cosignature"
    forged = sign_note(text, [old]) + "".join(ln + "\n" for ln in lines)
    m[CHECKPOINT] = forged.encode()
    bundles["forged-old-after"] = tmp / "forged-old-after.zip"
    bundles["forged-old-after"].write_bytes(rezip(m))

    ca_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    common = (f"witness w1 {witness.verifier().to_string()}\ngroup g 1 w1\nquorum g\n"
              f"#@ tsa local {base64.b64encode(ca_der).decode()}\n")
    ov, nv = old.verifier().to_string(), new.verifier().to_string()
    texts = {"old": f"log {ov}\n{common}",
             "new": f"log {nv}\n{common}#@ log-key {ov} 0 {until}\n",
             "revoked": f"log {nv}\n{common}#@ log-key {ov} 0 {n}\n"}
    trust = {}
    for name, t in texts.items():
        trust[name] = tmp / f"trust-{name}.txt"
        trust[name].write_text(t)
    yield Corpus(tmp, bundles, trust, sizes)


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
def test_key_window_bundle_verdict(name: str, verifier: str, corpus: Corpus,
                                   request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    assert (o.verdict, o.failed_check) == (v.verdict, v.failed_check), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    if verifier != "page":
        assert o.exit_status == {"verified": 0, "failed": 1}[v.verdict]


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_key_window_bundle_three_agree(name: str, corpus: Corpus,
                                       request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: _run(request, corpus, v, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states


def test_the_forgery_differs_only_in_its_checkpoint_signature(corpus: Corpus) -> None:
    real, forged = (members(corpus.bundles[n].read_bytes()) for n in ("new", "forged-old-after"))
    changed = {k for k in real if real[k] != forged.get(k)}
    assert changed <= {CHECKPOINT, "manifest.json"}, changed
    assert parse_note(real[CHECKPOINT].decode()).text == \
        parse_note(forged[CHECKPOINT].decode()).text
