"""Fuzzing the bundle reader and verifier: random bytes, and bit flips of a good bundle.
Never a crash (no exception, no "unexpected error" check), never a false pass (a
bundle that passes after flips holds exactly the original members' bytes: only
unprotected ZIP bookkeeping such as dates may differ)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.bundle import UNEXPECTED, verify_bundle
from tests.support.bundle_world import World, build_world, members
from tests.support.tsa import LocalTSA

pytestmark = pytest.mark.tsa

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("fuzz"), tsa.url, tsa.ca_cert_pem, tsa.ca_pem_path)
    yield w
    w.led.close()


@pytest.fixture(scope="module")
def good(world: World) -> bytes:
    return world.export(world.a)


def _no_crash(data: bytes, world: World):  # type: ignore[no-untyped-def]
    r = verify_bundle(io.BytesIO(data), world.trust())
    for c in r.checks:
        assert not c.reason.startswith(UNEXPECTED), c.reason
    return r


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_crash_never_pass(world: World, data: bytes) -> None:
    assert not _no_crash(data, world).ok


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_after_a_zip_signature(world: World, data: bytes) -> None:
    assert not _no_crash(b"PK\x03\x04" + data, world).ok
    assert not _no_crash(data + b"PK\x05\x06" + bytes(18), world).ok


@pytest.mark.slow
@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)),
                      min_size=1, max_size=4))
def test_bit_flips_of_a_good_bundle(world: World, good: bytes,
                                    flips: list[tuple[int, int]]) -> None:
    bad = bytearray(good)
    for pos, x in flips:
        bad[pos % len(bad)] ^= x
    r = _no_crash(bytes(bad), world)
    if r.ok:  # only harmless bookkeeping changed: every member reads back identical
        with zipfile.ZipFile(io.BytesIO(bytes(bad))) as z:
            assert {i.filename: z.read(i) for i in z.infolist()} == members(good)


@pytest.mark.slow
@FUZZ
@given(member=st.sampled_from(["manifest.json", "checkpoint/checkpoint.note",
                               "metadata/metadata.json", "timestamps/0.tst"]),
       data=st.binary(max_size=600))
def test_member_replaced_by_garbage(world: World, good: bytes, member: str,
                                    data: bytes) -> None:
    from tests.support.bundle_world import rezip

    m = members(good)
    m[member] = data
    assert not _no_crash(rezip(m), world).ok
