"""A registered command or query function: its parameters, read once, and how to call it.

Design notes
------------
As in :class:`linesock.Commands`, the work happens at registration: the
signature and type hints are read once and turned into one converter per
parameter, the accepted parameter counts and, for the parameters named by a
header's ``<name>``, the suffix bounds.  Everything the instrument could not
call correctly is a ``TypeError`` then, never a surprise on the wire.

At run time :meth:`Entry.run` splits the parameters at the commas outside
quotes, checks their number (-109 missing, -108 too many), converts each
(the converter raises the :class:`SCPIError` for a bad one) and calls the
function, positionally when no suffix is involved (the common case, and
the fastest), by keyword otherwise.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from ._answers import format_answer
from ._data import Converter, Number, converter_for, number_spec, optional_of
from ._data import split_outside_quotes as _split
from ._errors import SCPIError

__all__ = ["Entry"]


class Entry:
    """One registered header's function, ready to be called with a command's parameter text."""

    __slots__ = (
        "by_keyword",
        "converters",
        "data_names",
        "function",
        "header",
        "is_query",
        "maximum",
        "minimum",
        "suffix_specs",
        "variadic",
        "without_default",
    )

    def __init__(
        self, header: str, function: Callable[..., Any], is_query: bool, suffixes: tuple[str, ...]
    ) -> None:
        """Read *function*'s signature for *header*; ``TypeError`` for one it cannot call."""
        self.header: Final = header
        self.function: Final = function
        self.is_query: Final = is_query
        label = f"SCPI {'query' if is_query else 'command'} {header!r} ({_name(function)})"
        if not callable(function):
            raise TypeError(f"{label}: {function!r} is not callable")
        if _is_async(function):
            raise TypeError(f"{label}: an SCPI function is a plain function, not async def")
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{label}: cannot read its signature: {exc}") from None
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except Exception as exc:  # a NameError for an undefined name, mostly
            raise TypeError(f"{label}: cannot resolve its type hints: {exc}") from None
        try:
            read = _read(signature, hints, suffixes, is_query)
        except TypeError as exc:
            raise TypeError(f"{label}: {exc}") from None
        self.converters: Final = read.converters
        self.data_names: Final = read.data_names
        self.variadic: Final = read.variadic
        self.minimum: Final = read.minimum
        self.maximum: Final = sys.maxsize if read.variadic else len(read.converters)
        self.without_default: Final = read.without_default
        self.suffix_specs: Final = read.suffix_specs
        self.by_keyword: Final = read.by_keyword

    def suffixes(self, names: tuple[str, ...], values: list[int], omitted: tuple[str, ...]) -> Any:
        """The suffix keyword arguments: *values* for *names*, 1 for the *omitted*; -114 if out."""
        arguments = dict(zip(names, values, strict=True))
        for name in omitted:
            arguments[name] = 1
        for name, value in arguments.items():
            spec = self.suffix_specs[name]
            if (spec.minimum is not None and value < spec.minimum) or (
                spec.maximum is not None and value > spec.maximum
            ):
                raise SCPIError(-114)
        return arguments

    def run(self, text: str, suffixes: dict[str, int]) -> str | None:
        """Convert the parameter *text*, call the function, and return the answer (queries only)."""
        values = self._convert(_split(text, ",")) if text else []
        count = len(values)
        if count < self.minimum:
            raise SCPIError(-109)
        if count < self.without_default:
            values += [None] * (self.without_default - count)
        if suffixes and self.by_keyword:
            arguments = dict(zip(self.data_names, values, strict=False))
            result = self.function(**arguments, **suffixes)
        else:
            result = self.function(*values, **suffixes)
        if not self.is_query:
            return None
        if result is None:
            raise TypeError(f"the query function for {self.header!r} returned None")
        return format_answer(result)

    def _convert(self, items: list[str]) -> list[Any]:
        """Each parameter converted; -109/-108 if there are too few or too many, -102 if empty."""
        count = len(items)
        if count < self.minimum:
            raise SCPIError(-109)
        if count > self.maximum:
            raise SCPIError(-108)
        converters = self.converters
        if count > len(converters):
            assert self.variadic is not None
            converters += (self.variadic,) * (count - len(converters))
        values: list[Any] = []
        append = values.append
        # A plain loop: faster than a comprehension on Python 3.10 and 3.11.
        for convert, item in zip(converters, items, strict=False):
            stripped = item.strip()
            if not stripped:
                raise SCPIError(-102)  # an empty parameter: "VOLT ,2" or "VOLT 1,"
            append(convert(stripped))
        return values


class _Parameters(NamedTuple):
    """What a function's signature says about filling its parameters."""

    converters: tuple[Converter, ...]
    data_names: tuple[str, ...]
    variadic: Converter | None
    minimum: int
    without_default: int
    suffix_specs: dict[str, Number]
    by_keyword: bool


def _read(
    signature: inspect.Signature, hints: dict[str, Any], suffixes: tuple[str, ...], is_query: bool
) -> _Parameters:
    """Read the parameters of *signature*; ``TypeError`` (without the label) if one cannot."""
    reader = _Reader(suffixes)
    for parameter in signature.parameters.values():
        reader.add(parameter, hints.get(parameter.name, parameter.empty))
    missing = [name for name in suffixes if name not in reader.suffix_specs]
    if missing:
        raise TypeError(f"the header's <{missing[0]}> names no parameter of the function")
    if reader.by_keyword and reader.variadic is not None:
        raise TypeError("with *args, make the suffix parameters keyword-only")
    if not is_query and hints.get("return", type(None)) is not type(None):
        raise TypeError(
            "a command (setter) answers nothing, so it returns None; "
            "register a function that answers with query()"
        )
    return _Parameters(
        tuple(reader.converters),
        tuple(reader.names),
        reader.variadic,
        reader.minimum,
        reader.without_default,
        reader.suffix_specs,
        reader.by_keyword,
    )


class _Reader:
    """Collects what each parameter of a signature needs, in order."""

    def __init__(self, suffixes: tuple[str, ...]) -> None:
        """Nothing read yet; *suffixes* are the parameter names the header's ``<name>`` give."""
        self.suffixes: Final = suffixes
        self.converters: list[Converter] = []
        self.names: list[str] = []
        self.suffix_specs: dict[str, Number] = {}
        self.minimum = 0
        self.without_default = 0
        self.by_keyword = False
        self.variadic: Converter | None = None

    def add(self, parameter: inspect.Parameter, hint: object) -> None:
        """Read one parameter annotated *hint* (``parameter.empty`` when it has none)."""
        if parameter.name in self.suffixes:
            self.suffix_specs[parameter.name] = _suffix_spec(parameter, hint)
            self.by_keyword = self.by_keyword or parameter.kind is not parameter.KEYWORD_ONLY
        elif parameter.kind in (parameter.KEYWORD_ONLY, parameter.VAR_KEYWORD):
            raise TypeError(
                f"parameter {parameter.name!r} is keyword-only; a command's parameters "
                "are positional (only suffix parameters, named by <name>, may be keyword-only)"
            )
        elif parameter.kind is parameter.VAR_POSITIONAL:
            self.variadic = _converter(parameter.name, str if hint is parameter.empty else hint)
        else:
            self._add_data(parameter, str if hint is parameter.empty else hint)

    def _add_data(self, parameter: inspect.Parameter, hint: object) -> None:
        """Read a parameter that takes program data."""
        optional_type = optional_of(hint)
        required = optional_type is None and parameter.default is parameter.empty
        if required and len(self.names) > self.minimum:
            raise TypeError(
                f"the required parameter {parameter.name!r} follows an optional one; "
                "optional parameters must come last"
            )
        self.converters.append(_converter(parameter.name, optional_type or hint))
        self.names.append(parameter.name)
        self.minimum += required
        self.without_default += parameter.default is parameter.empty


def _converter(name: str, hint: object) -> Converter:
    """The converter for parameter *name*, with the name in the ``TypeError``."""
    try:
        return converter_for(hint)
    except TypeError as exc:
        raise TypeError(f"parameter {name!r} {exc}") from None


def _suffix_spec(parameter: inspect.Parameter, hint: object) -> Number:
    """The bounds of a suffix parameter, which must be an int."""
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        raise TypeError(f"the suffix parameter {parameter.name!r} cannot be *args or **kwargs")
    numeric = number_spec(int if hint is parameter.empty else hint)  # no annotation: an int
    if numeric is None or numeric[0] is not int:
        raise TypeError(
            f"the suffix parameter {parameter.name!r} must be an int "
            "(or Annotated[int, scpi.Number(minimum, maximum)])"
        )
    spec = numeric[1]
    if spec.default is not None or spec.unit is not None:
        raise TypeError(f"the suffix parameter {parameter.name!r} takes bounds only")
    return spec


def _name(function: object) -> str:
    """A function's qualified name, for messages."""
    return getattr(function, "__qualname__", None) or repr(function)


def _is_async(function: Callable[..., Any]) -> bool:
    """Whether calling *function* gives a coroutine."""
    if inspect.isroutine(function) or inspect.isclass(function):
        return inspect.iscoroutinefunction(function)
    return inspect.iscoroutinefunction(type(function).__call__)
