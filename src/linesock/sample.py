"""The sample handler: a simulated bench power supply driven by one-line commands.

``linesock serve`` (with no handler given) and ``linesock demo`` serve it;
``linesock serve linesock.sample:handler`` names it explicitly.  It shows
the shape of a real handler: an object that keeps the instrument's state,
called with each command and returning its answer lines.

The simulated supply has a voltage setpoint, a current limit and a resistive
load on its output.  With the output on it regulates the voltage (``CV``)
until the load would draw more than the current limit; then it holds the
current at the limit and the voltage drops (``CC``), as a real supply does.

Commands (``help`` lists them too)::

    idn                  the identity line
    set volt|curr|load V set the voltage, current limit or load
    get volt|curr|load   read a setting back
    output [on|off]      switch the output, or read whether it is on
    measure              voltage, current and mode at the output
    status               every setting, one line each
    reset                the power-on settings
    help                 the list of commands

Every accepted change answers ``ok``; a command it does not know answers
``error unknown command 'NAME'`` and a malformed one ``error ...`` with the
reason.  ``ping``, ``disconnect`` and ``shutdown`` never reach a handler:
the server answers them itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

__all__ = ["IDENTITY", "PowerSupply", "handler"]

#: What ``idn`` answers: maker, model, serial number, firmware version.
IDENTITY: Final = "linesock,PSU-1,SIM-0001,1.0"

# The settings ``set``/``get`` know: (unit, lowest, highest, power-on value).
_SETTINGS: Final = {
    "volt": ("V", 0.0, 30.0, 0.0),
    "curr": ("A", 0.0, 5.0, 1.0),
    "load": ("ohm", 0.1, 1_000_000.0, 10.0),
}

_HELP: Final = (
    "idn                  identify the instrument",
    "set volt VOLTS       set the output voltage (0 to 30)",
    "set curr AMPS        set the current limit (0 to 5)",
    "set load OHMS        set the simulated load (0.1 to 1000000)",
    "get volt|curr|load   read a setting",
    "output [on|off]      switch the output, or read its state",
    "measure              measure the output: volts, amps, CV/CC/OFF",
    "status               show every setting, one per line",
    "reset                restore the power-on settings",
    "help                 list the commands",
    "(ping, disconnect and shutdown are answered by the server itself)",
)


class PowerSupply:
    """A simulated single-channel bench power supply; call it with a command line."""

    def __init__(self) -> None:
        """Power on with the default settings: 0 V, 1 A limit, 10 ohm load, output off."""
        self.settings: dict[str, float] = {}
        self.output = False
        self.reset()
        self._commands: Final[dict[str, Callable[[list[str]], str | list[str]]]] = {
            "idn": self._idn,
            "set": self._set,
            "get": self._get,
            "output": self._output,
            "measure": self._measure,
            "status": self._status,
            "reset": self._reset,
            "help": self._help,
        }

    def __call__(self, command: str) -> str | list[str]:
        """Answer one command line with one line or several."""
        name, *arguments = command.split() or [""]
        action = self._commands.get(name)
        if action is None:
            return f"error unknown command {name!r}"
        return action(arguments)

    def reset(self) -> None:
        """Restore the power-on settings and switch the output off."""
        self.settings = {name: spec[3] for name, spec in _SETTINGS.items()}
        self.output = False

    def measure(self) -> tuple[float, float, str]:
        """Return the output's voltage, current and mode (``CV``, ``CC`` or ``OFF``)."""
        if not self.output:
            return 0.0, 0.0, "OFF"
        volts, limit, load = (self.settings[name] for name in ("volt", "curr", "load"))
        if volts / load <= limit:
            return volts, volts / load, "CV"
        return limit * load, limit, "CC"

    # -- one method per command; each takes the words after the command name

    def _idn(self, arguments: list[str]) -> str:
        return _usage("idn") if arguments else IDENTITY

    def _set(self, arguments: list[str]) -> str:
        if len(arguments) != 2 or arguments[0] not in _SETTINGS:
            return _usage("set volt|curr|load VALUE")
        name, text = arguments
        unit, lowest, highest, _ = _SETTINGS[name]
        try:
            value = float(text)
        except ValueError:
            return f"error set {name}: {text!r} is not a number"
        if not (math.isfinite(value) and lowest <= value <= highest):
            return f"error set {name}: {text} is out of range {lowest:g} to {highest:g} {unit}"
        self.settings[name] = value
        return "ok"

    def _get(self, arguments: list[str]) -> str:
        if len(arguments) != 1 or arguments[0] not in _SETTINGS:
            return _usage("get volt|curr|load")
        return f"{self.settings[arguments[0]]:.3f}"

    def _output(self, arguments: list[str]) -> str:
        if not arguments:
            return "on" if self.output else "off"
        if len(arguments) == 1 and arguments[0] in ("on", "off"):
            self.output = arguments[0] == "on"
            return "ok"
        return _usage("output [on|off]")

    def _measure(self, arguments: list[str]) -> str:
        if arguments:
            return _usage("measure")
        volts, amps, mode = self.measure()
        return f"{volts:.3f} V {amps:.3f} A {mode}"

    def _status(self, arguments: list[str]) -> str | list[str]:
        if arguments:
            return _usage("status")
        return [
            f"output {'on' if self.output else 'off'}",
            f"volt {self.settings['volt']:.3f} V",
            f"curr {self.settings['curr']:.3f} A",
            f"load {self.settings['load']:.3f} ohm",
            f"mode {self.measure()[2]}",
        ]

    def _reset(self, arguments: list[str]) -> str:
        if arguments:
            return _usage("reset")
        self.reset()
        return "ok"

    def _help(self, arguments: list[str]) -> str | list[str]:
        return _usage("help") if arguments else list(_HELP)


def _usage(synopsis: str) -> str:
    """The error line for a known command with the wrong arguments."""
    return f"error usage: {synopsis}"


#: The instance ``linesock serve`` uses: ``linesock serve linesock.sample:handler``.
handler: Final = PowerSupply()
