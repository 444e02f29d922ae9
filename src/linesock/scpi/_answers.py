"""SCPI response data: what a query function returns, written as the answer line.

Design notes
------------
A query function returns a value and :func:`format_answer` writes it the
way instruments do, so that drivers parse it as they parse real ones
(pymeasure and QCoDeS both read numbers with ``float()``, which takes
either form of a float):

* ``float``: NR3 to 10 significant digits, written with 7 when the last
  three are zeros: ``+3.300000E+00``, ``+1.234567890E+00``.  Ten digits are
  finer than most instruments resolve, and float noise such as
  ``0.32999999999999996`` (a computed 3.3 / 10) reads ``+3.300000E-01``.
  NaN is ``9.91E+37`` and infinity ``9.9E+37`` (SCPI 1999, 7.2.1.5).
* ``int``: NR1, ``42``; ``bool``: ``1`` or ``0``;
* an enum member: its short form, ``IMM`` for ``IMMediate``;
* a tuple or list: its items, each written as above, joined with commas;
* a ``str``: as it is (use :func:`quote` for string response data).
"""

from __future__ import annotations

import enum
import math
import numbers
from typing import Final

from ._data import keyword_forms

__all__ = ["format_answer", "quote"]

_NOT_A_NUMBER: Final = "9.91E+37"
_INFINITY: Final = "9.9E+37"


def quote(text: str) -> str:
    """*text* as SCPI string response data: in double quotes, each ``"`` inside doubled."""
    return '"' + text.replace('"', '""') + '"'


def _nr3(value: float) -> str:
    """A float in NR3 to 10 significant digits, 7 when the others are zeros: ``+3.300000E+00``."""
    if math.isnan(value):
        return _NOT_A_NUMBER
    if math.isinf(value):
        return _INFINITY if value > 0 else "-" + _INFINITY
    text = f"{value + 0.0:+.9E}"  # sign, digit, point, 9 digits, exponent; -0.0 is 0
    if text[9:12] == "000":
        return text[:9] + text[12:]
    return text


def format_answer(value: object) -> str:
    """The response data for what a query function returned (see the module docstring)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is float:
        return _nr3(value)  # type: ignore[arg-type]
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    return _format_other(value)


def _format_other(value: object) -> str:
    """The response data for the rarer kinds of answer, subclasses included."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, enum.Enum):
        found = keyword_forms(value.name)
        return found[0] if found else value.name.upper()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _nr3(float(value))
    if isinstance(value, (tuple, list)):
        return ",".join(format_answer(item) for item in value)
    raise TypeError(
        f"a query function returned {value!r}; a query answers a str, int, float, bool, "
        "an Enum member, or a tuple or list of these"
    )
