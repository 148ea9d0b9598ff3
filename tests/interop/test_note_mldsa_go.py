"""Go's golang.org/x/mod/sumdb/note (Debian's golang-golang-x-mod-dev) opens our
checkpoints once they carry ML-DSA-44 lines: the log's own (type 0x06, time 0) and an
ML-DSA-44 witness cosignature (tlog-cosignature v1.1). Go knows no 0x06 key, so it must
verify the log's Ed25519 line and list the two ML-DSA-44 lines as unverified, never fail
the note: a verifier with Go tooling keeps working after an operator enables ML-DSA-44
(docs/decisions.md D23). The checkpoint is a real log's (SQLite), signed by its
:class:`~evidence.ledger.log_keys.LogSigners`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import cosign_checkpoint, verify_checkpoint_windowed
from evidence.verify.note import ALG_MLDSA44, generate_signer, parse_note, parse_verifier_key

GO_SOURCES = Path(__file__).resolve().parent / "go"
GOCODE = Path("/usr/share/gocode")
NEEDS = "apt-get install golang-go golang-golang-x-mod-dev"
ORIGIN = "pq-interop.example/log"


@pytest.fixture(scope="module")
def note_open(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/interop/go/note_open.go, built offline in GOPATH mode against Debian's x/mod."""
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"Go is not installed ({NEEDS})")
    if not (GOCODE / "src/golang.org/x/mod/sumdb/note/note.go").is_file():
        pytest.skip(f"golang.org/x/mod/sumdb/note is not under {GOCODE} ({NEEDS})")
    out = tmp_path_factory.mktemp("go-note")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOCODE), "GOPROXY": "off",
           "GOTOOLCHAIN": "local", "GOFLAGS": "", "GOCACHE": str(out / "cache"),
           "CGO_ENABLED": "0"}
    r = subprocess.run([go, "build", "-o", str(out / "note_open"), "note_open.go"],
                       cwd=GO_SOURCES, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "note_open"


def test_go_opens_a_checkpoint_with_mldsa_lines(note_open: Path, tmp_path: Path) -> None:
    d = tmp_path / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    try:
        intake = Intake(led, FilesystemBlobStore(d / "blobs"))
        f = tmp_path / "a.txt"
        f.write_bytes(b"preserved")
        intake.submit(ItemSpec(files=[f], kind="document", case="C-1", principal="acme"))
        pq = generate_signer(ORIGIN, ALG_MLDSA44)
        first = led.add_mldsa_key(pq)
        cp = led.sign_checkpoint_now()
        log_vkey = led.verifier_key
    finally:
        led.close()
    assert cp.size == first == 2
    witness = generate_signer("pq-witness.example/w1", ALG_MLDSA44)
    text = parse_note(cp.note).text
    note = cp.note + cosign_checkpoint(text, witness, cosigned_at=1_800_000_000)
    # our own verifier first: both ML-DSA-44 lines are real, so Go's ignoring them means
    # something (the log's line is required from size 2, the witness's counted)
    ed = parse_verifier_key(log_vkey)
    vc, _ = verify_checkpoint_windowed(note, [(ed, None), (pq.verifier(), (2, 9))],
                                       witness_keys=[witness.verifier()])
    assert [s.name for s in vc.cosignatures] == [witness.name]
    path = tmp_path / "checkpoint.note"
    path.write_text(note)

    r = subprocess.run([str(note_open), "-key", log_vkey, str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["text"] == text
    assert got["verified"] == [{"name": ORIGIN, "key_id": f"{ed.key_id:08x}"}]
    assert sorted((s["name"], s["key_id"]) for s in got["unverified"]) == sorted(
        [(ORIGIN, f"{pq.key_id:08x}"), (witness.name, f"{witness.key_id:08x}")])

    # and Go's Ed25519 check is real: the same note with the log's line altered fails
    lines = note.split("\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"\u2014 {ORIGIN} ")
             and ln.split(" ")[2].startswith(_b64_prefix(ed.key_id)))
    lines[i] = lines[i][:-6] + ("AAAAA=" if not lines[i].endswith("AAAAA=") else "BBBBB=")
    path.write_text("\n".join(lines))
    r = subprocess.run([str(note_open), "-key", log_vkey, str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "open" in r.stderr, (r.returncode, r.stdout, r.stderr)


def _b64_prefix(key_id: int) -> str:
    """The first 4 base64 characters of a line whose blob starts with ``key_id`` (3 bytes
    of it: enough to tell the Ed25519 line from the ML-DSA-44 line of the same name)."""
    return base64.b64encode(key_id.to_bytes(4, "big"))[:4].decode()
