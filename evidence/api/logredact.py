"""No token in any log line: query strings and bearer tokens are redacted.

A token belongs in the ``Authorization`` header, where no access log writes it. A client
that puts it in the URL (``?token=evk_...``) is refused, but uvicorn's access log writes
the request line as received, so the token would sit in clear in the log files, their
backups and whatever ships them. A filter on the loggers and handlers of the server
rewrites each record before it is formatted:

* the value of every query parameter whose name suggests a credential (``token``,
  ``access_token``, ``key``, ``secret``, ``password``, ``auth``, ``sig``...) becomes
  ``[REDACTED]``;
* anything shaped like one of our tokens (``evk_...``) becomes ``evk_[REDACTED]``
  wherever it appears (a token pasted into a path, a header echoed in an error).

The record's arguments are rewritten one by one, not merged into the message: uvicorn's
access formatter unpacks them (client, method, path, version, status).
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[REDACTED]"
_QUERY_SECRET = re.compile(
    r"(?i)((?:^|[?&;])[^=&;?\s\"]*(?:token|key|secret|password|passwd|auth|sig|credential)"
    r"[^=&;?\s\"]*=)[^&;\s\"#]*")
_TOKEN = re.compile(r"evk_[A-Za-z0-9_~.%+/=-]+")
LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "evidence", "")


def redact(text: str) -> str:
    """``text`` with credential-like query values and our tokens replaced."""
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    if "evk_" in text:
        text = _TOKEN.sub("evk_" + REDACTED, text)
    return text


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def install() -> None:
    """Put the filter on the server's loggers and on each of their handlers (a logger's
    filter does not see records its children propagate; a handler's does). Idempotent."""
    f = RedactSecrets()
    for name in LOGGERS:
        lg = logging.getLogger(name)
        for target in (lg, *lg.handlers):
            if not any(isinstance(x, RedactSecrets) for x in target.filters):
                target.addFilter(f)
