"""The ``linesock`` command line: ``serve``, ``send``, ``shell``, ``replay`` and ``demo``.

Design notes
------------
Each sub-command is a pair of functions: ``_add_<name>_parser`` declares its
arguments and sets ``run`` to ``_run_<name>``, which returns the exit code.
Options that several commands share are declared in one helper each, so a
later flag is added in one place:

* ``_add_client_options`` (``--host``, ``--port``, ``--timeout``, the TLS
  flags and ``--token-file``) for every command that connects to a server;
  ``_client_settings`` turns them into :class:`~linesock.Client` keyword
  arguments and ``_connect`` builds and connects the client.
* ``_add_server_options`` holds the flags that map to
  :class:`~linesock.ServerConfig` fields.  Each flag's ``dest`` is the field's
  name and its default is ``argparse.SUPPRESS``, so ``_server_options`` passes
  on only what the user gave and ``ServerConfig`` stays the one place where
  defaults live.  ``_add_access_options`` holds the flags that name files
  (certificates, the token), which ``_access_options`` reads into the
  ``ssl_context`` and ``token`` fields.

A command fails by raising ``_CommandFailed`` with a one-line message and an
exit code; :func:`main` prints ``linesock: <message>`` to stderr and returns
the code, so users never see a traceback for an expected failure.  A token
is never part of a message or a log line.

``serve`` runs the threaded :class:`~linesock.Server` by default, or
:func:`linesock.aio.start_server` on the event loop ``--loop`` names; both
paths share the option handling, the ``listening on`` line and the
statistics logged at exit.  Threaded: ``Server.serve_forever`` runs in the
main thread, and SIGINT or SIGTERM start a short-lived thread that calls
``Server.stop()``: from another thread, ``stop()`` also wakes a serving
thread that is blocked reading from a connected client, which a call from
the signal handler itself (running on the serving thread) would not do.
Event loop: ``loop.add_signal_handler`` closes the server.  On both paths
a second signal exits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import re
import signal
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._client import DEFAULT_PORT, DEFAULT_TIMEOUT, Client, ProtocolError, check_command
from ._config import DEFAULT_WRITE_TIMEOUT, Handler, ServerConfig, ServerStats
from ._framing import DEFAULT_MAX_LINE_BYTES
from ._importer import HandlerImportError, import_handler
from ._replay import ReplayReport, replay
from ._server import Server
from ._version import __version__
from .sample import PowerSupply

if TYPE_CHECKING:
    import asyncio

    from .aio import AsyncServer

__all__ = [
    "EXIT_ERROR",
    "EXIT_HANDLER_IMPORT",
    "EXIT_OK",
    "EXIT_USAGE",
    "TOKEN_ENVIRONMENT_VARIABLE",
    "build_parser",
    "main",
]

#: The command did what it was asked (a server stopped by a signal or a
#: client's ``shutdown`` included).
EXIT_OK: Final = 0
#: A runtime failure: the address is in use, no server answers, a timeout.
EXIT_ERROR: Final = 1
#: The command line is wrong (argparse uses this code too).
EXIT_USAGE: Final = 2
#: ``serve`` could not import the handler it was given.
EXIT_HANDLER_IMPORT: Final = 3

#: The handler ``linesock serve`` uses when none is given.
DEFAULT_HANDLER: Final = "linesock.sample:handler"
#: Where ``linesock shell`` keeps its command history.
HISTORY_FILE: Final = "~/.linesock_history"
#: The environment variable that holds the token when ``--token-file`` is not given.
TOKEN_ENVIRONMENT_VARIABLE: Final = "LINESOCK_TOKEN"

_DEFAULT_HOST: Final = "127.0.0.1"
_HISTORY_LENGTH: Final = 1000
_CLOSING_COMMANDS: Final = ("disconnect", "shutdown")
_SHELL_QUIT: Final = ("quit", "exit")
_LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The event loops `serve --loop` offers; without --loop, the threaded Server.
_EVENT_LOOPS: Final = ("asyncio", "uvloop")
# What the ssl module appends to its messages: the C source line.
_SSL_SOURCE_LINE: Final = re.compile(r"\s*\(_ssl\.c:\d+\)$")
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
# Written to the signal watcher's socket to end it; no signal has number 0.
_WATCHER_EXIT: Final = b"\0"
# What signal.signal() returns: the handler it replaced.
_SignalHandler: TypeAlias = "Callable[[int, FrameType | None], Any] | int | None"

# The sequence `linesock demo` plays, after the seed's sample: a first client
# works and disconnects, a second one finds the state it left and shuts the
# server down.
_DEMO_SESSIONS: Final = (
    ("ping", "idn", "set volt 5", "set curr 0.2", "output on", "measure", "disconnect"),
    ("measure", "set volt 1.5", "measure", "status", "volt 9", "shutdown"),
)
_DEMO_ENDINGS: Final = {
    "disconnect": "disconnected; the server is free for the next client",
    "shutdown": "the server closed the connection and stops listening",
}
# How long the demo waits for its server to stop after `shutdown`.
_DEMO_STOP_TIMEOUT: Final = 5.0

logger: Final = logging.getLogger("linesock")


class _CommandFailed(Exception):
    """A command cannot go on; ``main`` prints the message and exits with the code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        """Fail with a one-line *message* and *exit_code*."""
        super().__init__(message)
        self.exit_code: Final = exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the ``linesock`` command line with *argv* (default: ``sys.argv[1:]``).

    Returns the exit code: :data:`EXIT_OK`, :data:`EXIT_ERROR`,
    :data:`EXIT_USAGE` or :data:`EXIT_HANDLER_IMPORT`.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except _CommandFailed as exc:
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
    _add_serve_parser(subparsers)
    _add_send_parser(subparsers)
    _add_shell_parser(subparsers)
    _add_replay_parser(subparsers)
    _add_demo_parser(subparsers)
    return parser


# -- argument types ----------------------------------------------------------


def _port(text: str) -> int:
    """A TCP port number; 0 lets the OS choose."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


def _positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def _seconds_or_none(text: str) -> float | None:
    """A positive number of seconds, or ``none`` for no limit."""
    return None if text.lower() == "none" else _seconds(text)


def _command(text: str) -> str:
    """A command that fits on one line."""
    try:
        return check_command(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- options shared by several commands ---------------------------------------


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    """Declare how a client command finds, trusts and waits for its server."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--host", default=_DEFAULT_HOST, help="the server's name or address (default: %(default)s)"
    )
    group.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="the server's port (default: %(default)s)"
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help="seconds to wait to connect and for each answer (default: %(default)s)",
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
    _add_token_option(access, "send it as 'auth TOKEN' before anything else")


def _add_token_option(group: argparse._ArgumentGroup, use: str) -> None:
    """Declare ``--token-file`` (shared by ``serve`` and the client commands)."""
    group.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the token from FILE (surrounding whitespace dropped) and {use}; "
        f"default: the environment variable {TOKEN_ENVIRONMENT_VARIABLE}, if set",
    )


def _client_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~linesock.Client` keyword arguments for TLS and the token."""
    return {
        "ssl_context": _client_tls_context(args),
        "server_hostname": args.server_hostname,
        "token": _read_token(args),
    }


def _connect(args: argparse.Namespace) -> Client:
    """Connect a client to the server the command line names."""
    client = Client(args.host, args.port, args.timeout, **_client_settings(args))
    try:
        client.connect()
    except ConnectionError as exc:
        raise _CommandFailed(str(exc)) from None
    return client


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    """Declare the flags that set :class:`~linesock.ServerConfig` fields (dest = field)."""
    group = parser.add_argument_group("server options")
    group.add_argument(
        "--max-line-bytes",
        dest="max_line_bytes",
        type=_positive_int,
        default=argparse.SUPPRESS,
        metavar="N",
        help="longest command in bytes before its LF; a longer line is answered "
        f"'invalid' (default: {DEFAULT_MAX_LINE_BYTES})",
    )
    group.add_argument(
        "--idle-timeout",
        dest="idle_timeout",
        type=_seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="S",
        help="disconnect a client silent for S seconds (default: none)",
    )
    group.add_argument(
        "--write-timeout",
        dest="write_timeout",
        type=_seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="S",
        help="end a session whose answers the client has not taken for S seconds, "
        f"or 'none' (default: {DEFAULT_WRITE_TIMEOUT:g})",
    )
    group.add_argument(
        "--no-remote-shutdown",
        dest="allow_remote_shutdown",
        action="store_false",
        default=argparse.SUPPRESS,
        help="treat a client's 'shutdown' like 'disconnect': the server keeps serving",
    )
    group.add_argument(
        "--transcript",
        dest="transcript",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="append every session (commands, answers, events; never the token) to FILE "
        "as JSON lines, for 'linesock replay' (default: no transcript)",
    )


def _server_options(args: argparse.Namespace) -> dict[str, object]:
    """The :class:`~linesock.ServerConfig` fields given on the command line."""
    given = vars(args)
    return {
        field.name: given[field.name]
        for field in dataclasses.fields(ServerConfig)
        if field.name in given
    }


def _add_access_options(parser: argparse.ArgumentParser) -> None:
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
    _add_token_option(group, "require every client to send 'auth TOKEN' first")


def _access_options(args: argparse.Namespace) -> dict[str, object]:
    """The ``ssl_context`` and ``token`` fields built from the files the flags name."""
    options: dict[str, object] = {}
    context = _server_tls_context(args)
    if context is not None:
        options["ssl_context"] = context
    token = _read_token(args)
    if token is not None:
        options["token"] = token
    return options


# -- TLS and the token --------------------------------------------------------


def _server_tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context from ``--tls-cert``/``--tls-key`` (and ``--tls-client-ca``)."""
    client_ca: str | None = args.tls_client_ca
    if args.tls_cert is None and args.tls_key is None:
        if client_ca is not None:
            raise _CommandFailed("--tls-client-ca needs --tls-cert and --tls-key", EXIT_USAGE)
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load_certificate(context, args.tls_cert, args.tls_key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        with _loading_authorities(client_ca):
            context.load_verify_locations(cafile=client_ca)
    return context


def _client_tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client's TLS context, when any TLS flag was given (plain TCP otherwise)."""
    authority: str | None = args.tls_ca
    implied = (authority, args.tls_cert, args.tls_key, args.server_hostname)
    if not args.tls and all(value is None for value in implied):
        return None
    if authority is None:
        context = ssl.create_default_context()  # the system's CAs
    else:
        with _loading_authorities(authority):
            context = ssl.create_default_context(cafile=authority)  # this CA file alone
    if args.tls_cert is not None or args.tls_key is not None:
        _load_certificate(context, args.tls_cert, args.tls_key)
    return context


class _EncryptedKey(Exception):
    """The private key wants a passphrase (raised instead of letting OpenSSL prompt)."""


def _refuse_passphrase() -> str:
    """The passphrase callback of ``load_cert_chain``: never prompt, fail instead."""
    raise _EncryptedKey


def _load_certificate(context: ssl.SSLContext, cert: str | None, key: str | None) -> None:
    """Load a certificate chain and its key into *context*, or fail with a one-line reason."""
    if cert is None or key is None:
        raise _CommandFailed(
            "--tls-cert and --tls-key go together: give both or neither", EXIT_USAGE
        )
    _check_readable("the TLS certificate", cert)
    _check_readable("the TLS key", key)
    try:
        context.load_cert_chain(cert, key, password=_refuse_passphrase)
    except _EncryptedKey:
        raise _CommandFailed(
            f"the TLS key {key} is encrypted; linesock reads only unencrypted keys"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise _CommandFailed(
                f"the TLS key {key} does not belong to the certificate {cert}"
            ) from None
        reason = _ssl_reason(exc)
        if reason == "PEM lib":  # OpenSSL's word for "not a PEM certificate or key"
            reason = "they are not a PEM certificate chain and its private key"
        raise _CommandFailed(
            f"cannot load the TLS certificate {cert} with the key {key}: {reason}"
        ) from None


@contextlib.contextmanager
def _loading_authorities(path: str) -> Iterator[None]:
    """Check that the CA file *path* can be read; turn a load failure into a one-line one."""
    _check_readable("the CA file", path)
    try:
        yield
    except ssl.SSLError as exc:
        raise _CommandFailed(
            f"cannot load CA certificates from {path}: {_ssl_reason(exc)}"
        ) from None


def _check_readable(what: str, path: str) -> None:
    """Fail with one line unless the file *path* can be opened for reading."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _CommandFailed(f"cannot read {what} {path}: {_os_reason(exc)}") from None


def _ssl_reason(exc: ssl.SSLError) -> str:
    """An ``SSLError``'s message without its ``[LIBRARY: CODE]`` prefix and C source line."""
    text = _SSL_SOURCE_LINE.sub("", exc.strerror or str(exc))
    return re.sub(r"^\[[^\]]*\]\s*", "", text)


def _read_token(args: argparse.Namespace) -> str | None:
    """The token from ``--token-file``, else from ``LINESOCK_TOKEN``; None when neither is set.

    Surrounding whitespace (a file's final newline) is dropped.  Empty, or
    holding a space or a line break, it is refused: a server must not fall
    back to serving without a token because a file or variable came out empty.
    The token itself never appears in a message.
    """
    path: str | None = args.token_file
    if path is not None:
        source = f"the token file {path}"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise _CommandFailed(f"cannot read {source}: {_os_reason(exc)}") from None
        except UnicodeDecodeError:
            raise _CommandFailed(f"{source} is not UTF-8 text") from None
    else:
        environment = os.environ.get(TOKEN_ENVIRONMENT_VARIABLE)
        if environment is None:
            return None
        text, source = environment, TOKEN_ENVIRONMENT_VARIABLE
    token = text.strip()
    if not token:
        raise _CommandFailed(f"{source} is empty")
    if any(character in token for character in " \r\n"):
        raise _CommandFailed(f"the token in {source} holds a space or a line break")
    return token


def _os_reason(exc: OSError) -> str:
    """An ``OSError``'s reason alone, without the file name or address it may carry."""
    # socket.create_server appends the address to strerror; say it once.
    plain = exc.errno is not None and not isinstance(exc, socket.gaierror)
    return os.strerror(exc.errno) if plain and exc.errno else exc.strerror or str(exc)


def _format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _exchange(client: Client, command: str) -> list[str]:
    """Send *command* (not ``disconnect``/``shutdown``) and return its answers."""
    try:
        return client.request(command)
    except TimeoutError:
        client.close()
        raise _CommandFailed(f"no answer to {command!r} within {client.timeout:g} s") from None
    except (OSError, ProtocolError) as exc:
        client.close()
        raise _CommandFailed(str(exc)) from None


# -- serve -------------------------------------------------------------------


def _add_serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``linesock serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a handler (default: the sample power supply)",
        description="Serve clients with the handler MODULE:ATTR (the current directory "
        "is importable). Prints 'linesock: listening on HOST:PORT' once clients can "
        "connect; stops on Ctrl-C, SIGTERM or a client's 'shutdown'.",
    )
    parser.add_argument(
        "handler",
        nargs="?",
        default=DEFAULT_HANDLER,
        metavar="MODULE:ATTR",
        help="the handler to serve, e.g. 'mymodule:handler' or 'mymodule:app.handle' "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--host", default=_DEFAULT_HOST, help="the address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="the port to listen on; 0 lets the OS choose (default: %(default)s)",
    )
    parser.add_argument(
        "--loop",
        choices=_EVENT_LOOPS,
        help="serve with linesock.aio on this event loop instead of the threaded server "
        "(uvloop needs: pip install 'linesock[uvloop]')",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log each client session and the stop to stderr (-vv: debug detail too); "
        "warnings and errors are logged in any case",
    )
    _add_server_options(parser)
    _add_access_options(parser)
    parser.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    """Check the options, import the handler, listen, announce the address, serve until stopped."""
    new_event_loop = None if args.loop is None else _event_loop_factory(args.loop)
    options = {**_server_options(args), **_access_options(args)}
    handler = _import_handler(args.handler)
    with _logging_to_stderr(args.verbose):
        if new_event_loop is None:
            stats = _serve_threaded(handler, args.host, args.port, options)
        else:
            stats = _serve_on_event_loop(new_event_loop, handler, args.host, args.port, options)
        logger.info("stopped; %s", _describe_stats(stats))
    return EXIT_OK


def _serve_threaded(
    handler: Handler, host: str, port: int, options: dict[str, object]
) -> ServerStats:
    """Serve with the threaded :class:`~linesock.Server` in this thread until it stops."""
    with _starting_server(host, port):
        server = Server(handler, host, port, **options)
    with _SignalStopper(server) as stopper:
        _listen(server, host, port)
        _announce(server.address)
        stopper.serve_forever()
    return server.stats


def _serve_on_event_loop(
    new_event_loop: Callable[[], asyncio.AbstractEventLoop],
    handler: Handler,
    host: str,
    port: int,
    options: dict[str, object],
) -> ServerStats:
    """Serve with :func:`linesock.aio.start_server` on a new event loop until it stops."""
    loop = new_event_loop()
    try:
        return loop.run_until_complete(_serve_async(handler, host, port, options))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve_async(
    handler: Handler, host: str, port: int, options: dict[str, object]
) -> ServerStats:
    """Start the asyncio server, announce it and serve until closed, a signal or ``shutdown``."""
    from .aio import start_server  # noqa: PLC0415  (asyncio only for --loop)

    with _LoopSignalStopper() as stopper:
        with _starting_server(host, port):
            server = await start_server(handler, host, port, **options)
        _announce(server.address)
        stopper.serve(server)
        await server.serve_forever()
    return server.stats


def _event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop of the kind ``--loop`` names; uvloop may be missing."""
    if name == "uvloop":
        try:
            import uvloop  # noqa: PLC0415  (an optional dependency)
        except ImportError:
            raise _CommandFailed(
                "--loop uvloop needs uvloop, which is not installed: pip install 'linesock[uvloop]'"
            ) from None
        new_uvloop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return new_uvloop
    import asyncio  # noqa: PLC0415  (only for --loop)

    return asyncio.new_event_loop


def _announce(address: tuple[str, int]) -> None:
    """Print the one line a script waits for: clients can connect now."""
    print(f"linesock: listening on {_format_address(*address)}", flush=True)


@contextlib.contextmanager
def _starting_server(host: str, port: int) -> Iterator[None]:
    """Turn a failure to configure or bind a server into a one-line one."""
    try:
        yield
    except ValueError as exc:  # an impossible setting
        raise _CommandFailed(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        if exc.filename is not None:  # the transcript: the one file a server opens
            raise _CommandFailed(
                f"cannot open the transcript {exc.filename}: {_os_reason(exc)}"
            ) from None
        raise _CommandFailed(
            f"cannot listen on {_format_address(host, port)}: {_os_reason(exc)}"
        ) from None


def _listen(server: Server, host: str, port: int) -> None:
    """Make *server* listen, or fail with a one-line reason (the address is in use, say)."""
    try:
        with _starting_server(host, port):
            server.listen()
    except _CommandFailed:
        server.stop()
        raise


def _import_handler(spec: str) -> Callable[[str], object]:
    """Import the handler *spec*; an import failure ends the command with exit code 3."""
    try:
        return import_handler(spec)
    except HandlerImportError as exc:
        raise _CommandFailed(str(exc), EXIT_HANDLER_IMPORT) from None
    except Exception:
        # The module exists but raised while being imported: its traceback
        # points at the user's bug.
        traceback.print_exc()
        raise _CommandFailed(
            f"importing the handler {spec!r} failed (traceback above)", EXIT_HANDLER_IMPORT
        ) from None


@contextlib.contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Send the ``linesock`` logger's records to stderr for the duration, then restore it."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    saved_level, saved_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


class _SignalStopper:
    """Stops a server on SIGINT or SIGTERM while in effect (a ``with`` block in the main thread).

    Python runs signal handlers on the main thread, which here is the serving
    thread, and only between bytecodes: a signal that lands just before the
    thread enters a blocking ``select`` or ``recv`` would wait for that call
    to return, maybe forever.  So the Python-level handlers do nothing, and
    ``signal.set_wakeup_fd`` makes the interpreter write each signal's number
    to a socket that a watcher thread reads at once.  The watcher starts a
    thread that calls ``Server.stop()``, which (from another thread than the
    serving one) also wakes a serving thread blocked on a connected client.
    A signal that arrives before serving began cancels serving; a second
    signal exits at once, for a stop stuck in a handler that does not return.
    """

    def __init__(self, server: Server) -> None:
        """Prepare to stop *server*; the handlers are set on entering the ``with`` block."""
        self.server = server
        self.signal_name: str | None = None
        self._lock = threading.Lock()
        self._serving = False
        self._previous_handlers: dict[int, _SignalHandler] = {}
        self._previous_wakeup_fd = -1
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> _SignalStopper:
        """Install the handlers and the watcher (only the main thread can; elsewhere, nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        reader, writer = self._wakeup = socket.socketpair()
        writer.setblocking(False)  # set_wakeup_fd requires it
        for number in _STOP_SIGNALS:
            self._previous_handlers[number] = signal.signal(number, _note_signal)
        self._previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._watcher = threading.Thread(
            target=self._watch, args=(reader,), name="linesock-signals", daemon=True
        )
        self._watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the signal handling found on entry and end the watcher."""
        if self._wakeup is None:
            return
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        reader, writer = self._wakeup
        with contextlib.suppress(OSError):
            writer.send(_WATCHER_EXIT)
        if self._watcher is not None:
            self._watcher.join()
        reader.close()
        writer.close()

    def serve_forever(self) -> None:
        """Serve until a signal, ``stop()`` or a client's ``shutdown``."""
        with self._lock:
            self._serving = True  # from here on, a signal stops the server
            cancelled = self.signal_name is not None
        if cancelled:
            logger.info("%s received before serving began: stopping", self.signal_name)
            self.server.stop()
        else:
            self.server.serve_forever()

    def _watch(self, reader: socket.socket) -> None:
        """Read signal numbers from the wake-up socket until told to exit."""
        while True:
            received = reader.recv(64)
            for number in received:
                if number == _WATCHER_EXIT[0]:
                    return
                if number in _STOP_SIGNALS:  # not those the handler's code may catch
                    self._on_signal(signal.Signals(number).name)

    def _on_signal(self, name: str) -> None:
        """Start stopping the server; exit at once on a second signal."""
        with self._lock:
            first = self.signal_name is None
            if first:
                self.signal_name = name
            serving = self._serving
        if not first:
            _exit_now(name)
        if serving:
            # stop() waits for serving to end: wait on a thread of its own, so
            # that this one stays free to see a second signal.
            threading.Thread(target=self._stop, name="linesock-stop", daemon=True).start()

    def _stop(self) -> None:
        """Stop the server."""
        logger.info("%s received: stopping", self.signal_name)
        self.server.stop()


def _note_signal(number: int, frame: FrameType | None) -> None:
    """The Python-level handler of the stop signals: the wake-up socket does the work."""


def _exit_now(signal_name: str) -> None:
    """Exit at once, on a second stop signal, for a stop stuck in a handler."""
    os.write(2, f"linesock: second {signal_name}: exiting now\n".encode())
    os._exit(EXIT_ERROR)


class _LoopSignalStopper:
    """Closes an asyncio server on SIGINT or SIGTERM while in effect (a ``with`` block on the loop).

    ``loop.add_signal_handler`` makes the event loop call :meth:`_on_signal`,
    woken through its own wake-up socket, so no signal waits for the loop's
    next event.  A handler that blocks the loop (a plain function waiting on
    hardware) keeps that call from ever running, though; so the Python-level
    handler, which the interpreter runs between bytecodes even then, is
    replaced by :meth:`_count`, and a second signal exits at once, as on the
    threaded path.  A signal that arrives before the server exists closes it
    as soon as :meth:`serve` hands it over.  Only the main thread can handle
    signals: elsewhere nothing is installed.
    """

    def __init__(self) -> None:
        """Prepare; the handlers are set on entering the ``with`` block."""
        self.signal_name: str | None = None
        self._signals = 0
        self._server: AsyncServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handlers: dict[int, _SignalHandler] = {}

    def __enter__(self) -> _LoopSignalStopper:
        """Install the handlers on the running loop (in the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        import asyncio  # noqa: PLC0415  (only for --loop)

        self._loop = loop = asyncio.get_running_loop()
        for number in _STOP_SIGNALS:
            self._previous_handlers[number] = signal.getsignal(number)
            loop.add_signal_handler(number, self._on_signal, number)
            # The loop still learns of the signal through its wake-up socket.
            signal.signal(number, self._count)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the signal handling found on entry."""
        if self._loop is None:
            return
        for number, handler in self._previous_handlers.items():
            self._loop.remove_signal_handler(number)
            signal.signal(number, handler)

    def serve(self, server: AsyncServer) -> None:
        """Close *server* on a signal from now on; at once if one came already."""
        self._server = server
        if self.signal_name is not None:
            logger.info("%s received before serving began: stopping", self.signal_name)
            server.close()

    def _count(self, number: int, frame: FrameType | None) -> None:
        """Count the stop signals, in the interpreter's handler; exit at once on the second."""
        self._signals += 1
        if self._signals > 1:
            _exit_now(signal.Signals(number).name)

    def _on_signal(self, number: int) -> None:
        """Close the server (on the loop, the first signal only)."""
        if self.signal_name is not None:
            return
        self.signal_name = signal.Signals(number).name
        if self._server is not None:
            logger.info("%s received: stopping", self.signal_name)
            self._server.close()


def _describe_stats(stats: ServerStats) -> str:
    """A server's counters as ``name=value`` pairs for the log."""
    return " ".join(f"{name}={value}" for name, value in dataclasses.asdict(stats).items())


# -- send --------------------------------------------------------------------


def _add_send_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        type=_command,
        metavar="COMMAND",
        help="a command to send; quote one that holds spaces",
    )
    _add_client_options(parser)
    parser.set_defaults(run=_run_send)


def _run_send(args: argparse.Namespace) -> int:
    """Send each command and print its answers."""
    commands: list[str] = args.commands
    for command in commands[:-1]:
        if command in _CLOSING_COMMANDS:
            raise _CommandFailed(
                f"{command!r} ends the session, so it can only be the last command", EXIT_USAGE
            )
    client = _connect(args)
    try:
        for command in commands:
            if command in _CLOSING_COMMANDS:
                _end_session(client, command)
                return EXIT_OK
            _print_lines(_exchange(client, command))
        client.disconnect()
    finally:
        client.close()
    return EXIT_OK


def _end_session(client: Client, command: str) -> None:
    """End the session with ``disconnect`` or ``shutdown``."""
    if command == "shutdown":
        client.shutdown()
    else:
        client.disconnect()


def _print_lines(lines: Sequence[str], prefix: str = "") -> None:
    """Print each line, flushed so a reader sees answers as they come."""
    for line in lines:
        print(prefix + line)
    sys.stdout.flush()


# -- shell -------------------------------------------------------------------


def _add_shell_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``linesock shell``."""
    parser = subparsers.add_parser(
        "shell",
        help="an interactive client with line editing and history",
        description="Send each line typed and print its answers. 'quit', 'exit' or "
        f"Ctrl-D disconnect; 'shutdown' stops the server. History is kept in {HISTORY_FILE}. "
        "With stdin not a terminal, reads commands from it without a prompt.",
    )
    _add_client_options(parser)
    parser.set_defaults(run=_run_shell)


def _run_shell(args: argparse.Namespace) -> int:
    """Read commands from the user (or stdin), send them and print the answers."""
    interactive = sys.stdin.isatty()
    client = _connect(args)
    where = _format_address(args.host, args.port)
    save_history = _enable_line_editing() if interactive else None
    prompt = f"linesock {where}> " if interactive else ""
    if interactive:
        print(f"connected to {where}; 'quit' or Ctrl-D to leave, 'shutdown' stops the server")
    try:
        while True:
            try:
                line = input(prompt).removesuffix("\r")
            except EOFError:
                if interactive:
                    print()
                client.disconnect()
                return EXIT_OK
            except KeyboardInterrupt:
                if not interactive:
                    raise
                print()  # like a shell: drop the line, prompt again
                continue
            command = line.strip()
            if not command:
                continue
            if command in _SHELL_QUIT or command in _CLOSING_COMMANDS:
                _end_session(client, "shutdown" if command == "shutdown" else "disconnect")
                return EXIT_OK
            try:
                check_command(line)
            except ValueError as exc:
                print(f"linesock: {exc}", file=sys.stderr)
                continue
            _print_lines(_exchange(client, line))
    finally:
        client.close()
        if save_history is not None:
            save_history()


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


def _add_replay_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _add_client_options(parser)
    parser.set_defaults(run=_run_replay)


def _run_replay(args: argparse.Namespace) -> int:
    """Replay the transcript; print the differences and a summary."""
    settings = _client_settings(args)
    _check_readable("the transcript", args.transcript)
    where = _format_address(args.host, args.port)
    try:
        report = replay(
            args.transcript,
            args.host,
            args.port,
            timeout=args.timeout,
            ssl_context=settings["ssl_context"],
            server_hostname=settings["server_hostname"],
            token=settings["token"],
            include_shutdown=args.include_shutdown,
        )
    except TimeoutError:
        raise _CommandFailed(f"no answer from {where} within {args.timeout:g} s") from None
    except (OSError, ProtocolError) as exc:  # ConnectionError included
        raise _CommandFailed(str(exc)) from None
    except ValueError as exc:  # a line of the file that is not a transcript record
        raise _CommandFailed(str(exc)) from None
    for difference in report.differences:
        print(difference)
    print(_describe_replay(report), flush=True)
    return EXIT_OK if report.matched else EXIT_ERROR


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


# -- demo --------------------------------------------------------------------


def _add_demo_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``linesock demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run a server and two clients in one process, printing the exchange",
        description="Start a server with the sample power supply, let a first client send "
        "commands and disconnect, then a second one send more and shut the server down; "
        "print every command (->) and answer (<-).",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        help="the port the demo server listens on; 0 lets the OS choose (default: %(default)s)",
    )
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    """Play the demo sessions against an in-process server and check that it stopped."""
    server = Server(PowerSupply(), _DEFAULT_HOST, args.port)
    _listen(server, _DEFAULT_HOST, args.port)
    host, port = server.address
    where = _format_address(host, port)
    print(f"server: serving the sample power supply (linesock.sample) on {where}")
    serving = threading.Thread(target=server.serve_forever, name="linesock-demo", daemon=True)
    serving.start()
    try:
        for number, commands in enumerate(_DEMO_SESSIONS, start=1):
            _demo_session(number, Client(host, port), commands)
        serving.join(_DEMO_STOP_TIMEOUT)
        if serving.is_alive() or server.is_running:
            raise _CommandFailed(f"the server still runs {_DEMO_STOP_TIMEOUT:g} s after shutdown")
        print(f"server: stopped (is_running={server.is_running})")
    finally:
        if serving.is_alive():
            server.stop(_DEMO_STOP_TIMEOUT)
    return EXIT_OK


def _demo_session(number: int, client: Client, commands: Sequence[str]) -> None:
    """Connect *client*, send *commands* (the last one ends the session), print it all."""
    print()
    try:
        client.connect()
    except ConnectionError as exc:
        raise _CommandFailed(str(exc)) from None
    print(f"client {number}: connected (connect() checked the server with ping)")
    try:
        for command in commands:
            print(f"-> {command}")
            if command in _CLOSING_COMMANDS:
                _end_session(client, command)
                print(f"client {number}: {_DEMO_ENDINGS[command]}")
                return
            answers = _exchange(client, command)
            _print_lines(answers, prefix="<- ")
            if not answers:
                print("   (no answer)")
    finally:
        client.close()
