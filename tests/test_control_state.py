"""What a handler exposes to the control port: the state protocol, State, and its three homes.

The protocol (a ``state`` mapping and a ``reset()``, on the handler or on
the object a bound-method handler is of) in memory and over a control
port; then ``Commands(state=...)``, ``scpi.Instrument(state=...)`` and a
pyvisa-sim device's properties, each served with a control port.
"""

from __future__ import annotations

import enum
import logging
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from linesock import Client, Commands, Server, State
from linesock._state import convert_value, find_state, show_value
from linesock.scpi import Instrument
from linesock.sim import load_device
from support import WAIT

DEVICES = Path(__file__).resolve().parent / "devices"


class Mode(enum.Enum):
    """A setting with named values."""

    CV = "voltage"
    CC = "current"


@contextmanager
def served(handler: Any, **options: Any) -> Iterator[tuple[Client, Client]]:
    """A client of *handler*'s server and one of its control port."""
    with Server(handler, control_port=0, **options) as server:
        address = server.control_address
        assert address is not None
        with Client("127.0.0.1", server.port, WAIT) as client, Client(*address, WAIT) as control:
            yield client, control


# -- State ---------------------------------------------------------------------------


@pytest.mark.srs("SRS-226")
def test_state_reset_restores_the_first_values_deeply() -> None:
    """A changed, added or mutated entry goes back; remember() moves the values reset restores."""
    state = State({"volts": 1.5, "channels": [1, 2]}, mode="CV")
    state["volts"] = 3.0
    state["channels"].append(3)
    state["new"] = True
    state.reset()
    assert state == {"volts": 1.5, "channels": [1, 2], "mode": "CV"}
    state["volts"] = 2.0
    state.remember()
    state["volts"] = 9.0
    state.reset()
    state.reset()
    assert state == {"volts": 2.0, "channels": [1, 2], "mode": "CV"}


# -- the protocol ----------------------------------------------------------------------


class Rig:
    """A handler object with state, whose bound method is served."""

    def __init__(self) -> None:
        self.state = State(volts=0.0)
        self.resets = 0

    def handle(self, command: str) -> str:
        """Answer the volts."""
        return repr(self.state["volts"])

    def reset(self) -> None:
        """Count the resets and restore the state."""
        self.resets += 1
        self.state.reset()


@pytest.mark.srs("SRS-225")
def test_state_is_found_on_the_handler_or_the_object_of_a_bound_method() -> None:
    """``state`` and ``reset`` on the handler; for a bound method, on the object it is of."""
    rig = Rig()
    found = find_state(rig.handle)
    assert found.state is rig.state
    assert found.reset == rig.reset
    commands = Commands(state={"a": 1})
    assert find_state(commands).state is commands.state
    assert find_state(commands).reset == commands.reset


@pytest.mark.srs("SRS-225")
def test_an_attribute_state_that_is_not_a_mapping_is_not_state() -> None:
    """A handler whose ``state`` is a word exposes nothing; a plain function neither."""

    class Machine:
        state = "idle"

        def __call__(self, command: str) -> None:
            return None

    assert find_state(Machine()).state is None
    assert find_state(Machine()).reset is None
    assert find_state(print).state is None


@pytest.mark.srs("SRS-225")
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (0.1, "0.1"),
        (3.0, "3.0"),
        (1e-05, "1e-05"),
        ("CV", "CV"),
        ("bench 1", "'bench 1'"),
        ("", "''"),
        ("it's", "'it'\"'\"'s'"),
        ("a\nb", "'a\\nb'"),
        (Mode.CC, "CC"),
        (None, "None"),
    ],
)
def test_values_are_shown_as_set_takes_them(value: object, shown: str) -> None:
    """One word that shell splitting reads back; bools and enums by name; line ends escaped."""
    assert show_value(value) == shown


@pytest.mark.srs("SRS-225")
@pytest.mark.parametrize(
    ("current", "text", "value"),
    [
        (False, "on", True),
        (True, "0", False),
        (0, "42", 42),
        (0.0, "3", 3.0),
        (0.0, "-1.5e3", -1500.0),
        ("CV", "CC", "CC"),
        (Mode.CV, "cc", Mode.CC),
        (Mode.CV, "voltage", Mode.CV),
    ],
)
def test_a_value_is_converted_to_the_type_of_the_current_one(
    current: object, text: str, value: object
) -> None:
    """bool, int, float, str and Enum convert as Commands converts arguments."""
    converted = convert_value(current, text)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.srs("SRS-225")
@pytest.mark.parametrize(
    ("current", "text", "message"),
    [
        (0, "1.5", "invalid int '1.5'"),
        (False, "maybe", "invalid bool 'maybe'"),
        (Mode.CV, "off", "invalid Mode 'off' (one of: cv, cc)"),
        ([1], "2", "it holds a list, which cannot be set from text"),
        (None, "2", "it holds a NoneType, which cannot be set from text"),
    ],
)
def test_a_value_that_does_not_convert_says_why(current: object, text: str, message: str) -> None:
    """A ValueError whose message the control port answers after the name."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        convert_value(current, text)


@pytest.mark.srs("SRS-225")
def test_a_bound_method_handlers_object_is_controlled() -> None:
    """set reaches the object the method is of; reset calls its reset()."""
    rig = Rig()
    with served(rig.handle) as (client, control):
        assert control.request("set volts 2.5") == ["ok"]
        assert client.request("volts") == ["2.5"]
        assert control.request("reset") == ["ok"]
        assert client.request("volts") == ["0.0"]
    assert rig.resets == 1


@pytest.mark.srs("SRS-225")
def test_read_only_state_can_be_read_not_set() -> None:
    """A Mapping that is not mutable: ``state`` and ``get`` work, ``set`` is refused."""

    class Fixed:
        state = types.MappingProxyType({"serial": "0042"})

        def __call__(self, command: str) -> str:
            return "ok"

    with served(Fixed()) as (_, control):
        assert control.request("state") == ["serial 0042"]
        assert control.request("get serial") == ["0042"]
        assert control.request("set serial 7") == ["error set: the handler's state is read-only"]


@pytest.mark.srs("SRS-225")
def test_a_reset_that_raises_is_an_error_line_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The control client gets ``error reset: ...``; the log gets the traceback."""

    class Broken:
        def __call__(self, command: str) -> str:
            return "ok"

        def reset(self) -> None:
            raise RuntimeError("the rig is on fire")

    caplog.set_level(logging.ERROR, logger="linesock")
    with served(Broken()) as (_, control):
        assert control.request("reset") == [
            "error reset: the handler's reset() raised RuntimeError"
        ]
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == "the handler's reset() raised"
    assert "the rig is on fire" in caplog.text


# -- Commands, Instrument, a device file -----------------------------------------------


@pytest.mark.srs("SRS-226")
def test_commands_hold_their_state_and_reset_restores_it() -> None:
    """Commands(state=...) is what its functions read and the control port sets."""
    commands = Commands(state={"volts": 0.0, "mode": Mode.CV})

    @commands.command()
    def volts() -> str:
        """The volts."""
        return repr(commands.state["volts"])

    with served(commands) as (client, control):
        assert control.request("state") == ["volts 0.0", "mode CV"]
        assert control.request("set mode cc") == ["ok"]
        assert control.request("set volts 5") == ["ok"]
        assert client.request("volts") == ["5.0"]
        assert commands.state == {"volts": 5.0, "mode": Mode.CC}
        assert control.request("reset") == ["ok"]
        assert client.request("volts") == ["0.0"]
    assert Commands().state == {}


@pytest.mark.srs("SRS-226")
def test_an_instruments_state_is_restored_by_rst_and_by_reset() -> None:
    """``*RST`` and the control port's ``reset`` restore the state, then run the reset hooks."""
    instrument = Instrument("linesock,PSU,0,1.0", state={"volts": 0.0, "output": False})
    hooks: list[dict[str, Any]] = []
    instrument.on_reset(lambda: hooks.append(dict(instrument.state)))

    @instrument.query("VOLTage")
    def voltage() -> float:
        return float(instrument.state["volts"])

    with served(instrument) as (client, control):
        assert control.request("set volts 3.3") == ["ok"]
        assert control.request("set output true") == ["ok"]
        assert client.request("VOLT?") == ["+3.300000E+00"]
        assert client.request("*RST;VOLT?") == ["+0.000000E+00"]
        assert control.request("get output") == ["false"]
        assert control.request("set volts 1") == ["ok"]
        assert control.request("reset") == ["ok"]
        assert client.request("VOLT?") == ["+0.000000E+00"]
    assert hooks == [{"volts": 0.0, "output": False}] * 2
    assert Instrument().state == {}


@pytest.mark.srs("SRS-226")
def test_a_device_files_properties_are_its_state() -> None:
    """Every property in the file's order; set through its specs; reset to the file's values."""
    device = load_device(DEVICES / "supply.yaml", "supply")
    first = [
        "voltage 0.0",
        "current 0.1",
        "output 0",
        "mode CV",
        "label 'bench 1'",
        "temperature 25.0",
    ]
    with served(device, **device.server_options) as (client, control):
        assert control.request("state") == first
        assert control.request("set voltage 3.5") == ["ok"]
        assert control.request("set mode CC") == ["ok"]
        assert client.request("VOLT?") == ["3.500"]
        assert client.request("MODE?") == ["CC"]
        assert control.request("set voltage 40") == [
            "error set: voltage: Value provided for voltage: 40.0 is more than the maximum 30.0"
        ]
        assert control.request("set output 2")[0].startswith("error set: output: Value provide")
        assert control.request("set voltage x") == ["error set: voltage: invalid float 'x'"]
        assert control.request("get voltage") == ["3.5"]
        assert control.request("reset") == ["ok"]
        assert control.request("state") == first
        assert client.request("VOLT?") == ["0.000"]


@pytest.mark.srs("SRS-226")
def test_a_device_files_properties_cannot_be_added_or_removed() -> None:
    """The mapping is the file's: a new name is a KeyError, a removal a TypeError."""
    device = load_device(DEVICES / "supply.yaml", "supply")
    with pytest.raises(KeyError):
        device.state["power"] = 1
    with pytest.raises(TypeError, match="cannot be removed"):
        del device.state["voltage"]
    assert len(device.state) == 6
    assert repr(device.state).startswith("<linesock.sim.DeviceProperties {'voltage': 0.0,")


@pytest.mark.srs("SRS-225")
def test_a_handler_that_rebinds_its_state_is_read_anew() -> None:
    """The state is looked up at each command, so a handler may replace its mapping."""
    rig = Rig()
    with served(rig.handle) as (client, control):
        rig.state = State(volts=9.0, mode="CC")
        assert control.request("state") == ["volts 9.0", "mode CC"]
        assert control.request("set volts 1") == ["ok"]
        assert client.request("volts") == ["1.0"]
