"""The control port: a second, loopback-only Oneline port that drives a server from outside.

Design notes
------------
A test, or a person with ``nc``, injects faults, ends the served client's
session, reads the counters and reads or changes the handler's state
while a client holds the main port's one slot.  So the control port is a
server of its own: a threaded :class:`~linesock.Server`, on a thread of its
own, whatever the main server is (threaded, asyncio, uvloop), whose
handler is a :class:`~linesock.Commands` that acts on the main server.  It
speaks the Oneline protocol itself, so ``linesock send``, ``linesock
shell`` and ``nc`` drive it, and it serves one control client at a time.

It listens on loopback only: 127.0.0.1, or ::1 when the main server
listens on IPv6 (Python's listening IPv6 sockets are IPv6-only).  Anyone
who reaches it can cut the main client off, so a host beyond loopback is
refused outright; with a token on the main server, the control port
requires the same ``auth TOKEN`` first (never logged, nor recorded).

Faults log and record themselves (``Faults`` calls the server's
``record_change``), and so does ``kick``; the control port records only
what it changes itself: ``set`` and ``reset``.

Log lines: the control server's own (its listening, its clients, their
authentication) are logged on the ``linesock`` logger like the main
server's, so they are prefixed ``control port:`` to tell them apart; what
its commands do to the main server (``control: kick``) is not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import threading
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Final, Protocol

from ._config import DEFAULT_HOST, Handler, ServerConfig, ServerStats
from ._faults import Faults, parse_fault
from ._routing import CommandError, Commands
from ._state import ExposedState, find_state, set_value, show_value

if TYPE_CHECKING:
    from ._server import Server

__all__ = [
    "CONTROL_THREAD",
    "HELP",
    "STOP_TIMEOUT",
    "ControlPort",
    "ControlPortError",
    "ControlledServer",
    "check_loopback",
    "control_commands",
    "control_host_for",
    "start_control_port",
]

logger: Final = logging.getLogger("linesock")

#: The name of the thread a control port serves on.
CONTROL_THREAD: Final = "linesock-control"
#: How long stopping a control port waits for its thread; only a control
#: command that blocks (a handler's ``reset()`` that hangs) takes longer.
STOP_TIMEOUT: Final = 5.0
#: What ``help`` answers: one line per command, with its syntax.
HELP: Final = (
    "fault KIND [VALUE] [count N] [match GLOB]  inject a fault: delay MS, silence, "
    "drop [reset], error TEXT, garbage, slow BYTES_PER_S",
    "faults          the active faults, one per line (none: the line none)",
    "clear           remove every fault",
    "kick            end the current client's session now",
    "stats           the server's counters, one 'name value' per line",
    "state           the handler's state, one 'name value' per line (none: the line none)",
    "get NAME        the value of one state entry",
    "set NAME VALUE  change a state entry (VALUE read as the type of its current value)",
    "reset           reset the handler (its state back to its first values)",
    "help            this list",
    "ping            answered pong",
    "disconnect      end this control session",
)
_OK: Final = "ok"
_NONE: Final = "none"


class ControlPortError(OSError):
    """The control port cannot listen (its port is taken, say); :attr:`address` says where."""

    def __init__(self, cause: OSError, address: tuple[str, int]) -> None:
        """The failure *cause* of binding the control port to *address*."""
        super().__init__(cause.errno, cause.strerror or str(cause))
        #: The ``(host, port)`` the control port could not listen on.
        self.address: Final = address

    def __str__(self) -> str:
        """Say which port, and why."""
        host, port = self.address
        return f"cannot open the control port on {host}:{port}: {self.strerror}"


class ControlledServer(Protocol):
    """What a control port drives: :class:`~linesock.Server` and ``AsyncServer`` both are one."""

    @property
    def handler(self) -> Handler:
        """The main server's handler, whose state the control port exposes."""

    @property
    def config(self) -> ServerConfig:
        """The main server's settings: its token, its control port."""

    @property
    def stats(self) -> ServerStats:
        """The main server's counters."""

    @property
    def faults(self) -> Faults:
        """The faults injected into the main server's served session."""

    def kick(self) -> bool:
        """End the main server's current session; False if none is served."""

    def record_change(self, action: str, **details: str) -> None:
        """Log and record (transcript) a change made from outside the session."""


def check_loopback(host: str) -> None:
    """Refuse (``ValueError``) a control host that is not a loopback address."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"the control port listens on loopback only (127.0.0.1 or ::1), not {host!r}: "
            "whoever reaches it can cut the served client off"
        )


def control_host_for(main_host: str) -> str:
    """The loopback address a control port listens on beside a server bound to *main_host*."""
    return "::1" if ":" in main_host else DEFAULT_HOST


# -- the log prefix ------------------------------------------------------------

_context: Final = threading.local()


class _ControlPortLogs(logging.Filter):
    """Prefix the control server's own log lines ``control port:``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Prefix *record* when the control server logged it; keep every record."""
        if getattr(_context, "active", False):
            record.msg = f"control port: {record.msg}"
        return True


_PREFIX: Final = _ControlPortLogs()


@contextlib.contextmanager
def _logging_as_control(active: bool) -> Iterator[None]:
    """Prefix (or not) what this thread logs for the duration."""
    saved = getattr(_context, "active", False)
    _context.active = active
    try:
        yield
    finally:
        _context.active = saved


# -- the commands --------------------------------------------------------------


def control_commands(server: ControlledServer) -> Commands:
    """The control port's handler: a :class:`~linesock.Commands` acting on *server*."""
    commands = Commands()
    add = commands.add
    faults = server.faults

    def fault(*words: str) -> str:
        """Inject a fault (see docs/faults.md)."""
        try:
            parsed = parse_fault(words)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        faults.add(parsed)
        return _OK

    def list_faults() -> list[str]:
        """The active faults."""
        return faults.describe() or [_NONE]

    def clear() -> str:
        """Remove every fault."""
        faults.clear()
        return _OK

    def kick() -> str:
        """End the current client's session (ok also when none is served)."""
        server.kick()
        return _OK

    def stats() -> list[str]:
        """The main server's counters, in their field order."""
        counters = server.stats
        return [
            f"{field.name} {getattr(counters, field.name)}"
            for field in dataclasses.fields(counters)
        ]

    add(fault)
    add(list_faults, "faults")
    add(clear)
    add(kick)
    add(stats)
    _StateCommands(server).register(commands)
    add(lambda: list(HELP), "help")
    return commands


class _StateCommands:
    """``state``, ``get``, ``set`` and ``reset``, on what the main server's handler exposes."""

    def __init__(self, server: ControlledServer) -> None:
        """Act on what *server*'s handler exposes (docs/control.md)."""
        self._server: Final = server

    @property
    def _exposed(self) -> ExposedState:
        """The handler's state and reset, looked up anew: a handler may rebind its ``state``."""
        return find_state(self._server.handler)

    def register(self, commands: Commands) -> None:
        """Add the four commands to *commands*."""
        commands.add(self.show, "state")
        commands.add(self.get, "get")
        commands.add(self.set, "set")
        commands.add(self.reset, "reset")

    def show(self) -> list[str]:
        """Every exposed entry."""
        state = self._exposed.state
        if state is None:
            return [_NONE]
        entries = list(state.items())
        return [f"{show_value(name)} {show_value(value)}" for name, value in entries] or [_NONE]

    def get(self, name: str) -> str:
        """One entry's value."""
        state = self._exposed.state
        if state is None or name not in state:
            raise _no_state(name)
        return show_value(state[name])

    def set(self, name: str, value: str) -> str:
        """Change one entry."""
        state = self._exposed.state
        if state is None:
            raise _no_state(name)
        if not isinstance(state, MutableMapping):
            raise CommandError("the handler's state is read-only")
        try:
            new = set_value(state, name, value)
        except KeyError:
            raise _no_state(name) from None
        except (ValueError, TypeError) as exc:
            raise CommandError(f"{name}: {exc}") from None
        self._server.record_change("set", name=name, value=show_value(new))
        return _OK

    def reset(self) -> str:
        """Reset the handler."""
        reset = self._exposed.reset
        if reset is None:
            raise CommandError("the handler has no reset()")
        try:
            reset()
        except Exception as exc:
            logger.exception("the handler's reset() raised")
            raise CommandError(f"the handler's reset() raised {type(exc).__name__}") from None
        self._server.record_change("reset")
        return _OK


def _no_state(name: str) -> CommandError:
    """The refusal of a name the handler does not expose."""
    return CommandError(f"no state {name!r} (the command state lists them)")


# -- the port ------------------------------------------------------------------


class ControlPort:
    """A control port for *server*: a threaded Oneline server on loopback (docs/control.md).

    The servers start one themselves when ``control_port`` is set
    (``Server(..., control_port=0)``, ``linesock serve --control-port 0``);
    this class is for a server of your own making.  :meth:`start` binds
    and serves on a thread of its own, :meth:`stop` stops it.

    Args:
        server: what the commands act on (a :class:`~linesock.Server`, an
            ``AsyncServer``, or anything shaped like :class:`ControlledServer`).
        port: the TCP port; 0 lets the OS choose, read it from :attr:`address`.
        host: a loopback address (``ValueError`` for any other).
    """

    def __init__(self, server: ControlledServer, port: int = 0, host: str = DEFAULT_HOST) -> None:
        """Configure the port; nothing is bound until :meth:`start`."""
        from ._server import Server  # noqa: PLC0415  (_server imports this module)

        check_loopback(host)
        config = server.config
        self.handler: Final = control_commands(server)
        self._server: Final[Server] = Server(
            self._handle,
            host,
            port,
            token=config.token,
            auth_timeout=config.auth_timeout,
            allow_remote_shutdown=False,
        )
        self._thread: threading.Thread | None = None
        self._requested: Final = (host, port)

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the control port listens on, once started."""
        return self._server.address

    @property
    def stats(self) -> ServerStats:
        """The control port's own counters (its sessions, its failed authentications)."""
        return self._server.stats

    def start(self) -> None:
        """Bind, listen and serve on the thread :data:`CONTROL_THREAD`.

        Raises:
            ControlPortError: (an ``OSError``) the port cannot be listened on.
        """
        if _PREFIX not in logger.filters:
            logger.addFilter(_PREFIX)
        try:
            with _logging_as_control(True):
                self._server.listen()
        except OSError as exc:
            raise ControlPortError(exc, self._requested) from exc
        self._thread = threading.Thread(target=self._serve, name=CONTROL_THREAD, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = STOP_TIMEOUT) -> None:
        """Stop serving control clients and wait (at most *timeout*) for the thread; idempotent."""
        with _logging_as_control(True):
            self._server.stop(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (at most *timeout*) until the control port has stopped; True if it has."""
        return self._server.wait_stopped(timeout)

    def _serve(self) -> None:
        """The control thread: serve control clients until stopped."""
        with _logging_as_control(True):
            self._server.serve_forever()

    def _handle(self, line: str) -> object:
        """Answer one control command; what it does to the main server is logged unprefixed."""
        with _logging_as_control(False):
            return self.handler(line)

    def __repr__(self) -> str:
        """Show where the control port listens."""
        running = self._server.is_running
        where = "{}:{}".format(*self.address) if running else "not listening"
        return f"<linesock.ControlPort {where} running={running}>"


def start_control_port(server: ControlledServer, main_host: str) -> ControlPort | None:
    """Start the control port *server*'s ``control_port`` asks for, beside *main_host*; or None."""
    port = server.config.control_port
    if port is None:
        return None
    control = ControlPort(server, port, control_host_for(main_host))
    control.start()
    return control
