"""linesock.scpi headers: the notation, short and long forms, optional keywords, suffixes, paths.

Every test drives an :class:`~linesock.scpi.Instrument` in memory, as the
server would (one line in, the answer or None out), and reads its error
queue with ``SYST:ERR?`` as a driver does.
"""

from __future__ import annotations

from typing import Annotated

import pytest

from linesock import scpi

pytestmark = pytest.mark.srs("SRS-169")

NO_ERROR = '0,"No error"'


class Recorder:
    """An instrument whose functions record their calls, to see what ran with what."""

    def __init__(self) -> None:
        """Register a small tree: a source subsystem, suffixed outputs, a measure subsystem."""
        self.calls: list[tuple[str, object]] = []
        self.instrument = scpi.Instrument("test,Recorder,0,1")
        instrument = self.instrument
        self.level = 0.0

        @instrument.command("[SOURce]:VOLTage[:LEVel]")
        def set_voltage(value: float) -> None:
            self.calls.append(("volt", value))
            self.level = value

        @instrument.query("[SOURce]:VOLTage[:LEVel]")
        def voltage() -> float:
            return self.level

        @instrument.command("[SOURce]:CURRent")
        def set_current(value: float) -> None:
            self.calls.append(("curr", value))

        @instrument.command("OUTPut<n>[:STATe]")
        def set_output(state: bool, n: int) -> None:
            self.calls.append((f"outp{n}", state))

        @instrument.query("OUTPut<n>:STATe")
        def output(n: Annotated[int, scpi.Number(1, 2)]) -> int:
            return n * 10

        @instrument.command("OUTPut<n>:PROTection:CLEar")
        def clear_protection(n: int) -> None:
            self.calls.append((f"clear{n}", None))

        @instrument.query("MEASure:VOLTage")
        def measure_voltage() -> str:
            return "mv"

        @instrument.query("MEASure:CURRent")
        def measure_current() -> str:
            return "mc"

        @instrument.query("CHANnel<c>:MEASure<m>")
        def channel(c: int, m: int) -> str:
            return f"c{c}m{m}"

    def __call__(self, line: str) -> str | None:
        """Run one line."""
        return self.instrument(line)

    def errors(self) -> list[str]:
        """Read the whole error queue, as SYST:ERR? answers it, until it says no error."""
        read: list[str] = []
        for _ in range(50):  # the queue is 20 deep: this always ends
            answer = self("SYST:ERR?")
            if answer == NO_ERROR:
                return read
            assert answer is not None
            read.append(answer)
        raise AssertionError(f"the error queue never emptied: {read}")


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recording instrument."""
    return Recorder()


@pytest.mark.parametrize(
    "line",
    [
        "VOLT 1.5",
        "VOLTAGE 1.5",
        "volt 1.5",
        "Voltage 1.5",
        "vOlTaGe 1.5",
        "SOUR:VOLT 1.5",
        "SOURCE:VOLTAGE:LEVEL 1.5",
        "source:volt:lev 1.5",
        "VOLT:LEV 1.5",
        ":VOLT 1.5",
        ":sour:volt:level 1.5",
        "  VOLT   1.5  ",
        "VOLT\t1.5",
    ],
)
def test_short_long_any_case_and_optional_keywords_reach_one_function(
    recorder: Recorder, line: str
) -> None:
    """Short or long form, any case, optional keywords given or left out: the same setter runs."""
    assert recorder(line) is None
    assert recorder.calls == [("volt", 1.5)]
    assert recorder.errors() == []


@pytest.mark.parametrize(
    "line",
    ["VOLTA 1", "VOL 1", "SOURC:VOLT 1", "VOLT:LEVE 1", "LEV 1", "VOLT:LEV:LEV 1", "FOO 1"],
)
def test_partial_or_unknown_forms_are_undefined_headers(recorder: Recorder, line: str) -> None:
    """Only the exact short or long form matches: anything between is -113, and nothing runs."""
    assert recorder(line) is None
    assert recorder.calls == []
    assert recorder.errors() == ['-113,"Undefined header"']


@pytest.mark.parametrize("line", ["VOLT::LEV 1", "VOLT: 1", ":", "VOLT& 1", "VOLT?? ", "*IDN?x"])
def test_malformed_headers_are_syntax_errors(recorder: Recorder, line: str) -> None:
    """A header that is not well formed (empty keyword, stray character) is -102."""
    assert recorder(line) is None
    assert recorder.errors() == ['-102,"Syntax error"']


def test_query_is_the_header_and_a_question_mark(recorder: Recorder) -> None:
    """``VOLT?`` runs the query of the header ``VOLT``; its answer is the one line."""
    recorder("VOLT 2")
    assert recorder("VOLT?") == "+2.000000E+00"
    assert recorder("sour:volt:lev?") == "+2.000000E+00"


def test_a_setter_sent_as_a_query_and_back_is_undefined(recorder: Recorder) -> None:
    """``CURR?`` has no query and ``MEAS:VOLT 1`` no setter: both are undefined headers."""
    assert recorder("CURR?") is None
    assert recorder("MEAS:VOLT 1") is None
    assert recorder.errors() == ['-113,"Undefined header"', '-113,"Undefined header"']


@pytest.mark.parametrize(
    ("line", "call"),
    [
        ("OUTP ON", ("outp1", True)),
        ("OUTP1 ON", ("outp1", True)),
        ("OUTP2 OFF", ("outp2", False)),
        ("output2:state on", ("outp2", True)),
        ("OUTP02 ON", ("outp2", True)),
        ("OUTP7:STAT 1", ("outp7", True)),
    ],
)
def test_numeric_suffix_is_passed_to_the_function(
    recorder: Recorder, line: str, call: tuple[str, bool]
) -> None:
    """``OUTPut<n>`` passes the suffix as ``n``; without a suffix it is 1."""
    assert recorder(line) is None
    assert recorder.calls == [call]


def test_several_suffixes_and_their_bounds(recorder: Recorder) -> None:
    """Each ``<name>`` fills its own parameter; a suffix out of its bounds is -114."""
    assert recorder("CHAN3:MEAS2?") == "c3m2"
    assert recorder("chan:meas?") == "c1m1"
    assert recorder("OUTP2:STAT?") == "20"
    assert recorder("OUTP3:STAT?") is None
    assert recorder.errors() == ['-114,"Header suffix out of range"']


def test_a_suffix_on_a_keyword_without_one_is_undefined(recorder: Recorder) -> None:
    """``VOLT2`` where ``VOLTage`` takes no suffix names nothing."""
    assert recorder("VOLT2 1") is None
    assert recorder.errors() == ['-113,"Undefined header"']


@pytest.mark.srs("SRS-170")
def test_semicolon_runs_each_command_in_order(recorder: Recorder) -> None:
    """Setters joined by ``;`` all run, in order, and the line answers nothing."""
    assert recorder("VOLT 1;CURR 2;VOLT 3") is None
    assert recorder.calls == [("volt", 1.0), ("curr", 2.0), ("volt", 3.0)]


@pytest.mark.srs("SRS-170")
def test_answers_of_several_queries_are_joined_into_one_line(recorder: Recorder) -> None:
    """Each query answers one item; the line answers them all joined with ``;``."""
    assert (
        recorder("VOLT 1;VOLT?;*IDN?;VOLT 2;VOLT?")
        == "+1.000000E+00;test,Recorder,0,1;+2.000000E+00"
    )


@pytest.mark.srs("SRS-170")
def test_relative_header_continues_from_the_last_commands_parent(recorder: Recorder) -> None:
    """After ``MEAS:VOLT?``, ``CURR?`` means ``MEAS:CURR?``; after ``SOUR:VOLT``, ``SOUR:CURR``."""
    assert recorder("MEAS:VOLT?;CURR?") == "mv;mc"
    assert recorder("SOUR:VOLT 1;CURR 2") is None
    assert recorder.calls == [("volt", 1.0), ("curr", 2.0)]


@pytest.mark.srs("SRS-170")
def test_relative_path_keeps_the_suffix_of_its_keywords(recorder: Recorder) -> None:
    """After ``OUTP2:STAT ON`` the path is ``OUTP2:``, so ``PROT:CLE`` clears output 2."""
    assert recorder("OUTP2:STAT ON;PROT:CLE") is None
    assert recorder.calls == [("outp2", True), ("clear2", None)]


@pytest.mark.srs("SRS-170")
def test_relative_header_not_under_the_path_is_undefined(recorder: Recorder) -> None:
    """``MEAS:VOLT?;VOLT 1`` looks for ``MEAS:VOLT`` setter: -113, as on an instrument."""
    assert recorder("MEAS:VOLT?;VOLT 1") == "mv"
    assert recorder.calls == []
    assert recorder.errors() == ['-113,"Undefined header"']


@pytest.mark.srs("SRS-170")
def test_leading_colon_goes_back_to_the_root(recorder: Recorder) -> None:
    """``MEAS:VOLT?;:VOLT?`` reads the source voltage: the colon starts from the root."""
    recorder("VOLT 4")
    assert recorder("MEAS:VOLT?;:VOLT?") == "mv;+4.000000E+00"


@pytest.mark.srs("SRS-170")
def test_common_commands_leave_the_path_alone(recorder: Recorder) -> None:
    """``MEAS:VOLT?;*OPC?;CURR?`` still reads ``MEAS:CURR?`` after the common command."""
    assert recorder("MEAS:VOLT?;*OPC?;CURR?") == "mv;1;mc"


@pytest.mark.srs("SRS-170")
def test_each_line_starts_again_from_the_root(recorder: Recorder) -> None:
    """The path does not carry over to the next line: ``CURR?`` alone is undefined."""
    assert recorder("MEAS:VOLT?") == "mv"
    assert recorder("CURR?") is None
    assert recorder.errors() == ['-113,"Undefined header"']


@pytest.mark.srs("SRS-170")
def test_semicolons_inside_strings_do_not_split(recorder: Recorder) -> None:
    """A ``;`` inside a quoted string is data, not a separator."""
    instrument = recorder.instrument
    seen: list[str] = []
    instrument.command("DISPlay:TEXT")(seen.append)
    assert recorder("""DISP:TEXT "a;b";TEXT 'c;''d'''""") is None
    assert seen == ["a;b", "c;'d'"]


@pytest.mark.srs("SRS-170")
def test_a_command_error_ends_the_line(recorder: Recorder) -> None:
    """After a -1xx error the rest of the line does not run; answers before it are kept."""
    assert recorder("VOLT 1;VOLT?;BOGUS 2;VOLT 3;VOLT?") == "+1.000000E+00"
    assert recorder.calls == [("volt", 1.0)]
    assert recorder.errors() == ['-113,"Undefined header"']


@pytest.mark.srs("SRS-170")
def test_empty_commands_between_semicolons(recorder: Recorder) -> None:
    """One trailing ``;`` is allowed; an empty command between two is -102 and ends the line."""
    assert recorder("VOLT 1;") is None
    assert recorder.errors() == []
    assert recorder("VOLT 2;;VOLT 3") is None
    assert recorder.calls == [("volt", 1.0), ("volt", 2.0)]
    assert recorder.errors() == ['-102,"Syntax error"']


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_an_empty_line_does_nothing(recorder: Recorder, line: str) -> None:
    """An empty program message runs nothing, answers nothing and queues nothing."""
    assert recorder(line) is None
    assert recorder.errors() == []


def test_contains_tells_known_headers(recorder: Recorder) -> None:
    """``header in instrument`` is true for a command or query header in any spelling."""
    instrument = recorder.instrument
    assert "VOLT" in instrument
    assert "sour:volt:lev" in instrument
    assert "MEAS:VOLT" in instrument  # a query only
    assert "MEAS:VOLT?" in instrument
    assert "*IDN?" in instrument
    assert "OUTP2" in instrument
    assert "VOLTS" not in instrument
    assert "" not in instrument
    assert 42 not in instrument


def test_the_resolved_header_is_cached_per_spelling(recorder: Recorder) -> None:
    """A second line with the same spelling does not walk the tree again."""
    instrument = recorder.instrument
    recorder("SOUR:VOLT 1;CURR 2")
    cache = instrument._cache
    assert {"SOUR:VOLT", "SOUR:CURR"} <= set(cache)
    resolved = cache["SOUR:VOLT"]
    recorder("SOUR:VOLT 3")
    assert cache["SOUR:VOLT"] is resolved


# -- registration -------------------------------------------------------------


@pytest.mark.srs("SRS-174")
@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("volt", "the keyword 'volt' is not in header notation"),
        ("VOLTage[:LEVel", "a '[' is not closed"),
        ("VOLTage:LEVel]", "each [...] holds exactly one keyword"),
        ("[[VOLTage]]", "brackets cannot nest"),
        ("[VOLTage:LEVel]", "each [...] holds exactly one keyword"),
        ("VOLTage::LEVel", "one ':' must come before 'LEVel'"),
        ("VOLTageLEVel", "the keyword 'VOLTageLEVel' is not in header notation"),
        ("::VOLTage", "a header starts with at most one ':'"),
        ("VOLTage:", "a header ends with a keyword"),
        ("", "a header ends with a keyword"),
        ("[VOLTage]", "at least one keyword must not be optional"),
        ("VOLT-age", "unexpected character '-'"),
        ("VOLTage2", "unexpected character '2'"),
        ("OUTPut<n>:STATe<n>", "two keywords name the same <suffix>"),
        ("A[:B][:C][:D][:E][:F][:G][:H]", "more than 6 optional keywords"),
        ("*I-DN", "a common command is '*' and letters"),
        ("*IDN", "*IDN? is built in"),
        ("*RST", "*RST is built in"),
        ("SYSTem:ERRor", "SYSTem:ERRor is already registered by 'SYSTem:ERRor[:NEXT]'"),
    ],
)
def test_header_mistakes_are_type_errors_at_registration(header: str, message: str) -> None:
    """A header the tree cannot hold fails when registered, naming the header and the problem."""
    instrument = scpi.Instrument()
    register = instrument.query if header in ("*IDN", "SYSTem:ERRor") else instrument.command

    def function(n: int = 1) -> None:
        pass

    with pytest.raises(TypeError) as raised:
        register(header)(function)
    assert str(raised.value).startswith(f"SCPI header {header!r}: ")
    assert message in str(raised.value)


@pytest.mark.srs("SRS-174")
def test_clashing_keywords_are_refused() -> None:
    """Two keywords sharing a form, or one keyword with two short forms, cannot both register."""
    instrument = scpi.Instrument()
    instrument.command("VOLTage")(lambda value: None)
    with pytest.raises(TypeError, match="'VOLTmeter' and 'VOLTage' share the form 'VOLT'"):
        instrument.command("VOLTmeter")(lambda value: None)
    with pytest.raises(TypeError, match="'VOLTAge' clashes with 'VOLTage' registered before"):
        instrument.query("VOLTAge")(lambda: 1)
    with pytest.raises(TypeError, match="VOLTage is already registered by 'VOLTage'"):
        instrument.command("[SOURce]:VOLTage")(lambda value: None)
    instrument.command("OUTPut<n>")(lambda state, n: None)
    with pytest.raises(TypeError, match="takes a numeric suffix in one header and not in another"):
        instrument.command("OUTPut:PROTection")(lambda: None)


@pytest.mark.srs("SRS-174")
def test_a_refused_header_registers_none_of_its_paths() -> None:
    """``[SOURce]:VOLTage`` refused since ``VOLTage`` is taken leaves ``SOUR:VOLT`` unknown too."""
    instrument = scpi.Instrument()
    instrument.command("VOLTage")(lambda value: None)
    with pytest.raises(TypeError):
        instrument.command("[SOURce]:VOLTage")(lambda value: None)
    assert "SOUR:VOLT" not in instrument


@pytest.mark.srs("SRS-174")
def test_a_query_header_registered_as_a_command_is_refused() -> None:
    """``command("VOLT?")`` is a mistake: a header with ``?`` is registered with ``query()``."""
    instrument = scpi.Instrument()
    with pytest.raises(TypeError, match="a header ending in '\\?' is a query; register it with"):
        instrument.command("VOLTage?")(lambda value: None)
    instrument.query("VOLTage?")(lambda: 1.0)
    assert instrument("VOLT?") == "+1.000000E+00"


@pytest.mark.srs("SRS-174")
def test_a_header_must_be_a_string() -> None:
    """A header that is not a str fails at once."""
    with pytest.raises(TypeError, match="an SCPI header is a str, not 42"):
        scpi.Instrument().command(42)(lambda: None)  # type: ignore[arg-type]


def test_replaceable_common_commands() -> None:
    """``*TST?`` and ``*OPT?`` may be replaced; a new common command may be added."""
    instrument = scpi.Instrument()
    assert instrument("*TST?") == "0"
    instrument.query("*TST?")(lambda: 1)
    instrument.query("*OPT")(lambda: "GPIB,LAN")
    triggered: list[bool] = []
    instrument.command("*TRG")(lambda: triggered.append(True))
    assert instrument("*TST?;*OPT?") == "1;GPIB,LAN"
    assert instrument("*trg") is None
    assert triggered == [True]
    with pytest.raises(TypeError, match="\\*TRG is built in"):
        instrument.command("*TRG")(lambda: None)


def test_an_unknown_common_command_is_undefined() -> None:
    """``*XYZ`` is well formed but names nothing: -113."""
    instrument = scpi.Instrument()
    assert instrument("*XYZ") is None
    assert instrument("SYST:ERR?") == '-113,"Undefined header"'


def test_the_decorators_return_the_function_unchanged() -> None:
    """``command()`` and ``query()`` give back the very function, so it stays callable."""
    instrument = scpi.Instrument()

    def function() -> int:
        return 5

    assert instrument.query("FIVE")(function) is function
    assert instrument.on_reset(function) is function
    assert repr(instrument) == '<linesock.scpi.Instrument "linesock,Instrument,0,1.0">'
