"""``linesock serve FILE.yaml``: which devices of a pyvisa-sim file to serve, and where.

Design notes
------------
``serve`` tells a device file from ``MODULE:ATTR`` by its suffix
(:data:`DEVICE_FILE_SUFFIXES`).  :func:`plan_devices` reads the file
(through :mod:`linesock.sim`, which imports pyvisa-sim only then) and
decides what to serve: the device ``--device`` names on ``--port``, or else
every ``TCPIP::HOST::PORT::SOCKET`` resource of the file, each a device of
its own (as ``@sim`` gives each resource its own state) on its resource's
port.  It reports every problem as a :class:`CommandFailed` with its exit
code: 1 without pyvisa-sim (like ``--loop uvloop`` without uvloop), 2 for a
command line that does not fit the file, 3 for a file that cannot be served
(the handler could not be loaded).

Several devices are as many threaded servers (:class:`~linesock.Server`);
:class:`ServerGroup` serves and stops them as one, so the signal handling
of ``serve`` (:class:`~._signals.ThreadedSignalStopper`) drives them
unchanged, and a client's ``shutdown`` to any of them stops them all, as it
stops ``linesock serve``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._reporting import EXIT_ERROR, EXIT_HANDLER_IMPORT, EXIT_USAGE, CommandFailed

if TYPE_CHECKING:
    from .. import Server
    from ..sim import DeviceFile, SimulatedDevice

__all__ = [
    "DEVICE_FILE_SUFFIXES",
    "ServedDevice",
    "ServerGroup",
    "device_server_options",
    "is_device_file",
    "plan_devices",
]

#: What a handler argument ends with when it names a pyvisa-sim device file.
DEVICE_FILE_SUFFIXES: Final = (".yaml", ".yml")
# How long ServerGroup waits for a watcher thread once every server has stopped.
_WATCHER_JOIN: Final = 5.0


def is_device_file(spec: str) -> bool:
    """Whether ``serve``'s handler argument names a device file (by its suffix, any case)."""
    return spec.lower().endswith(DEVICE_FILE_SUFFIXES)


@dataclass(frozen=True)
class ServedDevice:
    """A device ``serve`` serves, on which port, and how its ``listening on`` line names it."""

    device: SimulatedDevice
    port: int
    label: str | None
    """The device name the ``listening on`` line adds, or None for the plain line."""


def plan_devices(
    path: str, device_name: str | None, port: int, *, port_given: bool
) -> list[ServedDevice]:
    """What ``serve FILE.yaml [--device NAME] [--port P]`` serves; CommandFailed if nothing."""
    device_file = _read(path)
    if device_name is not None:
        if device_name not in device_file.device_names:
            raise CommandFailed(
                f"{path} has no device {device_name!r}; its devices are "
                f"{_names(device_file.device_names)}",
                EXIT_USAGE,
            )
        return [ServedDevice(_serveable(device_file.device, device_name), port, None)]
    resources = device_file.socket_resources
    if not resources:
        raise CommandFailed(
            f"{path} maps no device to a TCPIP::HOST::PORT::SOCKET resource; serve one of its "
            f"devices ({_names(device_file.device_names)}) with --device NAME",
            EXIT_USAGE,
        )
    if port_given:
        raise CommandFailed(
            "--port goes with --device: without it each device listens on the port of its "
            "TCPIP SOCKET resource",
            EXIT_USAGE,
        )
    return [
        ServedDevice(
            _serveable(device_file.resource, resource.name), resource.port, resource.device
        )
        for resource in resources
    ]


def device_server_options(
    served: ServedDevice, options: Mapping[str, object], *, several: bool
) -> dict[str, object]:
    """The server options of one device: its terminators, then the command line's.

    With several devices, each writes its own ``--transcript``: the port
    goes before the suffix (``rig.jsonl`` is ``rig.5025.jsonl``), so that
    each file replays against its own device.
    """
    merged = {**served.device.server_options, **options}
    transcript = merged.get("transcript")
    if several and isinstance(transcript, str):
        path = Path(transcript)
        merged["transcript"] = str(path.with_name(f"{path.stem}.{served.port}{path.suffix}"))
    return merged


def _read(path: str) -> DeviceFile:
    """Read the device file; a failure is a CommandFailed with its exit code."""
    from ..sim import (  # noqa: PLC0415  (only for a device file)
        DeviceFile,
        DeviceFileError,
        SimulatorNotInstalledError,
    )

    try:
        return DeviceFile(path)
    except SimulatorNotInstalledError as exc:
        raise CommandFailed(str(exc), EXIT_ERROR) from None
    except DeviceFileError as exc:
        raise CommandFailed(str(exc), EXIT_HANDLER_IMPORT) from None


def _serveable(make: Callable[[str], SimulatedDevice], name: str) -> SimulatedDevice:
    """``make(name)``: a device, or exit 3 with the reason it cannot be served."""
    from ..sim import DeviceFileError  # noqa: PLC0415  (only for a device file)

    try:
        return make(name)
    except DeviceFileError as exc:
        raise CommandFailed(str(exc), EXIT_HANDLER_IMPORT) from None


def _names(names: Sequence[str]) -> str:
    """Device names for a message."""
    return ", ".join(repr(name) for name in names) or "none"


class ServerGroup:
    """Several threaded servers that serve and stop as one (a ``ThreadedSignalStopper`` drives it).

    :meth:`serve_forever` serves the first server in the calling thread and
    the others on threads of their own; when any of them stops (a client's
    ``shutdown``), or :meth:`stop` is called (a signal), all of them stop.
    """

    def __init__(self, servers: Sequence[Server]) -> None:
        """Group *servers*, which are listening already."""
        if not servers:
            raise ValueError("a ServerGroup needs at least one server")
        self.servers: Final = tuple(servers)
        # Held while starting a server and while stopping them all: a signal
        # that comes mid-start stops what started, and nothing starts after.
        self._lock: Final = threading.Lock()
        self._stopped = False

    def serve_forever(self) -> None:
        """Serve every server until one stops or :meth:`stop`; then all have stopped."""
        first, *others = self.servers
        watchers = []
        for server in others:
            with self._lock:
                if self._stopped:
                    break
                server.start()
            watcher = threading.Thread(
                target=self._stop_after, args=(server,), name="linesock-group", daemon=True
            )
            watcher.start()
            watchers.append(watcher)
        try:
            first.serve_forever()
        finally:
            self.stop()
            for watcher in watchers:
                watcher.join(_WATCHER_JOIN)

    def stop(self, timeout: float | None = None) -> None:
        """Stop every server (safe from any thread, and more than once)."""
        with self._lock:
            self._stopped = True
        for server in self.servers:
            server.stop(timeout)

    def reopen_transcript(self) -> None:
        """Reopen every server's transcript (on SIGHUP)."""
        for server in self.servers:
            server.reopen_transcript()

    def _stop_after(self, server: Server) -> None:
        """Wait until *server* stops, then stop the others."""
        server.wait_stopped()
        self.stop()
