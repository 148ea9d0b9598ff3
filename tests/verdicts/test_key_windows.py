"""Log key windows (docs/verdict.md section 3, ``#@ log-key``): one checkpoint, signed by a
retired key, a new key or both, against trust files that pin them with windows of tree
sizes. Every vector goes to the three verifiers as a lone ``.tlog-proof`` file (the same
``checkpoint`` check as a bundle's, docs/verdict.md "tlog-proof files"):

- ``package``: ``evidence verify P.tlog-proof --trust T --json``;
- ``script``: ``python -I scripts/verify_bundle.py`` with the same arguments;
- ``page``: ``EvidenceVerify.verifyTlogProof`` in Chromium.

The log is real (SQLite, six items, a checkpoint of size 6); the new key is made here and
each note is the checkpoint's body signed again by the keys a vector names (C2SP
signed-note: one line per key). No witness cosigns, so every trust file says ``quorum
none`` and a vector that passes is ``incomplete`` (cosignatures not checked). Expected
answers are written from the contract, never read back from a verifier."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import load_anchor_config
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.keyfile import read_private_key
from evidence.ledger.log import Ledger
from evidence.ledger.tlog_proof import proof_file
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer, parse_note, sign_note
from tests.support.page_runner import Outcome, PageRunner, outcome_of

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
VERIFIERS = ("package", "script", "page")
ORIGIN = "rotation.example/log"
SIZE = 6


@dataclass(frozen=True)
class Vector:
    name: str
    why: str
    signed_by: tuple[str, ...]  # "old", "new", "bad-new" (a new-key line altered)
    trust: str                  # a key of TRUST below
    verdict: str
    failed_check: str | None = None


TRUST = {  # {old}/{new}: verifier keys; the checkpoint has size 6
    "old-only": "log {old}\nquorum none\n",
    "new+old-0-6": "log {new}\nquorum none\n#@ log-key {old} 0 6\n",
    "new+old-0-5": "log {new}\nquorum none\n#@ log-key {old} 0 5\n",
    "new+old-revoked-3": "log {new}\nquorum none\n#@ log-key {old} 0 3\n",
    "new+old-6-9": "log {new}\nquorum none\n#@ log-key {old} 6 9\n",
}

VECTORS = [
    Vector("retired-inside-window", "the old key signed size 6; pinned for 0..6", ("old",),
           "new+old-0-6", "incomplete"),
    Vector("retired-window-lower-edge", "pinned for 6..9; size 6 is its first", ("old",),
           "new+old-6-9", "incomplete"),
    Vector("retired-after-window", "the old key signed size 6; pinned for 0..5 only",
           ("old",), "new+old-0-5", "failed", "checkpoint"),
    Vector("revoked-past-n", "the old key was revoked from size 3", ("old",),
           "new+old-revoked-3", "failed", "checkpoint"),
    Vector("overlap/old-trust", "both keys signed; the court holds the old file", ("old", "new"),
           "old-only", "incomplete"),
    Vector("overlap/new-trust", "both keys signed; old key past its window, new key good",
           ("old", "new"), "new+old-0-5", "incomplete"),
    Vector("new-only/old-trust", "only the new key signed; the court holds the old file",
           ("new",), "old-only", "failed", "checkpoint"),
    Vector("new-only/new-trust", "only the new key signed", ("new",), "new+old-0-5",
           "incomplete"),
    Vector("overlap/bad-new-line", "the new key's line is altered: a pinned key's bad "
           "signature rejects the note", ("old", "bad-new"), "new+old-0-6", "failed",
           "checkpoint"),
]
BY_NAME = {v.name: v for v in VECTORS}

REFUSED_TRUST = {  # trust files every verifier refuses as a whole (exit 2 / page throws)
    "from-after-until": "log {new}\nquorum none\n#@ log-key {old} 7 6\n",
    "witness-key": "log {new}\nquorum none\n#@ log-key {witness} 0 6\n",
    "key-on-both-lines": "log {new}\nquorum none\n#@ log-key {new} 0 6\n",
    "only-windowed": "quorum none\n#@ log-key {old} 0 6\n",
    "leading-zero": "log {new}\nquorum none\n#@ log-key {old} 0 06\n",
    "too-large": "log {new}\nquorum none\n#@ log-key {old} 0 9007199254740992\n",
    "missing-size": "log {new}\nquorum none\n#@ log-key {old} 0\n",
}


@dataclass
class Corpus:
    dir: Path
    proofs: dict[str, Path]
    trust: dict[str, Path]
    refused: dict[str, Path]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    tmp = tmp_path_factory.mktemp("key-windows")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    ids = []
    for i in range(SIZE):
        f = tmp / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                          principal="acme")).evidence_id)
    cp = led.sign_checkpoint_now()
    assert cp.size == SIZE
    pf = proof_file(intake.receipt(ids[2]), led, load_anchor_config(d))
    led.close()
    assert pf.text is not None
    good = pf.text.encode()
    cp_at = good.index(b"\n\n") + 2
    body = parse_note(good[cp_at:].decode()).text
    old = read_private_key(d / "log.key")
    new = generate_signer(ORIGIN)
    witness = generate_signer("w.example", ALG_COSIGNATURE_V1)
    keys = {"old": old.verifier().to_string(), "new": new.verifier().to_string(),
            "witness": witness.verifier().to_string()}

    def note(who: tuple[str, ...]) -> bytes:
        signers = [old if w == "old" else new for w in who]
        text = sign_note(body, signers)
        if "bad-new" in who:
            lines = text.split("\n")
            i = next(i for i, ln in enumerate(lines)
                     if ln.startswith("\u2014 ") and f"{new.key_id:08x}" in
                     base64.b64decode(ln.split(" ")[2])[:4].hex())
            blob = bytearray(base64.b64decode(lines[i].split(" ")[2]))
            blob[-1] ^= 1
            lines[i] = " ".join([*lines[i].split(" ")[:2], base64.b64encode(blob).decode()])
            text = "\n".join(lines)
        return text.encode()

    proofs = {}
    for v in VECTORS:
        p = tmp / (v.name.replace("/", "__") + ".tlog-proof")
        p.write_bytes(good[:cp_at] + note(v.signed_by))
        proofs[v.name] = p
    trust, refused = {}, {}
    for name, t in TRUST.items():
        trust[name] = tmp / f"trust-{name}.txt"
        trust[name].write_text(t.format(**keys))
    for name, t in REFUSED_TRUST.items():
        refused[name] = tmp / f"refused-{name}.txt"
        refused[name].write_text(t.format(**keys))
    return Corpus(tmp, proofs, trust, refused)


def _command(argv: list[str], cwd: Path) -> Outcome:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    report = json.loads(lines[0]) if len(lines) == 1 else None
    return outcome_of(report, p.returncode, f"exit {p.returncode}; {p.stderr[-1500:]}")


def _argv(verifier: str, proof: Path, trust: Path) -> list[str]:
    head = ([str(Path(sys.executable).parent / "evidence"), "verify"] if verifier == "package"
            else [sys.executable, "-I", str(SCRIPT)])
    return [*head, str(proof), "--trust", str(trust), "--json"]


def _page(runner: PageRunner, proof: Path, trust: Path) -> Outcome:
    got = runner.page.evaluate("""async ([proof, trust]) => {
        const bytes = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
        try {
            const r = await EvidenceVerify.verifyTlogProof(
                bytes(proof), new TextDecoder().decode(bytes(trust)), {});
            return {report: JSON.parse(JSON.stringify(r))};
        } catch (e) { return {error: String(e && e.name) + ': ' + String(e && e.message)}; }
    }""", [base64.b64encode(proof.read_bytes()).decode(),
           base64.b64encode(trust.read_bytes()).decode()])
    return outcome_of(got.get("report"), None, got.get("error", ""))


@pytest.fixture(scope="module")
def page_runner(request: pytest.FixtureRequest) -> PageRunner:
    return PageRunner(request)


_SEEN: dict[tuple[str, str], Outcome] = {}


def _run(request: pytest.FixtureRequest, c: Corpus, v: Vector, verifier: str) -> Outcome:
    key = (v.name, verifier)
    if key not in _SEEN:
        proof, trust = c.proofs[v.name], c.trust[v.trust]
        _SEEN[key] = (_page(request.getfixturevalue("page_runner"), proof, trust)
                      if verifier == "page" else _command(_argv(verifier, proof, trust), c.dir))
    return _SEEN[key]


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in VECTORS for w in VERIFIERS])
def test_key_window_verdict(name: str, verifier: str, corpus: Corpus,
                            request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    want_nc = ("cosignatures",) if v.verdict == "incomplete" else ()
    assert (o.verdict, o.failed_check, o.not_checked) == (v.verdict, v.failed_check, want_nc), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    if verifier != "page":
        assert o.exit_status == {"incomplete": 3, "failed": 1}[v.verdict]


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_key_window_three_agree(name: str, corpus: Corpus,
                                request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: _run(request, corpus, v, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states


@pytest.mark.parametrize("name", sorted(REFUSED_TRUST))
def test_bad_log_key_line_refuses_the_file(name: str, corpus: Corpus,
                                           request: pytest.FixtureRequest) -> None:
    proof, trust = corpus.proofs["retired-inside-window"], corpus.refused[name]
    for verifier in ("package", "script"):
        p = subprocess.run(_argv(verifier, proof, trust), capture_output=True, text=True,
                           cwd=corpus.dir, timeout=300)
        assert p.returncode == 2, (verifier, p.returncode, p.stdout[-500:], p.stderr[-500:])
        assert "line" in p.stderr or "trust" in p.stderr.lower(), (verifier, p.stderr[-500:])
    page = _page(request.getfixturevalue("page_runner"), proof, trust)
    assert not page.report and page.diagnostics.startswith("Error: trust file"), page.diagnostics
