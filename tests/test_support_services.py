"""The test services themselves: each fixture gives a real, working server."""

from __future__ import annotations

import hashlib
import subprocess
import urllib.request

import pytest

from tests.support.pg import PgCluster
from tests.support.s3 import S3Endpoint
from tests.support.tsa import LocalTSA


def _scalar(url: str, sql: str) -> object:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


@pytest.mark.pg
def test_pg_fresh_databases_are_separate_and_fast(pg_url: str, pg_fresh_url: str) -> None:
    assert pg_fresh_url != pg_url
    assert not pg_fresh_url.endswith(":5432/postgres")
    assert _scalar(pg_fresh_url, "SELECT count(*) FROM pg_tables WHERE schemaname='public'") == 0
    assert _scalar(pg_url, "SELECT 1") == 1


@pytest.mark.pg
@pytest.mark.slow
def test_pg_durable_cluster_survives_a_crash(
    pg_cluster_durable: PgCluster, pg_url_durable: str
) -> None:
    if not pg_cluster_durable.owned:
        pytest.skip("durable cluster is external: cannot crash it")
    assert _scalar(pg_url_durable, "SHOW fsync") == "on"
    assert _scalar(pg_url_durable, "SHOW synchronous_commit") == "on"
    import psycopg

    conninfo = pg_url_durable.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (42)")
    pg_cluster_durable.crash()
    pg_cluster_durable.start()
    assert _scalar(pg_url_durable, "SELECT x FROM t") == 42


@pytest.mark.s3
def test_s3_bucket_roundtrip(s3_endpoint: S3Endpoint, s3_bucket: str) -> None:
    client = s3_endpoint.client()
    client.put_object(Bucket=s3_bucket, Key="a", Body=b"hello", ChecksumAlgorithm="SHA256")
    assert client.get_object(Bucket=s3_bucket, Key="a")["Body"].read() == b"hello"


@pytest.mark.tsa
def test_tsa_answers_a_query_that_openssl_verifies(tsa: LocalTSA, tmp_path) -> None:
    data = tmp_path / "m.bin"
    data.write_bytes(b"message")
    subprocess.run(["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert",
                    "-out", str(tmp_path / "q.tsq")], check=True, capture_output=True)
    req = urllib.request.Request(
        tsa.url, data=(tmp_path / "q.tsq").read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/timestamp-reply"
        (tmp_path / "r.tsr").write_bytes(resp.read())
    subprocess.run(
        ["openssl", "ts", "-verify", "-in", str(tmp_path / "r.tsr"),
         "-digest", hashlib.sha256(b"message").hexdigest(), "-CAfile", str(tsa.ca_pem_path)],
        check=True, capture_output=True,
    )
