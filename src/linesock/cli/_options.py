"""The options every command shares: argument types, the client options and their settings.

Design notes
------------
Options that several commands share are declared in one function each, so
a later flag is added in one place, and each group has a frozen dataclass
that its commands read the parsed arguments into before doing anything
else (:func:`set_command` wires that up); past that point no code sees an
``argparse.Namespace``.  :func:`add_client_options` (``--host``,
``--port``, ``--timeout``, the TLS flags and ``--token-file``) serves every
command that connects to a server, read into :class:`ClientOptions`; the
server's own groups are in ``_server_options``.

Reading the settings checks what argparse cannot (``--tls-cert`` without
``--tls-key``: exit 2) but opens no file: the files are read when the
command runs, by the helpers of :mod:`linesock._credentials`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from .._client import check_command
from .._config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT
from .._credentials import TOKEN_ENVIRONMENT_VARIABLE, create_client_ssl_context, read_token
from .._delimited import AnswerTerminator, CommandTerminator
from ._reporting import EXIT_USAGE, CommandFailed, failing_on_unusable_files, format_address

__all__ = [
    "ArgumentGroup",
    "ClientCredentials",
    "ClientOptions",
    "Subparsers",
    "add_client_options",
    "add_token_option",
    "check_certificate_pair",
    "one_line_command",
    "port_number",
    "positive_int",
    "seconds",
    "seconds_or_none",
    "set_command",
]

# argparse names these two types only privately; the aliases keep that in one place.
#: What ``ArgumentParser.add_subparsers`` returns.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: What ``ArgumentParser.add_argument_group`` returns.
ArgumentGroup: TypeAlias = "argparse._ArgumentGroup"

Settings = TypeVar("Settings")


def set_command(
    parser: argparse.ArgumentParser,
    read_settings: Callable[[argparse.Namespace], Settings],
    run: Callable[[Settings], int],
) -> None:
    """Make *parser*'s command read its typed settings with *read_settings*, then *run* them."""

    def run_with_settings(arguments: argparse.Namespace) -> int:
        return run(read_settings(arguments))

    parser.set_defaults(run=run_with_settings)


# -- argument types ----------------------------------------------------------


def port_number(text: str) -> int:
    """A TCP port number; 0 lets the OS choose."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def seconds_or_none(text: str) -> float | None:
    """A positive number of seconds, or ``none`` for no limit."""
    return None if text.lower() == "none" else seconds(text)


def one_line_command(text: str) -> str:
    """A command that fits on one line."""
    try:
        return check_command(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- the client commands' connection -----------------------------------------


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """Declare how a client command finds, trusts and waits for its server."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--host", default=DEFAULT_HOST, help="the server's name or address (default: %(default)s)"
    )
    group.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help="the server's port (default: %(default)s)",
    )
    group.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help="seconds to wait to connect, and for each whole answer (default: %(default)s)",
    )
    group.add_argument(
        "--terminator",
        choices=("lf", "cr", "crlf", "any"),
        default="lf",
        help="the server's --terminator: what ends each command sent (default: %(default)s)",
    )
    group.add_argument(
        "--answer-terminator",
        choices=("lf", "crlf", "cr"),
        default="lf",
        help="the server's --answer-terminator: what ends each answer (default: %(default)s)",
    )
    access = parser.add_argument_group("TLS and authentication")
    access.add_argument(
        "--tls",
        action="store_true",
        help="speak TLS, checking the server's certificate against the system's CAs",
    )
    access.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="trust the CA certificates in FILE (PEM) instead of the system's; implies --tls",
    )
    access.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="present this client certificate (PEM) for mutual TLS; needs --tls-key; implies --tls",
    )
    access.add_argument(
        "--tls-key", metavar="FILE", help="the unencrypted private key of --tls-cert (PEM)"
    )
    access.add_argument(
        "--server-hostname",
        metavar="NAME",
        help="the name the server's certificate must carry (default: --host); implies --tls",
    )
    add_token_option(access, "send it as 'auth TOKEN' before anything else")


def add_token_option(group: ArgumentGroup, use: str) -> None:
    """Declare ``--token-file`` (shared by ``serve`` and the client commands)."""
    group.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the token from FILE (surrounding whitespace dropped) and {use}; "
        f"default: the environment variable {TOKEN_ENVIRONMENT_VARIABLE}, if set",
    )


def check_certificate_pair(cert: str | None, key: str | None) -> None:
    """Refuse ``--tls-cert`` without ``--tls-key`` or the reverse (a usage error)."""
    if (cert is None) != (key is None):
        raise CommandFailed(
            "--tls-cert and --tls-key go together: give both or neither", EXIT_USAGE
        )


@dataclass(frozen=True)
class ClientCredentials:
    """What the client command's files said: the TLS context and the token, read."""

    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    token: str | None


@dataclass(frozen=True)
class ClientOptions:
    """Where a client command connects, how it trusts the server, and which files to read."""

    host: str
    port: int
    timeout: float
    terminator: CommandTerminator
    answer_terminator: AnswerTerminator
    tls: bool
    tls_ca: str | None
    tls_cert: str | None
    tls_key: str | None
    server_hostname: str | None
    token_file: str | None

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> ClientOptions:
        """Read the options of :func:`add_client_options`; refuse a half certificate pair."""
        options = cls(
            **{field.name: getattr(arguments, field.name) for field in dataclasses.fields(cls)}
        )
        check_certificate_pair(options.tls_cert, options.tls_key)
        return options

    @property
    def address(self) -> str:
        """Where the server is, as messages show it."""
        return format_address(self.host, self.port)

    @property
    def uses_tls(self) -> bool:
        """True when any TLS flag was given (each implies ``--tls``)."""
        implied = (self.tls_ca, self.tls_cert, self.tls_key, self.server_hostname)
        return self.tls or any(value is not None for value in implied)

    def read_credentials(self) -> ClientCredentials:
        """Read the TLS and token files (or ``LINESOCK_TOKEN``); a bad one fails with exit 1."""
        with failing_on_unusable_files():
            context = (
                create_client_ssl_context(self.tls_ca, self.tls_cert, self.tls_key)
                if self.uses_tls
                else None
            )
            return ClientCredentials(context, self.server_hostname, read_token(self.token_file))
