"""The IEEE 488.2 status registers and the SCPI error queue of one instrument.

Design notes
------------
The model is the one of IEEE 488.2 chapter 11, less what a line protocol
cannot show.  The standard event status register (ESR) collects events:
each queued error sets its class's bit, ``*OPC`` sets OPC; ``*ESR?`` reads
and clears it.  The status byte is computed when read, never stored: EAV
(bit 2) while the error queue holds an entry, ESB (bit 5) while
``ESR & ESE`` is not 0, MSS (bit 6) while any other bit is set that
``*SRE`` enables.  MAV is always 0: the server sends each answer as soon as
it is made, so no message ever waits in an output queue.  The enable
registers keep their values across ``*CLS`` and ``*RST``, as the standard
says; only a new instrument (power-on) starts with them at 0.  PON is never
set: a simulator that is created is not "powered on" in the sense a
driver's start-up check would expect, and a clear ESR is easier to test.

The methods whose docstrings start with the command they implement are
registered by :class:`~linesock.scpi.Instrument` as its built-in common and
``SYSTem:ERRor`` commands.
"""

from __future__ import annotations

from typing import Annotated, Final

from ._data import Number
from ._errors import ErrorQueue, EventStatus, SCPIError, StatusByte, format_error

__all__ = ["Mask", "StatusRegisters"]

#: An 8-bit register value, as ``*ESE`` and ``*SRE`` take it.
Mask = Annotated[int, Number(0, 255)]
# The status byte's bit 6 (MSS/RQS) cannot be enabled (IEEE 488.2 11.3.2.3).
_SERVICE_ENABLE_BITS: Final = 0xFF & ~int(StatusByte.MSS)


class StatusRegisters:
    """The event status register, the enable registers and the error queue."""

    def __init__(self, error_queue_depth: int) -> None:
        """All registers 0, the queue empty and *error_queue_depth* deep."""
        self.errors: Final = ErrorQueue(error_queue_depth)
        self.event_status = 0
        self.event_enable = 0
        self.service_enable = 0

    def queue(self, error: SCPIError) -> None:
        """Queue *error* and set its event bit (and DDE as well when the queue overflows)."""
        bits = error.event_bit
        if not self.errors.push(error.code, error.message):
            bits |= EventStatus.DDE
        self.event_status |= int(bits)

    @property
    def status_byte(self) -> int:
        """The status byte as ``*STB?`` reads it."""
        status = int(StatusByte.EAV) if len(self.errors) else 0
        if self.event_status & self.event_enable:
            status |= int(StatusByte.ESB)
        if status & self.service_enable:
            status |= int(StatusByte.MSS)
        return status

    def clear(self) -> None:
        """``*CLS``: clear the event status register and the error queue."""
        self.event_status = 0
        self.errors.clear()

    def read_event_status(self) -> int:
        """``*ESR?``: the event status register, which reading clears."""
        value, self.event_status = self.event_status, 0
        return int(value)

    def set_event_enable(self, mask: Mask) -> None:
        """``*ESE``: which event bits ESB summarises."""
        self.event_enable = mask

    def read_event_enable(self) -> int:
        """``*ESE?``: the event status enable register."""
        return self.event_enable

    def set_service_enable(self, mask: Mask) -> None:
        """``*SRE``: which status byte bits MSS summarises (bit 6 is ignored)."""
        self.service_enable = mask & _SERVICE_ENABLE_BITS

    def read_service_enable(self) -> int:
        """``*SRE?``: the service request enable register."""
        return self.service_enable

    def read_status_byte(self) -> int:
        """``*STB?``: the status byte, MSS in bit 6; reading clears nothing."""
        return self.status_byte

    def operation_complete(self) -> None:
        """``*OPC``: set OPC; every command here completes before the next one starts."""
        self.event_status |= int(EventStatus.OPC)

    def next_error(self) -> str:
        """``SYSTem:ERRor[:NEXT]?``: the oldest error, taken off the queue, or ``0,"No error"``."""
        return format_error(*self.errors.pop())

    def error_count(self) -> int:
        """``SYSTem:ERRor:COUNt?``: how many errors wait in the queue."""
        return len(self.errors)

    def all_errors(self) -> str:
        """``SYSTem:ERRor:ALL?``: every error, oldest first, taken off the queue."""
        entries = self.errors.entries()
        self.errors.clear()
        if not entries:
            return format_error(*self.errors.pop())
        return ",".join(format_error(code, message) for code, message in entries)
