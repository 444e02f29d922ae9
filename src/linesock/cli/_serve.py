"""``linesock serve``: import a handler, listen, announce the address, serve until stopped.

The handler may also be a pyvisa-sim device file (``FILE.yaml``): its
devices are served as :mod:`linesock.sim` handlers, several at once on
threaded servers (:mod:`._serve_devices` decides which and where).

Design notes
------------
``serve`` runs the threaded :class:`~linesock.Server` by default, or
:func:`linesock.aio.start_server` on the event loop ``--loop`` names; both
paths share the option handling, the ``listening on`` line, the way they
stop (:mod:`._signals`) and the statistics logged at exit.

A failure to start is reported by what it is, never guessed from an
``OSError``'s fields: an impossible setting is a ``ValueError`` (exit 2), a
transcript the server cannot open a :class:`~linesock._errors.TranscriptError`
whose message names the file, and any other ``OSError`` the address that
cannot be listened on (exit 1 both).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from .. import Handler, Server, ServerStats
from .._config import DEFAULT_HOST, DEFAULT_PORT
from .._control import ControlPortError
from .._errors import TranscriptError
from .._importer import HandlerImportError, import_handler
from ._loops import EVENT_LOOPS, event_loop_factory, run_on_new_loop
from ._options import Subparsers, port_number, set_command
from ._reporting import (
    EXIT_ERROR,
    EXIT_HANDLER_IMPORT,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    format_address,
    os_error_reason,
)
from ._serve_devices import (
    ServedDevice,
    ServerGroup,
    device_server_options,
    is_device_file,
    plan_devices,
)
from ._server_options import (
    ServerAccessOptions,
    add_access_options,
    add_server_options,
    given_server_options,
)
from ._signals import LoopSignalStopper, ThreadedSignalStopper

__all__ = [
    "DEFAULT_HANDLER",
    "ServeSettings",
    "add_serve_parser",
    "listen_or_fail",
    "reporting_start_failures",
    "run_serve",
]

#: The handler ``linesock serve`` uses when none is given.
DEFAULT_HANDLER: Final = "linesock.sample:handler"
_LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logger: Final = logging.getLogger("linesock")


def add_serve_parser(subparsers: Subparsers) -> None:
    """Declare ``linesock serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a handler (default: the sample power supply)",
        description="Serve clients with the handler MODULE:ATTR (the current directory "
        "is importable), or the devices of a pyvisa-sim file FILE.yaml. Prints 'linesock: "
        "listening on HOST:PORT' once clients can connect; stops on Ctrl-C, SIGTERM or a "
        "client's 'shutdown'.",
    )
    parser.add_argument(
        "handler",
        nargs="?",
        default=DEFAULT_HANDLER,
        metavar="MODULE:ATTR|FILE.yaml",
        help="the handler to serve, e.g. 'mymodule:handler' or 'mymodule:app.handle', or a "
        "pyvisa-sim device file ending in .yaml or .yml (needs: pip install 'linesock[sim]') "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        metavar="NAME",
        help="serve this device of FILE.yaml (a key under 'devices:') on --port; without it, "
        "every device mapped to a TCPIP::HOST::PORT::SOCKET resource, on that port",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="the address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        help=f"the port to listen on; 0 lets the OS choose (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--loop",
        choices=EVENT_LOOPS,
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
    add_server_options(parser)
    add_access_options(parser)
    set_command(parser, ServeSettings.from_namespace, run_serve)


@dataclass(frozen=True)
class ServeSettings:
    """What ``linesock serve`` was told."""

    handler: str
    """The handler as ``MODULE:ATTR``."""
    host: str
    port: int
    loop: str | None
    """The event loop to serve on (one of ``EVENT_LOOPS``), or None: the threaded server."""
    verbosity: int
    """How many ``-v``."""
    server_options: Mapping[str, object]
    """The :class:`~linesock.ServerConfig` fields given, by name; the others keep their default."""
    access: ServerAccessOptions
    device: str | None = None
    """The device of a device file to serve (``--device``), or None: its socket resources."""
    port_given: bool = False
    """Whether ``--port`` was given (it goes with ``--device`` for a device file)."""

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> ServeSettings:
        """Read the parsed arguments of ``serve``."""
        return cls(
            handler=arguments.handler,
            host=arguments.host,
            port=DEFAULT_PORT if arguments.port is None else arguments.port,
            loop=arguments.loop,
            verbosity=arguments.verbose,
            server_options=given_server_options(arguments),
            access=ServerAccessOptions.from_namespace(arguments),
            device=arguments.device,
            port_given=arguments.port is not None,
        )


def run_serve(settings: ServeSettings) -> int:
    """Check the options, import the handler, listen, announce the address, serve until stopped."""
    if settings.loop is not None:
        event_loop_factory(settings.loop)  # without uvloop, fail before anything is read
    options = {**settings.server_options, **settings.access.read_server_options()}
    if settings.verbosity >= 2:  # -vv shows the conversation too
        options.setdefault("log_commands", True)
    if is_device_file(settings.handler):
        return _run_device_file(settings, options)
    if settings.device is not None:
        raise CommandFailed(
            f"--device names a device of a pyvisa-sim file (FILE.yaml), not of the handler "
            f"{settings.handler!r}",
            EXIT_USAGE,
        )
    return _serve_handler(_import_handler(settings.handler), settings, settings.port, options)


def logging_level(settings: ServeSettings, options: dict[str, object]) -> int:
    """The verbosity to log with: at least 1 (INFO) when the conversation is logged."""
    return max(settings.verbosity, 1) if options.get("log_commands") else settings.verbosity


def _serve_handler(
    handler: Handler, settings: ServeSettings, port: int, options: dict[str, object]
) -> int:
    """Serve one handler on the server ``--loop`` asks for, until it stops; the exit status."""
    new_event_loop = None if settings.loop is None else event_loop_factory(settings.loop)
    host = settings.host
    with _logging_to_stderr(logging_level(settings, options)):
        if new_event_loop is None:
            stats, handler_exit = _serve_threaded(handler, host, port, options)
        else:
            stats, handler_exit = run_on_new_loop(
                new_event_loop, lambda: _serve_on_event_loop(handler, host, port, options)
            )
        logger.info("stopped; %s", _describe_stats(stats))
    return exit_status(handler_exit)


def _run_device_file(settings: ServeSettings, options: dict[str, object]) -> int:
    """Serve the devices of a pyvisa-sim file: one as any handler, several on threaded servers."""
    served = plan_devices(
        settings.handler, settings.device, settings.port, port_given=settings.port_given
    )
    if settings.device is not None:
        (only,) = served
        return _serve_handler(
            only.device, settings, only.port, device_server_options(only, options, several=False)
        )
    if settings.loop is not None:
        raise CommandFailed(
            "--loop serves one device: name it with --device (several devices are served "
            "on threaded servers)",
            EXIT_USAGE,
        )
    if len(served) > 1 and options.get("control_port") not in (None, 0):
        raise CommandFailed(
            "--control-port with several devices: give 0 (each device gets a control port "
            "of its own) or serve one of them with --device",
            EXIT_USAGE,
        )
    with _logging_to_stderr(logging_level(settings, options)):
        group = _listen_all(served, settings.host, options)
        with ThreadedSignalStopper(group) as stopper:
            for server, device in zip(group.servers, served, strict=True):
                _announce(server.address, device.label)
                _announce_control(server.control_address, device.label)
            stopper.serve_forever()
        for server, device in zip(group.servers, served, strict=True):
            logger.info("stopped (device %s); %s", device.label, _describe_stats(server.stats))
    return EXIT_OK


def _listen_all(served: list[ServedDevice], host: str, options: dict[str, object]) -> ServerGroup:
    """A threaded server per device, all listening; if one cannot, none is left running."""
    servers: list[Server] = []
    try:
        for device in served:
            device_options = device_server_options(device, options, several=len(served) > 1)
            with reporting_start_failures(host, device.port):
                server = Server(device.device, host, device.port, **device_options)
            servers.append(server)
            listen_or_fail(server, host, device.port)
    except CommandFailed:
        for server in servers:
            server.stop()
        raise
    return ServerGroup(servers)


def exit_status(handler_exit: BaseException | None) -> int:
    """The exit status after serving: a handler's ``SystemExit`` code, else 0.

    A handler that raises ``SystemExit(N)`` stops the server and makes
    ``linesock serve`` exit with N (``sys.exit()`` rules: None is 0, a
    message is printed and is 1); ``KeyboardInterrupt`` is a stop, like
    Ctrl-C: 0.
    """
    if not isinstance(handler_exit, SystemExit) or handler_exit.code is None:
        return EXIT_OK
    if isinstance(handler_exit.code, int):
        return handler_exit.code
    print(handler_exit.code, file=sys.stderr)
    return EXIT_ERROR


def _serve_threaded(
    handler: Handler, host: str, port: int, options: dict[str, object]
) -> tuple[ServerStats, BaseException | None]:
    """Serve with the threaded :class:`~linesock.Server` in this thread until it stops."""
    with reporting_start_failures(host, port):
        server = Server(handler, host, port, **options)
    with ThreadedSignalStopper(server) as stopper:
        listen_or_fail(server, host, port)
        _announce(server.address)
        _announce_control(server.control_address)
        stopper.serve_forever()
    return server.stats, server.handler_exit


async def _serve_on_event_loop(
    handler: Handler, host: str, port: int, options: dict[str, object]
) -> tuple[ServerStats, BaseException | None]:
    """Start the asyncio server, announce it and serve until closed, a signal or ``shutdown``."""
    from ..aio import start_server  # noqa: PLC0415  (asyncio only for --loop)

    with LoopSignalStopper() as stopper:
        with reporting_start_failures(host, port):
            server = await start_server(handler, host, port, **options)
        _announce(server.address)
        _announce_control(server.control_address)
        stopper.serve(server)
        await server.serve_forever()
    return server.stats, server.handler_exit


def _announce(address: tuple[str, int], device: str | None = None) -> None:
    """Print the one line a script waits for: clients can connect now (naming the device)."""
    named = "" if device is None else f" (device {device})"
    print(f"linesock: listening on {format_address(*address)}{named}", flush=True)


def _announce_control(address: tuple[str, int] | None, device: str | None = None) -> None:
    """Print where the control port listens, if there is one (naming the device)."""
    if address is not None:
        named = "" if device is None else f" (device {device})"
        print(f"linesock: control on {format_address(*address)}{named}", flush=True)


@contextlib.contextmanager
def reporting_start_failures(host: str, port: int) -> Iterator[None]:
    """Turn a failure to configure or start a server on *host*:*port* into a one-line one."""
    try:
        yield
    except ValueError as exc:  # an impossible setting
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    except TranscriptError as exc:  # its message names the file
        raise CommandFailed(str(exc)) from None
    except ControlPortError as exc:
        raise CommandFailed(
            f"cannot open the control port on {format_address(*exc.address)}: "
            f"{os_error_reason(exc)}"
        ) from None
    except OSError as exc:
        raise CommandFailed(
            f"cannot listen on {format_address(host, port)}: {os_error_reason(exc)}"
        ) from None


def listen_or_fail(server: Server, host: str, port: int) -> None:
    """Make *server* listen, or stop it and fail with a one-line reason (the address is in use)."""
    try:
        with reporting_start_failures(host, port):
            server.listen()
    except CommandFailed:
        server.stop()
        raise


def _import_handler(spec: str) -> Handler:
    """Import the handler *spec*; an import failure ends the command with exit code 3."""
    try:
        return import_handler(spec)
    except HandlerImportError as exc:
        raise CommandFailed(str(exc), EXIT_HANDLER_IMPORT) from None
    except Exception:
        # The module exists but raised while being imported: its traceback
        # points at the user's bug.
        traceback.print_exc()
        raise CommandFailed(
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


def _describe_stats(stats: ServerStats) -> str:
    """A server's counters as ``name=value`` pairs for the log."""
    return " ".join(f"{name}={value}" for name, value in dataclasses.asdict(stats).items())
