"""The court report of a bundle the server builds: the reader's options and the server's.

``evidence export`` on the operator's machine shapes its report with ``--tz``, ``--forum``,
``--verify-url`` and ``--trusted-list`` (evidence/ledger/bundle/report_facts.py). A rights
holder who exports through the API or the console gets the same report:

* ``?tz=ZONE`` and ``?forum=cn,eu,...`` on ``GET /v1/evidence/{id}/bundle`` are the
  reader's: the zone of the report's local times (an IANA name; without it the server's
  zone, named as such) and whose rules its checklist lists (default all). A bad value is
  a 422, checked before anything is read or recorded;
* the verify page's URL in the QR code and the EU trusted lists of the eIDAS rows are the
  server's: ``[serve] public_url`` (the verify page is ``<public_url>/verify/``; else
  ``EVIDENCE_REPORT_VERIFY_URL`` as ``evidence export`` reads it) and ``[eidas]
  trusted_lists``, both re-read on SIGHUP. The lists are parsed once per file state
  (path, size, mtime), not per download.

Every option is in the report's data, so the kept bundle's state key differs for each
combination (evidence/ledger/bundle/cache.py): one URL, with its query, always names the
same bytes. :func:`variant` also starts that key, so that an ``If-Range`` ETag of a
bundle built for other options never resumes into this URL's download.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.api.problems import Problem

if TYPE_CHECKING:  # the report's modules load with the first bundle, not in every worker
    from evidence.ledger.bundle.trusted_list import TrustedList


@dataclass(frozen=True)
class ReportOptions:
    time_zone: str | None  # None: the server's zone (report_time.LOCAL)
    forum: str | None  # None: every forum; else "cn,eu" (checked)
    verify_url: str | None  # the verify page's https URL; None: none configured
    trusted_lists: tuple[TrustedList, ...]


def reader_options(tz: str | None, forum: str | None) -> tuple[str | None, str | None]:
    """The request's ``tz`` and ``forum``, checked (422 ``invalid-input`` otherwise) and
    normalised: ``local``/empty is None, forums in the canonical order without repeats."""
    from evidence.ledger.bundle.report_facts import BadReportOption, check_forum
    from evidence.ledger.bundle.report_time import BadZone, check_zone

    try:
        zone = check_zone(tz)
        forums = check_forum(forum)
    except BadZone as e:
        raise Problem(422, "invalid-input", f"tz: {e}") from None
    except BadReportOption as e:
        raise Problem(422, "invalid-input", f"forum: {e}") from None
    from evidence.ledger.bundle.report_facts import FORUMS

    chosen = [f for f in FORUMS if f in forums]
    return (None if zone == "local" else zone,
            None if chosen == list(FORUMS) else ",".join(chosen))


def verify_base(public_url: str | None) -> str | None:
    """The verify page's URL on a server whose public URL is ``public_url``
    (``https://evidence.example`` or ``https://example.org/evidence``): ``<it>/verify/``.
    None when not configured."""
    url = (public_url or "").strip()
    if not url:
        return None
    return url.rstrip("/") + "/verify/"


_LOCK = threading.Lock()
_READ: dict[str, tuple[tuple[int, int], TrustedList]] = {}


def server_lists(paths: Sequence[str]) -> tuple[TrustedList, ...]:
    """The configured trusted lists, each parsed again only when its size or mtime
    changed. A file that cannot be used is a 503 (the operator's to fix; ``evidence
    config check`` names it), never a bundle whose eIDAS rows silently say less."""
    from evidence.ledger.bundle.trusted_list import TrustedListError, load_trusted_list

    out = []
    for p in paths:
        path = str(Path(p).expanduser())
        try:
            st = os.stat(path)
            stamp = (st.st_size, st.st_mtime_ns)
            with _LOCK:
                kept = _READ.get(path)
            if kept is None or kept[0] != stamp:
                kept = (stamp, load_trusted_list(path))
                with _LOCK:
                    _READ[path] = kept
        except (OSError, TrustedListError) as e:
            raise Problem(503, "report-config-unavailable", "the server's EU trusted list "
                          f"([eidas] trusted_lists) cannot be used: "
                          f"{getattr(e, 'strerror', None) or e}; the operator must fix it "
                          "(evidence config check)") from None
        out.append(kept[1])
    return tuple(out)


def server_options(public_url: str | None, trusted_lists: Sequence[str],
                   tz: str | None, forum: str | None) -> ReportOptions:
    """The report options of one bundle request: the reader's (checked, 422) and the
    server's. The verify page is ``[serve] public_url``'s, else
    ``EVIDENCE_REPORT_VERIFY_URL``'s (a bad one of these is a 503, as a bad list is)."""
    from evidence.ledger.bundle.report_facts import BadReportOption, verify_page_url

    time_zone, forums = reader_options(tz, forum)
    base = verify_base(public_url)
    try:
        verify_page_url(base, "x")  # the environment's, when base is None
    except BadReportOption as e:
        raise Problem(503, "report-config-unavailable", f"the server's verify page URL "
                      f"cannot be used: {e}; the operator must fix it") from None
    return ReportOptions(time_zone, forums, base, server_lists(trusted_lists))


def variant(time_zone: str | None, forum: str | None) -> str:
    """8 hex digits naming the reader's options (the start of the bundle's state key)."""
    return hashlib.sha256(f"{time_zone or ''}\n{forum or ''}".encode()).hexdigest()[:8]
