"""ML-DSA-44 signatures (docs/verdict.md section 3, ``#@ log-mldsa``; C2SP
tlog-cosignature v1.1): one checkpoint, its notes with and without the log's ML-DSA-44
line, with ML-DSA-44 witness cosignatures, lines altered, against trust files that pin the
ML-DSA-44 key or do not. Every vector goes to the three verifiers as a lone ``.tlog-proof``
file (the bundle's ``checkpoint`` and ``cosignatures`` checks), and three of them as whole
bundles (``evidence export --provisional``; forgeries rewrite ``manifest.json`` as
tests/verdicts/forge.py does, so only the checkpoint check can catch them):

- ``package``: ``evidence verify P.tlog-proof --trust T --json``;
- ``script``: ``python -I scripts/verify_bundle.py`` with the same arguments;
- ``page``: ``EvidenceVerify.verifyTlogProof`` in Chromium (ML-DSA-44 by the vendored
  ``mldsa44.js``).

The log is real (SQLite): three items, then ``evidence log key mldsa`` (its
``key.mldsa_added`` entry is seq 3, so the key signs from size 4), two more items, a
checkpoint of size 6 signed by the log's :class:`~evidence.ledger.log_keys.LogSigners`.
Expected answers are written from the contract, never read back from a verifier."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence.cli.main import cli
from evidence.ledger.anchor.config import load_anchor_config
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.tlog_proof import proof_file
from evidence.verify.checkpoint import cosign_checkpoint
from evidence.verify.note import (
    ALG_MLDSA44,
    SIG_PREFIX,
    generate_signer,
    parse_note,
)
from tests.support.page_runner import Outcome, PageRunner, outcome_of
from tests.verdicts.forge import with_members

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
VERIFIERS = ("package", "script", "page")
ORIGIN = "pq.example/log"
SIZE = 6
FIRST = 4  # key.mldsa_added is entry 3


@dataclass(frozen=True)
class Vector:
    name: str
    why: str
    lines: tuple[str, ...]  # ed, pq, bad-pq (the log's ML-DSA line altered), wpq, bad-wpq
    trust: str
    verdict: str
    failed_check: str | None = None


TRUST = {  # {ed}: the log's Ed25519 key, {pq}: its ML-DSA-44 key, {w}: an ML-DSA-44 witness
    "ed-only": "log {ed}\nquorum none\n",
    "pq": "log {ed}\nquorum none\n#@ log-mldsa {pq} 4\n",
    "pq-from-7": "log {ed}\nquorum none\n#@ log-mldsa {pq} 7\n",
    "pq+witness": "log {ed}\nwitness W {w}\nquorum W\n#@ log-mldsa {pq} 4\n",
}

VECTORS = [
    Vector("both/pq-trust", "Ed25519 and ML-DSA-44 lines; the trust pins both", ("ed", "pq"),
           "pq", "incomplete"),
    Vector("both/ed-trust", "an unpinned ML-DSA-44 line is ignored (Go's rule)", ("ed", "pq"),
           "ed-only", "incomplete"),
    Vector("ed-only/pq-trust", "the pinned ML-DSA-44 key's line is missing from size 4 on",
           ("ed",), "pq", "failed", "checkpoint"),
    Vector("ed-only/pq-from-7", "size 6 is before the ML-DSA-44 key's first size",
           ("ed",), "pq-from-7", "incomplete"),
    Vector("bad-pq/pq-trust", "the pinned ML-DSA-44 line is altered: the note is rejected",
           ("ed", "bad-pq"), "pq", "failed", "checkpoint"),
    Vector("bad-pq/ed-trust", "an altered line by a key nobody pinned is ignored",
           ("ed", "bad-pq"), "ed-only", "incomplete"),
    Vector("pq-alone/pq-trust", "an ML-DSA-44 line never stands in for the Ed25519 line",
           ("pq",), "pq", "failed", "checkpoint"),
    Vector("witnessed/pq+witness", "an ML-DSA-44 witness cosignature meets the quorum",
           ("ed", "pq", "wpq"), "pq+witness", "verified"),
    Vector("bad-witness/pq+witness", "the pinned witness's ML-DSA-44 line is altered",
           ("ed", "pq", "bad-wpq"), "pq+witness", "failed", "checkpoint"),
    Vector("unwitnessed/pq+witness", "no cosignature by the pinned ML-DSA-44 witness",
           ("ed", "pq"), "pq+witness", "failed", "cosignatures"),
]
BUNDLES = [  # whole bundles of item 4 at the checkpoint of size 6 (provisional: no TSA)
    Vector("bundle/good", "a provisional bundle whose checkpoint carries both lines",
           ("ed", "pq"), "pq", "provisional"),
    Vector("bundle/no-pq-line", "the ML-DSA-44 line is cut from checkpoint.note",
           ("ed",), "pq", "failed", "checkpoint"),
    Vector("bundle/bad-pq-line", "the ML-DSA-44 line of checkpoint.note is altered",
           ("ed", "bad-pq"), "pq", "failed", "checkpoint"),
]
BY_NAME = {v.name: v for v in [*VECTORS, *BUNDLES]}

REFUSED_TRUST = {  # trust files every verifier refuses as a whole (exit 2 / page throws)
    "ed25519-key": "log {ed}\nquorum none\n#@ log-mldsa {ed2} 4\n",
    "mldsa-log-line": "log {pq}\nquorum none\n",
    "other-log": "log {ed}\nquorum none\n#@ log-mldsa {other} 4\n",
    "missing-size": "log {ed}\nquorum none\n#@ log-mldsa {pq}\n",
    "two-keys": "log {ed}\nquorum none\n#@ log-mldsa {pq} 4\n#@ log-mldsa {pq2} 5\n",
    "leading-zero": "log {ed}\nquorum none\n#@ log-mldsa {pq} 04\n",
    "capture-node": "log {ed}\nquorum none\n#@ capture-node n1 {pq2}\n",
}


@dataclass
class Corpus:
    dir: Path
    proofs: dict[str, Path]
    trust: dict[str, Path]
    refused: dict[str, Path]


def _alter(line: str) -> str:
    """The same signature line with one bit of its signature flipped."""
    head, b64 = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(b64))
    blob[-1] ^= 1
    return f"{head} {base64.b64encode(blob).decode()}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    tmp = tmp_path_factory.mktemp("mldsa")
    d = tmp / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))

    def submit(i: int) -> str:
        f = tmp / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        return intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                      principal="acme")).evidence_id

    ids = [submit(i) for i in range(3)]
    pq = generate_signer(ORIGIN, ALG_MLDSA44)
    assert led.add_mldsa_key(pq) == FIRST
    ids += [submit(i) for i in range(3, 5)]
    cp = led.sign_checkpoint_now()
    assert cp.size == SIZE
    pf = proof_file(intake.receipt(ids[2]), led, load_anchor_config(d))
    ed = led.verifier
    led.close()
    assert pf.text is not None
    good = pf.text.encode()
    cp_at = good.index(b"\n\n") + 2
    parsed = parse_note(good[cp_at:].decode())
    by_key = {s.key_id: s.line for s in parsed.signatures}
    assert set(by_key) == {ed.key_id, pq.key_id}  # LogSigners wrote both lines
    witness = generate_signer("w.example/pq", ALG_MLDSA44)
    wline = cosign_checkpoint(parsed.text, witness, cosigned_at=1_800_000_000)[:-1]
    lines = {"ed": by_key[ed.key_id], "pq": by_key[pq.key_id], "bad-pq": _alter(by_key[pq.key_id]),
             "wpq": wline, "bad-wpq": _alter(wline)}
    assert all(ln.startswith(SIG_PREFIX) for ln in lines.values())
    keys = {"ed": ed.to_string(), "pq": pq.verifier().to_string(),
            "w": witness.verifier().to_string(),
            "ed2": generate_signer(ORIGIN).verifier().to_string(),
            "pq2": generate_signer(ORIGIN, ALG_MLDSA44).verifier().to_string(),
            "other": generate_signer("other.example/log", ALG_MLDSA44).verifier().to_string()}
    proofs = {}
    for v in VECTORS:
        note = parsed.text + "\n" + "".join(lines[w] + "\n" for w in v.lines)
        p = tmp / (v.name.replace("/", "__") + ".tlog-proof")
        p.write_bytes(good[:cp_at] + note.encode())
        proofs[v.name] = p
    out = tmp / "bundle.zip"
    r = CliRunner().invoke(cli, ["export", ids[4], "-o", str(out), "--data-dir", str(d),
                                 "--checkpoint", str(SIZE), "--provisional"])
    assert r.exit_code == 0, r.output
    bundle = out.read_bytes()
    for v in BUNDLES:
        note = parsed.text + "\n" + "".join(lines[w] + "\n" for w in v.lines)
        p = tmp / (v.name.replace("/", "__") + ".zip")
        p.write_bytes(bundle if v.name == "bundle/good" else
                      with_members(bundle, {"checkpoint/checkpoint.note": note.encode()}))
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
        runner = request.getfixturevalue("page_runner") if verifier == "page" else None
        _SEEN[key] = (_command(_argv(verifier, proof, trust), c.dir) if runner is None
                      else runner.verify(proof, trust, None) if proof.suffix == ".zip"
                      else _page(runner, proof, trust))
    return _SEEN[key]


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in VECTORS for w in VERIFIERS])
def test_mldsa_verdict(name: str, verifier: str, corpus: Corpus,
                       request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    want_nc = ("cosignatures",) if v.verdict == "incomplete" else ()
    assert (o.verdict, o.failed_check, o.not_checked) == (v.verdict, v.failed_check, want_nc), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    if verifier != "page":
        assert o.exit_status == {"verified": 0, "incomplete": 3, "failed": 1}[v.verdict]


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in BUNDLES for w in VERIFIERS])
def test_mldsa_bundle_verdict(name: str, verifier: str, corpus: Corpus,
                              request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    assert (o.verdict, o.failed_check) == (v.verdict, v.failed_check), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    assert ("checkpoint", "pass" if v.verdict != "failed" else "fail") in o.checks, o.checks


@pytest.mark.parametrize("name", [v.name for v in [*VECTORS, *BUNDLES]])
def test_mldsa_three_agree(name: str, corpus: Corpus, request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: _run(request, corpus, v, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states


def test_missing_mldsa_line_is_named_in_both_languages(corpus: Corpus,
                                                       request: pytest.FixtureRequest) -> None:
    """The refusal says which key is missing and from which size, in English and Chinese."""
    v = BY_NAME["ed-only/pq-trust"]
    for verifier in VERIFIERS:
        o = _run(request, corpus, v, verifier)
        check = next(c for c in o.report["checks"] if c["name"] == "checkpoint")
        assert "ML-DSA-44" in check["reason"] and "from size 4" in check["reason"], check
        assert "ML-DSA-44" in check["reason_zh"] and "抗量子" in check["reason_zh"], check


@pytest.mark.parametrize("name", sorted(REFUSED_TRUST))
def test_bad_log_mldsa_line_refuses_the_file(name: str, corpus: Corpus,
                                             request: pytest.FixtureRequest) -> None:
    proof, trust = corpus.proofs["both/pq-trust"], corpus.refused[name]
    for verifier in ("package", "script"):
        p = subprocess.run(_argv(verifier, proof, trust), capture_output=True, text=True,
                           cwd=corpus.dir, timeout=300)
        assert p.returncode == 2, (verifier, p.returncode, p.stdout[-500:], p.stderr[-500:])
        assert "line" in p.stderr or "trust" in p.stderr.lower(), (verifier, p.stderr[-500:])
    page = _page(request.getfixturevalue("page_runner"), proof, trust)
    assert not page.report and page.diagnostics.startswith("Error: trust file"), page.diagnostics
