"""The ``webcapture`` check of an exported bundle (docs/verdict.md section 6), end to end.

Web captures are built without a browser (the WARC with warcio and the WACZ with py-wacz,
as the capture writes them; the manifest signed with a capture-node key by the capture's
own ``write_manifest``), preserved through the real intake (``capture.run.preserve``),
anchored with the local OpenSSL TSA and a witness, exported as real bundles and verified
by the package and by ``evidence verify``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from evidence.cli.main import cli
from evidence.ledger.blobs import FilesystemBlobStore
from evidence.ledger.capture.browser import Exchange
from evidence.ledger.capture.run import Capture, preserve
from evidence.ledger.intake import Intake, ItemSpec
from evidence.ledger.log import Ledger
from evidence.verify.bundle import BundleReport, TrustRoots, verify_bundle
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer
from tests.support.bundle_world import FIXED_NOW, anchor
from tests.support.capture_files import (
    capture_of,
    exchange,
    result,
    wacz_members,
    wacz_of,
    write_capture,
)
from tests.support.tsa import LocalTSA

pytest.importorskip("warcio")
pytest.importorskip("wacz")
pytestmark = pytest.mark.tsa

ORIGIN = "capture-bundle.example/log"
URL = "https://shop.example/item/7"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
HTML = b"<html><title>Item 7</title><body>Offer: 5 USD</body></html>"


def make_capture(folder: Path, node: Signer, *, ended_at: str,
                 tamper_payload: bool = False) -> Capture:
    """A capture's files as ``capture.run.capture`` writes them (screenshot, WACZ, signed
    manifest). With ``tamper_payload`` one byte of the page's body in the WARC is changed
    after its digests were written, and the WACZ and manifest are then made over the
    altered WARC: only the WARC's own payload digest shows it."""
    def page(url: str, body: bytes, ctype: str) -> Exchange:
        return exchange(url, body, ctype, user_agent="test",
                        received_at="2026-12-06T21:00:00.500000Z")

    fields = {"request": {"url": URL}, "started_at": "2026-12-06T20:59:58.250000Z",
              "ended_at": ended_at, "result": result(URL, "Item 7")}
    exchanges = [page(URL, HTML, "text/html"),
                 page("https://shop.example/logo.png", PNG, "image/png")]
    manifest = write_capture(folder, node, exchanges, screenshot=PNG, title="Item 7",
                             text="Offer: 5 USD", fields=fields,
                             alter_wacz=_alter_page_in_wacz if tamper_payload else None)
    return capture_of(folder, manifest)


def _alter_page_in_wacz(wacz: Path) -> None:
    """The page's response record in the WACZ's WARC made to claim the payload digest of
    another body (``Offer: 9 USD``; the block digest, over the stored bytes, still
    holds), and the WACZ's datapackage digests made over the altered WARC, as a forger
    would (py-wacz itself refuses to package such a WARC)."""
    members = wacz_members(wacz.read_bytes())
    name = next(n for n in members if n.endswith(".warc.gz"))
    plain = gzip.decompress(members[name])
    head = next(h for i in range(len(plain)) if plain.startswith(b"WARC/1.", i)
                and b"WARC-Type: response\r\n" in (h := plain[i:plain.index(b"\r\n\r\n", i)])
                and b"WARC-Target-URI: " + URL.encode() + b"\r\n" in h)
    start = plain.index(head) + head.index(b"WARC-Payload-Digest: sha256:") + len(
        b"WARC-Payload-Digest: sha256:")
    end = plain.index(b"\r\n", start)
    other = base64.b32encode(hashlib.sha256(HTML.replace(b"5 USD", b"9 USD")).digest())
    assert len(other) == end - start and other != plain[start:end]
    members[name] = gzip.compress(plain[:start] + other + plain[end:])
    wacz.write_bytes(wacz_of(members, fix=True))


@dataclass
class CaptureWorld:
    led: Ledger
    store: FilesystemBlobStore
    witness: Signer
    ca_pem: bytes
    ca_path: Path
    node: Signer  # the node the court pins
    stranger: Signer  # a node nobody pins
    items: dict[str, str]
    ended: dict[str, str]

    def trust(self, *nodes: Signer, tsa: bool = True) -> TrustRoots:
        return TrustRoots(self.led.verifier, [self.witness.verifier()], 1,
                          [self.ca_pem] if tsa else [], require_timestamp=tsa,
                          capture_nodes=[n.verifier() for n in nodes])

    def export(self, item: str) -> bytes:
        from evidence.ledger.bundle.export import export_bundle

        buf = io.BytesIO()
        export_bundle(self.led, self.store, self.items[item], buf, now=FIXED_NOW)
        return buf.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[CaptureWorld]:
    root = tmp_path_factory.mktemp("capture-bundle")
    led = Ledger.create(root / "data", ORIGIN, checkpoint_interval=3600)
    store = FilesystemBlobStore(root / "data" / "blobs")
    intake = Intake(led, store)
    node = generate_signer("capture.example/shanghai-1")
    stranger = generate_signer("capture.example/rogue")
    now = datetime.now(UTC)
    ended = {  # the node's clock: behind the TSA's (honest), or a day ahead
        "good": (now - timedelta(seconds=90)).isoformat(timespec="microseconds")
        .replace("+00:00", "Z"),
        "ahead": (now + timedelta(days=1)).isoformat(timespec="microseconds")
        .replace("+00:00", "Z")}
    caps = {"good": make_capture(root / "good", node, ended_at=ended["good"]),
            "ahead": make_capture(root / "ahead", node, ended_at=ended["ahead"]),
            "stranger": make_capture(root / "stranger", stranger, ended_at=ended["good"]),
            "payload": make_capture(root / "payload", node, ended_at=ended["good"],
                                    tamper_payload=True),
            "purged": make_capture(root / "purged", node, ended_at=ended["good"])}
    items = {k: preserve(intake, c, case="case-w", principal="acme-ip").evidence_id
             for k, c in caps.items()}
    # two files named screenshot.png in one item (from two folders): intake takes the
    # names as given, and the check cannot tell which one the manifest means
    other = root / "other"
    other.mkdir()
    (other / "screenshot.png").write_bytes(PNG + b"another")
    dup = Capture(caps["good"].folder, [*caps["good"].files, other / "screenshot.png"],
                  caps["good"].manifest)
    items["duplicate"] = preserve(intake, dup, case="case-w", principal="acme-ip").evidence_id
    # a document that holds a file named like a capture's manifest is not a capture
    doc = root / "doc"
    doc.mkdir()
    (doc / "capture-manifest.json").write_text("{}")
    items["document"] = intake.submit(ItemSpec(
        files=[doc / "capture-manifest.json", doc / "capture-manifest.json"],
        kind="document", case="case-w", principal="acme-ip")).evidence_id
    intake.purge(items["purged"], reason="court order 2026/18", principal="admin")
    size = led.sign_checkpoint_now().size
    witness = generate_signer("witness-w.example", ALG_COSIGNATURE_V1)
    anchor(led, size, tsa.url, tsa.ca_cert_pem, witness)
    w = CaptureWorld(led, store, witness, tsa.ca_cert_pem, tsa.ca_pem_path, node, stranger,
                     items, ended)
    yield w
    led.close()


def verify(data: bytes, trust: TrustRoots) -> BundleReport:
    return verify_bundle(io.BytesIO(data), trust)


def check_of(r: BundleReport, name: str) -> dict[str, Any] | None:
    c = r.check(name)
    return None if c is None else c.to_json()


def expected_offset(r: BundleReport, ended_at: str) -> float:
    first = min(datetime.fromisoformat(t["gen_time"]) for t in r.preserved_no_later_than)
    return (first - datetime.fromisoformat(ended_at)).total_seconds()


# --- the package ------------------------------------------------------------------------


def test_pinned_node_verified_with_the_capture_facts(world: CaptureWorld) -> None:
    r = verify(world.export("good"), world.trust(world.node))
    assert r.verdict == "verified", [c.to_json() for c in r.checks if not c.ok]
    names = [c.name for c in r.checks]
    assert names[names.index("files") + 1] == "webcapture"  # right after files
    wc = r.check("webcapture")
    assert wc is not None and wc.status == "pass" and "pinned capture node" in wc.reason
    assert wc.reason_zh and "\n" not in wc.reason + wc.reason_zh
    doc = r.to_json()["webcapture"]
    offset = doc.pop("clock_offset_seconds")
    assert doc == {"url": URL, "final_url": URL, "http_status": 200, "title": "Item 7",
                   "server_ip": "203.0.113.7", "tls_subject": "CN=shop.example",
                   "tls_issuer": "CN=Test CA", "started_at": "2026-12-06T20:59:58.250000Z",
                   "ended_at": world.ended["good"], "node": world.node.verifier().to_string(),
                   "node_name": "capture.example/shanghai-1", "labels": ["never-settled"],
                   "screenshot": "screenshot.png"}
    # genTime of the earliest verified token minus ended_at: the node's clock is behind
    assert offset == expected_offset(r, world.ended["good"]) and offset > 0
    assert isinstance(offset, float)


def test_node_clock_ahead_gives_a_negative_offset_not_a_failure(world: CaptureWorld) -> None:
    r = verify(world.export("ahead"), world.trust(world.node))
    assert r.verdict == "verified"
    offset = r.webcapture["clock_offset_seconds"] if r.webcapture else None
    assert offset is not None and offset < -86000
    assert offset == expected_offset(r, world.ended["ahead"])


def test_no_offset_without_a_verified_timestamp(world: CaptureWorld) -> None:
    r = verify(world.export("good"), world.trust(world.node, tsa=False))
    assert r.verdict == "incomplete" and r.not_checked == ["timestamps"]
    assert r.webcapture is not None and r.webcapture["clock_offset_seconds"] is None
    assert r.webcapture["node_name"] == "capture.example/shanghai-1"


def test_no_node_pinned_is_incomplete(world: CaptureWorld) -> None:
    r = verify(world.export("good"), world.trust())
    assert r.verdict == "incomplete" and r.not_checked == ["webcapture"]
    assert "no capture-node key is pinned" in r.check("webcapture").reason  # type: ignore[union-attr]
    # what the files say is still reported, attributed to no pinned node
    assert r.webcapture is not None and r.webcapture["node_name"] is None
    assert r.webcapture["node"] == world.node.verifier().to_string()
    assert r.webcapture["clock_offset_seconds"] == expected_offset(r, world.ended["good"])
    # the files, WACZ and WARC digests are still checked without a node: tampering fails
    assert verify(world.export("payload"), world.trust()).failed_check == "webcapture"


def test_signed_by_an_unpinned_node_fails(world: CaptureWorld) -> None:
    r = verify(world.export("stranger"), world.trust(world.node))
    assert r.verdict == "failed" and r.failed_check == "webcapture"
    assert "not signed by a pinned capture-node key" in r.check("webcapture").reason  # type: ignore[union-attr]
    doc = r.to_json()
    assert doc["webcapture"] is None and doc["preserved_no_later_than"] == []
    # the same bundle with the stranger pinned as well: it verifies, named as pinned
    r = verify(world.export("stranger"), world.trust(world.node, world.stranger))
    assert r.verdict == "verified" and r.webcapture is not None
    assert r.webcapture["node_name"] == "capture.example/rogue"


def test_wrong_warc_payload_digest_fails_even_when_signed(world: CaptureWorld) -> None:
    r = verify(world.export("payload"), world.trust(world.node))
    assert r.verdict == "failed" and r.failed_check == "webcapture"
    c = check_of(r, "webcapture")
    assert c is not None and c["status"] == "fail" and c["ok"] is False
    assert "payload digest" in c["reason"] and URL in c["reason"] and c["reason_zh"]
    # every earlier check passed: the file bytes are the preserved ones
    assert all(x.ok for x in r.checks if x.name != "webcapture")
    assert r.to_json()["webcapture"] is None


def test_two_files_with_one_name_fail(world: CaptureWorld) -> None:
    r = verify(world.export("duplicate"), world.trust(world.node))
    assert r.failed_check == "webcapture"
    assert "two files named 'screenshot.png'" in r.check("webcapture").reason  # type: ignore[union-attr]


def test_purged_capture_is_not_checked_as_a_capture(world: CaptureWorld) -> None:
    r = verify(world.export("purged"), world.trust(world.node))
    assert r.verdict == "verified" and r.purged
    assert r.check("webcapture") is None and r.webcapture is None


def test_other_kinds_get_no_webcapture_check(world: CaptureWorld) -> None:
    # (its two files share one name: only the webcapture check cares)
    r = verify(world.export("document"), world.trust(world.node))
    assert r.verdict == "verified" and len(r.files) == 2
    assert r.check("webcapture") is None and r.to_json()["webcapture"] is None


# --- evidence verify -----------------------------------------------------------------------


def run(*args: Any) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def bundles(world: CaptureWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("capture-bundles")
    out = {}
    for k in ("good", "ahead", "stranger"):
        out[k] = d / f"{k}.zip"
        out[k].write_bytes(world.export(k))
    return out


def shorthand(world: CaptureWorld, *nodes: Signer) -> list[str]:
    args = ["--log-key", world.led.verifier_key, "--witness-key",
            world.witness.verifier().to_string(), "--witness-quorum", "1",
            "--tsa-ca", str(world.ca_path)]
    for n in nodes:
        args += ["--capture-node", n.verifier().to_string()]
    return args


def test_cli_capture_node_shorthand_json(world: CaptureWorld, bundles: dict[str, Path]) -> None:
    r = run("verify", bundles["good"], *shorthand(world, world.node), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["verdict"] == "verified" and doc["webcapture"]["url"] == URL
    assert doc["webcapture"]["node_name"] == "capture.example/shanghai-1"
    assert doc["webcapture"]["clock_offset_seconds"] > 0
    r = run("verify", bundles["good"], *shorthand(world), "--json")
    assert r.exit_code == 3 and json.loads(r.output)["not_checked"] == ["webcapture"]
    r = run("verify", bundles["stranger"], *shorthand(world, world.node), "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["failed_check"] == "webcapture"
    assert doc["webcapture"] is None


def test_cli_trust_file_and_human_report(world: CaptureWorld, bundles: dict[str, Path],
                                         tmp_path: Path) -> None:
    policy = world.trust(world.node).policy()
    trust = tmp_path / "trust.txt"
    trust.write_text(policy.to_text())
    assert "#@ capture-node capture.example/shanghai-1 " in trust.read_text()
    r = run("verify", bundles["ahead"], "--trust", trust)
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    for text in ("Web capture", "网页采集", f"URL: {URL}", "Final URL", "HTTP status: 200",
                 "Server IP: 203.0.113.7", "Certificate subject: CN=shop.example",
                 "Certificate issuer: CN=Test CA", "证书签发者：CN=Test CA",
                 "Capture node: capture.example/shanghai-1", "Labels: never-settled",
                 "Started (capture node's clock): 2026-12-06 20:59:58 UTC",
                 "Warning: the capture node's clock was ahead by at least",
                 "警告：采集节点的时钟至少快了"):
        assert text in flat, text
    r = run("verify", bundles["good"], "--trust", trust)
    assert r.exit_code == 0 and "Clock offset: the first timestamp is" in r.output
    assert "Warning" not in r.output
    # after a failure no capture fact is printed
    r = run("verify", bundles["stranger"], "--trust", trust)
    assert r.exit_code == 1 and "Web capture" not in r.output and URL not in r.output


def test_cli_capture_node_is_shorthand_refused_with_trust(world: CaptureWorld,
                                                          bundles: dict[str, Path],
                                                          tmp_path: Path) -> None:
    trust = tmp_path / "trust.txt"
    trust.write_text(world.trust(world.node).policy().to_text())
    r = run("verify", bundles["good"], "--trust", trust, "--capture-node",
            world.node.verifier().to_string())
    assert r.exit_code == 2 and "not both" in r.output
    # a capture-node key that is also the log key: the trust file's own rule, exit 2
    r = run("verify", bundles["good"], "--log-key", world.led.verifier_key,
            "--capture-node", world.led.verifier_key)
    assert r.exit_code == 2 and "duplicate key" in r.output
