"""What the compat server and client share: settings, logging and the old constants."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Final, Protocol, TypeAlias

from .._version import __version__

#: The callback of an :class:`OnelineServer`: ``callback(cmd, is_invalid)``.
#: Its return value is ignored; it answers through :meth:`OnelineServer.send`.
OnelineCallback: TypeAlias = Callable[[str, bool], object]

ENCODING: Final = "utf-8"
# The old client waited this long for an answer by default; the compat
# client gives connecting, sending and the ping check the same patience.
NETWORK_TIMEOUT: Final = 3.0
# How long disconnect() waits for the server to close its side.  Both the
# old server and linesock's close at once, so this only bounds a broken one.
CLOSE_WAIT: Final = 1.0
# How long term() waits for the serving thread; it only takes longer when a
# callback is still busy, and then the server stops once that callback returns.
TERM_WAIT: Final = 5.0
# Log lines show at most this many characters of a command or response.
LOG_CHARS: Final = 200
READ_SIZE: Final = 64 * 1024

# Where errors go when ``verbose`` is off, so they are never silent.
fallback_logger: Final = logging.getLogger("linesock.compat")


class InfoLogger(Protocol):
    """What the compat classes need of a ``logger``: an ``info(message)`` method."""

    def info(self, msg: str, /) -> object:
        """Record one log line."""


def os_reason(exc: BaseException) -> str:
    """Why a socket call failed, in the operating system's words, for a log line."""
    if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def clip(text: str) -> str:
    """Shorten *text* for a log line."""
    return text if len(text) <= LOG_CHARS else text[:LOG_CHARS] + "..."


class OnelineEndpoint:
    """The settings and the logging that the compat server and client share."""

    def __init__(self, log_prefix: str) -> None:
        """Start with nothing set and logging off."""
        self._log_prefix: Final = log_prefix
        self._ip_address: str | None = None
        self._ip_port: int | None = None
        self._logger: InfoLogger | None = None
        self._verbose = False

    @property
    def version(self) -> str:
        """The version of linesock (not of socket-oneline)."""
        return __version__

    @property
    def ip_address(self) -> str | None:
        """The IP address or host name to listen on or connect to."""
        return self._ip_address

    @ip_address.setter
    def ip_address(self, value: str | None) -> None:
        self._ip_address = value

    @property
    def ip_port(self) -> int | None:
        """The TCP port to listen on or connect to."""
        return self._ip_port

    @ip_port.setter
    def ip_port(self, value: int | None) -> None:
        self._ip_port = value

    @property
    def logger(self) -> InfoLogger | None:
        """Where log lines go when ``verbose`` is true; None prints them to stdout."""
        return self._logger

    @logger.setter
    def logger(self, value: InfoLogger | None) -> None:
        self._logger = value

    @property
    def verbose(self) -> bool:
        """Whether to log what happens; when false only errors are logged (see the module)."""
        return self._verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._verbose = value

    def _apply(
        self,
        ip_address: str | None,
        ip_port: int | None,
        logger: InfoLogger | None,
        verbose: bool | None,
    ) -> None:
        """Take the parameters given to ``start``/``init``; None keeps the current value."""
        if ip_address is not None:
            self._ip_address = ip_address
        if ip_port is not None:
            self._ip_port = ip_port
        if logger is not None:
            self._logger = logger
        if verbose is not None:
            self._verbose = verbose

    def _missing(self, what: str, **settings: object) -> bool:
        """Log each setting that is None; return True if any was."""
        missing = [name for name, value in settings.items() if value is None]
        for name in missing:
            self._problem(f"cannot {what}: {name} is not set")
        return bool(missing)

    def _log(self, message: str) -> None:
        """Log *message* to the logger (or stdout) when verbose; otherwise do nothing."""
        if not self._verbose:
            return
        line = f"{self._log_prefix}: {message}"
        if self._logger is None:
            print(line, flush=True)
        else:
            self._logger.info(line)

    def _problem(self, message: str, level: int = logging.WARNING) -> None:
        """Log an error: on the verbose channel if verbose, else with :mod:`logging`."""
        if self._verbose:
            self._log(f"error: {message}")
        else:
            fallback_logger.log(level, "%s: %s", self._log_prefix, message)
