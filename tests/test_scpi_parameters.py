"""linesock.scpi parameters and answers: numbers, units, MIN/MAX/DEF, booleans, enums, strings."""

from __future__ import annotations

import enum
from typing import Annotated

import pytest

from linesock import scpi
from linesock.scpi._answers import format_answer

pytestmark = pytest.mark.srs("SRS-171")


class Trigger(enum.Enum):
    """A trigger source, in header notation."""

    IMMediate = "immediate"
    BUS = "bus"
    EXTernal = "external"


Volts = Annotated[float, scpi.Number(0, 30, default=1.5, unit="V")]
Ohms = Annotated[float, scpi.Number(0, 10e6, unit="OHM")]
Count = Annotated[int, scpi.Number(1, 100, default=10)]


class Taker:
    """An instrument whose setters keep what they were given."""

    def __init__(self) -> None:
        """One setter per kind of parameter."""
        self.got: list[object] = []
        self.instrument = scpi.Instrument()
        instrument = self.instrument
        instrument.command("FLOat")(self._float)
        instrument.command("INTeger")(self._int)
        instrument.command("VOLTage")(self._volts)
        instrument.command("RESistance")(self._ohms)
        instrument.command("COUNt")(self._count)
        instrument.command("STATe")(self._bool)
        instrument.command("TRIGger")(self._trigger)
        instrument.command("TEXT")(self._text)
        instrument.command("PAIR")(self._pair)
        instrument.command("OPTional")(self._optional)
        instrument.command("LIST")(self._list)

    def keep(self, *values: object) -> None:
        """Record the values one call got."""
        self.got.append(values if len(values) != 1 else values[0])

    def _float(self, value: float) -> None:
        self.keep(value)

    def _int(self, value: int) -> None:
        self.keep(value)

    def _volts(self, value: Volts) -> None:
        self.keep(value)

    def _ohms(self, value: Ohms) -> None:
        self.keep(value)

    def _count(self, value: Count) -> None:
        self.keep(value)

    def _bool(self, value: bool) -> None:
        self.keep(value)

    def _trigger(self, value: Trigger) -> None:
        self.keep(value)

    def _text(self, value: str) -> None:
        self.keep(value)

    def _pair(self, first: int, second: str) -> None:
        self.keep(first, second)

    def _optional(self, first: int, second: float | None = None, third: int = 7) -> None:
        self.keep(first, second, third)

    def _list(self, *values: float) -> None:
        self.keep(*values)

    def take(self, line: str) -> object:
        """Run *line*; the value its setter got, or the error it queued."""
        self.got.clear()
        assert self.instrument(line) is None
        error = self.instrument("SYST:ERR?")
        if error != '0,"No error"':
            assert not self.got
            return error
        assert len(self.got) == 1
        return self.got[0]


@pytest.fixture
def taker() -> Taker:
    """A fresh instrument with one setter per parameter kind."""
    return Taker()


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("FLO 3", 3.0),
        ("FLO 3.3", 3.3),
        ("FLO -2.5", -2.5),
        ("FLO +.5", 0.5),
        ("FLO 5.", 5.0),
        ("FLO 1e3", 1000.0),
        ("FLO 1.5E-3", 0.0015),
        ("FLO -1E+2", -100.0),
        ("INT 42", 42),
        ("INT -7", -7),
        ("INT +3", 3),
        ("INT 2.6", 3),
        ("INT 1E2", 100),
        ("INT #H1F", 31),
        ("INT #hff", 255),
        ("INT #Q17", 15),
        ("INT #B101", 5),
        ("FLO #H10", 16.0),
    ],
)
def test_numbers_nr1_nr2_nr3_and_non_decimal(taker: Taker, line: str, value: object) -> None:
    """Integers, decimals and exponents (and #H/#Q/#B integers) convert; ints are rounded."""
    got = taker.take(line)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("FLO abc", '-104,"Data type error"'),
        ('FLO "3"', '-104,"Data type error"'),
        ("FLO 3.3.3", '-120,"Numeric data error"'),
        ("FLO 1e+", '-120,"Numeric data error"'),
        ("FLO 1e", '-138,"Suffix not allowed"'),  # the e is read as a unit
        ("FLO nan", '-104,"Data type error"'),
        ("FLO inf", '-104,"Data type error"'),
        ("FLO 1_000", '-120,"Numeric data error"'),
        ("FLO 1e999", '-222,"Data out of range"'),
        ("INT 1e999", '-222,"Data out of range"'),
        ("FLO 3 V", '-138,"Suffix not allowed"'),
        ("FLO MIN", '-224,"Illegal parameter value"'),
        ("INT #HXYZ", '-121,"Invalid character in number"'),
        ("INT #Q9", '-121,"Invalid character in number"'),
        ("INT #12abc", '-104,"Data type error"'),
        ("FLO &", '-102,"Syntax error"'),
        ("FLO \uff13", '-102,"Syntax error"'),  # a fullwidth 3: SCPI digits are ASCII
        ("FLO \u0663.5", '-102,"Syntax error"'),  # an Arabic-Indic 3
    ],
)
def test_bad_numbers_queue_the_standard_error(taker: Taker, line: str, error: str) -> None:
    """Each kind of bad number gets its own standard error, and the setter does not run."""
    assert taker.take(line) == error


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("VOLT 3.3 V", 3.3),
        ("VOLT 3.3V", 3.3),
        ("VOLT 3.3v", 3.3),
        ("VOLT 100 mV", 0.1),
        ("VOLT 250MV", 0.25),
        ("VOLT 500 uV", 0.0005),
        ("VOLT 0.01 KV", 10.0),
        ("RES 2.2 KOHM", 2200.0),
        ("RES 1 MOHM", 1_000_000.0),
        ("RES 1 MAOHM", 1_000_000.0),
        ("RES 47 ohm", 47.0),
    ],
)
def test_units_and_multipliers(taker: Taker, line: str, value: float) -> None:
    """A declared unit may follow the number, with a multiplier; M before OHM is mega."""
    assert taker.take(line) == pytest.approx(value)


@pytest.mark.parametrize(
    ("line", "error"),
    [("VOLT 3 A", '-131,"Invalid suffix"'), ("VOLT 3 XV", '-131,"Invalid suffix"')],
)
def test_a_unit_other_than_the_declared_one_is_invalid(taker: Taker, line: str, error: str) -> None:
    """With a unit declared, any other suffix is -131."""
    assert taker.take(line) == error


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("VOLT MIN", 0.0),
        ("VOLT minimum", 0.0),
        ("VOLT MAX", 30.0),
        ("VOLT Maximum", 30.0),
        ("VOLT DEF", 1.5),
        ("VOLT default", 1.5),
        ("COUN MAX", 100),
        ("COUN DEF", 10),
        ("COUN min", 1),
        ("RES MAX", 10e6),
    ],
)
def test_min_max_def_where_declared(taker: Taker, line: str, value: object) -> None:
    """``MIN``, ``MAX`` and ``DEF`` (short or long, any case) give the declared values."""
    got = taker.take(line)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("VOLT 30.01", '-222,"Data out of range"'),
        ("VOLT -0.1", '-222,"Data out of range"'),
        ("VOLT 31 V", '-222,"Data out of range"'),
        ("VOLT 30001 mV", '-222,"Data out of range"'),
        ("COUN 0", '-222,"Data out of range"'),
        ("COUN 101", '-222,"Data out of range"'),
        ("RES DEF", '-224,"Illegal parameter value"'),
        ("VOLT MAXI", '-104,"Data type error"'),
    ],
)
def test_declared_range_is_enforced(taker: Taker, line: str, error: str) -> None:
    """Out of range is -222; DEF without a declared default is -224."""
    assert taker.take(line) == error


def test_range_bounds_themselves_are_accepted(taker: Taker) -> None:
    """The bounds are inclusive."""
    assert taker.take("VOLT 0") == 0.0
    assert taker.take("VOLT 30") == 30.0


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("STAT ON", True),
        ("STAT on", True),
        ("STAT 1", True),
        ("STAT OFF", False),
        ("STAT Off", False),
        ("STAT 0", False),
        ("STAT 5", True),
        ("STAT 0.4", False),
        ("STAT -1", True),
    ],
)
def test_booleans(taker: Taker, line: str, value: bool) -> None:
    """ON/OFF in any case, or a number rounded to an integer: 0 is off, anything else on."""
    assert taker.take(line) is value


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("STAT TRUE", '-224,"Illegal parameter value"'),
        ("STAT yes", '-224,"Illegal parameter value"'),
        ('STAT "ON"', '-104,"Data type error"'),
        ("STAT 1 V", '-104,"Data type error"'),
    ],
)
def test_bad_booleans(taker: Taker, line: str, error: str) -> None:
    """Other words are illegal values; strings are the wrong type."""
    assert taker.take(line) == error


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("TRIG IMM", Trigger.IMMediate),
        ("TRIG immediate", Trigger.IMMediate),
        ("TRIG bus", Trigger.BUS),
        ("TRIG Ext", Trigger.EXTernal),
        ("TRIG EXTERNAL", Trigger.EXTernal),
    ],
)
def test_character_data_is_an_enum_by_short_or_long_form(
    taker: Taker, line: str, value: Trigger
) -> None:
    """An enum's members are named in header notation; either form, any case, picks one."""
    assert taker.take(line) is value


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("TRIG EXTE", '-224,"Illegal parameter value"'),
        ("TRIG TIMER", '-224,"Illegal parameter value"'),
        ("TRIG 1", '-104,"Data type error"'),
        ('TRIG "BUS"', '-104,"Data type error"'),
    ],
)
def test_bad_character_data(taker: Taker, line: str, error: str) -> None:
    """Only exact short or long forms; numbers and strings are the wrong type."""
    assert taker.take(line) == error


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('TEXT "hello"', "hello"),
        ("TEXT 'hello'", "hello"),
        ('TEXT ""', ""),
        ('TEXT "say ""hi"""', 'say "hi"'),
        ("TEXT 'it''s'", "it's"),
        ("""TEXT "it's" """, "it's"),
        ('TEXT "a, b; c"', "a, b; c"),
        ('TEXT "  spaced  "', "  spaced  "),
    ],
)
def test_quoted_strings(taker: Taker, line: str, value: str) -> None:
    """Double or single quotes, the quote doubled inside; commas and semicolons are data."""
    assert taker.take(line) == value


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("TEXT hello", '-104,"Data type error"'),
        ("TEXT 42", '-104,"Data type error"'),
        ('TEXT "open', '-151,"Invalid string data"'),
        ('TEXT "a"b', '-151,"Invalid string data"'),
        ('TEXT "a" "b"', '-151,"Invalid string data"'),
    ],
)
def test_bad_strings(taker: Taker, line: str, error: str) -> None:
    """Unquoted text is the wrong type; an unterminated or broken string is -151."""
    assert taker.take(line) == error


def test_several_parameters_are_separated_by_commas(taker: Taker) -> None:
    """Parameters are separated by commas, with or without spaces around them."""
    assert taker.take('PAIR 1,"a"') == (1, "a")
    assert taker.take("PAIR 2 , 'b,c'") == (2, "b,c")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("PAIR 1", '-109,"Missing parameter"'),
        ("PAIR", '-109,"Missing parameter"'),
        ('PAIR 1,"a",3', '-108,"Parameter not allowed"'),
        ("FLO 1,2", '-108,"Parameter not allowed"'),
        ('PAIR ,"a"', '-102,"Syntax error"'),
        ("PAIR 1,", '-102,"Syntax error"'),
    ],
)
def test_parameter_count_is_checked(taker: Taker, line: str, error: str) -> None:
    """Too few parameters is -109, too many -108, an empty one -102."""
    assert taker.take(line) == error


def test_optional_parameters_and_star_args(taker: Taker) -> None:
    """``T | None`` and defaults may be left out; ``*args`` takes any number."""
    assert taker.take("OPT 1") == (1, None, 7)
    assert taker.take("OPT 1,2.5") == (1, 2.5, 7)
    assert taker.take("OPT 1,2.5,9") == (1, 2.5, 9)
    assert taker.take("OPT") == '-109,"Missing parameter"'
    assert taker.take("LIST 1,2,3.5") == (1.0, 2.0, 3.5)
    assert taker.take("LIST 4") == 4.0
    assert taker.take("LIST 1,x") == '-104,"Data type error"'


def test_an_optional_parameter_without_default_gets_none() -> None:
    """``T | None`` with no default is passed None when left out."""
    instrument = scpi.Instrument()
    got: list[object] = []

    @instrument.command("ARM")
    def arm(delay: float | None) -> None:
        got.append(delay)

    assert instrument("ARM;ARM 2") is None
    assert got == [None, 2.0]


def test_a_setter_without_parameters_refuses_one() -> None:
    """A command that takes nothing answers -108 to a parameter."""
    instrument = scpi.Instrument()
    instrument.command("INITiate")(lambda: None)
    assert instrument("INIT 1") is None
    assert instrument("SYST:ERR?") == '-108,"Parameter not allowed"'


def test_a_query_takes_parameters_too() -> None:
    """``VOLT? MAX``: a query's parameters are converted like a setter's."""
    instrument = scpi.Instrument()

    @instrument.query("VOLTage")
    def voltage(which: Volts | None = None) -> float:
        return 2.0 if which is None else which

    assert instrument("VOLT?") == "+2.000000E+00"
    assert instrument("VOLT? MAX") == "+3.000000E+01"
    assert instrument("VOLT? 40") is None
    assert instrument("SYST:ERR?") == '-222,"Data out of range"'


# -- answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        (3.3, "+3.300000E+00"),
        (0.0, "+0.000000E+00"),
        (-0.0, "+0.000000E+00"),
        (-2.5, "-2.500000E+00"),
        (30.0, "+3.000000E+01"),
        (1e-300, "+1.000000E-300"),
        (1.23456789, "+1.234567890E+00"),
        (3.3 / 10, "+3.300000E-01"),
        (2 / 3, "+6.666666667E-01"),
        (float("nan"), "9.91E+37"),
        (float("inf"), "9.9E+37"),
        (float("-inf"), "-9.9E+37"),
        (42, "42"),
        (-7, "-7"),
        (True, "1"),
        (False, "0"),
        (Trigger.IMMediate, "IMM"),
        (Trigger.BUS, "BUS"),
        ("as is", "as is"),
        ((1, 2.5, "x"), "1,+2.500000E+00,x"),
        ([True, False], "1,0"),
    ],
)
def test_answers_are_formatted_as_response_data(value: object, answer: str) -> None:
    """Floats in NR3 (10 digits, 7 when the rest are zeros), ints NR1, bools 1/0, enums short."""
    assert format_answer(value) == answer


def test_quote_makes_string_response_data() -> None:
    """``quote`` doubles the quotes inside and wraps the text in double quotes."""
    assert scpi.quote('say "hi"') == '"say ""hi"""'


def test_answers_of_other_kinds() -> None:
    """Subclasses of str, int and float answer like their base; anything else is a bug."""

    class Level(float):
        pass

    class Index(int):
        pass

    class Name(str):
        pass

    assert format_answer(Level(1.5)) == "+1.500000E+00"
    assert format_answer(Index(3)) == "3"
    assert format_answer(Name("n")) == "n"
    with pytest.raises(TypeError, match="a query function returned"):
        format_answer(object())


def test_a_query_answering_none_is_a_bug() -> None:
    """A query must answer: one that returns None raises, so the server logs it."""
    instrument = scpi.Instrument()
    instrument.query("NOTHing")(lambda: None)
    with pytest.raises(TypeError, match="returned None"):
        instrument("NOTH?")


# -- registration ----------------------------------------------------------------


class NotNotation(enum.Enum):
    """An enum whose names are not in header notation."""

    bus = 1


class Empty(enum.Enum):
    """An enum with no members."""


class Shared(enum.Enum):
    """Two members with one short form."""

    EXTernal = 1
    EXTra = 2


@pytest.mark.srs("SRS-174")
@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda *, value: None, "parameter 'value' is keyword-only"),
        (lambda **options: None, "parameter 'options' is keyword-only"),
        (lambda first=1, second=2, third=None: None, None),
    ],
)
def test_signature_shapes(function: object, message: str | None) -> None:
    """Keyword-only parameters cannot take program data; defaults are fine."""
    instrument = scpi.Instrument()
    if message is None:
        instrument.command("GOOD")(function)  # type: ignore[type-var]
        return
    with pytest.raises(TypeError, match=message):
        instrument.command("BAD")(function)  # type: ignore[type-var]


@pytest.mark.srs("SRS-174")
def test_signature_mistakes_are_type_errors_at_registration() -> None:  # noqa: C901 - see below
    # mccabe counts each nested example function as a branch: this is a table, not logic.
    """Annotations the tree cannot convert, misplaced optionals, suffix misuse fail at once."""
    instrument = scpi.Instrument()

    def listed(values: list[int]) -> None: ...

    def late(first: int = 1, second: int | None = None, *, third: int) -> None: ...

    def required_after_optional(first: int | None, second: int) -> None: ...

    def undefined(value: Undefined) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    def answers(value: int) -> int:
        return value

    def float_suffix(n: float) -> None: ...

    def suffix_default(n: Annotated[int, scpi.Number(1, 4, default=1)]) -> None: ...

    def variadic_suffix(*values: float, n: int = 1) -> None: ...

    def positional_suffix(n: int, *values: float) -> None: ...

    async def asynchronous() -> None: ...

    cases = [
        ("A", listed, "parameter 'values' is annotated list[int]"),
        ("B", late, "parameter 'third' is keyword-only"),
        ("C", required_after_optional, "the required parameter 'second' follows an optional"),
        ("D", undefined, "cannot resolve its type hints: name 'Undefined' is not defined"),
        ("E", answers, "a command (setter) answers nothing, so it returns None"),
        ("F<n>", float_suffix, "the suffix parameter 'n' must be an int"),
        ("G<n>", suffix_default, "the suffix parameter 'n' takes bounds only"),
        ("H<m>", lambda value: None, "the header's <m> names no parameter of the function"),
        ("J<n>", positional_suffix, "with *args, make the suffix parameters keyword-only"),
        ("K", asynchronous, "an SCPI function is a plain function, not async def"),
        ("L", 42, "42 is not callable"),
    ]
    for header, function, message in cases:
        with pytest.raises(TypeError) as raised:
            instrument.command(header)(function)  # type: ignore[type-var]
        assert str(raised.value).startswith(f"SCPI command {header!r} (")
        assert message in str(raised.value)
    instrument.command("V<n>")(variadic_suffix)


@pytest.mark.srs("SRS-174")
def test_enum_and_number_mistakes_are_refused() -> None:
    """Enums out of notation or with shared forms, and inconsistent Numbers, are refused."""
    instrument = scpi.Instrument()

    def not_notation(value: NotNotation) -> None: ...

    def shared(value: Shared) -> None: ...

    with pytest.raises(
        TypeError, match="the member 'bus' of NotNotation is not in header notation"
    ):
        instrument.command("A")(not_notation)
    with pytest.raises(TypeError, match="'EXTernal' and 'EXTra' of Shared share the form 'EXT'"):
        instrument.command("B")(shared)

    def empty(value: Empty) -> None: ...

    with pytest.raises(TypeError, match="the enum Empty has no members"):
        instrument.command("C")(empty)
    with pytest.raises(TypeError, match="on_reset: 42 is not callable"):
        instrument.on_reset(42)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="minimum 2 is above maximum 1"):
        scpi.Number(2, 1)
    with pytest.raises(ValueError, match="default 5 is outside 0 to 1"):
        scpi.Number(0, 1, default=5)
    with pytest.raises(ValueError, match="a unit is letters only"):
        scpi.Number(unit="m/s")
