"""RFC 4998 against an independent implementation: Bouncy Castle's org.bouncycastle.tsp.ers
(Debian libbcpkix-java 1.72) verifies our evidence records, first, timestamp-renewed and
hash-tree-renewed to SHA-512, and we verify the records it makes and renews. The Java side is
tests/interop/ers/ErsTool.java, compiled here with javac against the Debian jars."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from evidence.ledger.anchor.ers import ErsTsa, build_records, renew_hash_tree, renew_timestamps
from evidence.verify.evidence_record import (
    EvidenceRecordError,
    bytes_document,
    parse_evidence_record,
    verify_evidence_record,
)
from tests.support.tsa import LocalTSA

JARS = [Path("/usr/share/java") / j for j in ("bcpkix.jar", "bcprov.jar", "bcutil.jar")]
TOOL = Path(__file__).parent / "ers" / "ErsTool.java"
FILES = [[b"contract.pdf bytes"], [b"chat.zip", b"photo.jpg", b"voice.opus"], [b"capture.warc"],
         [b"a fourth item"], [b"the fifth"]]


@pytest.fixture(scope="module")
def java(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK: apt-get install default-jdk-headless")
    missing = [str(j) for j in JARS if not j.exists()]
    if missing:
        pytest.skip(f"Bouncy Castle jars missing ({', '.join(missing)}): "
                    "apt-get install libbcpkix-java libbcprov-java")
    out = tmp_path_factory.mktemp("ers-java")
    cp = ":".join(map(str, JARS))
    subprocess.run(["javac", "-cp", cp, "-d", str(out), str(TOOL)], check=True, timeout=300)
    return ["java", "-cp", f"{out}:{cp}", "ErsTool"]


@pytest.fixture(scope="module")
def item_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("ers-items")
    args = []
    for i, files in enumerate(FILES):
        paths = []
        for j, content in enumerate(files):
            (p := d / f"item{i}-{j}").write_bytes(content)
            paths.append(str(p))
        args.append(",".join(paths))
    return args


def run(java: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*java, *args], capture_output=True, text=True, timeout=300)


def docs(files: list[bytes]) -> list:
    return [bytes_document(f) for f in files]


def bc_verifies(java: list[str], record: bytes, tmp: Path, ca: Path, item: str) -> str:
    (path := tmp / "record.ers").write_bytes(record)
    done = run(java, "verify", str(path), str(ca), item)
    return done.stdout.strip() if done.returncode == 0 else f"refused: {done.stderr.strip()}"


def test_bouncycastle_verifies_our_records(java: list[str], item_args: list[str],
                                           tsa: LocalTSA, tmp_path: Path) -> None:
    ep = ErsTsa(url=tsa.url, ca_pems=(tsa.ca_cert_pem,))
    items = [docs(f) for f in FILES]
    first = build_records(items, ep)
    renewed = renew_timestamps(first, items, ep)
    rehashed = renew_hash_tree(renewed, items, ep)
    for stage in (first, renewed, rehashed):
        for record, arg in zip(stage, item_args, strict=True):
            assert bc_verifies(java, record, tmp_path, tsa.ca_pem_path, arg) == "OK"
    # and Bouncy Castle refuses a record for another item (the check can fail)
    answer = bc_verifies(java, first[0], tmp_path, tsa.ca_pem_path, item_args[2])
    assert answer.startswith("refused") and "hash" in answer


def test_we_verify_bouncycastle_records(java: list[str], item_args: list[str],
                                        tsa: LocalTSA, tmp_path: Path) -> None:
    done = run(java, "make", tsa.url, str(tmp_path / "bc"), *item_args)
    assert done.returncode == 0, done.stderr
    records = [(tmp_path / f"bc{i}.ers").read_bytes() for i in range(int(done.stdout))]
    assert len(records) == len(FILES)
    roots = [tsa.ca_cert_pem]
    covered = []
    for files in FILES:  # Bouncy Castle returns them in its own order: each item exactly once
        ok = []
        for k, r in enumerate(records):
            try:
                verify_evidence_record(r, docs(files), roots)
                ok.append(k)
            except EvidenceRecordError as exc:
                assert exc.rule == "covers", exc
        assert len(ok) == 1, (files, ok)
        covered.append(ok[0])
    assert sorted(covered) == list(range(len(FILES)))
    for files, arg, k in zip(FILES, item_args, covered, strict=True):
        src = tmp_path / f"bc{k}.ers"
        ts = tmp_path / f"bc{k}-ts.ers"
        assert run(java, "renew-ts", str(src), str(ts), tsa.url).returncode == 0
        v = verify_evidence_record(ts.read_bytes(), docs(files), roots)
        assert len(v.timestamps) == 2
        hashed = tmp_path / f"bc{k}-sha512.ers"
        done = run(java, "renew-hash", str(ts), str(hashed), tsa.url, arg)
        assert done.returncode == 0, done.stderr
        v = verify_evidence_record(hashed.read_bytes(), docs(files), roots)
        assert v.algorithms == ("sha256", "sha512")
        assert len(parse_evidence_record(hashed.read_bytes()).chains) == 2


def test_bouncycastle_verifies_records_the_ledger_made_and_renewed(
        java: list[str], tsa: LocalTSA, tmp_path: Path) -> None:
    """End to end through the ledger: the anchoring round makes the items' records, then
    ``renew_records`` renews them (timestamp, then SHA-512 hash tree, each with its
    ``ers.renewed`` entry); Bouncy Castle verifies every stage of every item's stored record
    against the item's files."""
    from evidence.ledger.anchor.config import add_tsa, load_anchor_config
    from evidence.ledger.anchor.ers_service import named_tsas, renew_records
    from evidence.ledger.anchor.ers_store import item_evidence_records
    from evidence.ledger.anchor.service import AnchorService
    from evidence.ledger.blobs import FilesystemBlobStore
    from evidence.ledger.intake import Intake, ItemSpec
    from evidence.ledger.log import Ledger

    d = tmp_path / "data"
    led = Ledger.create(d, "ers-interop.example/log", checkpoint_interval=3600)
    store = FilesystemBlobStore(d / "blobs")
    intake = Intake(led, store)
    items: dict[str, str] = {}
    for i, files in enumerate(FILES[:3]):
        paths = []
        for j, content in enumerate(files):
            (p := tmp_path / f"ledger-item{i}-{j}").write_bytes(content)
            paths.append(p)
        eid = intake.submit(ItemSpec(files=paths, kind="document", case="C-1",
                                     principal="acme")).evidence_id
        items[eid] = ",".join(map(str, paths))
    led.sign_checkpoint_now()
    try:
        cfg = add_tsa(load_anchor_config(d), "tsa-a", tsa.url, [tsa.ca_pem_path])
        AnchorService(led, cfg).run_once()
        for stage in ("made", "timestamp", "sha512"):
            if stage == "timestamp":
                assert renew_records(led, named_tsas(cfg)).renewed == len(items)
            elif stage == "sha512":
                assert renew_records(led, named_tsas(cfg), hash_tree="sha512",
                                     open_blob=store.open).renewed == len(items)
            for eid, arg in items.items():
                (record,) = item_evidence_records(led, eid)
                assert bc_verifies(java, record, tmp_path, tsa.ca_pem_path, arg) == "OK", (
                    stage, eid)
    finally:
        led.close()
