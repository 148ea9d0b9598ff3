"""How the audit starts its worker processes: fork when nothing else runs in this
process (fast), spawn when other threads do (a forked child could inherit a held
lock). Both give the reference pass's verdicts."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading

import pytest

from evidence.ledger import audit as audit_module
from evidence.ledger.log import Ledger
from tests.support.tamper import quick, reference, tamper

CHOICE = ("from evidence.ledger.audit import _worker_context; "
          "print(_worker_context().get_start_method())")


def test_fork_only_without_other_threads() -> None:
    alone = subprocess.run([sys.executable, "-c", CHOICE], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert alone == "fork"
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert audit_module._worker_context().get_start_method() == "spawn"
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize(("kind", "k"), [("none", 0), ("byte", 17), ("node", 15),
                                         ("cp root", 14)])
def test_both_start_methods_name_what_the_reference_names(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch, method: str, kind: str,
        k: int) -> None:
    monkeypatch.setattr(audit_module, "_worker_context",
                        lambda: multiprocessing.get_context(method))
    tamper(ledger, kind, k)
    assert quick(ledger, 8, workers=2) == reference(ledger)
