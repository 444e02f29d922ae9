"""linesock.scpi common commands, status registers and the error queue (IEEE 488.2, SCPI 1999)."""

from __future__ import annotations

import pytest

from linesock import scpi
from linesock.scpi import EventStatus, StatusByte

NO_ERROR = '0,"No error"'


@pytest.fixture
def instrument() -> scpi.Instrument:
    """An instrument with one setter that refuses 13 and one that raises a device error."""
    instrument = scpi.Instrument("maker,model,serial,fw")
    resets: list[str] = []
    instrument.resets = resets  # type: ignore[attr-defined]

    @instrument.command("VALue")
    def set_value(value: int) -> None:
        if value == 13:
            raise scpi.ExecutionError(-221, "Unlucky")

    @instrument.command("FAULt")
    def fault() -> None:
        raise scpi.DeviceError(-330)

    @instrument.query("ASK")
    def ask() -> int:
        raise scpi.SCPIError(-410)

    instrument.on_reset(lambda: resets.append("first"))
    instrument.on_reset(lambda: resets.append("second"))
    return instrument


# -- common commands ---------------------------------------------------------------


@pytest.mark.srs("SRS-172")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("*IDN?", "maker,model,serial,fw"),
        ("*idn?", "maker,model,serial,fw"),
        ("*OPC?", "1"),
        ("*TST?", "0"),
        ("*OPT?", "0"),
        ("*ESR?", "0"),
        ("*ESE?", "0"),
        ("*SRE?", "0"),
        ("*STB?", "0"),
        ("SYST:VERS?", "1999.0"),
        ("SYSTem:VERSion?", "1999.0"),
        ("*RST", None),
        ("*CLS", None),
        ("*OPC", None),
        ("*WAI", None),
        ("*ESE 0", None),
        ("*SRE 0", None),
    ],
)
def test_common_commands_answer(instrument: scpi.Instrument, line: str, answer: str | None) -> None:
    """Every built-in common command answers as IEEE 488.2 says, and queues no error."""
    assert instrument(line) == answer
    assert instrument("SYST:ERR?") == NO_ERROR


@pytest.mark.srs("SRS-172")
def test_rst_runs_the_reset_hooks_in_order(instrument: scpi.Instrument) -> None:
    """``*RST`` calls the functions given to ``on_reset``, in the order they were registered."""
    instrument("*RST")
    assert instrument.resets == ["first", "second"]  # type: ignore[attr-defined]
    instrument.reset()
    assert instrument.resets == ["first", "second"] * 2  # type: ignore[attr-defined]


@pytest.mark.srs("SRS-172")
def test_rst_leaves_the_status_and_the_queue_alone(instrument: scpi.Instrument) -> None:
    """``*RST`` resets the device, not ``*ESE``, ``*SRE``, the event register or the queue."""
    instrument("*ESE 32;*SRE 32;BOGUS")
    instrument("*RST")
    assert instrument("*ESE?;*SRE?;SYST:ERR:COUN?;*ESR?") == "32;32;1;32"


@pytest.mark.srs("SRS-172")
def test_cls_clears_the_event_register_and_the_queue_only(instrument: scpi.Instrument) -> None:
    """``*CLS`` empties the error queue and the ESR; the enable registers keep their values."""
    instrument("*ESE 36;*SRE 4;BOGUS")
    assert instrument("*STB?") == str(StatusByte.EAV | StatusByte.ESB | StatusByte.MSS)
    instrument("*CLS")
    assert instrument("*ESR?;SYST:ERR:COUN?;*ESE?;*SRE?;*STB?") == "0;0;36;4;0"


@pytest.mark.srs("SRS-172")
def test_opc_sets_the_operation_complete_bit(instrument: scpi.Instrument) -> None:
    """``*OPC`` sets ESR bit 0 at once (no command here overlaps); ``*ESR?`` reads and clears it."""
    instrument("*OPC")
    assert instrument("*ESR?") == "1"
    assert instrument("*ESR?") == "0"


@pytest.mark.srs("SRS-172")
@pytest.mark.parametrize(
    ("line", "bit"),
    [
        ("BOGUS", EventStatus.CME),
        ("VAL x", EventStatus.CME),
        ("VAL 13", EventStatus.EXE),
        ("FAUL", EventStatus.DDE),
        ("ASK?", EventStatus.QYE),
    ],
)
def test_each_error_class_sets_its_event_bit(
    instrument: scpi.Instrument, line: str, bit: EventStatus
) -> None:
    """-1xx sets CME (bit 5), -2xx EXE (bit 4), -3xx DDE (bit 3), -4xx QYE (bit 2)."""
    assert instrument(line) is None
    assert instrument("*ESR?") == str(int(bit))
    assert instrument("*ESR?") == "0"


@pytest.mark.srs("SRS-172")
def test_status_byte_bits(instrument: scpi.Instrument) -> None:
    """EAV while errors wait, ESB while ESR & ESE, MSS while a bit *SRE enables is set."""
    assert instrument.status_byte == 0
    instrument("VAL 13")  # EXE
    assert instrument("*STB?") == "4"  # EAV only: ESE is 0
    instrument("*ESE 16")
    assert instrument("*STB?") == "36"  # EAV | ESB
    instrument("*SRE 32")
    assert instrument("*STB?") == "100"  # EAV | ESB | MSS
    assert instrument("*STB?") == "100"  # reading the status byte clears nothing
    instrument("SYST:ERR?")
    assert instrument("*STB?") == "96"  # the queue is empty: no EAV
    instrument("*ESR?")
    assert instrument("*STB?") == "0"
    assert instrument.status_byte == 0


@pytest.mark.srs("SRS-172")
def test_sre_ignores_bit_6(instrument: scpi.Instrument) -> None:
    """The MSS bit cannot be enabled: ``*SRE 255`` reads back 191."""
    instrument("*SRE 255")
    assert instrument("*SRE?") == "191"


@pytest.mark.srs("SRS-172", "SRS-173")
@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("*ESE 256", '-222,"Data out of range"'),
        ("*SRE -1", '-222,"Data out of range"'),
        ("*ESE", '-109,"Missing parameter"'),
        ("*IDN? 1", '-108,"Parameter not allowed"'),
        ("*RST now", '-108,"Parameter not allowed"'),
        ("*IDN", '-113,"Undefined header"'),
        ("*ESR", '-113,"Undefined header"'),
    ],
)
def test_common_command_mistakes(instrument: scpi.Instrument, line: str, error: str) -> None:
    """Common commands check their parameters like any other command."""
    assert instrument(line) is None
    assert instrument("SYST:ERR?") == error


@pytest.mark.srs("SRS-172")
def test_status_properties_read_without_clearing(instrument: scpi.Instrument) -> None:
    """``event_status`` and ``errors`` show the state without changing it."""
    instrument("BOGUS;")
    instrument("VAL 13")
    assert instrument.event_status == EventStatus.CME | EventStatus.EXE
    assert instrument.errors == ((-113, "Undefined header"), (-221, "Unlucky"))
    assert instrument.event_status == EventStatus.CME | EventStatus.EXE
    instrument.clear_status()
    assert instrument("SYST:ERR:COUN?;*ESR?") == "0;0"


# -- the error queue ---------------------------------------------------------------


@pytest.mark.srs("SRS-173")
def test_errors_are_read_oldest_first_then_no_error(instrument: scpi.Instrument) -> None:
    """``SYST:ERR?`` takes the oldest error; an empty queue answers ``0,"No error"``."""
    assert instrument("BOGUS") is None
    assert instrument("VAL 13") is None
    assert instrument("FAUL") is None
    assert instrument("SYST:ERR:COUN?") == "3"
    assert instrument("SYST:ERR?") == '-113,"Undefined header"'
    assert instrument("SYSTem:ERRor:NEXT?") == '-221,"Unlucky"'
    assert instrument("syst:err:next?") == '-330,"Self-test failed"'
    assert instrument("SYST:ERR?") == NO_ERROR
    assert instrument("SYST:ERR:COUN?") == "0"


@pytest.mark.srs("SRS-173")
def test_an_error_answers_nothing_but_other_queries_of_the_line_answer(
    instrument: scpi.Instrument,
) -> None:
    """A failing query gives no answer item; the others on the line still do, joined by ``;``."""
    assert instrument("*OPC?;ASK?;*IDN?") == "1;maker,model,serial,fw"
    assert instrument("SYST:ERR?") == '-410,"Query INTERRUPTED"'


@pytest.mark.srs("SRS-173")
def test_an_execution_error_does_not_end_the_line(instrument: scpi.Instrument) -> None:
    """After -2xx the line goes on; after -1xx it stops."""
    assert instrument("VAL 13;*OPC?") == "1"
    assert instrument("VAL x;*OPC?") is None
    assert instrument("SYST:ERR:ALL?") == '-221,"Unlucky",-104,"Data type error"'
    assert instrument("SYST:ERR:ALL?") == NO_ERROR


@pytest.mark.srs("SRS-173")
def test_queue_overflow_replaces_the_newest_entry(instrument: scpi.Instrument) -> None:
    """With 20 entries queued, the 20th becomes -350 and later errors are dropped."""
    for _ in range(19):
        instrument("BOGUS")
    instrument("VAL 13")  # the 20th: fills the queue
    assert instrument("SYST:ERR:COUN?") == "20"
    instrument("FAUL")  # the 21st: overflows
    instrument("FAUL")  # the 22nd: dropped
    assert instrument("SYST:ERR:COUN?") == "20"
    read = [instrument("SYST:ERR?") for _ in range(21)]
    assert read == ['-113,"Undefined header"'] * 19 + ['-350,"Queue overflow"', NO_ERROR]
    assert instrument.event_status == EventStatus.CME | EventStatus.EXE | EventStatus.DDE


@pytest.mark.srs("SRS-173")
def test_queue_depth_can_be_chosen() -> None:
    """``error_queue_depth`` sets the depth; at least 2, as SCPI asks."""
    instrument = scpi.Instrument(error_queue_depth=2)
    instrument("A;")
    instrument("B")
    instrument("C")
    assert instrument("SYST:ERR:ALL?") == '-113,"Undefined header",-350,"Queue overflow"'
    with pytest.raises(ValueError, match="at least 2 entries"):
        scpi.Instrument(error_queue_depth=1)


@pytest.mark.srs("SRS-173")
def test_queue_error_from_outside_a_command() -> None:
    """``queue_error`` queues an event a simulation raises on its own, with its ESR bit."""
    instrument = scpi.Instrument()
    instrument.queue_error(-240)
    instrument.queue_error(scpi.DeviceError(101, "Overtemperature"))
    instrument.queue_error(-200, 'quoted "word"')
    assert instrument("SYST:ERR:ALL?") == (
        '-240,"Hardware error",101,"Overtemperature",-200,"quoted ""word"""'
    )
    assert instrument("*ESR?") == str(int(EventStatus.EXE | EventStatus.DDE))


@pytest.mark.srs("SRS-173")
def test_error_classes_and_numbers() -> None:
    """Errors take standard numbers with their messages, or a message of one's own."""
    assert str(scpi.SCPIError(-113)) == '-113,"Undefined header"'
    assert str(scpi.SCPIError(-225)) == '-225,"Execution error"'
    assert str(scpi.SCPIError(-199)) == '-199,"Command error"'
    assert str(scpi.SCPIError(5)) == '5,"Device-specific error"'
    assert str(scpi.ExecutionError()) == '-200,"Execution error"'
    assert str(scpi.ExecutionError(-222, "Too high\nreally")) == '-222,"Too high really"'
    assert str(scpi.DeviceError()) == '-300,"Device-specific error"'
    assert scpi.SCPIError(-500).event_bit is EventStatus.PON
    assert scpi.SCPIError(-600).event_bit is EventStatus.URQ
    assert scpi.SCPIError(-700).event_bit is EventStatus.RQC
    assert scpi.SCPIError(-800).event_bit is EventStatus.OPC
    assert scpi.standard_message(-350) == "Queue overflow"
    for bad in (0, -99, -900, 40000):
        with pytest.raises(ValueError, match="SCPI error number"):
            scpi.SCPIError(bad)
    with pytest.raises(TypeError):
        scpi.SCPIError(True)
    with pytest.raises(ValueError, match="an execution error's number is -200 to -299"):
        scpi.ExecutionError(-113)
    with pytest.raises(ValueError, match="a device-specific error's number"):
        scpi.DeviceError(-222)


def test_identity_must_be_one_line() -> None:
    """An identity with a line break could not be one answer."""
    with pytest.raises(ValueError, match="one line of text"):
        scpi.Instrument("a\nb")
    instrument = scpi.Instrument()
    instrument.identity = "changed,at,run,time"
    assert instrument("*IDN?") == "changed,at,run,time"
