"""SCPI program data: the parameters a command takes, and their converters.

Design notes
------------
A command's parameters are converted by the function's type hints, as
:class:`linesock.Commands` converts words, but with the data types of
IEEE 488.2 chapter 7: decimal numbers (NR1, NR2, NR3) with an optional unit
and multiplier (``100 mV``), the keywords ``MIN``, ``MAX`` and ``DEF`` where
:class:`Number` declares them, non-decimal integers (``#H1F``, ``#Q17``,
``#B101``), booleans (``ON``, ``OFF``, or a number: 0 is off), character
data (an ``enum.Enum`` whose member names are written in the header
notation, ``IMMediate``), and quoted strings (``"..."`` or ``'...'``, the
quote doubled inside).

Each converter takes one parameter's text, already split at the commas and
stripped, and returns the value or raises :class:`SCPIError` with the
number the standard gives that mistake: -104 for the wrong kind of data,
-222 for a number outside the declared range, -224 for a keyword that is
not one of the allowed ones.  The converters are built once, when the
function is registered.

"""

from __future__ import annotations

import enum
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeGuard

from ._errors import SCPIError

__all__ = ["Number", "converter_for", "keyword_forms", "number_spec", "split_outside_quotes"]

Converter = Callable[[str], Any]

# IEEE 488.2 7.7.2 decimal numeric program data, then a suffix (7.7.3).
_DECIMAL: Final = re.compile(
    r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)", re.ASCII
)
_NON_DECIMAL: Final = {"H": 16, "Q": 8, "B": 2}
_HEX_DIGITS: Final = re.compile(r"[0-9A-Fa-f]+")
_NUMBER_ENDS: Final = frozenset("0123456789.")
_CHARACTER_DATA: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# The header notation: the upper-case part is the short form, all of it the long one.
_NOTATION: Final = re.compile(r"([A-Z][A-Z0-9_]*)([a-z0-9_]*)")
_BOUNDS: Final = {
    "MIN": "minimum",
    "MINIMUM": "minimum",
    "MAX": "maximum",
    "MAXIMUM": "maximum",
    "DEF": "default",
    "DEFAULT": "default",
}
# SCPI 1999 volume 1, 7.2.3: suffix multipliers.  "M" is milli and "MA" mega,
# except before HZ and OHM, where "M" is mega (MHZ, MOHM) as everybody writes it.
_MULTIPLIERS: Final = {
    "EX": 1e18,
    "PE": 1e15,
    "T": 1e12,
    "G": 1e9,
    "MA": 1e6,
    "K": 1e3,
    "": 1.0,
    "M": 1e-3,
    "U": 1e-6,
    "N": 1e-9,
    "P": 1e-12,
    "F": 1e-15,
    "A": 1e-18,
}
_MEGA_WITH_M: Final = frozenset({"HZ", "OHM"})


def keyword_forms(name: str) -> tuple[str, str] | None:
    """The short and long form of *name* in header notation (``VOLTage``), or None if it is not."""
    match = _NOTATION.fullmatch(name)
    if match is None:
        return None
    return match[1], name.upper()


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split *text* at each *separator* that is not inside a quoted string.

    Doubled quotes inside a string leave and re-enter it at once, so they
    need no rule of their own; an unterminated string runs to the end.
    """
    if '"' not in text and "'" not in text:
        return text.split(separator)
    parts: list[str] = []
    start = 0
    quote_char = ""
    for index, char in enumerate(text):
        if quote_char:
            if char == quote_char:
                quote_char = ""
        elif char in "\"'":
            quote_char = char
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Number:
    """What a numeric parameter accepts, given as ``Annotated[float, Number(...)]``.

    *minimum* and *maximum* bound the value (outside them: ``-222,"Data out
    of range"``) and let the client send ``MIN``/``MAX``; *default* lets it
    send ``DEF``; *unit* (``"V"``) lets it follow the number with the unit
    and a multiplier (``3.3 V``, ``100mV``, ``2.2 KOHM``).  On a header's
    numeric suffix (``OUTPut<n>``) the bounds limit the suffix
    (``-114,"Header suffix out of range"``).
    """

    minimum: float | None = None
    maximum: float | None = None
    default: float | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        """Check that the bounds are ordered, the default inside them, the unit letters."""
        low, high, default = self.minimum, self.maximum, self.default
        if low is not None and high is not None and low > high:
            raise ValueError(f"Number: minimum {low} is above maximum {high}")
        if default is not None and not _inside(default, low, high):
            raise ValueError(f"Number: default {default} is outside {low} to {high}")
        if self.unit is not None and not re.fullmatch(r"[A-Za-z]+", self.unit):
            raise ValueError(f"Number: a unit is letters only, not {self.unit!r}")


def _inside(value: float, low: float | None, high: float | None) -> bool:
    """Whether *value* is within the bounds that are given."""
    return (low is None or value >= low) and (high is None or value <= high)


def _unit_factors(unit: str | None) -> dict[str, float]:
    """Every suffix the *unit* allows (upper-case), with its multiplier."""
    if unit is None:
        return {}
    unit = unit.upper()
    factors = {prefix + unit: factor for prefix, factor in _MULTIPLIERS.items()}
    if unit in _MEGA_WITH_M:
        factors["M" + unit] = 1e6
    return factors


class _NumberConverter:
    """Converts numeric program data to a float or an int, as one :class:`Number` says."""

    def __init__(self, kind: type, spec: Number) -> None:
        """Prepare for *kind* (``int`` or ``float``) and *spec*."""
        self.kind: Final = kind
        self.spec: Final = spec
        self.factors: Final = _unit_factors(spec.unit)
        self.bounds: Final = (spec.minimum, spec.maximum)

    def __call__(self, text: str) -> Any:
        """Convert *text*, or raise the :class:`SCPIError` its mistake gets."""
        # Most parameters are plain numbers that int() or float() take as they
        # are; the regular expression (several times slower) sees the rest.
        # The test keeps out what float() takes and SCPI does not (nan, inf,
        # 1_000, other scripts' digits).
        if text[-1] in _NUMBER_ENDS and text.isascii() and "_" not in text:
            try:
                value = self.kind(text)
            except ValueError:
                value = self._parse(text)
            else:
                if value - value != 0:  # infinite: 1e999
                    raise SCPIError(-222)
        else:
            value = self._parse(text)
        low, high = self.bounds
        if (low is not None and value < low) or (high is not None and value > high):
            raise SCPIError(-222)
        return value

    def _parse(self, text: str) -> Any:
        """The value of any numeric program data, a unit or ``MIN`` included."""
        match = _DECIMAL.fullmatch(text)
        if match is not None:
            return self._decimal(*match.groups())
        if text[:1] == "#":
            return self._non_decimal(text)
        if text[:1] in "\"'":
            raise SCPIError(-104)
        if _CHARACTER_DATA.fullmatch(text):
            return self._bound(text)
        if text[:1] in "+-.0123456789":
            raise SCPIError(-120)
        raise SCPIError(-102)

    def _decimal(self, number: str, suffix: str) -> Any:
        """The value of a decimal number and its suffix."""
        value = float(number)
        if suffix:
            factor = self.factors.get(suffix.upper())
            if factor is None:
                raise SCPIError(-131 if self.factors else -138)
            value *= factor
        if not math.isfinite(value):
            raise SCPIError(-222)
        return round(value) if self.kind is int else value

    def _non_decimal(self, text: str) -> Any:
        """``#H1F``, ``#Q17``, ``#B101``: an integer in base 16, 8 or 2."""
        base = _NON_DECIMAL.get(text[1:2].upper())
        if base is None:
            raise SCPIError(-104)  # block data, or nothing this parser knows
        digits = text[2:]
        if not _HEX_DIGITS.fullmatch(digits):
            raise SCPIError(-121)
        try:
            value = int(digits, base)
        except ValueError:  # a digit too high for the base: 9 in octal
            raise SCPIError(-121) from None
        return self.kind(value)

    def _bound(self, text: str) -> Any:
        """``MIN``, ``MAX`` or ``DEF`` where the spec declares it."""
        attribute = _BOUNDS.get(text.upper())
        if attribute is None:
            raise SCPIError(-104)
        value = getattr(self.spec, attribute)
        if value is None:
            raise SCPIError(-224)
        return self.kind(value)


def _to_bool(text: str) -> bool:
    """``ON``/``OFF`` (any case), or a number rounded to an integer: 0 is off, any other on."""
    word = text.upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    match = _DECIMAL.fullmatch(text)
    if match is not None and not match[2]:
        return round(float(text)) != 0
    if _CHARACTER_DATA.fullmatch(text):
        raise SCPIError(-224)
    raise SCPIError(-104)


def _to_string(text: str) -> str:
    """Quoted string data, without its quotes and with doubled quotes made single."""
    quote_char = text[:1]
    if quote_char not in ("'", '"'):
        raise SCPIError(-104)
    inner = text[1:-1]
    if len(text) < 2 or text[-1] != quote_char or quote_char in inner.replace(quote_char * 2, ""):
        raise SCPIError(-151)
    return inner.replace(quote_char * 2, quote_char)


def enum_forms(enum_type: type[enum.Enum]) -> dict[str, enum.Enum]:
    """Each member by its short and long form (upper-case); ``TypeError`` for a bad name."""
    forms: dict[str, enum.Enum] = {}
    for name, member in enum_type.__members__.items():
        found = keyword_forms(name)
        if found is None:
            raise TypeError(
                f"the member {name!r} of {enum_type.__name__} is not in header notation "
                "(upper-case short form, then the rest in lower case: IMMediate, BUS)"
            )
        for form in found:
            other = forms.get(form)
            if other is not None and other is not member:
                raise TypeError(
                    f"the members {other.name!r} and {name!r} of {enum_type.__name__} "
                    f"share the form {form!r}"
                )
            forms[form] = member
    if not forms:
        raise TypeError(f"the enum {enum_type.__name__} has no members")
    return forms


def _enum_converter(enum_type: type[enum.Enum]) -> Converter:
    """Character data to a member of *enum_type*, by its short or long form in any case."""
    forms = enum_forms(enum_type)

    def convert(text: str) -> enum.Enum:
        member = forms.get(text.upper())
        if member is not None:
            return member
        if _CHARACTER_DATA.fullmatch(text):
            raise SCPIError(-224)
        raise SCPIError(-104)

    return convert


def _is_class(hint: object) -> TypeGuard[type]:
    """Whether *hint* is a plain class (not ``list[int]``)."""
    return isinstance(hint, type) and typing.get_origin(hint) is None


def optional_of(hint: object) -> object | None:
    """For ``T | None`` (or ``Optional[T]``) return T; None for any other annotation."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members: tuple[object, ...] = typing.get_args(hint)
        others = [member for member in members if member is not type(None)]
        if len(others) == 1 and len(members) == 2:
            return others[0]
    return None


def number_spec(hint: object) -> tuple[type, Number] | None:
    """``(int or float, Number)`` for ``int``, ``float`` or ``Annotated[..., Number(...)]``."""
    if hint is int or hint is float:
        return hint, Number()
    if typing.get_origin(hint) is Annotated:
        base, *metadata = typing.get_args(hint)
        specs = [item for item in metadata if isinstance(item, Number)]
        if (base is int or base is float) and len(specs) == 1:
            return base, specs[0]
    return None


def converter_for(hint: object) -> Converter:
    """The converter for a parameter annotated *hint*; ``TypeError`` when there is none."""
    if hint is bool:
        return _to_bool
    if hint is str:
        return _to_string
    numeric = number_spec(hint)
    if numeric is not None:
        return _NumberConverter(*numeric)
    if _is_class(hint) and issubclass(hint, enum.Enum):
        return _enum_converter(hint)
    shown = hint.__name__ if _is_class(hint) else repr(hint)
    raise TypeError(
        f"is annotated {shown}; an SCPI parameter must be int, float, "
        "Annotated[int | float, scpi.Number(...)], bool, str, an Enum, or one of these | None"
    )
