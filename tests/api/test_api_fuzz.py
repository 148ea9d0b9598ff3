"""Schema-driven fuzzing of the OpenAPI document with schemathesis, against a real
``evidence serve``: for every operation, generated requests (valid ones, then invalid
ones) must get no 5xx, a documented status code and content type, and bodies that
match their schema.

Bounded for CI: ``EVIDENCE_FUZZ_EXAMPLES`` examples per operation (default 25), no
deadline (the machine is shared). Requests carry a submitter's token, so the
authenticated paths are exercised past the 401; generated tokens and ids exercise the
refusals. (Needs ``schemathesis``: the dev extra.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")  # the dev extra

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api_server import Server, make_world, start_server, submit  # noqa: E402

EXAMPLES = int(os.environ.get("EVIDENCE_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    world = make_world(tmp_path_factory.mktemp("fuzz") / "data")
    srv = start_server(world, "--rate", "100000", "--burst", "100000", "--max-upload", "1MiB")
    try:
        assert submit(srv).status_code == 201  # something to find, prove and share
        yield srv
    finally:
        srv.stop()


def test_no_5xx_and_responses_match_the_schema(fuzz_server: Server) -> None:
    """Every operation of the served document, fuzzed in turn; failures are collected so
    that one run names every operation at fault."""
    from hypothesis import given

    # a signed statement's body is bytes (POST /v1/evidence/statements): sent as they come
    schemathesis.serializer.alias(["application/scitt-statement+cose", "application/cose"],
                                  "application/octet-stream")
    schema = schemathesis.openapi.from_url(fuzz_server.base + "/openapi.json")
    token = fuzz_server.world.tokens["acme"]
    failures: list[str] = []
    operations = calls = 0
    for result, mode in ((r, m) for r in schema.get_all_operations()
                         for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
        op = result.ok()
        operations += mode == GenerationMode.POSITIVE

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            headers = dict(case.headers or {})
            headers.setdefault("Authorization", f"Bearer {token}")
            case.call_and_validate(base_url=fuzz_server.base, headers=headers,
                                   checks=CHECKS, timeout=60)

        try:
            run()
        except Unsatisfiable:  # no parameters: nothing to make invalid
            assert mode == GenerationMode.NEGATIVE
        except (Exception, BaseExceptionGroup) as e:  # note it, go on with the next
            failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {e}"[:3000])
    assert operations >= 18 and calls >= operations * 3, (operations, calls)
    print(f"{operations} operations, {calls} generated requests")
    assert not failures, "\n\n".join(failures)
