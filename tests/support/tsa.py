"""pytest plugin: real local RFC 3161 TSAs (OpenSSL) for the tests.

Fixtures (all session-scoped, built once per run in about a second):

- ``tsa``: the well-behaved TSA (a :class:`LocalTSA`).
- ``tsa_variant``: ``tsa_variant("quirky")`` etc. returns the :class:`LocalTSA` of any variant in
  ``tsa_server.VARIANTS``: quirky (certificate SET not in DER order), untrusted, expired, reject,
  no-eku, noncritical-eku, garbage, slow, http-error, huge.
- ``tsa_server``: the running :class:`TSAServer` itself.

Skips (with the package to install) when ``openssl`` is not on PATH.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tsa_server import TSAServer, build_pki

__all__ = ["LocalTSA", "tsa", "tsa_server", "tsa_variant"]

# which CA issued each variant's chain (the untrusted one is the only one not under `root`)
_ISSUING_ROOT = {"untrusted": "other-root"}


@dataclass(frozen=True)
class LocalTSA:
    """One TSA variant. `ca_*` is the root that really issued its chain: for every variant but
    ``untrusted`` that is the tests' trust anchor (the good TSA's `ca_cert_pem`)."""

    name: str
    url: str
    dir: Path
    ca_pem_path: Path
    ca_cert_pem: bytes
    tsa_cert_path: Path | None
    tsa_cert_pem: bytes | None


@pytest.fixture(scope="session")
def tsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSAServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found: install it (apt-get install openssl) to run TSA tests")
    pki = build_pki(tmp_path_factory.mktemp("tsa-pki"))
    server = TSAServer(pki)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def tsa_variant(tsa_server: TSAServer) -> Callable[[str], LocalTSA]:
    def get(name: str) -> LocalTSA:
        url = tsa_server.url(name)  # KeyError for an unknown variant
        pki = tsa_server.pki_dir
        ca_path = pki / _ISSUING_ROOT.get(name, "root") / "ca.crt"
        cert_path = pki / name / "tsa.crt"
        has_cert = cert_path.exists()
        return LocalTSA(
            name=name,
            url=url,
            dir=pki / name if (pki / name).is_dir() else pki,
            ca_pem_path=ca_path,
            ca_cert_pem=ca_path.read_bytes(),
            tsa_cert_path=cert_path if has_cert else None,
            tsa_cert_pem=cert_path.read_bytes() if has_cert else None,
        )

    return get


@pytest.fixture(scope="session")
def tsa(tsa_variant: Callable[[str], LocalTSA]) -> LocalTSA:
    return tsa_variant("good")
