"""How the audit starts its worker processes: fork when nothing else runs in this
process (fast), spawn when other threads do (a forked child could inherit a held
lock). Both give the reference pass's verdicts."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import subprocess
import sys
import threading

import pytest

from evidence.ledger import workers
from evidence.ledger.log import Ledger
from tests.support.tamper import quick, reference, tamper

CHOICE = ("from evidence.ledger.workers import worker_context; "
          "print(worker_context().get_start_method())")


def test_fork_only_without_other_threads() -> None:
    alone = subprocess.run([sys.executable, "-c", CHOICE], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert alone == "fork"
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert workers.worker_context().get_start_method() == "spawn"
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize(("kind", "k"), [("none", 0), ("byte", 17), ("node", 15),
                                         ("cp root", 14)])
def test_both_start_methods_name_what_the_reference_names(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch, method: str, kind: str,
        k: int) -> None:
    started: list[str] = []

    def context() -> multiprocessing.context.BaseContext:
        started.append(method)
        return multiprocessing.get_context(method)

    monkeypatch.setattr(workers, "worker_context", context)
    tamper(ledger, kind, k)
    assert quick(ledger, 8, workers=2) == reference(ledger)
    assert started == [method]  # the quick pass's pool was started this way
