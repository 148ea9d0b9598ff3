"""Optional speed seams of the HTTP service: readers of the API may skip this package.

Each module answers requests that the FastAPI routes answer too, with the same bytes,
from the same functions, and each is switched by one setting (:class:`ApiSettings`):

- :mod:`.reads` (``fast_reads``): ``GET /checkpoint``, ``GET /v1/log/checkpoint`` and
  ``GET /v1/log/proof/inclusion?seq=N`` (proofs written by :mod:`.inclusion`); held
  equal to the routes by tests/equivalence/test_proof_reads.py.
- :mod:`.tiles` (``fast_reads`` too): ``GET /tlog/checkpoint`` and stored tile files
  under ``/tlog/tile/``; held equal to the route by tests/equivalence/test_tiles_fastpath.py.
- :mod:`.wire` (``fast_wire``, with ``fast_reads``): the two above, for plain ``GET``s,
  answered in uvicorn's HTTP protocol (evidence/api/hardening.py) from the same functions,
  without the ASGI stack; held equal to the ASGI answers over real sockets by
  tests/equivalence/test_wire_reads.py.
- :mod:`.submit` (``fast_submit``): ``POST /v1/evidence`` without FastAPI's routing and
  dependency machinery, admitted by the same :func:`evidence.api.deps.admit`, handled by
  the same :func:`evidence.api.submission.submit`; held equal to the route by
  tests/equivalence/test_api_submit_fastpath.py.
- :mod:`.ratelimit`: the token buckets, in a table every worker process maps, so that a
  token's rate holds for the whole server (tests/api/test_ratelimit_shared.py); it falls
  back to one process's own buckets when the table cannot be used.

With both switches off every request goes through FastAPI's router and dependencies.
"""
