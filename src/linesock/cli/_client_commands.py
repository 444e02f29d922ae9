"""The client commands: ``send``, ``shell`` and ``replay``.

Each reads its settings (``ClientOptions`` for the connection), connects
with :class:`~linesock.Client` or hands the work to :func:`linesock.replay`,
and turns what can go wrong on the way (no server, no answer in time, a
lost connection) into a one-line failure with exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .. import Client, ReplayReport, replay
from .._client import check_command
from .._errors import RemoteProtocolError
from .._wire import DISCONNECT, SHUTDOWN
from ._options import ClientOptions, Subparsers, add_client_options, one_line_command, set_command
from ._reporting import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandFailed, os_error_reason, print_lines

__all__ = [
    "CLOSING_COMMANDS",
    "HISTORY_FILE",
    "ReplaySettings",
    "SendSettings",
    "ShellSettings",
    "add_replay_parser",
    "add_send_parser",
    "add_shell_parser",
    "end_session",
    "exchange",
    "run_replay",
    "run_send",
    "run_shell",
]

#: Where ``linesock shell`` keeps its command history.
HISTORY_FILE: Final = "~/.linesock_history"
#: The commands that end a session; nothing can be sent after them.
CLOSING_COMMANDS: Final = (DISCONNECT, SHUTDOWN)
_HISTORY_LENGTH: Final = 1000
_SHELL_QUIT: Final = ("quit", "exit")


def _connect(options: ClientOptions) -> Client:
    """Read the credentials, then connect a client to the server the options name."""
    credentials = options.read_credentials()
    client = Client(
        options.host,
        options.port,
        options.timeout,
        ssl_context=credentials.ssl_context,
        server_hostname=credentials.server_hostname,
        token=credentials.token,
        terminator=options.terminator,
        answer_terminator=options.answer_terminator,
    )
    try:
        client.connect()
    except ConnectionError as exc:
        raise CommandFailed(str(exc)) from None
    return client


def exchange(client: Client, command: str, timeout: float) -> list[str]:
    """Send *command* (not ``disconnect``/``shutdown``) and return its answers.

    *timeout* is the client's, for the message when no answer comes in time.
    """
    try:
        return client.request(command)
    except TimeoutError:
        client.close()
        raise CommandFailed(f"no answer to {command!r} within {timeout:g} s") from None
    except (OSError, RemoteProtocolError) as exc:
        client.close()
        raise CommandFailed(str(exc)) from None


def end_session(client: Client, command: str) -> None:
    """End the session with ``disconnect`` or ``shutdown``."""
    if command == SHUTDOWN:
        client.shutdown()
    else:
        client.disconnect()


# -- send --------------------------------------------------------------------


def add_send_parser(subparsers: Subparsers) -> None:
    """Declare ``linesock send``."""
    parser = subparsers.add_parser(
        "send",
        help="send commands and print their answers",
        description="Connect, send each COMMAND in turn, print its answers one per line, "
        "and disconnect. A last COMMAND 'disconnect' or 'shutdown' ends the session "
        "that way instead.",
    )
    parser.add_argument(
        "commands",
        nargs="+",
        type=one_line_command,
        metavar="COMMAND",
        help="a command to send; quote one that holds spaces",
    )
    add_client_options(parser)
    set_command(parser, SendSettings.from_namespace, run_send)


@dataclass(frozen=True)
class SendSettings:
    """What ``linesock send`` was told."""

    commands: tuple[str, ...]
    """The commands to send; only the last may be ``disconnect`` or ``shutdown``."""
    connection: ClientOptions

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> SendSettings:
        """Read the parsed arguments of ``send``; refuse a closing command before the last."""
        commands = tuple(arguments.commands)
        for command in commands[:-1]:
            if command in CLOSING_COMMANDS:
                raise CommandFailed(
                    f"{command!r} ends the session, so it can only be the last command", EXIT_USAGE
                )
        return cls(commands, ClientOptions.from_namespace(arguments))


def run_send(settings: SendSettings) -> int:
    """Send each command and print its answers."""
    client = _connect(settings.connection)
    try:
        for command in settings.commands:
            if command in CLOSING_COMMANDS:
                end_session(client, command)
                return EXIT_OK
            print_lines(exchange(client, command, settings.connection.timeout))
        client.disconnect()
    finally:
        client.close()
    return EXIT_OK


# -- shell -------------------------------------------------------------------


def add_shell_parser(subparsers: Subparsers) -> None:
    """Declare ``linesock shell``."""
    parser = subparsers.add_parser(
        "shell",
        help="an interactive client with line editing and history",
        description="Send each line typed and print its answers. 'quit', 'exit' or "
        f"Ctrl-D disconnect; 'shutdown' stops the server. History is kept in {HISTORY_FILE}. "
        "With stdin not a terminal, reads commands from it without a prompt.",
    )
    add_client_options(parser)
    set_command(parser, ShellSettings.from_namespace, run_shell)


@dataclass(frozen=True)
class ShellSettings:
    """What ``linesock shell`` was told."""

    connection: ClientOptions

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> ShellSettings:
        """Read the parsed arguments of ``shell``."""
        return cls(ClientOptions.from_namespace(arguments))


def run_shell(settings: ShellSettings) -> int:
    """Read commands from the user (or stdin), send them and print the answers."""
    options = settings.connection
    interactive = sys.stdin.isatty()
    client = _connect(options)
    save_history = _enable_line_editing() if interactive else None
    if interactive:
        print(
            f"connected to {options.address}; "
            "'quit' or Ctrl-D to leave, 'shutdown' stops the server"
        )
    prompt = f"linesock {options.address}> " if interactive else ""
    try:
        _converse(client, prompt, interactive, options.timeout)
    finally:
        client.close()
        if save_history is not None:
            save_history()
    return EXIT_OK


def _converse(client: Client, prompt: str, interactive: bool, timeout: float) -> None:
    """Send each line read until a closing command or the end of input, printing the answers."""
    while (line := _read_line(prompt, interactive)) is not None:
        command = line.strip()
        if not command:
            continue
        if command in _SHELL_QUIT or command in CLOSING_COMMANDS:
            end_session(client, SHUTDOWN if command == SHUTDOWN else DISCONNECT)
            return
        try:
            check_command(line)
        except ValueError as exc:
            print(f"linesock: {exc}", file=sys.stderr)
            continue
        print_lines(exchange(client, line, timeout))
    client.disconnect()


def _read_line(prompt: str, interactive: bool) -> str | None:
    """The next line typed (without a CR before its end), or None at the end of input."""
    while True:
        try:
            return input(prompt).removesuffix("\r")
        except EOFError:
            if interactive:
                print()
            return None
        except KeyboardInterrupt:
            if not interactive:
                raise
            print()  # like a shell: drop the line, prompt again


def _enable_line_editing() -> Callable[[], None]:
    """Turn on readline editing and load the history; return what saves it."""
    try:
        import readline  # noqa: PLC0415  (only for a terminal; absent on some systems)
    except ImportError:
        return lambda: None
    path = os.path.expanduser(HISTORY_FILE)
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(_HISTORY_LENGTH)

    def save() -> None:
        with contextlib.suppress(OSError):
            readline.write_history_file(path)

    return save


# -- replay ------------------------------------------------------------------


def add_replay_parser(subparsers: Subparsers) -> None:
    """Declare ``linesock replay``."""
    parser = subparsers.add_parser(
        "replay",
        help="resend a transcript's commands and report every answer that differs",
        description="Send the commands of each session recorded in FILE (written by "
        "'linesock serve --transcript') to a server, each session on a connection of its "
        "own, and compare the answers line by line. Prints each command whose answers "
        "differ, then a summary; exits 1 if any differ. Invalid lines are not resent, "
        "nor a recorded 'shutdown' unless --include-shutdown.",
    )
    parser.add_argument("transcript", metavar="FILE", help="the transcript to replay")
    parser.add_argument(
        "--include-shutdown",
        action="store_true",
        help="send a recorded 'shutdown' too, which stops the server under test",
    )
    add_client_options(parser)
    set_command(parser, ReplaySettings.from_namespace, run_replay)


@dataclass(frozen=True)
class ReplaySettings:
    """What ``linesock replay`` was told."""

    transcript: str
    """The transcript file to replay."""
    include_shutdown: bool
    connection: ClientOptions

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> ReplaySettings:
        """Read the parsed arguments of ``replay``."""
        return cls(
            arguments.transcript,
            arguments.include_shutdown,
            ClientOptions.from_namespace(arguments),
        )


def run_replay(settings: ReplaySettings) -> int:
    """Replay the transcript; print the differences and a summary."""
    options = settings.connection
    credentials = options.read_credentials()
    _check_readable("the transcript", settings.transcript)
    try:
        report = replay(
            settings.transcript,
            options.host,
            options.port,
            timeout=options.timeout,
            ssl_context=credentials.ssl_context,
            server_hostname=credentials.server_hostname,
            token=credentials.token,
            include_shutdown=settings.include_shutdown,
        )
    except TimeoutError:
        raise CommandFailed(
            f"no answer from {options.address} within {options.timeout:g} s"
        ) from None
    except (OSError, RemoteProtocolError) as exc:  # ConnectionError included
        raise CommandFailed(str(exc)) from None
    except ValueError as exc:  # a line of the file that is not a transcript record
        raise CommandFailed(str(exc)) from None
    for difference in report.differences:
        print(difference)
    print(_describe_replay(report), flush=True)
    return EXIT_OK if report.matched else EXIT_ERROR


def _check_readable(what: str, path: str) -> None:
    """Fail with one line unless the file *path* can be opened for reading."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CommandFailed(f"cannot read {what} {path}: {os_error_reason(exc)}") from None


def _describe_replay(report: ReplayReport) -> str:
    """The summary line: what was replayed and how many answers differ."""
    differing = len(report.differences)
    outcome = (
        "all answers match"
        if not differing
        else f"{differing} {'differs' if differing == 1 else 'differ'}"
    )
    return (
        f"replayed {_count(report.sessions, 'session')}, {_count(report.commands, 'command')} "
        f"({report.skipped} skipped): {outcome}"
    )


def _count(number: int, noun: str) -> str:
    """``1 session``, ``2 sessions``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
