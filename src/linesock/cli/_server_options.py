"""The options of ``serve`` alone: the ServerConfig flags and the files of its TLS and token.

Design notes
------------
:func:`add_server_options` holds the flags that map to
:class:`~linesock.ServerConfig` fields.  Each flag's ``dest`` is the field's
name and its default is ``argparse.SUPPRESS``, so
:func:`given_server_options` passes on only what the user gave and
``ServerConfig`` stays the one place where defaults live.
:func:`add_access_options` holds the flags that name files (the
certificates, the token), read into :class:`ServerAccessOptions`, which
reads the files only when asked to.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from .. import ServerConfig
from .._config import DEFAULT_AUTH_TIMEOUT, DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_WRITE_TIMEOUT
from .._credentials import create_server_ssl_context, read_token
from .._framing import DEFAULT_MAX_LINE_BYTES
from ._options import (
    add_token_option,
    check_certificate_pair,
    port_number,
    positive_int,
    seconds,
    seconds_or_none,
)
from ._reporting import EXIT_USAGE, CommandFailed, failing_on_unusable_files

__all__ = [
    "ServerAccessOptions",
    "add_access_options",
    "add_server_options",
    "given_server_options",
]


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Declare the flags that set :class:`~linesock.ServerConfig` fields (dest = field)."""
    group = parser.add_argument_group("server options")
    group.add_argument(
        "--max-line-bytes",
        dest="max_line_bytes",
        type=positive_int,
        default=argparse.SUPPRESS,
        metavar="N",
        help="longest command in bytes before its LF; a longer line is answered "
        f"'invalid' (default: {DEFAULT_MAX_LINE_BYTES})",
    )
    group.add_argument(
        "--idle-timeout",
        dest="idle_timeout",
        type=seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="S",
        help="disconnect a client silent for S seconds (default: none)",
    )
    group.add_argument(
        "--write-timeout",
        dest="write_timeout",
        type=seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="S",
        help="end a session whose answers the client has not taken for S seconds, "
        f"or 'none' (default: {DEFAULT_WRITE_TIMEOUT:g})",
    )
    group.add_argument(
        "--auth-timeout",
        dest="auth_timeout",
        type=seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="S",
        help="with a token, close a client that has not authenticated S seconds after "
        f"connecting, or 'none' (default: {DEFAULT_AUTH_TIMEOUT:g})",
    )
    group.add_argument(
        "--tls-handshake-timeout",
        dest="tls_handshake_timeout",
        type=seconds,
        default=argparse.SUPPRESS,
        metavar="S",
        help="close a TLS client that has not completed its handshake within S seconds, "
        f"or --idle-timeout if shorter (default: {DEFAULT_TLS_HANDSHAKE_TIMEOUT:g})",
    )
    group.add_argument(
        "--busy",
        dest="busy",
        choices=("queue", "refuse"),
        default=argparse.SUPPRESS,
        help="a client that connects while another is served: queue (waits its turn) or "
        "refuse (answered 'busy' and closed; none of its commands runs) (default: queue)",
    )
    group.add_argument(
        "--max-wait",
        dest="max_wait",
        type=seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="S",
        help="close a waiting client not served within S seconds; none of its commands "
        "runs (default: none)",
    )
    group.add_argument(
        "--log-commands",
        dest="log_commands",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log each command and its answers (escaped, cut short; never a token); "
        "-vv turns it on too",
    )
    group.add_argument(
        "--no-remote-shutdown",
        dest="allow_remote_shutdown",
        action="store_false",
        default=argparse.SUPPRESS,
        help="treat a client's 'shutdown' like 'disconnect': the server keeps serving",
    )
    group.add_argument(
        "--terminator",
        dest="terminator",
        choices=("lf", "cr", "crlf", "any"),
        default=argparse.SUPPRESS,
        help="what ends a command: lf (one CR before it is dropped), cr, crlf, or any of "
        "CR, LF and CRLF (default: lf)",
    )
    group.add_argument(
        "--answer-terminator",
        dest="answer_terminator",
        choices=("lf", "crlf", "cr"),
        default=argparse.SUPPRESS,
        help="what ends each answer line (default: lf)",
    )
    group.add_argument(
        "--transcript",
        dest="transcript",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="append every session (commands, answers, events; never the token) to FILE "
        "as JSON lines, for 'linesock replay' (default: no transcript)",
    )
    group.add_argument(
        "--control-port",
        dest="control_port",
        type=port_number,
        default=argparse.SUPPRESS,
        metavar="PORT",
        help="open a control port on loopback, printed as 'linesock: control on HOST:PORT' "
        "(0 lets the OS choose): inject faults, kick the client, read the counters and "
        "the handler's state; see docs/control.md (default: none)",
    )


def given_server_options(arguments: argparse.Namespace) -> dict[str, object]:
    """The :class:`~linesock.ServerConfig` fields given on the command line, by field name."""
    given = vars(arguments)
    return {
        field.name: given[field.name]
        for field in dataclasses.fields(ServerConfig)
        if field.name in given
    }


def add_access_options(parser: argparse.ArgumentParser) -> None:
    """Declare the server's TLS and token flags, which name files to read."""
    group = parser.add_argument_group("TLS and authentication")
    group.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve TLS with this certificate chain (PEM); needs --tls-key",
    )
    group.add_argument(
        "--tls-key", metavar="FILE", help="the unencrypted private key of --tls-cert (PEM)"
    )
    group.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="require a client certificate signed by a CA in FILE (PEM): mutual TLS",
    )
    add_token_option(group, "require every client to send 'auth TOKEN' first")


@dataclass(frozen=True)
class ServerAccessOptions:
    """The files ``serve`` reads its TLS certificate and its token from."""

    tls_cert: str | None
    tls_key: str | None
    tls_client_ca: str | None
    token_file: str | None

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> ServerAccessOptions:
        """Read the options of :func:`add_access_options`; refuse flags missing their partner."""
        options = cls(
            **{field.name: getattr(arguments, field.name) for field in dataclasses.fields(cls)}
        )
        check_certificate_pair(options.tls_cert, options.tls_key)
        if options.tls_cert is None and options.tls_client_ca is not None:
            raise CommandFailed("--tls-client-ca needs --tls-cert and --tls-key", EXIT_USAGE)
        return options

    def read_server_options(self) -> dict[str, object]:
        """The ``ssl_context`` and ``token`` server options the files give; exit 1 if unusable."""
        options: dict[str, object] = {}
        with failing_on_unusable_files():
            if self.tls_cert is not None and self.tls_key is not None:
                options["ssl_context"] = create_server_ssl_context(
                    self.tls_cert, self.tls_key, self.tls_client_ca
                )
            token = read_token(self.token_file)
        if token is not None:
            options["token"] = token
        return options
