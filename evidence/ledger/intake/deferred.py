"""The HTTP API's old names for :class:`~.service.Intake`'s two-step submit.

Deferred signatures are :meth:`Intake.prepare`, :meth:`Intake.submit_prepared` and
:meth:`Intake.discard_prepared` (see :mod:`.service`). This module only keeps the
import ``evidence.api.routers.evidence`` still uses; remove it once that calls
``svc.intake.submit_prepared`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from evidence.ledger.intake.model import Prepared, Submitted
from evidence.ledger.intake.service import Intake

__all__ = ["Prepared", "submit_prepared"]


def submit_prepared(intake: Intake, prepared: Prepared, submitter: Mapping[str, str]
                    ) -> Submitted:
    """:meth:`Intake.submit_prepared`."""
    return intake.submit_prepared(prepared, submitter)
