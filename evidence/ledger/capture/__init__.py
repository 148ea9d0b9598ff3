"""Server-side web capture: the service itself visits a page and preserves what it was served.

A fresh headless Chromium (Playwright) visits the URL; every request and response goes
to WARC/1.1 (warcio), packaged as WACZ (py-wacz), beside a full-page screenshot, a PDF,
the rendered DOM, the page text, the HAR and optionally a WebM video. A capture manifest
(RFC 8785) records the environment and the steps, and the capture node signs it with
its own Ed25519 key. :func:`preserve` hands the files to the normal intake as one item
of kind ``webcapture``; :mod:`evidence.verify.webcapture` checks it offline.

Needs the ``capture`` extra (``pip install 'evidence[capture]'``) and a Chromium.
"""

from evidence.ledger.capture.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MAX_CLICKS,
    MAX_SELECTOR,
    Options,
)
from evidence.ledger.capture.policy import CaptureRefused, check_url, is_public

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "KIND", "MAX_CLICKS", "MAX_SELECTOR", "Capture",
           "CaptureRefused", "Options", "capture", "check_url", "is_public", "preserve"]

_RUN = frozenset({"KIND", "Capture", "capture", "preserve"})


def __getattr__(name: str) -> object:
    """The names of :mod:`.run` (the capture itself: WARC, WACZ, the signed manifest),
    imported on first use: a serving worker that only keeps the job queue
    (:mod:`.jobs`, :mod:`.policy`) never loads them (tests/processes/test_lazy_imports.py)."""
    if name in _RUN:
        from evidence.ledger.capture import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
