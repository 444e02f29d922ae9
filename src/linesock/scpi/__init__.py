"""SCPI instruments for linesock: a command tree that is a handler, with IEEE 488.2 built in.

Driver frameworks (PyVISA, pymeasure, QCoDeS) speak SCPI: ``*IDN?``,
``VOLT 3.3``, ``MEAS:CURR?``, ``SYST:ERR?``, short and long headers in any
case, several commands joined with ``;``.  An :class:`Instrument` answers
them: register one typed function per header, serve the instrument like any
handler, and a driver works against it unchanged::

    from typing import Annotated

    from linesock import scpi

    instrument = scpi.Instrument("linesock,PSU-1,SIM-0001,1.0")
    volts = {"set": 0.0}


    @instrument.command("[SOURce]:VOLTage[:LEVel]")
    def set_voltage(value: Annotated[float, scpi.Number(0, 30, default=0, unit="V")]) -> None:
        volts["set"] = value


    @instrument.query("[SOURce]:VOLTage[:LEVel]")
    def voltage() -> float:
        return volts["set"]

``linesock serve rig:instrument`` serves it.  The public surface:

* :class:`Instrument`: the tree, its decorators :meth:`~Instrument.command`
  (setters, which answer nothing) and :meth:`~Instrument.query`, the
  ``*RST`` hook :meth:`~Instrument.on_reset`, and the status registers and
  error queue the built-in common commands work on.
* :class:`Number`: bounds, default and unit of a numeric parameter
  (``MIN``, ``MAX``, ``DEF``, ``-222,"Data out of range"``).
* :class:`SCPIError`, :class:`ExecutionError`, :class:`DeviceError`: raise
  them in a function to queue an error instead of answering.
* :class:`EventStatus` and :class:`StatusByte`: the register bits.
* :func:`quote`: a str as SCPI string response data; :func:`standard_message`:
  the standard message of an error number.

See docs/instruments.md.
"""

from ._answers import quote
from ._data import Number
from ._errors import (
    DEFAULT_ERROR_QUEUE_DEPTH,
    DeviceError,
    EventStatus,
    ExecutionError,
    SCPIError,
    StatusByte,
    standard_message,
)
from ._instrument import SCPI_VERSION, Instrument

__all__ = [
    "DEFAULT_ERROR_QUEUE_DEPTH",
    "SCPI_VERSION",
    "DeviceError",
    "EventStatus",
    "ExecutionError",
    "Instrument",
    "Number",
    "SCPIError",
    "StatusByte",
    "quote",
    "standard_message",
]
