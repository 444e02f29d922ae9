"""What a handler exposes to the control port: a ``state`` mapping, and a ``reset()``.

Design notes
------------
The protocol is two attributes, looked up on the handler and, for a bound
method (``Server(device.handle)``), on the object it is bound to:

* ``state``: a :class:`~collections.abc.Mapping` of names to values, read by
  ``state`` and ``get``; a :class:`~collections.abc.MutableMapping` also
  takes ``set``.  An attribute ``state`` that is not a mapping is not state.
* ``reset()``: called, without arguments, by ``reset``.

``set NAME VALUE`` converts VALUE to the type of the current value (bool,
int, float, str or an Enum, as :class:`~linesock.Commands` converts
arguments), so a test cannot turn a number into text by mistake; a name
that is not there is refused rather than created.  The mapping may refuse
a value by raising ``ValueError`` (a pyvisa-sim property's specs do).

Values are shown the way ``set`` takes them back: a str that holds spaces
or quotes is shell-quoted, a bool is ``true`` or ``false``, an Enum its
member's name, a float its shortest repr.

:class:`State` is the mapping :class:`~linesock.Commands` and
:class:`~linesock.scpi.Instrument` hold: a dict that remembers its first
values, so that ``reset()`` can give them back.
"""

from __future__ import annotations

import copy
import enum
import shlex
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from ._routing_types import read_parameter

__all__ = ["ExposedState", "State", "convert_value", "find_state", "set_value", "show_value"]

# A value shown holding one of these would not read back as one word of
# ``shlex.split``, which splits control lines.
_NEEDS_QUOTES: Final = frozenset(" \t\r\n\"'\\")


class State(dict[str, Any]):
    """A dict of what a handler exposes to the control port; :meth:`reset` restores it.

    >>> state = State(volts=0.0, output=False)
    >>> state["volts"] = 3.3
    >>> state.reset()
    >>> state
    {'volts': 0.0, 'output': False}

    The first values are a deep copy of those it was made with;
    :meth:`remember` makes the current values the ones a reset restores.
    """

    def __init__(self, *args: Any, **values: Any) -> None:
        """Hold the values given, as :class:`dict` takes them; remember them for :meth:`reset`."""
        super().__init__(*args, **values)
        self._first: dict[str, Any] = copy.deepcopy(dict(self))

    def remember(self) -> None:
        """Make the current values the ones :meth:`reset` restores."""
        self._first = copy.deepcopy(dict(self))

    def reset(self) -> None:
        """Restore the remembered values (entries added since are removed)."""
        first = copy.deepcopy(self._first)
        self.clear()
        self.update(first)


@dataclass(frozen=True)
class ExposedState:
    """What a handler exposes, found by :func:`find_state`."""

    state: Mapping[Any, Any] | None
    """The handler's ``state`` mapping, or None: it exposes none."""
    reset: Callable[[], object] | None
    """The handler's ``reset()``, or None: it cannot reset."""


def find_state(handler: object) -> ExposedState:
    """The ``state`` and ``reset()`` of *handler*, or of the object a bound-method handler is of."""
    owners = [handler]
    bound_to = getattr(handler, "__self__", None)
    if bound_to is not None:
        owners.append(bound_to)
    state: Mapping[Any, Any] | None = None
    reset: Callable[[], object] | None = None
    for owner in owners:
        found = getattr(owner, "state", None)
        if state is None and isinstance(found, Mapping):
            state = found
        method = getattr(owner, "reset", None)
        if reset is None and callable(method):
            reset = method
    return ExposedState(state, reset)


def show_value(value: object) -> str:
    """*value* as the control port shows it: one word that ``set`` reads back as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    shown = text if text and _NEEDS_QUOTES.isdisjoint(text) else shlex.quote(text)
    # One line whatever the value: a line end inside would end the answer.
    return shown.replace("\r", "\\r").replace("\n", "\\n")


def convert_value(current: object, text: str) -> object:
    """*text* converted to the type of *current* (``ValueError`` saying why it cannot be).

    bool (true/false, on/off, yes/no, 1/0), int, float, str and Enum values
    convert as :class:`~linesock.Commands` converts arguments; a value of any
    other type cannot be set from text.
    """
    kind = type(current)
    try:
        parameter = read_parameter("set", "value", kind)
    except TypeError:
        raise ValueError(
            f"it holds a {kind.__name__}, which cannot be set from text "
            "(bool, int, float, str or an Enum can)"
        ) from None
    try:
        return parameter.convert(text)
    except ValueError:
        raise ValueError(f"invalid {parameter.type_name} {text!r}{parameter.choices}") from None


def set_value(state: MutableMapping[Any, Any], name: str, text: str) -> object:
    """Set *name* of *state* to *text* converted to its current type; return the new value."""
    if name not in state:
        raise KeyError(name)
    value = convert_value(state[name], text)
    state[name] = value
    return value
