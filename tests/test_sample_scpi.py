"""The sample power supply in SCPI: the commands a driver sends, and which lines go to SCPI."""

from __future__ import annotations

import pytest

import linesock
from linesock.sample import IDENTITY, PowerSupply

pytestmark = pytest.mark.srs("SRS-175")

NO_ERROR = '0,"No error"'


@pytest.fixture
def supply() -> PowerSupply:
    """A freshly powered-on supply."""
    return PowerSupply()


def test_idn_and_power_on_readings(supply: PowerSupply) -> None:
    """``*IDN?`` names the supply; a new one reads 0 V, a 1 A limit, output off, nothing flowing."""
    assert supply("*IDN?") == IDENTITY
    assert supply("VOLT?;CURR?;OUTP?") == "+0.000000E+00;+1.000000E+00;0"
    assert supply("MEAS:VOLT?;CURR?") == "+0.000000E+00;+0.000000E+00"
    assert supply("SYST:ERR?") == NO_ERROR


@pytest.mark.parametrize(
    ("setter", "query", "answer"),
    [
        ("VOLT 3.3", "VOLT?", "+3.300000E+00"),
        ("SOUR:VOLT:LEV:IMM:AMPL 12", "SOURce:VOLTage?", "+1.200000E+01"),
        ("volt:lev 2.5", "volt?", "+2.500000E+00"),
        ("VOLT 1500 mV", "VOLT?", "+1.500000E+00"),
        ("VOLT MAX", "VOLT?", "+3.000000E+01"),
        ("CURR 0.5", "CURR?", "+5.000000E-01"),
        ("CURRent 250 mA", "CURR:LEV?", "+2.500000E-01"),
        ("CURR MIN", "CURR?", "+0.000000E+00"),
        ("OUTP ON", "OUTP?", "1"),
        ("OUTPut:STATe 1", "outp:stat?", "1"),
        ("OUTP OFF", "OUTP?", "0"),
    ],
)
def test_setters_answer_nothing_and_queries_read_back(
    supply: PowerSupply, setter: str, query: str, answer: str
) -> None:
    """Each setter answers no line at all; its query answers the one line."""
    assert supply(setter) is None
    assert supply(query) == answer
    assert supply("SYST:ERR?") == NO_ERROR


def test_limits_can_be_queried(supply: PowerSupply) -> None:
    """``VOLT? MAX`` and friends read the limits, not the setting."""
    assert supply("VOLT? MAX;VOLT? MIN;VOLT? DEF") == "+3.000000E+01;+0.000000E+00;+0.000000E+00"
    assert supply("CURR? MAX;CURR? DEF") == "+5.000000E+00;+1.000000E+00"


def test_measure_follows_the_load(supply: PowerSupply) -> None:
    """With the output on, 5 V on 10 ohm draws 0.5 A; a 0.2 A limit makes it 2 V at 0.2 A."""
    supply("VOLT 5;OUTP ON")
    assert supply("MEAS:VOLT?;:MEAS:CURR?") == "+5.000000E+00;+5.000000E-01"
    supply("CURR 0.2")
    assert supply("MEASure:SCALar:VOLTage:DC?;:MEAS:CURR:DC?") == "+2.000000E+00;+2.000000E-01"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("VOLT 31", '-222,"Data out of range"'),
        ("CURR -1", '-222,"Data out of range"'),
        ("VOLT high", '-104,"Data type error"'),
        ("VOLT 3 A", '-131,"Invalid suffix"'),
        ("OUTP MAYBE", '-224,"Illegal parameter value"'),
        ("VOLT", '-109,"Missing parameter"'),
        ("MEAS:VOLT? 1", '-108,"Parameter not allowed"'),
        ("MEAS:POW?", '-113,"Undefined header"'),
        ("VOLT:BOGUS 1", '-113,"Undefined header"'),
    ],
)
def test_bad_commands_answer_nothing_and_queue_an_error(
    supply: PowerSupply, line: str, error: str
) -> None:
    """A bad command answers no line; ``SYST:ERR?`` reads its standard error, then no error."""
    supply("VOLT 2")
    assert supply(line) is None
    assert supply("SYST:ERR?") == error
    assert supply("SYST:ERR?") == NO_ERROR
    assert supply("VOLT?") == "+2.000000E+00"  # a refused value changes nothing


def test_a_repeated_subsystem_after_a_semicolon_needs_the_colon(supply: PowerSupply) -> None:
    """``MEAS:VOLT?;MEAS:CURR?`` means ``MEAS:MEAS:CURR?`` after the first: -113, as SCPI says."""
    assert supply("MEAS:VOLT?;MEAS:CURR?") == "+0.000000E+00"
    assert supply("SYST:ERR?") == '-113,"Undefined header"'


def test_rst_restores_the_power_on_settings(supply: PowerSupply) -> None:
    """``*RST`` is the line command ``reset``: power-on settings, output off."""
    supply("VOLT 7;CURR 2;OUTP ON")
    supply("set load 3")
    assert supply("*RST") is None
    assert supply("status") == PowerSupply()("status")


def test_line_commands_and_scpi_share_the_settings(supply: PowerSupply) -> None:
    """A setting made one way reads back the other way."""
    assert supply("set volt 5") == "ok"
    assert supply("VOLT?") == "+5.000000E+00"
    assert supply("VOLT 1.25") is None
    assert supply("get volt") == "1.250"
    assert supply("OUTP ON") is None
    assert supply("output") == "on"


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        # the line commands, exactly as before
        ("idn", IDENTITY),
        ("set volt 2", "ok"),
        ("get volt", "0.000"),
        ("output", "off"),
        ("output on", "ok"),
        ("measure", "0.000 V 0.000 A OFF"),
        ("reset", "ok"),
        ("volt 9", "error unknown command 'volt'"),
        ("IDN", "error unknown command 'IDN'"),
        ("FOO 1", "error unknown command 'FOO'"),
        ("", "error empty command"),
        # SCPI: '*', ':', '?', a colon, or a known header with an upper-case letter
        ("*IDN?", IDENTITY),
        ("*idn?", IDENTITY),
        ("volt?", "+0.000000E+00"),
        (":volt 9", None),
        ("sour:volt 9", None),
        ("VOLT 9", None),
        ("Volt 9", None),
        ("OUTPUT ON", None),
        ("Output on", None),
        ("VOLTS 9", "error unknown command 'VOLTS'"),
        ("VOLTS? 9", None),
    ],
)
def test_which_lines_go_to_scpi(supply: PowerSupply, line: str, answer: str | None) -> None:
    """Line-command names stay line commands; SCPI-shaped lines and known headers go to SCPI."""
    assert supply(line) == answer


def test_is_scpi_follows_the_documented_rule(supply: PowerSupply) -> None:
    """``is_scpi`` says where a line goes, looking at its first header only."""
    assert supply.is_scpi("VOLT 1;CURR 2")
    assert supply.is_scpi("  *RST")
    assert not supply.is_scpi("output on")
    assert not supply.is_scpi("measure")
    assert not supply.is_scpi("help")
    assert not supply.is_scpi("   ")


@pytest.fixture
def linesock_handler() -> PowerSupply:
    """A fresh supply, for the linesock pytest plugin's server fixtures to serve."""
    return PowerSupply()


@pytest.mark.parametrize("linesock_server_kind", ["threaded", "asyncio"])
def test_scpi_over_a_real_socket(linesock_client: linesock.Client) -> None:
    """On either server, setters answer nothing, queries one line, built-ins still work."""
    assert linesock_client.request("*IDN?") == [IDENTITY]
    assert linesock_client.request("VOLT 3.3") == []
    assert linesock_client.request("OUTP ON;*OPC?") == ["1"]
    assert linesock_client.request("MEAS:VOLT?;CURR?") == ["+3.300000E+00;+3.300000E-01"]
    assert linesock_client.request("VOLT 99") == []
    assert linesock_client.request("SYST:ERR?") == ['-222,"Data out of range"']
    assert linesock_client.request("ping") == ["pong"]
    assert linesock_client.request("measure") == ["3.300 V 0.330 A CV"]
