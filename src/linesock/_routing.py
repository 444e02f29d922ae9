"""Command routing: one typed Python function per command, found by the line's first word.

Design notes
------------
:class:`Commands` is an ordinary handler (``commands(line) -> answer``) and,
like :class:`~linesock.Session`, knows nothing of sockets: it splits the
line, picks the command by its first word, converts the other words by the
function's type hints and calls the function.  Every way a line can be wrong
(unbalanced quotes, unknown name, argument count, a value that does not
convert) is answered with one ``error ...`` line; docs/routing.md lists them.

Work happens at registration.  The signature is read once
(``inspect.signature`` and ``typing.get_type_hints``, so string annotations
from ``from __future__ import annotations`` resolve) and turned into a list
of converter functions, the accepted argument counts and the help line.
Anything the router could not call correctly (a keyword-only parameter, an
annotation it cannot convert to) is a ``TypeError`` then, never a surprise on
the wire.

Speed: ``shlex.split`` costs over 10 microseconds even for ``set 1 2``,
more than all the rest of routing.  Without a quote or a backslash in the
line, shlex splits exactly at runs of space, tab, CR and LF; so only lines
holding a quote or a backslash pay for shlex.  The others are split by
``str.split`` when they are printable (their only whitespace is then the
space, on which both agree) or else by one regular expression.  Per command
there is then one dictionary look-up, one converter call per argument and
the function call: about 2 to 3 microseconds for ``set 1 2.5``.

Exceptions: a command function that raises is a bug, and is left to the
server, which logs its traceback and answers nothing (protocol rule 8);
turning it into an error line would hide the traceback.  A function that
wants to refuse a request raises :class:`CommandError` (or returns its own
error line), which becomes ``error NAME: MESSAGE``.
"""

from __future__ import annotations

import inspect
import re
import shlex
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, overload

from ._routing_types import (
    Parameter,
    echo,
    optional_of,
    read_parameter,
)
from ._state import State

__all__ = ["CommandError", "Commands"]

_Function = TypeVar("_Function", bound=Callable[..., Any])

# The words of a line without quotes or backslashes, exactly as shlex.split
# finds them: shlex's whitespace is these four characters and nothing else
# (not vertical tab, not NBSP, unlike str.split).
_split_plain: Final = re.compile(r"[^ \t\r\n]+").findall
# A command name must be one word that needs no quoting.
_COMMAND_NAME: Final = re.compile(r"[^\s'\"\\]+")
# The server answers these lines itself; a command of that name never runs.
_SERVER_BUILTINS: Final = frozenset({"ping", "disconnect", "shutdown"})


class CommandError(Exception):
    """Raise in a command function to answer ``error NAME: MESSAGE`` instead.

    For requests the function refuses (a value out of range, a state that
    does not allow it).  Any other exception is a bug: the server logs it
    and the command gets no answer.
    """


def _plural(count: int) -> str:
    """``1 argument`` or ``N arguments``."""
    return "1 argument" if count == 1 else f"{count} arguments"


class _Command:
    """One registered command: its function, parameters and argument counts."""

    __slots__ = (
        "converters",
        "expected",
        "function",
        "is_async",
        "maximum",
        "minimum",
        "name",
        "parameters",
        "signature",
        "summary",
        "variadic",
        "variadic_converter",
        "without_default",
    )

    def __init__(self, name: str, function: Callable[..., Any]) -> None:
        """Read *function*'s signature and prepare to call it for command *name*."""
        self.name: Final = name
        self.function: Final = function
        label = f"command {name!r} ({getattr(function, '__qualname__', None) or repr(function)})"
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{label}: cannot read its signature: {exc}") from None
        hints = _type_hints(label, function)
        parameters: list[Parameter] = []
        variadic: Parameter | None = None
        minimum = 0
        without_default = 0  # parameters without a default: passed None when no word came
        for parameter in signature.parameters.values():
            kind = parameter.kind
            if kind is parameter.KEYWORD_ONLY or kind is parameter.VAR_KEYWORD:
                what = "**" + parameter.name if kind is parameter.VAR_KEYWORD else parameter.name
                raise TypeError(
                    f"{label}: parameter {what!r} is keyword-only; a command's "
                    "arguments are positional"
                )
            hint = hints.get(parameter.name, str)
            if kind is parameter.VAR_POSITIONAL:
                variadic = read_parameter(label, parameter.name, hint)
                continue
            optional_type = optional_of(hint)
            required = optional_type is None and parameter.default is parameter.empty
            if required and len(parameters) > minimum:
                raise TypeError(
                    f"{label}: the required parameter {parameter.name!r} follows an "
                    "optional one; optional arguments must come last"
                )
            converted = read_parameter(label, parameter.name, optional_type or hint)
            parameters.append(converted)
            if required:
                minimum += 1
            if parameter.default is parameter.empty:
                without_default += 1
        self.parameters: Final = tuple(parameters)
        self.variadic: Final = variadic
        self.converters: Final = tuple(parameter.convert for parameter in parameters)
        self.variadic_converter: Final = variadic.convert if variadic else str
        self.minimum: Final = minimum
        self.maximum: Final = sys.maxsize if variadic else len(parameters)
        self.without_default: Final = without_default
        self.is_async: Final = _is_async(function)
        self.expected: Final = self._expected()
        shown = [p.shown if i < minimum else f"[{p.shown}]" for i, p in enumerate(parameters)]
        if variadic is not None:
            shown.append(f"[{variadic.shown} ...]")
        self.signature: Final = " ".join([name, *shown])
        doc = inspect.getdoc(function)
        self.summary: Final = doc.strip().splitlines()[0] if doc and doc.strip() else ""

    def _expected(self) -> str:
        """The ``expected ...`` part of the argument-count error line."""
        if self.maximum == sys.maxsize:
            return f"expected at least {_plural(self.minimum)}"
        if self.minimum == self.maximum:
            if self.minimum == 0:
                return "expected no arguments"
            return f"expected {_plural(self.minimum)}"
        return f"expected {self.minimum} to {self.maximum} arguments"

    def run(self, words: list[str]) -> Any:
        """Convert the arguments in *words* (the name first) and call the function."""
        count = len(words) - 1
        if count < self.minimum or count > self.maximum:
            return f"error {self.name}: {self.expected}, got {count}"
        converters = self.converters
        if count > len(converters):  # the extra words go to *args
            converters += (self.variadic_converter,) * (count - len(converters))
        arguments: list[object] = []
        append = arguments.append
        try:
            # A plain loop: faster than a comprehension on Python 3.10 and 3.11.
            for convert, text in zip(converters, words[1:], strict=False):
                append(convert(text))
        except ValueError:
            return self._invalid(words[1:])
        if count < self.without_default:
            arguments += [None] * (self.without_default - count)
        if self.is_async:
            return self._run_async(arguments)
        try:
            return self.function(*arguments)
        except CommandError as exc:
            return self.refused(exc)

    async def _run_async(self, arguments: list[object]) -> Any:
        """Await an ``async def`` command; the function is called only once this runs."""
        try:
            return await self.function(*arguments)
        except CommandError as exc:
            return self.refused(exc)

    def refused(self, exc: CommandError) -> str:
        """The error line for a :class:`CommandError` (on one line whatever its message)."""
        return f"error {self.name}: {' '.join(str(exc).splitlines())}"

    def _invalid(self, arguments: list[str]) -> str:
        """The error line for the first of *arguments* that does not convert."""
        variadic = self.variadic
        for index, text in enumerate(arguments):
            parameter = self.parameters[index] if index < len(self.parameters) else variadic
            assert parameter is not None  # the count was checked
            try:
                parameter.convert(text)
            except ValueError:
                return (
                    f"error {self.name}: {parameter.name}: invalid {parameter.type_name} "
                    f"{echo(text)}{parameter.choices}"
                )
        raise AssertionError("a conversion failed, then succeeded")  # pragma: no cover


def _type_hints(label: str, function: Callable[..., Any]) -> dict[str, object]:
    """The resolved annotations of *function* (of ``__call__`` for a callable object)."""
    target: object = function
    if not (inspect.isroutine(function) or inspect.isclass(function)):
        target = type(function).__call__
    try:
        return typing.get_type_hints(target)
    except Exception as exc:  # a NameError for an undefined name, mostly
        raise TypeError(f"{label}: cannot resolve its type hints: {exc}") from None


def _is_async(function: Callable[..., Any]) -> bool:
    """Whether calling *function* gives a coroutine (``async def``, also as a method or object)."""
    if inspect.isroutine(function) or inspect.isclass(function):
        return inspect.iscoroutinefunction(function)
    return inspect.iscoroutinefunction(type(function).__call__)


class Commands:
    """A handler that routes each command line to the function registered for its first word.

    >>> commands = Commands()
    >>> @commands.command("set")
    ... def set_value(channel: int, value: float) -> str:
    ...     '''Set a channel's output.'''
    ...     return f"channel {channel} = {value}"
    >>> commands("set 2 0.5")
    'channel 2 = 0.5'
    >>> commands("set 2")
    'error set: expected 2 arguments, got 1'
    >>> commands("set x 0.5")
    "error set: channel: invalid int 'x'"

    The line is split like a shell does (``shlex``), so ``say "two words"``
    passes one argument.  Command names are case-sensitive.  The words after
    the name are converted by the function's type hints: ``str`` (also
    unannotated), ``int``, ``float``, ``bool`` (true/false, on/off, yes/no,
    1/0, any case), an ``enum.Enum`` (a member's name in any case, or its
    value), ``T | None`` or a default for optional trailing arguments, and
    ``*args: T`` for any number more.  The function's return value is the
    answer, as for any handler; an ``async def`` function makes the call
    return an awaitable of it (for :func:`linesock.aio.start_server`).

    A built-in ``help`` lists the commands (``help NAME`` shows one);
    registering your own ``help`` replaces it.  docs/routing.md lists every
    error line.

    ``Commands(state={"volts": 0.0})`` gives the commands a :attr:`state`
    that the control port reads and sets, and :meth:`reset` restores
    (docs/control.md).
    """

    def __init__(self, *, state: Mapping[str, Any] | None = None) -> None:
        """Start with no commands but the built-in ``help``, and *state* (default: none)."""
        self._builtin_help: Final = _Command("help", self._help)
        self._commands: dict[str, _Command] = {"help": self._builtin_help}
        #: What the control port reads and sets (``state``, ``get``, ``set``); the
        #: command functions read and change it too.
        self.state: Final = State(state or {})

    def reset(self) -> None:
        """Restore :attr:`state` to the values it was made with (the control port's ``reset``)."""
        self.state.reset()

    @overload
    def command(self, name: _Function, /) -> _Function: ...

    @overload
    def command(self, name: str | None = None, /) -> Callable[[_Function], _Function]: ...

    def command(
        self, name: str | _Function | None = None, /
    ) -> _Function | Callable[[_Function], _Function]:
        """Register the decorated function as the command *name* (default: its own name).

        ``@commands.command("set")``, ``@commands.command()`` and
        ``@commands.command`` all work; the function is returned unchanged.

        Raises:
            TypeError: the name is taken, not a single word, or a server
                built-in; or the signature has a parameter the router cannot
                fill (keyword-only, ``**kwargs``, an unsupported annotation,
                a required parameter after an optional one).
        """
        if callable(name):
            return self.add(name)

        def register(function: _Function) -> _Function:
            return self.add(function, name)

        return register

    def add(self, function: _Function, name: str | None = None) -> _Function:
        """Register *function* (a bound method too) as the command *name*; return it.

        *name* defaults to the function's ``__name__``.  Raises ``TypeError``
        as :meth:`command` does.
        """
        if name is None:
            name = getattr(function, "__name__", None)
            if not isinstance(name, str):
                raise TypeError(f"{function!r} has no __name__; give the command a name")
        if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
            raise TypeError(
                f"command name {name!r}: a name is one word without spaces, quotes or backslashes"
            )
        if name in _SERVER_BUILTINS:
            raise TypeError(
                f"command name {name!r}: the server answers {name!r} itself, "
                "so this command would never run"
            )
        existing = self._commands.get(name)
        if existing is not None and existing is not self._builtin_help:
            raise TypeError(f"command name {name!r} is already registered")
        if not callable(function):
            raise TypeError(f"command {name!r}: {function!r} is not callable")
        self._commands[name] = _Command(name, function)
        return function

    def __call__(self, line: str) -> Any:
        """Answer one command line: the command function's answer, or an ``error ...`` line.

        For an ``async def`` command function, returns an awaitable of the answer.
        """
        if '"' in line or "'" in line or "\\" in line:
            try:
                words = shlex.split(line)
            except ValueError as exc:
                reason = str(exc)
                return f"error invalid quoting: {reason[:1].lower()}{reason[1:]}"
        elif line.isprintable():
            # Its only whitespace is the space, so str.split agrees with shlex.
            words = line.split()
        else:
            words = _split_plain(line)
        if not words:
            return "error empty command"
        command = self._commands.get(words[0])
        if command is None:
            return f"error unknown command {echo(words[0])}"
        return command.run(words)

    def __contains__(self, name: object) -> bool:
        """Tell whether *name* is a registered command (the built-in ``help`` included)."""
        return name in self._commands

    def __repr__(self) -> str:
        """List the command names."""
        return f"<linesock.Commands {' '.join(self._commands)}>"

    def _help(self, command: str | None = None) -> str | list[str]:
        """List the commands, or show one."""
        if command is not None:
            found = self._commands.get(command)
            if found is None:
                return f"error unknown command {echo(command)}"
            return _help_line(found, len(found.signature))
        listed = [c for c in self._commands.values() if c is not self._builtin_help]
        if self._commands.get("help") is self._builtin_help:
            listed.append(self._builtin_help)
        width = max(len(c.signature) for c in listed)
        return [_help_line(c, width) for c in listed]


def _help_line(command: _Command, width: int) -> str:
    """``SIGNATURE  SUMMARY``, the signature padded to *width*."""
    if not command.summary:
        return command.signature
    return f"{command.signature:<{width}}  {command.summary}"
