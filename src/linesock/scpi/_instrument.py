"""The SCPI instrument: a linesock handler that runs a line of SCPI commands against a tree.

Design notes
------------
A line is one SCPI program message.  It is split at the semicolons outside
quoted strings into program message units, each a header (``VOLT``,
``:MEAS:CURR?``, ``*IDN?``) and its parameters.  The header of a unit after
a semicolon is relative to the path the previous unit left, the previous
header up to its last colon; a leading colon goes back to the root, and a
common command (``*RST``) leaves the path alone.  The path is kept as that
text, so a relative header resolves as the text ``path + header`` from the
root, which is the form the cache is keyed by: one dictionary look-up per
unit once a spelling has been seen, whatever its case or form.

Errors are queued, never answered.  A command error (-1xx) ends the line,
since the units after it cannot be trusted to start where the parser
thinks; any other error affects its own unit only.  The answers of the
queries that ran are joined with semicolons into one line, as IEEE 488.2
joins response message units, and a line without a query answers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, TypeVar

from .._state import State
from ._answers import quote
from ._data import split_outside_quotes
from ._errors import DEFAULT_ERROR_QUEUE_DEPTH, SCPIError
from ._functions import Entry
from ._headers import HeaderTree, parse_notation
from ._status import StatusRegisters

__all__ = ["Instrument"]

_Function = TypeVar("_Function", bound=Callable[..., Any])

_COMMON_HEADER: Final = re.compile(r"\*[A-Za-z]+\??")
# Common commands a registration may replace; the others carry the status model.
_REPLACEABLE: Final = frozenset({"*TST?", "*OPT?"})
# Resolved spellings kept; a client sending ever new spellings cannot grow it past this.
_CACHE_LIMIT: Final = 4096
#: What ``SYSTem:VERSion?`` answers: the SCPI version the tree follows.
SCPI_VERSION: Final = "1999.0"


class _Resolved(NamedTuple):
    """A header as one spelling resolved it: the function, its suffixes, the path it leaves."""

    entry: Entry
    suffixes: dict[str, int]
    path: str | None  # None: a common command, which keeps the path


class Instrument:
    """A SCPI command tree that is a linesock handler: ``instrument(line) -> answer or None``.

    >>> instrument = Instrument("linesock,PSU-1,SIM-0001,1.0")
    >>> volts = [0.0]
    >>> @instrument.command("[SOURce]:VOLTage[:LEVel]")
    ... def set_voltage(value: float) -> None:
    ...     volts[0] = value
    >>> @instrument.query("[SOURce]:VOLTage[:LEVel]")
    ... def voltage() -> float:
    ...     return volts[0]
    >>> instrument("VOLT 3.3;VOLT?")
    '+3.300000E+00'
    >>> instrument("sour:volt:lev?;*IDN?")
    '+3.300000E+00;linesock,PSU-1,SIM-0001,1.0'
    >>> instrument("VOLTS 2")  # no answer: the error is queued
    >>> instrument("SYST:ERR?")
    '-113,"Undefined header"'

    Headers use the notation of instrument manuals (upper-case short form,
    ``[optional]`` keywords, ``<name>`` numeric suffixes); parameters are
    converted by the function's type hints.  The IEEE 488.2 common commands
    (``*IDN?``, ``*RST``, ``*CLS``, ``*OPC``, ``*OPC?``, ``*WAI``, ``*ESR?``,
    ``*ESE``, ``*ESE?``, ``*SRE``, ``*SRE?``, ``*STB?``, ``*TST?``,
    ``*OPT?``) and ``SYSTem:ERRor[:NEXT]?``, ``SYSTem:ERRor:COUNt?``,
    ``SYSTem:ERRor:ALL?`` and ``SYSTem:VERSion?`` are built in.
    docs/instruments.md describes all of it.

    ``Instrument(..., state={"volts": 0.0})`` gives the functions a
    :attr:`state` to keep their settings in, which the control port reads
    and sets and ``*RST`` restores (docs/control.md).
    """

    def __init__(
        self,
        identity: str = "linesock,Instrument,0,1.0",
        *,
        error_queue_depth: int = DEFAULT_ERROR_QUEUE_DEPTH,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """An instrument that answers ``*IDN?`` with *identity*; its error queue is that deep.

        *state* is the instrument's settings as ``*RST`` leaves them (default: none).
        """
        if not isinstance(identity, str) or "\n" in identity or "\r" in identity:
            raise ValueError(f"the identity is one line of text, not {identity!r}")
        #: What ``*IDN?`` answers: maker, model, serial number, firmware.
        self.identity = identity
        #: The settings the control port reads and sets; ``*RST`` restores the first ones.
        self.state: Final = State(state or {})
        self._status: Final = StatusRegisters(error_queue_depth)
        self._tree: Final = HeaderTree()
        self._common: dict[str, Entry] = {}
        self._cache: dict[str, _Resolved] = {}
        self._reset_hooks: list[Callable[[], object]] = []
        self._install_builtins()

    # -- registering ---------------------------------------------------------

    def command(self, header: str) -> Callable[[_Function], _Function]:
        """Register the decorated function as the setter of *header*; it answers nothing.

        ``@instrument.command("[SOURce]:VOLTage[:LEVel]")``; the function is
        returned unchanged, and a bound method works too
        (``instrument.command("VOLT")(self.set_voltage)``).

        Raises:
            TypeError: the header is not in the notation, is taken, clashes
                with another keyword or ends in ``?``; or the function's
                signature has a parameter the instrument cannot fill.
        """

        def register(function: _Function) -> _Function:
            self._register(header, function, query=False)
            return function

        return register

    def query(self, header: str) -> Callable[[_Function], _Function]:
        """Register the decorated function as the query *header*``?``; its result is the answer.

        *header* may be written with or without its ``?``.  Raises
        ``TypeError`` as :meth:`command` does.
        """

        def register(function: _Function) -> _Function:
            self._register(header, function, query=True)
            return function

        return register

    def on_reset(self, function: _Function) -> _Function:
        """Register *function* (no arguments) to run on ``*RST``, after those registered before."""
        if not callable(function):
            raise TypeError(f"on_reset: {function!r} is not callable")
        self._reset_hooks.append(function)
        return function

    def _register(
        self, header: str, function: Callable[..., Any], query: bool, builtin: bool = False
    ) -> None:
        """Add *function* under *header*, or raise ``TypeError`` naming the header."""
        if not isinstance(header, str):
            raise TypeError(f"an SCPI header is a str, not {header!r}")
        text = header.strip()
        if query and text.endswith("?"):
            text = text[:-1]
        elif text.endswith("?"):
            raise TypeError(
                f"SCPI command {header!r}: a header ending in '?' is a query; "
                "register it with query()"
            )
        if text.startswith("*"):
            self._register_common(header, text, function, query, builtin)
        else:
            try:
                keywords = parse_notation(text)
            except ValueError as exc:
                raise TypeError(f"SCPI header {header!r}: {exc}") from None
            suffixes = tuple(keyword.suffix for keyword in keywords if keyword.suffix)
            if len(set(suffixes)) != len(suffixes):
                raise TypeError(f"SCPI header {header!r}: two keywords name the same <suffix>")
            entry = Entry(header, function, query, suffixes)
            try:
                self._tree.add(keywords, query, entry)
            except ValueError as exc:
                raise TypeError(f"SCPI header {header!r}: {exc}") from None
        self._cache.clear()

    def _register_common(
        self, header: str, text: str, function: Callable[..., Any], query: bool, builtin: bool
    ) -> None:
        """Add a common command (``*TRG``); the built-in ones are taken, but *TST? and *OPT?."""
        if not _COMMON_HEADER.fullmatch(text):
            raise TypeError(
                f"SCPI header {header!r}: a common command is '*' and letters (*TRG, *IDN?)"
            )
        key = text.upper() + ("?" if query else "")
        if key in self._common and not builtin and key not in _REPLACEABLE:
            raise TypeError(f"SCPI header {header!r}: {key} is built in")
        self._common[key] = Entry(header, function, query, ())

    def _install_builtins(self) -> None:
        """Register the common commands and SYSTem:ERRor."""
        status = self._status
        builtins: list[tuple[str, Callable[..., Any], bool]] = [
            ("*IDN", lambda: self.identity, True),
            ("*RST", self.reset, False),
            ("*CLS", self.clear_status, False),
            ("*OPC", status.operation_complete, False),
            ("*OPC", lambda: 1, True),
            ("*WAI", lambda: None, False),
            ("*ESR", status.read_event_status, True),
            ("*ESE", status.set_event_enable, False),
            ("*ESE", status.read_event_enable, True),
            ("*SRE", status.set_service_enable, False),
            ("*SRE", status.read_service_enable, True),
            ("*STB", status.read_status_byte, True),
            ("*TST", lambda: 0, True),
            ("*OPT", lambda: "0", True),
            ("SYSTem:ERRor[:NEXT]", status.next_error, True),
            ("SYSTem:ERRor:COUNt", status.error_count, True),
            ("SYSTem:ERRor:ALL", status.all_errors, True),
            ("SYSTem:VERSion", lambda: SCPI_VERSION, True),
        ]
        for header, function, query in builtins:
            self._register(header, function, query, builtin=True)

    # -- what the built-in commands do, for tests and fixtures too ---------------

    def reset(self) -> None:
        """What ``*RST`` does: restore :attr:`state`, then run the :meth:`on_reset` functions.

        The status registers and the error queue are left as they are (that
        is ``*CLS``, :meth:`clear_status`).  The control port's ``reset`` calls it.
        """
        self.state.reset()
        for hook in self._reset_hooks:
            hook()

    def clear_status(self) -> None:
        """What ``*CLS`` does: clear the event status register and the error queue."""
        self._status.clear()

    def queue_error(self, error: SCPIError | int, message: str | None = None) -> None:
        """Queue an error as if a command had raised it: ``queue_error(-222)``.

        For events outside a command (a simulated fault, say).  Sets the
        error's bit of the event status register.
        """
        self._status.queue(error if isinstance(error, SCPIError) else SCPIError(error, message))

    @property
    def errors(self) -> tuple[tuple[int, str], ...]:
        """The queued errors as ``(number, message)``, oldest first, left in the queue."""
        return self._status.errors.entries()

    @property
    def event_status(self) -> int:
        """The standard event status register, without clearing it as ``*ESR?`` does."""
        return self._status.event_status

    @property
    def status_byte(self) -> int:
        """The status byte, as ``*STB?`` answers it."""
        return self._status.status_byte

    # -- running a line --------------------------------------------------------

    def __call__(self, line: str) -> str | None:
        """Run one line of SCPI commands; the answers of its queries, joined by ``;``, or None."""
        answers: list[str] = []
        if ";" not in line:  # one command, the common case: no splitting, no loop
            unit = line.strip()
            if unit:
                self._run(unit, "", answers)
            return answers[0] if answers else None
        units = split_outside_quotes(line, ";")
        path = ""
        last = len(units) - 1
        for index, text in enumerate(units):
            unit = text.strip()
            if not unit:
                if index and index == last:
                    break  # one semicolon after the last command
                if last:
                    self._status.queue(SCPIError(-102))  # an empty command between two
                break
            new_path = self._run(unit, path, answers)
            if new_path is None:
                break
            path = new_path
        if not answers:
            return None
        return answers[0] if len(answers) == 1 else ";".join(answers)

    def _run(self, unit: str, path: str, answers: list[str]) -> str | None:
        """Run one command with the *path* the one before left; the new path, None to stop."""
        parts = unit.split(None, 1)
        header = parts[0]
        key = path + header if path and header[0] not in "*:" else header
        try:
            resolved = self._cache.get(key) or self._resolve(key)
        except SCPIError as error:
            self._status.queue(error)
            return None
        try:
            answer = resolved.entry.run(parts[1] if len(parts) > 1 else "", resolved.suffixes)
        except SCPIError as error:
            self._status.queue(error)
            if error.ends_line:
                return None
        else:
            if answer is not None:
                answers.append(answer)
        return path if resolved.path is None else resolved.path

    def _resolve(self, key: str) -> _Resolved:
        """Resolve the header *key* from the root (and cache it); ``SCPIError`` if it cannot."""
        if key[0] == "*":
            entry = self._common.get(key.upper())
            if entry is None:
                raise SCPIError(-113 if _COMMON_HEADER.fullmatch(key) else -102)
            resolved = _Resolved(entry, {}, None)
        else:
            text = key[1:] if key[0] == ":" else key
            query = text.endswith("?")
            body = text[:-1] if query else text
            binding, values = self._tree.resolve(body, query)
            entry = binding.entry
            suffixes = entry.suffixes(binding.suffix_names, values, binding.omitted_suffixes)
            resolved = _Resolved(entry, suffixes, body[: body.rfind(":") + 1])
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[key] = resolved
        return resolved

    def __contains__(self, header: object) -> bool:
        """Whether *header* (``VOLT``, ``sour:volt:lev``, ``*IDN?``) names a command or query."""
        if not isinstance(header, str):
            return False
        header = header.strip()
        if header in self._cache:
            return True
        if not header:
            return False
        keys = (header,) if header.endswith("?") else (header, header + "?")
        for key in keys:
            try:
                self._cache.get(key) or self._resolve(key)
            except SCPIError:
                continue
            return True
        return False

    def __repr__(self) -> str:
        """The identity."""
        return f"<linesock.scpi.Instrument {quote(self.identity)}>"
