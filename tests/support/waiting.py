"""Bounded waiting: the one time limit of the tests, polling for a state, a free port."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

#: The longest any single wait in a test may take, in seconds.
WAIT = 10.0
#: How often :func:`wait_until` looks again.
POLL_INTERVAL = 0.005


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Check *condition* every few milliseconds until it holds (True) or *timeout* passes (False).

    For states no event announces, such as another thread closing a socket.
    Use it as ``assert wait_until(...)``, so a timeout fails the test.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of *host* that nothing listened on a moment ago (bound and released).

    For a server that cannot be given port 0, or a client that must find no
    server.  Another process may take the port meanwhile: prefer port 0.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port
