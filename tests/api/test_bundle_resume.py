"""GET /v1/evidence/{id}/bundle is resumable: one bundle per state of the item, the same
bytes under one strong ETag until the state changes (the download's own ``export``
access does not change it), ``Range`` + ``If-Range`` answered 206 from the bundle the
ETag names, a purged item's kept bundles never served (evidence/ledger/bundle/cache.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.api.app import create_app
from evidence.api.services import Services
from evidence.api.settings import ApiSettings
from evidence.ledger.access import COURT
from evidence.verify.bundle import verify_bundle
from evidence.verify.entry import parse_entry
from tests.support.bundle_world import anchor, build_world
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa


def test_bundle_is_resumable_and_stable_until_its_state_changes(tmp_path: Path,
                                                                 tsa: LocalTSA) -> None:
    w = build_world(tmp_path, tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    trust = w.trust()
    data_dir = w.led.config.data_dir
    w.led.close()
    svc = Services.open(ApiSettings(data_dir=str(data_dir), anchor=False))
    try:
        svc.access.add_principal("court-a", COURT)
        svc.access.add_case("case-1")
        svc.access.add_member("case-1", "court-a")
        _, token = svc.access.create_token("court-a")
        auth = {"Authorization": f"Bearer {token}"}
        url = f"/v1/evidence/{w.a}/bundle"

        def access_body(r) -> dict:  # type: ignore[no-untyped-def]
            return parse_entry(svc.ledger.entry(int(r.headers["X-Access-Seq"])).data).body

        with TestClient(create_app(services=svc)) as client:
            first = client.get(url, headers=auth)
            assert first.status_code == 200, first.text
            etag = first.headers["etag"]
            assert etag.startswith('"') and not etag.startswith("W/")
            assert first.headers["accept-ranges"] == "bytes"
            assert verify_bundle(io.BytesIO(first.content), trust).ok
            # the first download's export access is a new entry about the item: the
            # bundle proves the same anchored state, so the same bytes come back
            again = client.get(url, headers=auth)
            assert again.headers["etag"] == etag and again.content == first.content
            assert int(again.headers["X-Access-Seq"]) > int(first.headers["X-Access-Seq"])
            # a resumed download: exactly the rest of those bytes, recorded with its range
            n = len(first.content)
            part = client.get(url, headers={**auth, "Range": "bytes=1000-",
                                             "If-Range": etag})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 1000-{n - 1}/{n}"
            assert part.content == first.content[1000:]
            body = access_body(part)
            assert (body["action"], body["range"]) == ("export", f"bytes=1000-{n - 1}")
            # another validator: the whole bundle, not a splice of two
            other = client.get(url, headers={**auth, "Range": "bytes=1000-",
                                              "If-Range": '"0123456789abcdef0123456789abcdef.'
                                                          '0123456789abcdef"'})
            assert other.status_code == 200 and other.content == first.content
            assert client.get(url, headers={**auth, "If-None-Match": etag}).status_code == 304
            assert client.get(url, headers={**auth, "Range": f"bytes={n}-",
                                             "If-Range": etag}).status_code == 416

            # the next anchored checkpoint covers the downloads: a new state, a new bundle
            # (with them in its custody), while the started one still resumes as it was
            size = svc.ledger.sign_checkpoint_now().size
            anchor(svc.ledger, size, w.tsa_url, w.ca_pem, w.witness)
            newer = client.get(url, headers=auth)
            assert newer.status_code == 200 and newer.headers["etag"] != etag
            # (not verified here: this world links an entry around one it appended past the
            # index, on purpose; the custody chain check names that, tests/ledger/bundle)
            assert int(first.headers["X-Access-Seq"]) in json.loads(
                zipfile.ZipFile(io.BytesIO(newer.content)).read("manifest.json"))["custody_seqs"]
            assert newer.content != first.content
            old = client.get(url, headers={**auth, "Range": "bytes=10-", "If-Range": etag})
            assert old.status_code == 206 and old.content == first.content[10:]

            # purged since: the kept bundle with its files is not served, nor kept
            burl = f"/v1/evidence/{w.b}/bundle"
            b1 = client.get(burl, headers=auth)
            assert b1.status_code == 200
            kept = list((Path(data_dir) / "cache" / "bundles").glob("*.zip"))
            assert len(kept) == 3
            svc.intake.purge(w.b, reason="court order", principal="admin")
            # the purge itself deleted the kept bundle that held the item's files
            assert len(list((Path(data_dir) / "cache" / "bundles").glob("*.zip"))) == 2
            b2 = client.get(burl, headers={**auth, "Range": "bytes=10-",
                                            "If-Range": b1.headers["etag"]})
            assert b2.status_code == 200 and b2.headers["etag"] != b1.headers["etag"]
            assert b"Subject: offer" not in b2.content and b"Subject: offer" in b1.content
            assert len(list((Path(data_dir) / "cache" / "bundles").glob("*.zip"))) == 3
    finally:
        svc.close()


def test_bundle_cache_is_bounded(tmp_path: Path, tsa: LocalTSA) -> None:
    """Least recently served first out: a resume of an evicted bundle gets the whole
    current one (200), never bytes of another."""
    w = build_world(tmp_path, tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    data_dir = w.led.config.data_dir
    w.led.close()
    svc = Services.open(ApiSettings(data_dir=str(data_dir), anchor=False, bundle_cache=1))
    try:
        svc.access.add_principal("court-a", COURT)
        svc.access.add_case("case-1")
        svc.access.add_member("case-1", "court-a")
        _, token = svc.access.create_token("court-a")
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(services=svc)) as client:
            a = client.get(f"/v1/evidence/{w.a}/bundle", headers=auth)
            assert client.get(f"/v1/evidence/{w.b}/bundle", headers=auth).status_code == 200
            kept = list((Path(data_dir) / "cache" / "bundles").glob("*.zip"))
            assert len(kept) == 1  # only the newest, which alone is over the bound
            again = client.get(f"/v1/evidence/{w.a}/bundle", headers={
                **auth, "Range": "bytes=100-", "If-Range": a.headers["etag"]})
            assert again.status_code == 200 and again.headers["etag"] != a.headers["etag"]
    finally:
        svc.close()
