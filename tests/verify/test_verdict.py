"""The package verifier against docs/verdict.md: check states, the top verdict, the trust
policy (several logs, witness groups, TSA roots and the Mozilla store), the tools member,
the judge's own files and the JSON report after a failure. A real ledger's bundle,
timestamped by a real local TSA; forgeries rewrite the manifest as an attacker would."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from hashlib import sha256

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evidence.verify.bundle import (
    FAILED,
    INCOMPLETE,
    PROVISIONAL,
    VERIFIED,
    BundleReport,
    verify_bundle,
)
from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import TrustPolicy, parse_trust
from tests.support.bundle_world import World, build_world, members, rezip
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("verdict"), tsa.url, tsa.ca_cert_pem,
                    tsa.ca_pem_path)
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def good(world: World) -> bytes:
    return world.export(world.a)


def policy(world: World, *, quorum: str = "witnesses", tsa: bool = True, store: bool = False,
           extra: str = "") -> TrustPolicy:
    root = x509.load_pem_x509_certificate(world.ca_pem).public_bytes(Encoding.DER)
    stranger = generate_signer("stranger.example/w", ALG_COSIGNATURE_V1).verifier()
    other_log = generate_signer("another.example/log").verifier()
    lines = [f"log {other_log.to_string()}", f"log {world.led.verifier_key}",
             f"witness court-w1 {world.witness.verifier().to_string()}",
             f"witness stranger {stranger.to_string()}",
             "group both all court-w1 stranger", "group witnesses any court-w1 stranger",
             f"quorum {quorum}"]
    if tsa:
        lines.append(f"#@ tsa local {base64.b64encode(root).decode()}")
    if store:
        lines.append("#@ tsa-store mozilla")
    return parse_trust(("\n".join(lines) + "\n" + extra).encode())


def check(r: BundleReport) -> BundleReport:
    """Invariants of every report (docs/verdict.md sections 1 and 2)."""
    doc = json.loads(json.dumps(r.to_json()))
    for c in doc["checks"]:
        assert c["status"] in ("pass", "fail", "not-checked")
        assert c["ok"] is (c["status"] == "pass")
        assert set(c) == {"name", "status", "ok", "required", "reason", "reason_zh"}
        for k in ("reason", "reason_zh"):
            assert c[k] and "\n" not in c[k] and len(c[k]) <= 300
    assert doc["verdict"] == r.verdict and doc["ok"] is (r.verdict == VERIFIED)
    assert doc["not_checked"] == [c["name"] for c in doc["checks"]
                                  if c["status"] == "not-checked"]
    fails = [c["name"] for c in doc["checks"] if c["status"] == "fail"]
    assert doc["failed_check"] == (fails[0] if fails else None)
    if fails:
        assert doc["verdict"] == FAILED and doc["preserved_no_later_than"] == []
        assert not any("included" in f for f in doc["files"])
        assert not any("preserved no later than" in c["reason"].lower()
                       for c in doc["checks"])
    return r


def verify(data: bytes, p: TrustPolicy, **kw) -> BundleReport:  # type: ignore[no-untyped-def]
    return check(verify_bundle(io.BytesIO(data), p, **kw))


def test_verified_with_several_logs_and_a_group_quorum(world: World, good: bytes) -> None:
    r = verify(good, policy(world))
    assert r.verdict == VERIFIED and r.ok and r.not_checked == []
    assert "any of court-w1, stranger" in r.check("cosignatures").reason
    assert r.preserved_no_later_than and all("included" in f for f in r.files)
    r = verify(good, policy(world, quorum="both"))  # the stranger never cosigned
    assert r.failed_check == "cosignatures" and "only by court-w1" in r.check(
        "cosignatures").reason


def test_checkpoint_origin_must_name_a_pinned_log(world: World, good: bytes) -> None:
    text = policy(world).to_text().replace(f"log {world.led.verifier_key}\n", "")
    r = verify(good, parse_trust(text.encode()))
    assert r.failed_check == "checkpoint"
    assert "bundle.example/log" in r.check("checkpoint").reason
    assert "another.example/log" in r.check("checkpoint").reason  # what is pinned
    assert [c.name for c in r.checks] == ["archive", "manifest", "checkpoint"]


def test_not_checked_states(world: World, good: bytes) -> None:
    r = verify(good, policy(world, quorum="none"))
    assert r.verdict == INCOMPLETE and r.not_checked == ["cosignatures"] and not r.ok
    assert r.preserved_no_later_than  # nothing failed: the time stands
    r = verify(good, policy(world, tsa=False))
    assert r.verdict == INCOMPLETE and r.not_checked == ["timestamps"]
    assert r.preserved_no_later_than == []


def test_mozilla_store_opt_in(world: World, good: bytes) -> None:
    """'#@ tsa-store mozilla' accepts chains that end at a root of the store the verifying
    machine ships; without that store the token is not-checked, never pass."""
    p = policy(world, tsa=False, store=True)
    r = verify(good, p, store_roots=[world.ca_pem])  # our test root stands in the store
    assert r.verdict == VERIFIED
    assert r.preserved_no_later_than[0]["root"] == "Mozilla root store"
    r = verify(good, p, store_roots=[])
    assert r.verdict == INCOMPLETE and r.not_checked == ["timestamps"]
    # the real certifi store does not hold our test root: named, not checked
    r = verify(good, p)
    assert r.verdict == INCOMPLETE and "CN=" in r.check("timestamps").reason


def test_provisional_ignores_any_token(world: World, good: bytes) -> None:
    m = members(good)
    man = json.loads(m["manifest.json"])
    man["provisional"] = True
    m["manifest.json"] = json.dumps(man).encode()
    r = verify(rezip(m, fix_manifest=False), policy(world))
    assert r.verdict == PROVISIONAL and r.not_checked == ["timestamps"] and not r.ok
    assert r.preserved_no_later_than == [] and r.provisional
    assert r.to_json()["provisional"] is True
    # a provisional bundle that fails elsewhere is failed, not provisional
    m["files/" + r.files[0]["sha256"]] = b"tampered"
    assert verify(rezip(m), policy(world)).verdict == FAILED


def test_a_bad_token_beside_a_good_one_fails(world: World, good: bytes) -> None:
    m = members(good)
    token = bytearray(m["timestamps/0.tst"])
    token[-10] ^= 0x01  # in the signature value, at the end of the SignerInfo
    m["timestamps/1.tst"] = bytes(token)
    man = json.loads(m["manifest.json"])
    man["timestamps"].append({"tsa": "copy", "token": "timestamps/1.tst"})
    m["manifest.json"] = json.dumps(man).encode()
    r = verify(rezip(m), policy(world))
    assert r.failed_check == "timestamps"
    reason = r.check("timestamps").reason
    assert "timestamps/1.tst" in reason and "OpenSSL" not in reason and "error:" not in reason
    assert r.check("timestamps").reason_zh.startswith("时间戳 timestamps/1.tst 未通过验证")


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_tools_member_accepted_stored_or_deflated(world: World, good: bytes,
                                                  method: int) -> None:
    m = members(good)
    m["tools/verify_bundle.py"] = b"print('a copy of the stand-alone verifier')\n"
    man = json.loads(m["manifest.json"])
    man["members"] = {n: {"sha256": sha256(b).hexdigest(), "size": len(b)}
                      for n, b in sorted(m.items()) if n != "manifest.json"}
    m["manifest.json"] = json.dumps(man).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in m.items():
            z.writestr(name, data, compress_type=method if name.startswith("tools/")
                       else zipfile.ZIP_STORED)
    r = verify(buf.getvalue(), policy(world))
    assert r.verdict == VERIFIED
    assert r.tool == {"name": "tools/verify_bundle.py", "size": len(
        m["tools/verify_bundle.py"]), "sha256": sha256(m["tools/verify_bundle.py"]).hexdigest()}
    # listed in the manifest like any member
    del man["members"]["tools/verify_bundle.py"]
    m["manifest.json"] = json.dumps(man).encode()
    assert verify(rezip(m, fix_manifest=False), policy(world)).failed_check == "manifest"


def test_compared_files(world: World, good: bytes) -> None:
    shop, chat = (sha256(p.read_bytes()).hexdigest() for p in world.files_a)
    r = verify(good, policy(world), compare=[("mine.png", shop), ("chat.txt", chat.upper())])
    assert r.verdict == VERIFIED and r.checks[-1].name == "compared_files"
    assert [c["matches"] for c in r.compared] == ["shop.png", "chat.txt"]
    r = verify(good, policy(world), compare=[("mine.png", shop), ("edited.png", "0" * 64)])
    assert r.verdict == FAILED and r.failed_check == "compared_files"
    assert "'edited.png'" in r.check("compared_files").reason
    assert r.compared[1]["matches"] is None
    # not asked: not reported
    assert verify(good, policy(world)).check("compared_files") is None


def test_rezipped_archive_is_named_in_both_languages(world: World, good: bytes) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members(good).items():
            z.writestr(name, data)
    r = verify(buf.getvalue(), policy(world))
    assert [(c.name, c.status) for c in r.checks] == [("archive", "fail")]
    assert r.checks[0].reason.startswith("not the original bundle file: ask for the original")
    assert r.checks[0].reason_zh == "不是原始证据包文件：请索取原件"


def test_archive_errors_have_chinese_reasons(world: World) -> None:
    for data in (b"not a zip at all", b"PK\x05\x06" + bytes(18)):
        r = verify(data, policy(world))
        assert r.failed_check == "archive"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.checks[0].reason_zh)
        assert not any(ch.isascii() and ch.isalpha() for ch in r.checks[0].reason_zh
                       .replace("ZIP", "").replace("manifest.json", ""))


def _other_root_line() -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "A TSA the court trusts")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return f"#@ tsa other {base64.b64encode(cert.public_bytes(Encoding.DER)).decode()}\n"


@pytest.mark.parametrize("where", ["signature", "signed-attrs", "tstinfo"])
def test_a_damaged_token_fails_even_from_a_tsa_nobody_pinned(world: World, good: bytes,
                                                             where: str) -> None:
    """docs/verdict.md section 1, step 1: integrity is judged whatever TSA made the token;
    only a whole token from an unpinned TSA is skipped."""
    p = policy(world, tsa=False, extra=_other_root_line())
    r = verify(good, p)  # whole, unpinned: skipped, named
    assert r.verdict == INCOMPLETE and r.not_checked == ["timestamps"]
    m = members(good)
    token = bytearray(m["timestamps/0.tst"])
    if where == "signature":
        token[-5] ^= 0x01
    elif where == "signed-attrs":
        i = bytes(token).index(bytes.fromhex("06092a864886f70d010904"))  # messageDigest
        token[i + 20] ^= 0x01
    else:
        tst = bytes(token).index(bytes.fromhex("060b2a864886f70d0109100104"))  # TSTInfo
        i = bytes(token).index(bytes.fromhex("0609608648016503040201"), tst)  # its imprint
        token[i + 16] ^= 0x01  # a byte of the imprint value
    m["timestamps/0.tst"] = bytes(token)
    for pol in (p, policy(world)):  # unpinned and pinned: the same answer
        r = verify(rezip(m), pol)
        assert r.failed_check == "timestamps", r.checks[-1]
        assert "timestamps/0.tst" in r.check("timestamps").reason
