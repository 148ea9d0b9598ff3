"""How ``evidence serve`` runs uvicorn so that SIGHUP reloads instead of killing or
restarting (evidence/api/reload.py).

One worker: the serve process is the worker; SIGHUP is ignored until the app's lifespan
installs its handler (so a SIGHUP sent while it starts is not fatal). Several: uvicorn's
supervisor would answer SIGHUP by replacing every worker (each a fresh start, seconds
and a few hundred MiB apiece); :class:`ForwardingSupervisor` sends the signal on to each
worker that has finished starting instead, and each reloads in place. A worker still
starting reads the configuration file as it is when it starts.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

log = logging.getLogger("uvicorn.error")


def run(**kw: Any) -> None:
    """``uvicorn.run(**kw)``, with SIGHUP handled as above."""
    import uvicorn

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if kw.get("workers", 1) <= 1:
        uvicorn.run(**kw)
        return
    from uvicorn.supervisors.multiprocess import Multiprocess

    class ForwardingSupervisor(Multiprocess):
        def handle_hup(self) -> None:
            for p in self.processes:
                if p.pid is not None and p.is_ready(timeout=5):
                    os.kill(p.pid, signal.SIGHUP)
                    log.info("SIGHUP forwarded to worker [%d]", p.pid)
                else:
                    log.info("worker [%s] is starting: it reads the configuration as it "
                             "starts", p.pid)

    app = kw.pop("app")
    config = uvicorn.Config(app, **kw)
    sock = config.bind_socket()
    try:
        ForwardingSupervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
