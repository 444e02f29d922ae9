"""How the command line reports: the exit codes, a command's failure, and its output lines.

A command fails by raising :class:`CommandFailed` with a one-line message
and an exit code; ``main`` prints ``linesock: <message>`` to stderr and
returns the code, so users never see a traceback for an expected failure.
A token is never part of a message.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Final

__all__ = [
    "EXIT_ERROR",
    "EXIT_HANDLER_IMPORT",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "failing_on_unusable_files",
    "format_address",
    "os_error_reason",
    "print_lines",
]

#: The command did what it was asked (a server stopped by a signal or a
#: client's ``shutdown`` included).
EXIT_OK: Final = 0
#: A runtime failure: the address is in use, no server answers, a timeout,
#: a file named on the command line that cannot be used.
EXIT_ERROR: Final = 1
#: The command line is wrong (argparse uses this code too).
EXIT_USAGE: Final = 2
#: ``serve`` could not import the handler it was given.
EXIT_HANDLER_IMPORT: Final = 3


class CommandFailed(Exception):
    """A command cannot go on; ``main`` prints the message and exits with the code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        """Fail with a one-line *message* and *exit_code*."""
        super().__init__(message)
        self.exit_code: Final = exit_code


@contextlib.contextmanager
def failing_on_unusable_files() -> Iterator[None]:
    """Turn the ``ValueError`` of a credential helper (a bad TLS or token file) into exit 1."""
    try:
        yield
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None


def os_error_reason(exc: OSError) -> str:
    """An ``OSError``'s reason alone, without the file name or address it may carry."""
    # socket.create_server appends the address to strerror; say it once.
    plain = exc.errno is not None and not isinstance(exc, socket.gaierror)
    return os.strerror(exc.errno) if plain and exc.errno else exc.strerror or str(exc)


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def print_lines(lines: Sequence[str], prefix: str = "") -> None:
    """Print each line, flushed so a reader sees answers as they come."""
    for line in lines:
        print(prefix + line)
    sys.stdout.flush()
