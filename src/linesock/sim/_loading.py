"""Reading a pyvisa-sim device file with pyvisa-sim's own parser, imported only when needed.

Design notes
------------
pyvisa-sim (the optional extra ``linesock[sim]``) is imported on the first
file loaded, never by ``import linesock`` or ``import linesock.sim``, so
plain linesock stays standard-library only.  A missing pyvisa-sim is
:class:`SimulatorNotInstalledError`, whose message names the pip command.

The file is read by pyvisa-sim's ``parser.Loader`` (spec 1.0 and 1.1, the
version check included) and each device is built by ``parser.get_device``,
the function ``@sim`` builds its devices with: one fresh ``Device`` per
served resource, with the ``channel_ids`` of the resource it is built for.
linesock adds only what the file means for a TCP server: the terminators of
the device's ``eom`` (the ``TCPIP SOCKET`` entry, else the first one) and
the ports of the file's ``TCPIP::HOST::PORT::SOCKET`` resources.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal, cast

from .._errors import LinesockError
from ._device import RESET_COMMAND, PyvisaSimDevice, SimulatedDevice, Terminators

__all__ = [
    "INSTALL_HINT",
    "SOCKET_EOM",
    "DeviceFile",
    "DeviceFileError",
    "SimulatorNotInstalledError",
    "SocketResource",
    "load_device",
]

#: The ``eom`` entry whose terminators a served device uses, when the file has it.
SOCKET_EOM: Final = "TCPIP SOCKET"
#: What ``python -m pip`` needs to serve device files.
INSTALL_HINT: Final = "pip install 'linesock[sim]'"
# The terminators an eom's ``q`` or ``r`` can name on a linesock server.
_TERMINATORS: Final[dict[str, Literal["lf", "cr", "crlf"]]] = {
    "\n": "lf",
    "\r": "cr",
    "\r\n": "crlf",
}
_NO_EOM: Final = Terminators("lf", "lf", None)


class SimulatorNotInstalledError(LinesockError, ImportError):
    """pyvisa-sim, which reading a device file needs, is not installed."""

    def __init__(self) -> None:
        """Say what is missing and how to install it."""
        super().__init__(
            f"serving a pyvisa-sim device file needs pyvisa-sim, which is not installed: "
            f"{INSTALL_HINT}"
        )


class DeviceFileError(LinesockError, ValueError):
    """A device file cannot be read, is not pyvisa-sim's format, or lacks what was asked for."""


@dataclass(frozen=True)
class SocketResource:
    """A ``TCPIP::HOST::PORT::SOCKET`` resource of a device file: what ``serve`` listens for."""

    name: str
    """The resource name, as the file writes it."""
    device: str
    """The device it is mapped to."""
    port: int
    """Its port (its host is not used: the server listens on the host it is given)."""


def _pyvisa_sim_parser() -> ModuleType:
    """pyvisa-sim's parser module; :class:`SimulatorNotInstalledError` if it is missing."""
    try:
        from pyvisa_sim import parser  # noqa: PLC0415  (the optional extra)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] not in ("pyvisa_sim", "pyvisa"):
            raise
        raise SimulatorNotInstalledError() from None
    return cast("ModuleType", parser)


def _one_line(exc: BaseException) -> str:
    """The first line of an error's message (pyvisa-sim's may hold a traceback)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _parse_resource_name(name: str) -> Any:
    """The parse pyvisa makes of a resource name, or None if it is not one."""
    from pyvisa import rname  # noqa: PLC0415  (a dependency of pyvisa-sim)

    try:
        return rname.parse_resource_name(name)
    except rname.InvalidResourceName:
        return None


class DeviceFile:
    """A pyvisa-sim device file (YAML, spec 1.0 or 1.1), read by pyvisa-sim's parser.

    ``device(name)`` makes a :class:`SimulatedDevice` of one of its devices,
    ``socket_resources`` lists its ``TCPIP::HOST::PORT::SOCKET`` resources
    and ``resource(r)`` makes the device a resource is mapped to.  Each call
    makes a device of its own, with its own state.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read *path*.

        Raises:
            SimulatorNotInstalledError: pyvisa-sim is not installed.
            DeviceFileError: the file cannot be read or is not a device file.
        """
        self.path: Final = Path(path)
        self._parser = _pyvisa_sim_parser()
        self._loader = self._load()
        data: Mapping[str, Any] = self._loader.data
        devices = data.get("devices", {})
        resources = data.get("resources", {})
        if not isinstance(devices, Mapping) or not isinstance(resources, Mapping):
            raise DeviceFileError(f"{self.path}: 'devices' and 'resources' must be mappings")
        self._devices: Final[Mapping[str, Any]] = devices
        self._resources: Final[Mapping[str, Any]] = resources

    def _load(self) -> Any:
        """pyvisa-sim's loader of the file, or a one-line :class:`DeviceFileError`."""
        import yaml  # noqa: PLC0415  (a dependency of pyvisa-sim)

        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise DeviceFileError(f"cannot read the device file {self.path}: {reason}") from None
        try:
            yaml.load(text, Loader=yaml.BaseLoader)  # for a clear message; pyvisa-sim's is a dump
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or _one_line(exc)
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise DeviceFileError(f"{self.path} is not valid YAML{where}: {problem}") from None
        try:
            return self._parser.Loader(os.fspath(self.path), False)
        except Exception as exc:  # pyvisa-sim's spec checks raise ValueError, KeyError...
            raise DeviceFileError(
                f"{self.path} is not a pyvisa-sim device file: {_one_line(exc)}"
            ) from None

    @property
    def device_names(self) -> tuple[str, ...]:
        """The devices the file defines (the keys under ``devices:``), in its order."""
        return tuple(self._devices)

    @property
    def socket_resources(self) -> tuple[SocketResource, ...]:
        """The file's ``TCPIP::HOST::PORT::SOCKET`` resources, in its order."""
        found = []
        for name, entry in self._resources.items():
            parsed = _parse_resource_name(name)
            if parsed is None or (parsed.interface_type, parsed.resource_class) != (
                "TCPIP",
                "SOCKET",
            ):
                continue
            found.append(SocketResource(name, self._device_of(name, entry), int(parsed.port)))
        return tuple(found)

    def device(self, name: str) -> SimulatedDevice:
        """A new :class:`SimulatedDevice` of the device *name*.

        Its channel ids are those of the first resource mapped to it, as
        ``@sim`` gives them, or the file's own ``ids`` when none is.

        Raises:
            DeviceFileError: the file has no such device, or it cannot be served.
        """
        if name not in self._devices:
            raise DeviceFileError(
                f"{self.path} has no device {name!r}; its devices are {self._describe_devices()}"
            )
        resource = next(
            (
                entry
                for entry in self._resources.values()
                if isinstance(entry, Mapping)
                and entry.get("device") == name
                and "filename" not in entry
            ),
            {},
        )
        return self._simulate(name, self._devices[name], resource)

    def resource(self, resource_name: str) -> SimulatedDevice:
        """A new :class:`SimulatedDevice` of the device the resource *resource_name* maps to.

        Raises:
            DeviceFileError: the file has no such resource, or its device cannot be served.
        """
        entry = self._resources.get(resource_name)
        if entry is None:
            raise DeviceFileError(f"{self.path} has no resource {resource_name!r}")
        name = self._device_of(resource_name, entry)
        try:
            # As pyvisa-sim's get_devices reads the entry (bundled: any value is true).
            definition = self._loader.get_device_dict(
                name, entry.get("filename"), entry.get("bundled", False), 1
            )
        except Exception as exc:
            raise DeviceFileError(
                f"{self.path}: the device {name!r} of {resource_name} cannot be loaded: "
                f"{_one_line(exc)}"
            ) from None
        return self._simulate(name, definition, entry)

    def _describe_devices(self) -> str:
        """The device names for a message."""
        return ", ".join(repr(name) for name in self._devices) or "none"

    def _device_of(self, resource_name: str, entry: object) -> str:
        """The device a resource entry names."""
        if not isinstance(entry, Mapping) or not isinstance(entry.get("device"), str):
            raise DeviceFileError(f"{self.path}: the resource {resource_name} names no device")
        return cast("str", entry["device"])

    def _simulate(self, name: str, definition: Any, resource: Mapping[str, Any]) -> SimulatedDevice:
        """Check the device's definition and wrap the device pyvisa-sim builds from it."""
        if not isinstance(definition, Mapping):
            raise DeviceFileError(f"{self.path}: the device {name!r} is not a mapping")
        terminators = self._terminators(name, definition.get("eom", {}))
        parser, loader = self._parser, self._loader

        def build() -> PyvisaSimDevice:
            return parser.get_device(name, definition, loader, resource)

        try:
            build()  # once now, so that a malformed device fails here with its name
        except Exception as exc:
            raise DeviceFileError(
                f"{self.path}: pyvisa-sim cannot build the device {name!r}: {_one_line(exc)}"
            ) from None
        dialogues = definition.get("dialogues", ())
        defines_reset = any(
            isinstance(dialogue, Mapping)
            and str(dialogue.get("q", "")).strip(" ").encode() == RESET_COMMAND
            for dialogue in dialogues
        )
        return SimulatedDevice(name, build, terminators, defines_reset=defines_reset)

    def _terminators(self, name: str, eoms: object) -> Terminators:
        """The terminators of the device's ``TCPIP SOCKET`` eom, else of its first one."""
        if not isinstance(eoms, Mapping):
            raise DeviceFileError(f"{self.path}: the eom of the device {name!r} is not a mapping")
        if not eoms:
            return _NO_EOM
        source = SOCKET_EOM if SOCKET_EOM in eoms else next(iter(eoms))
        entry = eoms[source]
        if not isinstance(entry, Mapping) or "q" not in entry or "r" not in entry:
            raise DeviceFileError(
                f"{self.path}: the {source} eom of the device {name!r} needs both q and r"
            )
        ends = []
        for key in ("q", "r"):
            # What pyvisa-sim makes of the text: spaces stripped, \r and \n escapes read.
            text = str(entry[key]).strip(" ").replace("\\r", "\r").replace("\\n", "\n")
            if text not in _TERMINATORS:
                raise DeviceFileError(
                    f"{self.path}: the {source} eom of the device {name!r} has {key}: {text!r}; "
                    "a linesock server ends lines with LF, CR or CR LF"
                )
            ends.append(_TERMINATORS[text])
        return Terminators(ends[0], ends[1], source)


def load_device(path: str | os.PathLike[str], name: str | None = None) -> SimulatedDevice:
    """The device *name* of the pyvisa-sim file *path*, ready to serve.

    Without *name*, the file must define exactly one device.

    Raises:
        SimulatorNotInstalledError: pyvisa-sim is not installed.
        DeviceFileError: the file cannot be read, is not a device file, has no
            such device (or several, without *name*), or its eom cannot be served.
    """
    device_file = DeviceFile(path)
    if name is None:
        names = device_file.device_names
        if len(names) != 1:
            raise DeviceFileError(
                f"{device_file.path} defines {len(names)} devices "
                f"({device_file._describe_devices()}); name the one to load"
            )
        name = names[0]
    return device_file.device(name)
