"""The ``linesock`` command line: ``serve``, ``send``, ``shell``, ``replay`` and ``demo``.

Run it as ``linesock`` (the console script) or ``python -m linesock``; both
call :func:`main`.  Every option, message and exit code is described in
docs/cli.md.

The exit codes :func:`main` returns:

* :data:`EXIT_OK` (0): done; a server stopped by a signal or a client's
  ``shutdown`` included.
* :data:`EXIT_ERROR` (1): a runtime failure: the address is in use, no
  server answers, no answer in time, a file named on the command line that
  cannot be used, ``replay`` found an answer that differs.
* :data:`EXIT_USAGE` (2): the command line is wrong.
* :data:`EXIT_HANDLER_IMPORT` (3): ``serve`` could not import the handler.

:data:`TOKEN_ENVIRONMENT_VARIABLE` names the variable that holds the token
when ``--token-file`` is not given.

Design notes
------------
Each sub-command lives in a module of its own (``_serve``, ``_client_commands``
for ``send``, ``shell`` and ``replay``, ``_demo``) as three things: a
function that declares its parser, a frozen dataclass of its settings, and
a function that runs those settings and returns the exit code.
:func:`main` parses the command line, reads it into the command's settings
at once (no ``argparse.Namespace`` travels further) and runs them.  Options
that several commands share are declared once, in ``_options``; stopping on
a signal is ``_signals``, the choice of event loop ``_loops``.

A command fails by raising an exception that carries a one-line message and
an exit code; :func:`main` prints ``linesock: <message>`` to stderr and
returns the code, so users never see a traceback for an expected failure.
The TLS and token files are read by the helpers the API offers too
(:func:`linesock.create_server_ssl_context`,
:func:`linesock.create_client_ssl_context`, :func:`linesock.read_token`),
whose ``ValueError`` the command line only prints, with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._credentials import TOKEN_ENVIRONMENT_VARIABLE
from .._version import __version__
from ._client_commands import add_replay_parser, add_send_parser, add_shell_parser
from ._demo import add_demo_parser
from ._reporting import EXIT_ERROR, EXIT_HANDLER_IMPORT, EXIT_OK, EXIT_USAGE, CommandFailed
from ._serve import add_serve_parser

__all__ = [
    "EXIT_ERROR",
    "EXIT_HANDLER_IMPORT",
    "EXIT_OK",
    "EXIT_USAGE",
    "TOKEN_ENVIRONMENT_VARIABLE",
    "build_parser",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Run the ``linesock`` command line with *argv* (default: ``sys.argv[1:]``).

    Returns the exit code: :data:`EXIT_OK`, :data:`EXIT_ERROR`,
    :data:`EXIT_USAGE` or :data:`EXIT_HANDLER_IMPORT`.
    """
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = arguments.run
    try:
        return run(arguments)
    except CommandFailed as exc:
        print(f"linesock: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("linesock: interrupted", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``linesock`` command and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="linesock",
        description="Serve, drive and try out Oneline servers: one LF-terminated "
        "command per line, one client at a time.",
        epilog=f"exit codes: {EXIT_OK} ok, {EXIT_ERROR} runtime error, {EXIT_USAGE} usage "
        f"error, {EXIT_HANDLER_IMPORT} the handler could not be imported. "
        "See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"linesock {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    subparsers.required = True
    add_serve_parser(subparsers)
    add_send_parser(subparsers)
    add_shell_parser(subparsers)
    add_replay_parser(subparsers)
    add_demo_parser(subparsers)
    return parser
