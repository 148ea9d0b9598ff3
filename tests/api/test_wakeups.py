"""``submission.Wakeups`` hands each concurrent future's outcome to the event loop as
:func:`asyncio.wrap_future` does (result, exception, cancellation), however the
completions interleave with the loop's callbacks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import pytest

from evidence.api.submission import Wakeups


async def _outcome(af: asyncio.Future[Any]) -> tuple[str, Any]:
    try:
        return "ok", await af
    except asyncio.CancelledError:
        return "cancelled", None
    except Exception as e:  # compared by type and text
        return "error", (type(e), str(e))


def _complete(cfs: list[concurrent.futures.Future[Any]], start: int, stop: int) -> None:
    """Resolve ``cfs[start:stop]``: results, some exceptions, some cancelled."""
    for i in range(start, min(stop, len(cfs))):
        if i % 5 == 3:
            cfs[i].set_exception(ValueError(f"refused {i}"))
        elif i % 7 == 6:
            cfs[i].cancel()
        else:
            cfs[i].set_result(("item", i))


@pytest.mark.parametrize("bursts", [1, 3, 40])
def test_outcomes_equal_wrap_future(bursts: int) -> None:
    """Futures resolved from another thread in bursts (as a group commit does), some
    before they are wrapped, come out as wrap_future gives them."""

    async def run(wrap_with: str) -> list[tuple[str, Any]]:
        loop = asyncio.get_running_loop()
        wake = Wakeups(loop)
        cfs: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future()
                                                     for _ in range(120)]
        _complete(cfs, 0, 5)  # done before they are wrapped
        afs = [wake.wrap(cf) if wrap_with == "wakeups" else asyncio.wrap_future(cf)
               for cf in cfs]
        size = max(1, 115 // bursts)

        def complete_in_bursts() -> None:
            for k in range(5, len(cfs), size):
                _complete(cfs, k, k + size)

        t = threading.Thread(target=complete_in_bursts)
        t.start()
        got = [await _outcome(af) for af in afs]
        t.join()
        return got

    assert asyncio.run(run("wakeups")) == asyncio.run(run("wrap_future"))


def test_a_cancelled_waiter_and_a_closed_loop_are_harmless() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        wake = Wakeups(loop)
        a, b = concurrent.futures.Future(), concurrent.futures.Future()
        fa, fb = wake.wrap(a), wake.wrap(b)
        fa.cancel()  # the client went away
        a.set_result(1)
        b.set_result(2)
        assert await fb == 2
        assert fa.cancelled()

    asyncio.run(run())
    loop = asyncio.new_event_loop()
    wake = Wakeups(loop)
    cf: concurrent.futures.Future[Any] = concurrent.futures.Future()
    wake.wrap(cf)
    loop.close()
    cf.set_result("late")  # no error in the completing thread
