"""Free loopback TCP ports for the throwaway test servers."""

from __future__ import annotations

import contextlib
import random
import socket


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(n: int) -> list[int]:
    """`n` distinct ports that were free a moment ago (all bound at once, then released).

    There is a small window before the server binds them; the callers retry a failed start.
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def free_port_pair(offset: int) -> int:
    """A port `p` such that `p` and `p + offset` are both free (SeaweedFS derives gRPC ports as
    http port + 10000 in places that ignore the explicit flag)."""
    for _ in range(200):
        p = random.randint(20000, 65535 - offset)
        if _is_free(p) and _is_free(p + offset):
            return p
    raise RuntimeError(f"no free port pair with offset {offset}")
