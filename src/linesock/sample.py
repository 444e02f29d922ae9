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
"""

from __future__ import annotations

import enum
import math
from typing import Any, Final

from ._routing import CommandError, Commands

__all__ = ["IDENTITY", "PowerSupply", "Setting", "handler"]

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

    def __call__(self, command: str) -> Any:
        """Answer one command line with one line or several."""
        return self.commands(command)

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


#: The instance ``linesock serve`` uses: ``linesock serve linesock.sample:handler``.
handler: Final = PowerSupply()
