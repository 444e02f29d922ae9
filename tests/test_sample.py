"""Tests of the sample handler: the simulated power supply behind ``linesock demo``."""

from __future__ import annotations

import pytest

import linesock
from linesock.sample import IDENTITY, PowerSupply, handler

pytestmark = pytest.mark.srs("SRS-130")


@pytest.fixture
def supply() -> PowerSupply:
    """A freshly powered-on supply."""
    return PowerSupply()


def test_idn_answers_the_identity_line(supply: PowerSupply) -> None:
    """``idn`` names maker, model, serial number and firmware."""
    assert supply("idn") == "linesock,PSU-1,SIM-0001,1.0" == IDENTITY


def test_power_on_settings(supply: PowerSupply) -> None:
    """A new supply reads 0 V, a 1 A limit, a 10 ohm load, output off."""
    assert [supply("get volt"), supply("get curr"), supply("get load")] == [
        "0.000",
        "1.000",
        "10.000",
    ]
    assert supply("output") == "off"


@pytest.mark.parametrize(
    ("setting", "value", "read_back"),
    [("volt", "3.3", "3.300"), ("curr", "0.25", "0.250"), ("load", "4.7", "4.700")],
)
def test_set_then_get_reads_the_value_back(
    supply: PowerSupply, setting: str, value: str, read_back: str
) -> None:
    """``set NAME VALUE`` answers ok and ``get NAME`` returns the value to 3 decimals."""
    assert supply(f"set {setting} {value}") == "ok"
    assert supply(f"get {setting}") == read_back


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("set volt 30", "ok"),
        ("set volt 0", "ok"),
        ("set volt 30.1", "error set: volt must be 0 to 30 V, not 30.1"),
        ("set volt -1", "error set: volt must be 0 to 30 V, not -1"),
        ("set curr 6", "error set: curr must be 0 to 5 A, not 6"),
        ("set load 0", "error set: load must be 0.1 to 1e+06 ohm, not 0"),
        ("set volt nan", "error set: volt must be 0 to 30 V, not nan"),
        ("set volt inf", "error set: volt must be 0 to 30 V, not inf"),
        ("set volt high", "error set: value: invalid float 'high'"),
        ("set volt", "error set: expected 2 arguments, got 1"),
        ("set power 3", "error set: setting: invalid Setting 'power' (one of: volt, curr, load)"),
        ("set volt 1 2", "error set: expected 2 arguments, got 3"),
        ("get", "error get: expected 1 argument, got 0"),
        ("get power", "error get: setting: invalid Setting 'power' (one of: volt, curr, load)"),
        ("idn now", "error idn: expected no arguments, got 1"),
        ("output maybe", "error output: state: invalid bool 'maybe'"),
        ("measure now", "error measure: expected no arguments, got 1"),
        ("status all", "error status: expected no arguments, got 1"),
        ("reset now", "error reset: expected no arguments, got 1"),
        ("help me", "error unknown command 'me'"),
    ],
)
def test_settings_and_arguments_are_checked(supply: PowerSupply, command: str, answer: str) -> None:
    """Values out of range, non-numbers and wrong arguments get one error line each."""
    assert supply(command) == answer


def test_rejected_value_leaves_the_setting_alone(supply: PowerSupply) -> None:
    """A refused ``set`` does not change the setting."""
    supply("set volt 12")
    supply("set volt 99")
    assert supply("get volt") == "12.000"


def test_output_switches_on_and_off(supply: PowerSupply) -> None:
    """``output on``/``output off`` answer ok and ``output`` reads the state."""
    assert supply("output on") == "ok"
    assert supply("output") == "on"
    assert supply("output off") == "ok"
    assert supply("output") == "off"


def test_measure_with_output_off_reads_zero(supply: PowerSupply) -> None:
    """With the output off, nothing flows whatever the setpoint."""
    supply("set volt 5")
    assert supply("measure") == "0.000 V 0.000 A OFF"


def test_measure_in_constant_voltage(supply: PowerSupply) -> None:
    """Below the current limit the supply holds the set voltage: I = V / R."""
    supply("set volt 5")
    supply("output on")
    assert supply("measure") == "5.000 V 0.500 A CV"


def test_measure_in_constant_current(supply: PowerSupply) -> None:
    """Past the current limit the supply holds the current and the voltage drops."""
    supply("set volt 5")
    supply("set curr 0.2")
    supply("output on")
    assert supply("measure") == "2.000 V 0.200 A CC"


def test_status_lists_every_setting(supply: PowerSupply) -> None:
    """``status`` answers one line per setting and the mode."""
    supply("set volt 1.5")
    supply("output on")
    assert supply("status") == [
        "output on",
        "volt 1.500 V",
        "curr 1.000 A",
        "load 10.000 ohm",
        "mode CV",
    ]


def test_reset_restores_the_power_on_settings(supply: PowerSupply) -> None:
    """``reset`` answers ok and brings back the state of a new supply."""
    supply("set volt 7")
    supply("set load 2")
    supply("output on")
    assert supply("reset") == "ok"
    assert supply("status") == PowerSupply()("status")


def test_help_lists_every_command(supply: PowerSupply) -> None:
    """``help`` has one line per command, each starting with the command's name."""
    lines = supply("help")
    assert isinstance(lines, list)
    named = [line.split()[0] for line in lines]
    assert named == ["idn", "set", "get", "output", "measure", "status", "reset", "help"]
    assert supply("help set") == (
        "set <setting:volt|curr|load> <value:float>  "
        "Set volt (0 to 30 V), curr (0 to 5 A) or load (0.1 to 1e6 ohm)."
    )


def test_output_takes_any_bool_spelling(supply: PowerSupply) -> None:
    """``output`` converts its argument as a bool: on/off, yes/no, true/false, 1/0."""
    assert supply("output yes") == "ok"
    assert supply("output") == "on"
    assert supply("output 0") == "ok"
    assert supply("output") == "off"


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("volt 9", "error unknown command 'volt'"),
        ("IDN", "error unknown command 'IDN'"),
        ("", "error empty command"),
        ("   ", "error empty command"),
    ],
)
def test_unknown_command_is_named_in_the_error(
    supply: PowerSupply, command: str, answer: str
) -> None:
    """An unknown command answers ``error unknown command 'NAME'``, an empty one says so."""
    assert supply(command) == answer


def test_extra_spaces_between_words_are_ignored(supply: PowerSupply) -> None:
    """Words may be separated by any run of spaces."""
    assert supply("  set   volt  2 ") == "ok"
    assert supply("get volt") == "2.000"


def test_module_handler_is_a_power_supply() -> None:
    """``linesock.sample:handler`` is a ready supply instance."""
    assert isinstance(handler, PowerSupply)


@pytest.fixture
def linesock_handler() -> PowerSupply:
    """A fresh supply, for the linesock pytest plugin's server fixtures to serve."""
    return PowerSupply()


@pytest.mark.parametrize("linesock_server_kind", ["threaded", "asyncio"])
def test_sample_served_over_a_real_socket(linesock_client: linesock.Client) -> None:
    """Served by either server, the supply answers a Client, multi-line answers included."""
    assert linesock_client.request("set volt 2") == ["ok"]
    assert linesock_client.request("output on") == ["ok"]
    assert linesock_client.request("measure") == ["2.000 V 0.200 A CV"]
    assert linesock_client.request("status")[0] == "output on"
    assert linesock_client.request("nope") == ["error unknown command 'nope'"]
