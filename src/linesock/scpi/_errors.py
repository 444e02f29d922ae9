"""SCPI errors and events: their numbers, standard messages, status bits and the queue.

Design notes
------------
SCPI 1999 (volume 2, chapter 21) gives every error a negative number whose
hundreds say its class, and IEEE 488.2 gives each class a bit of the
standard event status register: command errors (-1xx) set CME, execution
errors (-2xx) EXE, device-specific errors (-3xx, and every positive,
device-defined number) DDE, query errors (-4xx) QYE.  The events -5xx to
-8xx set PON, URQ, RQC and OPC.

The queue is first in, first out with a fixed depth.  When it is full, the
newest entry is replaced by ``-350,"Queue overflow"`` and later errors are
dropped until it is read (SCPI 1999, 21.8.1): the oldest errors, usually
the cause of the others, survive.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Final

__all__ = [
    "DEFAULT_ERROR_QUEUE_DEPTH",
    "DeviceError",
    "ErrorQueue",
    "EventStatus",
    "ExecutionError",
    "SCPIError",
    "StatusByte",
    "standard_message",
]

#: The error queue's depth unless an instrument is given another one.  SCPI
#: asks for at least 2; 20 holds every error a driver's setup sequence can
#: cause without overflowing, and is what many bench instruments keep.
DEFAULT_ERROR_QUEUE_DEPTH: Final = 20


class EventStatus(enum.IntFlag):
    """The bits of the standard event status register (``*ESR?``, ``*ESE``), IEEE 488.2 11.5."""

    OPC = 1  #: operation complete (``*OPC``)
    RQC = 2  #: request control
    QYE = 4  #: query error (-4xx)
    DDE = 8  #: device-dependent error (-3xx and device-defined numbers)
    EXE = 16  #: execution error (-2xx)
    CME = 32  #: command error (-1xx)
    URQ = 64  #: user request
    PON = 128  #: power on


class StatusByte(enum.IntFlag):
    """The bits of the status byte (``*STB?``, ``*SRE``), IEEE 488.2 11.2 and SCPI 1999."""

    EAV = 4  #: error available: the error queue is not empty
    QUES = 8  #: questionable status summary (always 0 here)
    MAV = 16  #: message available (always 0 here: answers go out at once)
    ESB = 32  #: event status bit: ``*ESR? & *ESE?`` is not 0
    MSS = 64  #: master summary status: another bit is set that ``*SRE`` enables
    OPER = 128  #: operation status summary (always 0 here)


# SCPI 1999 volume 2, 21.8: the standard numbers and messages.
_STANDARD_MESSAGES: Final = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -103: "Invalid separator",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -110: "Command header error",
    -112: "Program mnemonic too long",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -120: "Numeric data error",
    -121: "Invalid character in number",
    -123: "Exponent too large",
    -130: "Suffix error",
    -131: "Invalid suffix",
    -138: "Suffix not allowed",
    -140: "Character data error",
    -150: "String data error",
    -151: "Invalid string data",
    -160: "Block data error",
    -200: "Execution error",
    -203: "Command protected",
    -210: "Trigger error",
    -211: "Trigger ignored",
    -213: "Init ignored",
    -220: "Parameter error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -223: "Too much data",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -240: "Hardware error",
    -241: "Hardware missing",
    -300: "Device-specific error",
    -310: "System error",
    -330: "Self-test failed",
    -340: "Calibration failed",
    -350: "Queue overflow",
    -360: "Communication error",
    -400: "Query error",
    -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED",
    -430: "Query DEADLOCKED",
    -440: "Query UNTERMINATED after indefinite response",
    -500: "Power on",
    -600: "User request",
    -700: "Request control",
    -800: "Operation complete",
}
# The generic message of each class, for a number the table above lacks.
_CLASS_MESSAGES: Final = {
    -1: "Command error",
    -2: "Execution error",
    -3: "Device-specific error",
    -4: "Query error",
    -5: "Power on",
    -6: "User request",
    -7: "Request control",
    -8: "Operation complete",
}
_CLASS_BITS: Final = {
    -1: EventStatus.CME,
    -2: EventStatus.EXE,
    -3: EventStatus.DDE,
    -4: EventStatus.QYE,
    -5: EventStatus.PON,
    -6: EventStatus.URQ,
    -7: EventStatus.RQC,
    -8: EventStatus.OPC,
}
_OVERFLOW: Final = -350
# SCPI numbers are -999 to -100 (standard) and positive (device-defined).
_LOWEST: Final = -899
_HIGHEST_DEVICE_NUMBER: Final = 32767


def standard_message(code: int) -> str:
    """The standard message of error *code*: ``-113`` gives ``Undefined header``.

    A number the standard does not list gets its class's message
    (``-225`` gives ``Execution error``); a positive, device-defined one
    gets ``Device-specific error``.
    """
    message = _STANDARD_MESSAGES.get(code)
    if message is not None:
        return message
    if code > 0:
        return _STANDARD_MESSAGES[-300]
    return _CLASS_MESSAGES[-(-code // 100)]


class SCPIError(Exception):
    """Raise in a command or query function to queue SCPI error *code* instead of answering.

    ``raise SCPIError(-222)`` queues ``-222,"Data out of range"``; a
    *message* replaces the standard one (``SCPIError(-221, "Output is on")``).
    The error's class sets its bit of the event status register.  A command
    error (-100 to -199) also ends the line: the commands after it on the same
    line are not run, as a parser that lost its place would not run them.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        """Check *code* (-899 to -100, or 1 to 32767) and keep the message."""
        if not isinstance(code, int) or isinstance(code, bool):
            raise TypeError(f"an SCPI error number is an int, not {code!r}")
        if not (_LOWEST <= code <= -100 or 0 < code <= _HIGHEST_DEVICE_NUMBER):
            raise ValueError(
                f"SCPI error number {code}: standard numbers are -899 to -100, "
                f"device-defined ones 1 to {_HIGHEST_DEVICE_NUMBER}"
            )
        self.code: Final = code
        text = standard_message(code) if message is None else " ".join(message.splitlines())
        self.message: Final = text
        super().__init__(code, text)

    def __str__(self) -> str:
        """The error as the queue answers it: ``-113,"Undefined header"``."""
        return format_error(self.code, self.message)

    @property
    def event_bit(self) -> EventStatus:
        """The bit of the event status register this error sets."""
        if self.code > 0:
            return EventStatus.DDE
        return _CLASS_BITS[-(-self.code // 100)]

    @property
    def ends_line(self) -> bool:
        """Whether the error is a command error, which ends its line."""
        return -199 <= self.code <= -100


class ExecutionError(SCPIError):
    """An execution error (-200 to -299): the command was understood but cannot be carried out.

    ``raise ExecutionError(-221, "Output is on")``; ``ExecutionError()`` is ``-200``.
    """

    def __init__(self, code: int = -200, message: str | None = None) -> None:
        """Check that *code* is an execution error's number."""
        if not isinstance(code, int) or not -299 <= code <= -200:
            raise ValueError(f"an execution error's number is -200 to -299, not {code!r}")
        super().__init__(code, message)


class DeviceError(SCPIError):
    """A device-specific error: -300 to -399, or a positive, device-defined number.

    ``raise DeviceError(-330)`` queues ``-330,"Self-test failed"``.
    """

    def __init__(self, code: int = -300, message: str | None = None) -> None:
        """Check that *code* is a device-specific error's number."""
        if not isinstance(code, int) or not (-399 <= code <= -300 or code > 0):
            raise ValueError(
                f"a device-specific error's number is -300 to -399 or positive, not {code!r}"
            )
        super().__init__(code, message)


def format_error(code: int, message: str) -> str:
    """``-113,"Undefined header"``: the number, a comma and the message as SCPI string data."""
    return f'{code},"{message.replace(chr(34), chr(34) * 2)}"'


class ErrorQueue:
    """The error/event queue: first in, first out, ``-350,"Queue overflow"`` when full."""

    def __init__(self, depth: int = DEFAULT_ERROR_QUEUE_DEPTH) -> None:
        """An empty queue holding up to *depth* entries (at least 2, as SCPI asks)."""
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"the error queue holds at least 2 entries, not {depth!r}")
        self.depth: Final = depth
        self._entries: deque[tuple[int, str]] = deque()

    def __len__(self) -> int:
        """How many entries wait to be read."""
        return len(self._entries)

    def push(self, code: int, message: str) -> bool:
        """Queue an entry; when full, make the newest one the overflow.  False if it overflowed."""
        entries = self._entries
        if len(entries) < self.depth:
            entries.append((code, message))
            return True
        if entries[-1][0] != _OVERFLOW:
            entries[-1] = (_OVERFLOW, _STANDARD_MESSAGES[_OVERFLOW])
        return False

    def pop(self) -> tuple[int, str]:
        """Take the oldest entry, or ``(0, "No error")`` from an empty queue."""
        if self._entries:
            return self._entries.popleft()
        return 0, _STANDARD_MESSAGES[0]

    def clear(self) -> None:
        """Drop every entry (``*CLS``)."""
        self._entries.clear()

    def entries(self) -> tuple[tuple[int, str], ...]:
        """The entries, oldest first, without taking them."""
        return tuple(self._entries)
