"""Shared vectors for lone ``.tlog-proof`` files (docs/verdict.md "tlog-proof files"): one
file, three verifiers, one verdict.

A real ledger (SQLite) whose checkpoint two witnesses cosigned (stored as anchoring stores
them, tests/support/anchored_ledger.py) writes the item's proof file
(``ledger/tlog_proof.proof_file``); each hostile vector is a byte edit of it. Every vector
goes through

- ``package``: ``evidence verify ITEM.tlog-proof --trust T --json [--entry E] [--compare F]``;
- ``script``: ``python -I scripts/verify_bundle.py`` with the same arguments;
- ``page``: ``EvidenceVerify.verifyTlogProof(bytes, trustText, {entry, compare})`` in
  Chromium.

The expected answers are written by hand from the contract, never read back from a
verifier; ``test_tlog_proof_three_agree`` also holds the three to the same check states."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from evidence.ledger.anchor.config import add_witness, load_anchor_config, save_anchor_config
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.ledger.tlog_proof import proof_file
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from tests.support.anchored_ledger import AnchoredLedger
from tests.support.page_runner import Outcome, PageRunner, outcome_of

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_bundle.py"
VERIFIERS = ("package", "script", "page")
EXIT_STATUS = {"verified": 0, "failed": 1, "incomplete": 3}


@dataclass(frozen=True)
class Vector:
    name: str
    why: str
    verdict: str
    failed_check: str | None = None
    not_checked: tuple[str, ...] = ()
    trust: str = "quorum"   # "quorum" (both witnesses, k=2) or "none" (quorum none)
    entry: bool = False     # give the entry's bytes with --entry
    compare: str | None = None  # "same" or "other"


VECTORS = [
    Vector("good", "proven to the checkpoint both witnesses cosigned", "verified"),
    Vector("good+matching-file", "the judge's file is the item's", "verified", compare="same"),
    Vector("good+other-file", "the judge's file is not the item's", "failed", "compared_files",
           compare="other"),
    Vector("good/quorum-none", "the trust file says quorum none", "incomplete",
           not_checked=("cosignatures",), trust="none"),
    Vector("no-extra+entry", "no extra line, the entry given", "verified", entry=True),
    Vector("no-extra", "no extra line and no entry given", "failed", "entries"),
    Vector("wrong-index", "the index line names another entry", "failed", "entries"),
    Vector("hash-removed", "one hash line removed", "failed", "inclusion"),
    Vector("hash-truncated", "a hash line cut short", "failed", "tlog_proof"),
    Vector("hash-changed", "a bit of a hash flipped", "failed", "inclusion"),
    Vector("other-log", "the checkpoint of another log (its own key, same origin)", "failed",
           "checkpoint"),
    Vector("below-quorum", "one of the two cosignatures removed", "failed", "cosignatures"),
    Vector("bad-cosignature", "a pinned witness's cosignature altered", "failed",
           "checkpoint"),
    Vector("extra-line-before-blank", "a line that is no hash before the empty line",
           "failed", "tlog_proof"),
    Vector("extra-line-after-checkpoint", "a line that is no signature at the end", "failed",
           "tlog_proof"),
    Vector("second-extra", "a second extra line", "failed", "tlog_proof"),
    Vector("crlf", "every line ends in CR LF", "failed", "tlog_proof"),
    Vector("other-format", "the header names tlog-proof@v2", "failed", "tlog_proof"),
]
BY_NAME = {v.name: v for v in VECTORS}


@dataclass
class Corpus:
    dir: Path
    proofs: dict[str, Path]
    trust: dict[str, Path]
    entry: Path
    compare: dict[str, Path]


def _line(lines: list[bytes], i: int, new: bytes | None) -> bytes:
    return b"\n".join([*lines[:i], *([] if new is None else [new]), *lines[i + 1:]])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    tmp = tmp_path_factory.mktemp("tlogproof-vectors")
    d = tmp / "data"
    led = Ledger.create(d, "vectors.example/log", checkpoint_interval=3600)
    intake = Intake(led, FilesystemBlobStore(d / "blobs"))
    signers = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    cfg = load_anchor_config(d)
    for name, s in signers.items():
        cfg = add_witness(cfg, name, "http://witness.invalid", s.verifier().to_string())
    cfg = replace(cfg, witness_quorum=2)
    save_anchor_config(cfg)
    ids = []
    for i in range(6):
        f = tmp / f"f{i}.txt"
        f.write_bytes(f"file {i}".encode())
        ids.append(intake.submit(ItemSpec(files=[f], kind="document", case="C-1",
                                          principal="acme")).evidence_id)
    led.sign_checkpoint_now()
    anchored = AnchoredLedger(d, led, "", b"", signers)
    anchored.anchor(6, witnesses=("w1", "w2"))
    pf = proof_file(intake.receipt(ids[3]), led, cfg)
    assert pf.witnessed and pf.text is not None
    good = pf.text.encode()
    entry = led.entry(3).data
    trust = anchored.trust_bytes()
    other = Ledger.create(tmp / "other", "vectors.example/log", checkpoint_interval=3600)
    other.append("test.note", {"n": 1})
    other_cp = other.sign_checkpoint_now().note.encode()
    other.close()
    led.close()

    lines = good.split(b"\n")
    assert lines[2] == b"index 3"
    hash_at = 3  # header, extra, index, then the first hash
    first = base64.b64decode(lines[hash_at])
    cp_at = good.index(b"\n\n") + 2
    w2 = next(ln for ln in lines if ln.startswith("\u2014 w2.example ".encode()))
    w1 = next(ln for ln in lines if ln.startswith("\u2014 w1.example ".encode()))
    blob = bytearray(base64.b64decode(w1.split(b" ")[2]))
    blob[-1] ^= 1
    bad_w1 = b" ".join([*w1.split(b" ")[:2], base64.b64encode(bytes(blob))])
    no_extra = b"\n".join(ln for i, ln in enumerate(lines) if i != 1)
    made = {
        "good": good, "good+matching-file": good, "good+other-file": good,
        "good/quorum-none": good, "no-extra+entry": no_extra, "no-extra": no_extra,
        "wrong-index": good.replace(b"\nindex 3\n", b"\nindex 2\n", 1),
        "hash-removed": _line(lines, hash_at, None),
        "hash-truncated": _line(lines, hash_at, lines[hash_at][:-4]),
        "hash-changed": _line(lines, hash_at,
                              base64.b64encode(bytes([first[0] ^ 1]) + first[1:])),
        "other-log": good[:cp_at] + other_cp,
        "below-quorum": good.replace(w2 + b"\n", b""),
        "bad-cosignature": good.replace(w1, bad_w1),
        "extra-line-before-blank": good.replace(b"\n\n", b"\nnot a hash\n\n", 1),
        "extra-line-after-checkpoint": good + b"trailing\n",
        "second-extra": good.replace(b"\nindex", b"\nextra AAAA\nindex", 1),
        "crlf": good.replace(b"\n", b"\r\n"),
        "other-format": good.replace(b"@v1", b"@v2", 1),
    }
    assert set(made) == set(BY_NAME)
    proofs = {}
    for name, data in made.items():
        p = tmp / (name.replace("/", "__").replace("+", "_") + ".tlog-proof")
        p.write_bytes(data)
        proofs[name] = p
    t_quorum, t_none = tmp / "trust-quorum.txt", tmp / "trust-none.txt"
    t_quorum.write_bytes(trust)
    text = trust.decode()
    kept = [ln for ln in text.splitlines() if not ln.startswith(("group ", "quorum "))]
    t_none.write_text("\n".join([*kept, "quorum none"]) + "\n")
    e = tmp / "entry.json"
    e.write_bytes(entry)
    same, diff = tmp / "judge" / "f3.txt", tmp / "judge" / "other.txt"
    same.parent.mkdir()
    same.write_bytes(b"file 3")
    diff.write_bytes(b"file 3 edited")
    return Corpus(tmp, proofs, {"quorum": t_quorum, "none": t_none}, e,
                  {"same": same, "other": diff})


def _args(c: Corpus, v: Vector) -> list[str]:
    args = [str(c.proofs[v.name]), "--trust", str(c.trust[v.trust]), "--json"]
    if v.entry:
        args += ["--entry", str(c.entry)]
    if v.compare:
        args += ["--compare", str(c.compare[v.compare])]
    return args


def _command(argv: list[str], cwd: Path) -> Outcome:
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    report = json.loads(lines[0]) if len(lines) == 1 else None
    return outcome_of(report, p.returncode, f"exit {p.returncode}; {p.stderr[-1500:]}")


def _page(runner: PageRunner, c: Corpus, v: Vector) -> Outcome:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    got = runner.page.evaluate("""async ([proof, trust, entry, cmp]) => {
        const bytes = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
        try {
            const opts = {};
            if (entry) opts.entry = bytes(entry);
            if (cmp) opts.compare = [new File([bytes(cmp)], 'judge')];
            const r = await EvidenceVerify.verifyTlogProof(
                bytes(proof), new TextDecoder().decode(bytes(trust)), opts);
            return {report: JSON.parse(JSON.stringify(r))};
        } catch (e) { return {error: String(e && e.stack || e)}; }
    }""", [b64(c.proofs[v.name]), b64(c.trust[v.trust]), b64(c.entry) if v.entry else None,
           b64(c.compare[v.compare]) if v.compare else None])
    return outcome_of(got.get("report"), None, got.get("error", ""))


@pytest.fixture(scope="module")
def page_runner(request: pytest.FixtureRequest) -> PageRunner:
    return PageRunner(request)


_SEEN: dict[tuple[str, str], Outcome] = {}


def _run(request: pytest.FixtureRequest, c: Corpus, v: Vector, verifier: str) -> Outcome:
    key = (v.name, verifier)
    if key not in _SEEN:
        if verifier == "package":
            _SEEN[key] = _command([str(Path(sys.executable).parent / "evidence"), "verify",
                                   *_args(c, v)], c.dir)
        elif verifier == "script":
            _SEEN[key] = _command([sys.executable, "-I", str(SCRIPT), *_args(c, v)], c.dir)
        else:
            _SEEN[key] = _page(request.getfixturevalue("page_runner"), c, v)
    return _SEEN[key]


@pytest.mark.parametrize("name,verifier", [pytest.param(v.name, w, id=f"{v.name}:{w}")
                                           for v in VECTORS for w in VERIFIERS])
def test_tlog_proof_verdict(name: str, verifier: str, corpus: Corpus,
                            request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    o = _run(request, corpus, v, verifier)
    assert (o.verdict, o.failed_check, o.not_checked) == (
        v.verdict, v.failed_check, tuple(sorted(v.not_checked))), (
        f"{verifier} on {v.name} ({v.why}): {o.verdict} {o.failed_check} {o.checks} "
        f"{o.diagnostics[-800:] if o.diagnostics else ''}")
    if verifier != "page":
        assert o.exit_status == EXIT_STATUS[v.verdict]
    if v.verdict == "failed":  # after a failure nothing is claimed
        assert o.report.get("checkpoint") is None and o.report.get("entry") is None
    for ch in o.report["checks"]:
        assert ch["status"] in ("pass", "fail", "not-checked") and ch["reason"]
        assert "\n" not in ch["reason"] and len(ch["reason"]) <= 300


@pytest.mark.parametrize("name", [v.name for v in VECTORS])
def test_tlog_proof_three_agree(name: str, corpus: Corpus,
                                request: pytest.FixtureRequest) -> None:
    v = BY_NAME[name]
    got = {w: _run(request, corpus, v, w) for w in VERIFIERS}
    states = {w: (o.verdict, o.failed_check, o.checks) for w, o in got.items()}
    assert len(set(states.values())) == 1, states
