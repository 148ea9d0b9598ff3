"""The manifest's ``log.verifier_key`` (docs/bundle.md ``manifest.json``): the writer names
the log key that signed the bundle's checkpoint (the newest of them in a rotation's
overlap), and every verifier treats the field as a hint for people only, never as a trust
source. Three verifiers as tests/verdicts/ runs them: ``evidence verify --json``,
``python -I scripts/verify_bundle.py`` in a venv holding only cryptography, and
``EvidenceVerify.verifyBundle`` in Chromium.

The log is real (SQLite): an item, its checkpoint signed by the old key, timestamped by
the local OpenSSL TSA and cosigned by a witness; ``rotate_key`` with overlap 1 (the
rotation's checkpoint signed by both keys, anchored); more entries and a checkpoint the
new key alone signs, anchored. The attacker's bundle is the new one with its checkpoint
signed by a key of the attacker's own, of the log's name, and the manifest naming that key
(the token and the cosignature are over the checkpoint's body: they stay valid). Every
bundle is exported after the rotation, when the ledger's current key is the new one.
Expected verdicts are written from the contract, never read back from a verifier."""

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
ORIGIN = "manifest-key.example/log"
CHECKPOINT = "checkpoint/checkpoint.note"
MANIFEST = "manifest.json"


@dataclass
class Corpus:
    dir: Path
    bundles: dict[str, Path]
    trust: Path
    keys: dict[str, str]  # old, new, attacker: verifier keys


def _with_manifest_key(m: dict[str, bytes], vkey: str) -> dict[str, bytes]:
    man = json.loads(m[MANIFEST])
    man["log"]["verifier_key"] = vkey
    return {**m, MANIFEST: json.dumps(man).encode()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[Corpus]:
    tmp = tmp_path_factory.mktemp("manifest-log-key")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    bundles: dict[str, Path] = {}
    try:
        store = FilesystemBlobStore(d / "blobs")
        f = tmp / "deed.txt"
        f.write_bytes(b"the deed, signed 2026-12-02\n")
        item = Intake(led, store).submit(ItemSpec(files=[f], kind="document", case="C-9",
                                                  principal="acme")).evidence_id
        led.append("custody.note", {"text": "after"})
        witness = generate_signer("witness-m.example", ALG_COSIGNATURE_V1)
        old = read_private_key(d / "log.key")

        sizes: dict[str, int] = {}

        def anchored(name: str) -> None:
            sizes[name] = led.sign_checkpoint_now().size
            anchor(led, sizes[name], tsa.url, tsa.ca_cert_pem, witness)

        anchored("old")
        new = generate_signer(ORIGIN)
        w = led.rotate_key(new, overlap=1)
        anchored("overlap")
        for i in range(3):
            led.append("custody.note", {"after": i})
        anchored("new")
        until = w.from_size + 1
        for name, size in sizes.items():  # all after the rotation: the old key is retired
            bundles[name] = tmp / f"{name}.zip"
            export_bundle(led, store, item, bundles[name], checkpoint_size=size)
    finally:
        led.close()

    attacker = generate_signer(ORIGIN)  # the log's name, the attacker's key
    keys = {"old": old.verifier().to_string(), "new": new.verifier().to_string(),
            "attacker": attacker.verifier().to_string()}
    m = members(bundles["new"].read_bytes())
    note = m[CHECKPOINT].decode()
    cosig = [ln for ln in note.split("\n\n", 1)[1].splitlines()
             if ln.startswith("\u2014 witness-m.example ")]
    assert cosig, "the new bundle's checkpoint carries the witness's cosignature"
    m[CHECKPOINT] = (sign_note(parse_note(note).text, [attacker])
                     + "".join(ln + "\n" for ln in cosig)).encode()
    bundles["attacker"] = tmp / "attacker.zip"
    bundles["attacker"].write_bytes(rezip(_with_manifest_key(m, keys["attacker"])))
    genuine = members(bundles["old"].read_bytes())
    bundles["old-names-attacker"] = tmp / "old-names-attacker.zip"
    bundles["old-names-attacker"].write_bytes(
        rezip(_with_manifest_key(genuine, keys["attacker"])))

    ca_der = x509.load_pem_x509_certificate(tsa.ca_cert_pem).public_bytes(Encoding.DER)
    trust = tmp / "trust.txt"
    trust.write_text(f"log {keys['new']}\nwitness w1 {witness.verifier().to_string()}\n"
                     f"group g 1 w1\nquorum g\n"
                     f"#@ tsa local {base64.b64encode(ca_der).decode()}\n"
                     f"#@ log-key {keys['old']} 0 {until}\n")
    yield Corpus(tmp, bundles, trust, keys)


@pytest.fixture(scope="module")
def page_runner(request: pytest.FixtureRequest) -> PageRunner:
    return PageRunner(request)


def _manifest(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(members(path.read_bytes())[MANIFEST])
    return result


def test_the_manifest_names_the_key_that_signed_the_checkpoint(corpus: Corpus) -> None:
    got = {n: _manifest(corpus.bundles[n])["log"] for n in ("old", "overlap", "new")}
    assert got["old"] == {"origin": ORIGIN, "verifier_key": corpus.keys["old"]}
    # both keys signed the rotation's checkpoint: the newest is named
    assert got["overlap"]["verifier_key"] == corpus.keys["new"]
    assert got["new"]["verifier_key"] == corpus.keys["new"]
    # the report says what the manifest says
    report = members(corpus.bundles["old"].read_bytes())["report/report.txt"].decode()
    assert f"log key / 日志公钥: {corpus.keys['old']}" in report
    assert corpus.keys["new"] not in report


_SEEN: dict[tuple[str, str], Outcome] = {}


def _command(argv: list[str], cwd: Path) -> Outcome:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    report: Any = json.loads(lines[0]) if len(lines) == 1 else None
    return outcome_of(report, p.returncode, f"exit {p.returncode}; {p.stderr[-1500:]}")


def _run(request: pytest.FixtureRequest, c: Corpus, bundle: str, verifier: str) -> Outcome:
    key = (bundle, verifier)
    if key not in _SEEN:
        args = [str(c.bundles[bundle]), "--trust", str(c.trust), "--json"]
        if verifier == "package":
            _SEEN[key] = _command([str(Path(sys.executable).parent / "evidence"), "verify",
                                   *args], c.dir)
        elif verifier == "script":
            python = request.getfixturevalue("bare_python")
            _SEEN[key] = _command([str(python), "-I", str(SCRIPT), *args], c.dir)
        else:
            runner: PageRunner = request.getfixturevalue("page_runner")
            _SEEN[key] = runner.verify(c.bundles[bundle], c.trust, None)
    return _SEEN[key]


CASES = [  # (bundle, verdict, failed check, why)
    ("attacker", "failed", "checkpoint", "the checkpoint is signed by the key the manifest "
     "names, which the trust file does not pin"),
    ("old-names-attacker", "verified", None, "a genuine bundle whose manifest names another "
     "key: the field is not read for the verdict"),
    ("old", "verified", None, "the retired key inside its window, as written"),
]


@pytest.mark.parametrize("bundle,verdict,failed,why", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("verifier", VERIFIERS)
def test_the_manifest_key_is_no_trust_source(bundle: str, verdict: str, failed: str | None,
                                             why: str, verifier: str, corpus: Corpus,
                                             request: pytest.FixtureRequest) -> None:
    o = _run(request, corpus, bundle, verifier)
    assert (o.verdict, o.failed_check) == (verdict, failed), (
        f"{verifier} on {bundle} ({why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    if verifier != "page":
        assert o.exit_status == {"verified": 0, "failed": 1}[verdict]


@pytest.mark.parametrize("bundle", [c[0] for c in CASES])
def test_the_three_agree(bundle: str, corpus: Corpus, request: pytest.FixtureRequest) -> None:
    got = {w: _run(request, corpus, bundle, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states
