"""What both servers show their callers alike: where they listen, their faults, their records.

The threaded :class:`~linesock.Server` and :class:`~linesock.aio.AsyncServer`
differ in how they serve, not in what they report; the reporting half is
written once here, over the :class:`~linesock._lifecycle.ServerCore` both
hold.
"""

from __future__ import annotations

from typing import ClassVar

from ._control import ControlPort
from ._faults import Faults
from ._lifecycle import ServerCore

__all__ = ["SharedServerAPI"]


class SharedServerAPI:
    """The members both server front ends share; each sets the three attributes below."""

    _core: ServerCore
    _address: tuple[str, int] | None
    _control: ControlPort | None
    #: What the error of :attr:`address` tells a caller to do before it listens.
    _HOW_TO_LISTEN: ClassVar[str] = ""

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when it was created with 0)."""
        return self.address[1]

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the server listens (or, once stopped, listened) on."""
        if self._address is None:
            raise RuntimeError(f"the server is not listening yet; {self._HOW_TO_LISTEN}")
        return self._address

    @property
    def control_address(self) -> tuple[str, int] | None:
        """The ``(host, port)`` of the control port (``control_port``); None without one.

        Set once the server listens; see docs/control.md.
        """
        return None if self._control is None else self._control.address

    @property
    def handler_exit(self) -> BaseException | None:
        """The ``SystemExit`` or ``KeyboardInterrupt`` a handler raised to stop the server."""
        return self._core.handler_exit

    @property
    def faults(self) -> Faults:
        """The faults injected into the served client's session (see :class:`~linesock.Faults`)."""
        return self._core.faults

    def reopen_transcript(self) -> None:
        """Reopen the transcript at its path (after a logrotate-style rename; on SIGHUP).

        Safe from any thread (the asyncio server's: from the loop), never from a
        signal handler: it takes the transcript's lock.
        """
        self._core.reopen_transcript()

    def record_change(self, action: str, **details: str) -> None:
        """Log and record (transcript) a change made from outside the session, e.g. a state set."""
        self._core.record_change(action, **details)
