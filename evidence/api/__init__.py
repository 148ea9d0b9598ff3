"""The HTTP service (FastAPI): auth and roles, cases and grants, upload, retrieval,
proofs and checkpoints. ``create_app(ApiSettings(...))`` builds it; ``evidence serve``
runs it under uvicorn. See docs/api.md.

Layout (FastAPI "bigger applications"): :mod:`.routers` one module per resource;
:mod:`.deps` the dependencies (services, the caller, rate limits); :mod:`.schemas` the
request/response models (separate from the tables in :mod:`evidence.ledger`);
:mod:`.problems` the one exception handler mapping domain errors to RFC 9457 documents.
"""
