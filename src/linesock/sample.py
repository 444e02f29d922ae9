"""The sample handler: a simulated bench power supply driven by one-line commands.

``linesock serve`` (with no handler given) and ``linesock demo`` serve it;
``linesock serve linesock.sample:handler`` names it explicitly.  It shows
the shape of a real handler: an object that keeps the instrument's state,
with one typed method per command, routed by :class:`linesock.Commands`.

The simulated supply has a voltage setpoint, a current limit and a resistive
load on its output.  With the output on it regulates the voltage (``CV``)
until the load would draw more than the current limit; then it holds the
current at the limit and the voltage drops (``CC``), as a real supply does.

Commands (``help`` lists them too)::

    idn                      the identity line
    set volt|curr|load VALUE set the voltage, current limit or load
    get volt|curr|load       read a setting back
    output [on|off]          switch the output, or read whether it is on
    measure                  voltage, current and mode at the output
    status                   every setting, one line each
    reset                    the power-on settings
    help [COMMAND]           the list of commands, or one of them

Every accepted change answers ``ok``.  The router answers what the supply
never sees: ``error unknown command 'NAME'``, ``error set: expected 2
arguments, got 1``, ``error set: value: invalid float 'high'``; the supply
itself refuses a value out of range with ``error set: volt must be 0 to
30 V, not 31``.  ``ping``, ``disconnect`` and ``shutdown`` never reach a
handler: the server answers them itself.

The same supply speaks SCPI, through :class:`linesock.scpi.Instrument`, so
that PyVISA, pymeasure and QCoDeS drivers work against it unchanged::

    *IDN? *RST *CLS *OPC? *ESR? *STB? ...    the IEEE 488.2 common commands
    [SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude] 0..30 | MIN | MAX | DEF   and ...?
    [SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude] 0..5 | MIN | MAX | DEF    and ...?
    OUTPut[:STATe] ON|OFF|1|0                and OUTPut[:STATe]?  (answers 1 or 0)
    MEASure[:SCALar]:VOLTage[:DC]?           the output voltage
    MEASure[:SCALar]:CURRent[:DC]?           the output current
    SYSTem:ERRor[:NEXT]?  SYSTem:ERRor:COUNt?

``VOLT? MAX`` (``MIN``, ``DEF``) reads a limit.  Setters answer nothing and
queries one line (``+3.300000E+00``); a bad command answers nothing either
and is read back with ``SYST:ERR?``.  Settings are shared: ``set volt 5``
then ``VOLT?`` reads ``+5.000000E+00``.

Which language a line is in: it goes to the line commands above when its
first word is one of their names (``idn``, ``set``, ``get``, ``output``,
``measure``, ``status``, ``reset``, ``help``, exactly, in lower case), and
to SCPI when its first header starts with ``*`` or ``:``, holds a ``:`` or
a ``?``, or is a header the SCPI tree knows written with an upper-case
letter (``VOLT 3.3``, ``Outp on``).  Anything else goes to the line
commands, which answer ``error unknown command 'NAME'``: a lower-case
``volt 9`` stays an unknown line command (write ``VOLT 9`` or ``:volt 9``).
"""

from __future__ import annotations

import enum
import math
from typing import Annotated, Any, Final, TypeAlias

from . import scpi
from ._routing import CommandError, Commands

__all__ = ["IDENTITY", "Limit", "PowerSupply", "Setting", "handler"]

#: What ``idn`` answers: maker, model, serial number, firmware version.
IDENTITY: Final = "linesock,PSU-1,SIM-0001,1.0"


class Setting(enum.Enum):
    """The settings ``set`` and ``get`` know."""

    VOLT = "volt"
    CURR = "curr"
    LOAD = "load"


# Each setting's unit, lowest and highest value, and power-on value.
_RANGES: Final = {
    Setting.VOLT: ("V", 0.0, 30.0, 0.0),
    Setting.CURR: ("A", 0.0, 5.0, 1.0),
    Setting.LOAD: ("ohm", 0.1, 1_000_000.0, 10.0),
}


class Limit(enum.Enum):
    """What ``VOLT?`` and ``CURR?`` may ask for instead of the setting: ``VOLT? MAX``."""

    MINimum = "minimum"
    MAXimum = "maximum"
    DEFault = "default"


_VOLT: Final = _RANGES[Setting.VOLT]
_CURR: Final = _RANGES[Setting.CURR]
#: The SCPI parameter types of the setpoints: range, power-on value (DEF) and unit.
Volts: TypeAlias = Annotated[
    float, scpi.Number(_VOLT[1], _VOLT[2], default=_VOLT[3], unit=_VOLT[0])
]
Amps: TypeAlias = Annotated[float, scpi.Number(_CURR[1], _CURR[2], default=_CURR[3], unit=_CURR[0])]


class PowerSupply:
    """A simulated single-channel bench power supply; call it with a command line."""

    def __init__(self) -> None:
        """Power on with the default settings: 0 V, 1 A limit, 10 ohm load, output off."""
        self.settings: dict[Setting, float] = {}
        self.output = False
        self.reset()
        #: Routes each line to the method of its command; ``help`` is built in.
        self.commands: Final = Commands()
        self.commands.add(self._idn, "idn")
        self.commands.add(self._set, "set")
        self.commands.add(self._get, "get")
        self.commands.add(self._output, "output")
        self.commands.add(self._measure, "measure")
        self.commands.add(self._status, "status")
        self.commands.add(self._reset, "reset")
        #: Answers the lines in SCPI (see the module docstring for which ones).
        self.instrument: Final = scpi.Instrument(IDENTITY)
        self._add_scpi(self.instrument)

    def __call__(self, command: str) -> Any:
        """Answer one command line: a line command's answer, or SCPI's (None for a setter)."""
        if self.is_scpi(command):
            return self.instrument(command)
        return self.commands(command)

    def is_scpi(self, line: str) -> bool:
        """Whether *line* goes to SCPI rather than to the line commands (module docstring)."""
        words = line.split(None, 1)
        if not words or words[0] in self.commands:
            return False
        header = words[0].partition(";")[0]
        if header[:1] in ("*", ":") or ":" in header or "?" in header:
            return True
        return bool(header) and not header.islower() and header in self.instrument

    def reset(self) -> None:
        """Restore the power-on settings and switch the output off."""
        self.settings = {setting: spec[3] for setting, spec in _RANGES.items()}
        self.output = False

    def measure(self) -> tuple[float, float, str]:
        """Return the output's voltage, current and mode (``CV``, ``CC`` or ``OFF``)."""
        if not self.output:
            return 0.0, 0.0, "OFF"
        volts = self.settings[Setting.VOLT]
        limit = self.settings[Setting.CURR]
        load = self.settings[Setting.LOAD]
        if volts / load <= limit:
            return volts, volts / load, "CV"
        return limit * load, limit, "CC"

    # -- the commands; their docstrings' first lines are what ``help`` shows

    def _idn(self) -> str:
        """Identify the instrument."""
        return IDENTITY

    def _set(self, setting: Setting, value: float) -> str:
        """Set volt (0 to 30 V), curr (0 to 5 A) or load (0.1 to 1e6 ohm)."""
        unit, lowest, highest, _ = _RANGES[setting]
        if not (math.isfinite(value) and lowest <= value <= highest):
            raise CommandError(
                f"{setting.value} must be {lowest:g} to {highest:g} {unit}, not {value:g}"
            )
        self.settings[setting] = value
        return "ok"

    def _get(self, setting: Setting) -> str:
        """Read a setting."""
        return f"{self.settings[setting]:.3f}"

    def _output(self, state: bool | None = None) -> str:
        """Switch the output on or off, or read its state."""
        if state is None:
            return "on" if self.output else "off"
        self.output = state
        return "ok"

    def _measure(self) -> str:
        """Measure the output: volts, amps, CV/CC/OFF."""
        volts, amps, mode = self.measure()
        return f"{volts:.3f} V {amps:.3f} A {mode}"

    def _status(self) -> list[str]:
        """Show every setting, one per line."""
        return [
            f"output {'on' if self.output else 'off'}",
            f"volt {self.settings[Setting.VOLT]:.3f} V",
            f"curr {self.settings[Setting.CURR]:.3f} A",
            f"load {self.settings[Setting.LOAD]:.3f} ohm",
            f"mode {self.measure()[2]}",
        ]

    def _reset(self) -> str:
        """Restore the power-on settings."""
        self.reset()
        return "ok"

    # -- SCPI

    def _add_scpi(self, instrument: scpi.Instrument) -> None:
        """Register the SCPI commands on *instrument*; ``*RST`` restores the power-on settings."""
        level = "[:LEVel][:IMMediate][:AMPLitude]"
        instrument.command(f"[SOURce]:VOLTage{level}")(self._set_voltage)
        instrument.query(f"[SOURce]:VOLTage{level}")(self._voltage)
        instrument.command(f"[SOURce]:CURRent{level}")(self._set_current)
        instrument.query(f"[SOURce]:CURRent{level}")(self._current)
        instrument.command("OUTPut[:STATe]")(self._set_output)
        instrument.query("OUTPut[:STATe]")(self._output_state)
        instrument.query("MEASure[:SCALar]:VOLTage[:DC]")(self._measure_voltage)
        instrument.query("MEASure[:SCALar]:CURRent[:DC]")(self._measure_current)
        instrument.on_reset(self.reset)

    def _set_voltage(self, volts: Volts) -> None:
        """``VOLT 3.3``: the voltage setpoint."""
        self.settings[Setting.VOLT] = volts

    def _voltage(self, limit: Limit | None = None) -> float:
        """``VOLT?``: the voltage setpoint; ``VOLT? MAX`` its highest value."""
        return self._read(Setting.VOLT, limit)

    def _set_current(self, amps: Amps) -> None:
        """``CURR 0.5``: the current limit."""
        self.settings[Setting.CURR] = amps

    def _current(self, limit: Limit | None = None) -> float:
        """``CURR?``: the current limit; ``CURR? MIN`` its lowest value."""
        return self._read(Setting.CURR, limit)

    def _read(self, setting: Setting, limit: Limit | None) -> float:
        """A setting, or one of its limits."""
        if limit is None:
            return self.settings[setting]
        _, lowest, highest, power_on = _RANGES[setting]
        return {Limit.MINimum: lowest, Limit.MAXimum: highest, Limit.DEFault: power_on}[limit]

    def _set_output(self, state: bool) -> None:
        """``OUTP ON``: switch the output."""
        self.output = state

    def _output_state(self) -> bool:
        """``OUTP?``: whether the output is on (1) or off (0)."""
        return self.output

    def _measure_voltage(self) -> float:
        """``MEAS:VOLT?``: the voltage at the output."""
        return self.measure()[0]

    def _measure_current(self) -> float:
        """``MEAS:CURR?``: the current through the load."""
        return self.measure()[1]


#: The instance ``linesock serve`` uses: ``linesock serve linesock.sample:handler``.
handler: Final = PowerSupply()
