"""Clients that arrive while one is served: the busy policy, decided once for both servers.

Design notes
------------
With the default policy (``busy="queue"``, no ``max_wait``) waiting clients
stay in the kernel's listen queue and the server does not look at them
until it is free: nothing here runs.  ``busy="refuse"`` and ``max_wait``
need the server to see a client the moment it arrives, so the server then
accepts every client at once and puts it in a :class:`WaitingRoom`, which
decides who waits, who is turned away (answered ``busy``) and who has
waited too long (closed); the front end only moves the sockets.  Nothing a
waiting client sent is ever read, so none of its commands runs unless it
is served.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Final, Literal, NamedTuple, TypeAlias

from ._config import ServerConfig

__all__ = ["BusyPolicy", "Waiting", "WaitingRoom"]

#: What becomes of a client that connects while another is served.
BusyPolicy: TypeAlias = Literal["queue", "refuse"]


class Waiting(NamedTuple):
    """A client accepted while another was served."""

    sock: socket.socket
    peer: str
    arrived: float
    """When it was accepted (``time.monotonic()``)."""


class WaitingRoom:
    """Who waits for the slot, under ``busy="refuse"`` or ``max_wait``.

    The front end calls :meth:`arrive` for each client it accepts (then
    refuses it if told), :meth:`take` when it is free to serve, :meth:`done`
    when that session ended, and :meth:`expired` at :meth:`next_deadline`.
    It reads no clock of its own: every method that needs the time takes it.
    """

    def __init__(self, config: ServerConfig) -> None:
        """Follow *config*'s ``busy`` and ``max_wait``."""
        self._refuse: Final = config.busy == "refuse"
        self._max_wait: Final = config.max_wait
        self._queue: deque[Waiting] = deque()
        self._serving = False

    @staticmethod
    def needed(config: ServerConfig) -> bool:
        """Whether *config* asks for a waiting room (else clients wait in the kernel)."""
        return config.busy == "refuse" or config.max_wait is not None

    def __len__(self) -> int:
        """How many clients wait."""
        return len(self._queue)

    def arrive(self, sock: socket.socket, peer: str, now: float) -> bool:
        """A client connected: True if it may wait, False if it must be refused (``busy``)."""
        if self._refuse and (self._serving or self._queue):
            return False
        self._queue.append(Waiting(sock, peer, now))
        return True

    def take(self) -> Waiting | None:
        """The next client to serve, in arrival order (None if nobody waits)."""
        if not self._queue:
            return None
        self._serving = True
        return self._queue.popleft()

    def done(self) -> None:
        """The session of the client last taken has ended."""
        self._serving = False

    def next_deadline(self) -> float | None:
        """When the longest-waiting client's ``max_wait`` runs out (None: no such wait)."""
        if self._max_wait is None or not self._queue:
            return None
        return self._queue[0].arrived + self._max_wait

    def expired(self, now: float) -> list[Waiting]:
        """Take out the clients that have waited ``max_wait`` without being served."""
        if self._max_wait is None:
            return []
        gone: list[Waiting] = []
        while self._queue and now - self._queue[0].arrived >= self._max_wait:
            gone.append(self._queue.popleft())
        return gone

    def close_all(self) -> list[Waiting]:
        """Take out every waiting client (the server is stopping)."""
        gone = list(self._queue)
        self._queue.clear()
        return gone
