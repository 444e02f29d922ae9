"""How :class:`~linesock.Commands` converts a command's words by the function's type hints.

Each parameter's hint becomes a converter (``int``, ``float``, ``bool``,
an ``Enum``, an optional of one of these, ``str``) once, when the command
is registered; a hint the router cannot convert to is a ``TypeError`` then.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeGuard

__all__ = [
    "Parameter",
    "echo",
    "enum_converter",
    "is_class",
    "optional_of",
    "read_parameter",
    "show_hint",
    "to_bool",
]

_BOOLEANS: Final = {
    "true": True,
    "on": True,
    "yes": True,
    "1": True,
    "false": False,
    "off": False,
    "no": False,
    "0": False,
}
# An argument echoed in an error line is cut to this many characters, so a
# megabyte argument does not come back whole.
_ECHO_LIMIT: Final = 40


def echo(text: str) -> str:
    """Client text quoted for an error line: its repr, cut to ``_ECHO_LIMIT`` characters."""
    if len(text) > _ECHO_LIMIT:
        return repr(text[:_ECHO_LIMIT]) + "..."
    return repr(text)


def to_bool(text: str) -> bool:
    """Convert true/false, on/off, yes/no, 1/0 (any case)."""
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise ValueError(text) from None


def enum_converter(enum_type: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    """Convert a member name (any case) or the text of a member's value."""
    by_name = {name.lower(): member for name, member in enum_type.__members__.items()}
    by_value = {str(member.value): member for member in enum_type}

    def convert(text: str) -> enum.Enum:
        member = by_name.get(text.lower())
        if member is None:
            member = by_value.get(text)
            if member is None:
                raise ValueError(text)
        return member

    return convert


@dataclass(frozen=True)
class Parameter:
    """How one parameter's word is converted, reported and shown in help."""

    name: str
    convert: Callable[[str], object]
    type_name: str  # as error lines name it: "int", "Setting"
    choices: str  # for error lines: " (one of: a, b)", or ""
    shown: str  # for help: "<channel:int>"


def read_parameter(function_name: str, name: str, hint: object) -> Parameter:
    """Build the converter for a parameter annotated with *hint*; ``TypeError`` if unsupported."""
    if hint is str:
        return Parameter(name, str, "str", "", f"<{name}>")
    if hint is bool:
        return Parameter(name, to_bool, "bool", "", f"<{name}:bool>")
    if hint is int or hint is float:
        type_name = hint.__name__
        return Parameter(name, hint, type_name, "", f"<{name}:{type_name}>")
    if is_class(hint) and issubclass(hint, enum.Enum):
        names = [member_name.lower() for member_name in hint.__members__]
        if not names:
            raise TypeError(f"{function_name}: {name}: the enum {hint.__name__} has no members")
        return Parameter(
            name,
            enum_converter(hint),
            hint.__name__,
            f" (one of: {', '.join(names)})",
            f"<{name}:{'|'.join(names)}>",
        )
    raise TypeError(
        f"{function_name}: parameter {name!r} is annotated {show_hint(hint)}; a command "
        "parameter must be str, int, float, bool, an Enum, or one of these | None"
    )


def is_class(hint: object) -> TypeGuard[type]:
    """Whether *hint* is a plain class (``list[int]`` passes for one with ``isinstance``)."""
    return isinstance(hint, type) and typing.get_origin(hint) is None


def show_hint(hint: object) -> str:
    """An annotation as a person would write it."""
    return hint.__name__ if is_class(hint) else repr(hint)


def optional_of(hint: object) -> object | None:
    """For ``T | None`` (or ``Optional[T]``) return T; None for any other annotation."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members: tuple[object, ...] = typing.get_args(hint)
        others = [member for member in members if member is not type(None)]
        if len(others) == 1 and len(members) == 2:
            return others[0]
    return None
