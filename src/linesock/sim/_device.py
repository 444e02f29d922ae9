"""One pyvisa-sim device as a linesock handler: its answers, its terminators, its reset.

Design notes
------------
pyvisa-sim answers a message in ``Device.write``: it splits the message at
the device's ``delimiter`` and, for each part, asks ``Device._match``
(dialogues, property getters, status registers, error queues, setters,
channels, in that order); no match is the device's ``command_error``
answer (which may be none), and a ``NoResponse`` answer is nothing.  Each
answer becomes one output buffer followed by the response ``eom``.

:class:`SimulatedDevice` runs that same loop on each line linesock has
framed, calling pyvisa-sim's own ``_match`` and ``error_response`` on the
device pyvisa-sim's parser built, so every answer, every setter and every
spec check is pyvisa-sim's.  What it leaves out is what linesock does
itself: the input buffer and its query ``eom`` (the framer ends commands at
the terminator the eom names) and the output buffers (each answer is a
line, ended by the server with the answer terminator).  An answer that
holds the response eom is split there, so the bytes on the wire are the
bytes pyvisa-sim would have buffered.

Where pyvisa-sim raises (a malformed ``RANDOM`` directive, a query that is
not UTF-8, a channel that needs a ``selected_channel`` property the device
lacks), the error is logged with its traceback and the message's later
parts are not run, as in process; the answers of the parts before it are
sent, as a PyVISA client would still have read them.

A device keeps its state across connections, as an instrument does.  Two
resets return to the file: :meth:`SimulatedDevice.reset` builds the device
anew (properties, channels, status registers and error queues), and a
``*RST`` the file defines as a dialogue does the same after answering it,
but keeps the status registers and the error queues, as IEEE 488.2 says of
``*RST`` (pyvisa-sim itself only answers it).

:attr:`SimulatedDevice.state` exposes the device's properties (not its
channels') to the control port: read with each property's current value,
set through pyvisa-sim's own ``set_value``, so a setting its specs refuse
is refused there too, with pyvisa-sim's message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

__all__ = ["RESET_COMMAND", "DeviceProperties", "SimulatedDevice", "Terminators"]

logger: Final = logging.getLogger("linesock")

#: The query that resets a device's settings, where its file defines it as a dialogue.
RESET_COMMAND: Final = b"*RST"

#: A pyvisa-sim ``Device`` (pyvisa-sim has no type hints).
PyvisaSimDevice: TypeAlias = Any


@dataclass(frozen=True)
class Terminators:
    """How a served device frames its messages: the server options its ``eom`` gives."""

    terminator: Literal["lf", "cr", "crlf"]
    """What ends a command: the eom's ``q``."""
    answer_terminator: Literal["lf", "cr", "crlf"]
    """What ends each answer: the eom's ``r``."""
    source: str | None
    """The eom entry they come from (``"TCPIP SOCKET"``, ``"ASRL INSTR"``...), or None: no eom."""

    @property
    def answer_bytes(self) -> str:
        """The text after each answer line."""
        return {"lf": "\n", "cr": "\r", "crlf": "\r\n"}[self.answer_terminator]


class SimulatedDevice:
    """A device of a pyvisa-sim file, answering each command as pyvisa-sim answers it.

    Serve it like any handler, with the server options it names::

        device = linesock.sim.load_device("rig.yaml", "psu")
        with linesock.Server(device, port=5025, **device.server_options) as server:
            ...

    The built-in commands ``ping``, ``disconnect`` and ``shutdown`` are
    answered by the server before the device sees the line.  Calls are
    serialised by a lock, so :meth:`reset` is safe from any thread.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], PyvisaSimDevice],
        terminators: Terminators,
        *,
        defines_reset: bool,
    ) -> None:
        """Wrap the device *build* makes (and makes again on a reset).

        Args:
            name: the device's key under ``devices:``.
            build: makes the pyvisa-sim ``Device`` in the state the file gives.
            terminators: the device's framing.
            defines_reset: the file has a ``*RST`` dialogue for the device.
        """
        self.name: Final = name
        self.terminators: Final = terminators
        self._build = build
        self._defines_reset = defines_reset
        self._lock = threading.Lock()
        self._device = build()

    @property
    def server_options(self) -> dict[str, Any]:
        """The :class:`~linesock.ServerConfig` options the device's eom asks for."""
        return {
            "terminator": self.terminators.terminator,
            "answer_terminator": self.terminators.answer_terminator,
        }

    @property
    def state(self) -> DeviceProperties:
        """The device's properties by name, read and set as the control port does."""
        return DeviceProperties(self)

    def reset(self) -> None:
        """Return to the file's state: every property, channel, register and queue."""
        fresh = self._build()
        with self._lock:
            self._device = fresh

    def __call__(self, command: str) -> list[str]:
        """Answer one message: one line per answer of its delimited parts, in order."""
        with self._lock:
            answers = self._answer(command.encode("utf-8"))
        lines: list[str] = []
        for answer in answers:
            lines += answer.decode("utf-8").split(self.terminators.answer_bytes)
        return lines

    def __repr__(self) -> str:
        """Name the device and its terminators."""
        terminators = self.terminators
        return (
            f"<linesock.sim.SimulatedDevice {self.name!r} "
            f"{terminators.terminator}/{terminators.answer_terminator}>"
        )

    def _answer(self, message: bytes) -> list[bytes]:
        """The answers to *message*, as ``Device.write`` would buffer them (without the eom)."""
        device = self._device
        delimiter: bytes = device.delimiter
        queries = message.split(delimiter) if delimiter else [message]
        answers: list[bytes] = []
        for query in queries:
            try:
                response = device._match(query)  # pyvisa-sim's own matching
                if response is None:  # the command_error answer, noted in registers and queues
                    response = device.error_response("command_error")
            except Exception:
                logger.exception(
                    "pyvisa-sim raised while device %r answered %r; the rest of the message "
                    "is not run",
                    self.name,
                    query,
                )
                break
            if isinstance(response, bytes):
                answers.append(response)
            if query == RESET_COMMAND and self._defines_reset:
                self._reset_settings()
                device = self._device
        return answers

    def _reset_settings(self) -> None:
        """``*RST``: the file's properties and channels; the registers and queues stay."""
        fresh = self._build()
        old = self._device
        # The attributes pyvisa-sim keeps the status registers and error queues in.
        fresh._status_registers = old._status_registers
        fresh._error_map = old._error_map
        fresh._error_queues = old._error_queues
        self._device = fresh


class DeviceProperties(MutableMapping[str, Any]):
    """The properties of a :class:`SimulatedDevice` (its file's ``properties:``), by name.

    A value reads as pyvisa-sim holds it (a float, an int or a str, by the
    property's specs); one set is checked by its specs (``ValueError`` with
    pyvisa-sim's message).  Properties cannot be added or removed.  Each
    access takes the device's lock, and follows it through a reset.
    """

    def __init__(self, device: SimulatedDevice) -> None:
        """The properties of *device*."""
        self._device: Final = device

    def __getitem__(self, name: str) -> Any:
        """The current value of the property *name*."""
        device = self._device
        with device._lock:
            return device._device._properties[name].get_value()

    def __setitem__(self, name: str, value: object) -> None:
        """Set the property *name*, as the device's setter would (``KeyError`` if there is none)."""
        device = self._device
        with device._lock:
            device._device._properties[name].set_value(str(value))

    def __delitem__(self, name: str) -> None:
        """Refuse: a device file's properties cannot be removed."""
        raise TypeError(f"the property {name!r} of a device file cannot be removed")

    def __iter__(self) -> Iterator[str]:
        """The property names, in the file's order (a snapshot)."""
        device = self._device
        with device._lock:
            return iter(list(device._device._properties))

    def __len__(self) -> int:
        """How many properties the device has."""
        device = self._device
        with device._lock:
            return len(device._device._properties)

    def __repr__(self) -> str:
        """The properties and their values."""
        return f"<linesock.sim.DeviceProperties {dict(self.items())!r}>"
