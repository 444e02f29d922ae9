"""SCPI headers: the notation functions are registered with, and the tree that resolves them.

Design notes
------------
A header is registered in the notation of instrument manuals:
``[SOURce]:VOLTage[:LEVel]``.  Each keyword's upper-case part is its short
form and the whole keyword its long form; a keyword in brackets may be left
out; ``<name>`` after a keyword (``OUTPut<n>``) takes a numeric suffix,
passed to the function's parameter *name*.  :func:`parse_notation` turns
the text into :class:`Keyword` objects and says exactly what is wrong with a
header it cannot read.

:class:`HeaderTree` holds one node per keyword and position, reachable by
both forms (upper-case).  Registering a header adds one path for each way of
leaving out its optional keywords (``[SOURce]:VOLTage[:LEVel]`` gives four),
all ending in the same :class:`Binding`, so resolving a header a client sent
is a walk of at most a few dictionary look-ups, with no backtracking.  The
instrument caches the result per exact spelling anyway.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Final

from ._data import keyword_forms
from ._errors import SCPIError

__all__ = ["Binding", "HeaderTree", "Keyword", "parse_notation"]

# One token of the notation: a bracket, a colon, a keyword with its <suffix>,
# or anything else (an error).
_NOTATION_TOKEN: Final = re.compile(r"\[|\]|:|([A-Za-z]+)(?:<([A-Za-z_][A-Za-z0-9_]*)>)?|.")
# A keyword as a client sends it: letters, then the optional numeric suffix.
_MNEMONIC: Final = re.compile(r"([A-Za-z]+)([0-9]*)")
# More optional keywords than this in one header would register 2**N paths.
_MAX_OPTIONAL: Final = 6


@dataclass(frozen=True)
class Keyword:
    """One keyword of a registered header."""

    short: str  # upper-case: VOLT
    long: str  # upper-case: VOLTAGE
    optional: bool
    suffix: str | None  # the parameter that gets its numeric suffix, or None

    @property
    def notation(self) -> str:
        """The keyword as the notation writes it: ``VOLTage``."""
        return self.short + self.long[len(self.short) :].lower()


def parse_notation(header: str) -> tuple[Keyword, ...]:
    """The keywords of *header* (``[SOURce]:VOLTage[:LEVel]``); ``ValueError`` if it is wrong."""
    reader = _NotationReader()
    for match in _NOTATION_TOKEN.finditer(header):
        reader.read(match)
    return reader.finish()


class _NotationReader:
    """Reads the tokens of one header in the notation, checking as it goes."""

    def __init__(self) -> None:
        """Nothing read yet."""
        self.keywords: list[Keyword] = []
        self.group: list[Keyword] | None = None  # the keywords inside an open bracket
        self.colons = 0  # colons since the last keyword

    def read(self, match: re.Match[str]) -> None:
        """Take one token: a bracket, a colon, or a keyword."""
        token = match[0]
        if token == "[":
            if self.group is not None:
                raise ValueError("brackets cannot nest")
            self.group = []
        elif token == "]":
            if self.group is None or len(self.group) != 1:
                raise ValueError("each [...] holds exactly one keyword")
            self.group = None
        elif token == ":":
            self.colons += 1
        elif match[1]:
            self._keyword(_keyword(match[1], match[2], self.group is not None))
        else:
            raise ValueError(f"unexpected character {token!r}")

    def _keyword(self, keyword: Keyword) -> None:
        """One colon before every keyword but the first, at most one before the first."""
        if self.keywords and self.colons != 1:
            raise ValueError(f"one ':' must come before {keyword.notation!r}")
        if not self.keywords and self.colons > 1:
            raise ValueError("a header starts with at most one ':'")
        self.keywords.append(keyword)
        if self.group is not None:
            self.group.append(keyword)
        self.colons = 0

    def finish(self) -> tuple[Keyword, ...]:
        """The keywords, once the whole header is read."""
        if self.group is not None:
            raise ValueError("a '[' is not closed")
        if self.colons or not self.keywords:
            raise ValueError("a header ends with a keyword")
        if all(keyword.optional for keyword in self.keywords):
            raise ValueError("at least one keyword must not be optional")
        return tuple(self.keywords)


def _keyword(text: str, suffix: str | None, optional: bool) -> Keyword:
    """The :class:`Keyword` for *text*, which must be in the notation."""
    forms = keyword_forms(text)
    if forms is None:
        raise ValueError(
            f"the keyword {text!r} is not in header notation: its short form in upper "
            "case, then the rest of the long form in lower case (VOLTage, LEVel, NEXT)"
        )
    return Keyword(forms[0], forms[1], optional, suffix)


@dataclass(frozen=True)
class Binding:
    """What one path of the tree leads to: the function, and where its suffixes come from."""

    entry: Any  # the instrument's registered function (an _functions.Entry)
    suffix_names: tuple[str, ...]  # for the suffixed keywords on this path, in order
    omitted_suffixes: tuple[str, ...]  # suffixed keywords this path leaves out: they get 1


@dataclass
class _Node:
    """A keyword at one position of the tree."""

    short: str
    long: str
    takes_suffix: bool
    children: dict[str, _Node] = field(default_factory=dict)
    setter: Binding | None = None
    query: Binding | None = None

    def child(self, keyword: Keyword, create: bool) -> _Node | None:
        """The child for *keyword* (made if *create*); ``ValueError`` if it clashes with one."""
        found = self.children.get(keyword.long)
        if found is not None and found.long == keyword.long:
            if found.short != keyword.short:
                raise ValueError(
                    f"{keyword.notation!r} clashes with {_notation(found)!r} "
                    "registered before: one keyword, two short forms"
                )
            if found.takes_suffix != (keyword.suffix is not None):
                raise ValueError(
                    f"{keyword.notation!r} takes a numeric suffix in one header and not in "
                    "another: write <name> after it in both or in neither"
                )
            return found
        for form in (keyword.short, keyword.long):
            taken = self.children.get(form)
            if taken is not None:
                raise ValueError(
                    f"{keyword.notation!r} and {_notation(taken)!r} share the form {form!r}"
                )
        if not create:
            return None
        node = _Node(keyword.short, keyword.long, keyword.suffix is not None)
        self.children[keyword.short] = self.children[keyword.long] = node
        return node


def _notation(node: _Node) -> str:
    """A node's keyword as the notation writes it."""
    return node.short + node.long[len(node.short) :].lower()


def _variants(keywords: tuple[Keyword, ...]) -> list[tuple[tuple[Keyword, ...], tuple[str, ...]]]:
    """Each way of leaving out optional keywords: the keywords kept, the suffixes left out."""
    optional = [keyword for keyword in keywords if keyword.optional]
    if len(optional) > _MAX_OPTIONAL:
        raise ValueError(f"more than {_MAX_OPTIONAL} optional keywords")
    variants = []
    for kept in itertools.product((True, False), repeat=len(optional)):
        dropped = {id(keyword) for keyword, keep in zip(optional, kept, strict=True) if not keep}
        path = tuple(keyword for keyword in keywords if id(keyword) not in dropped)
        omitted = tuple(k.suffix for k in keywords if id(k) in dropped and k.suffix)
        variants.append((path, omitted))
    return variants


class HeaderTree:
    """Every registered header, as a tree of keywords; resolves the headers clients send."""

    def __init__(self) -> None:
        """An empty tree."""
        self._root: Final = _Node("", "", takes_suffix=False)

    def add(self, keywords: tuple[Keyword, ...], query: bool, entry: Any) -> None:
        """Register *entry* at each path of *keywords*; ``ValueError`` if one is taken."""
        variants = _variants(keywords)
        for path, _ in variants:  # check first, so that a refused header adds nothing
            node = self._walk(path, create=False)
            existing = None if node is None else (node.query if query else node.setter)
            if existing is not None:
                spelled = ":".join(keyword.notation for keyword in path)
                raise ValueError(f"{spelled} is already registered by {existing.entry.header!r}")
        for path, omitted in variants:
            node = self._walk(path, create=True)
            assert node is not None
            names = tuple(keyword.suffix for keyword in path if keyword.suffix)
            binding = Binding(entry, names, omitted)
            if query:
                node.query = binding
            else:
                node.setter = binding

    def _walk(self, path: tuple[Keyword, ...], create: bool) -> _Node | None:
        """The node at the end of *path*, or None where it does not exist and not *create*."""
        node: _Node | None = self._root
        for keyword in path:
            assert node is not None
            node = node.child(keyword, create)
            if node is None:
                return None
        return node

    def resolve(self, text: str, query: bool) -> tuple[Binding, list[int]]:
        """The binding for header *text* (no leading ``:``, no ``?``) and its suffix values.

        Raises :class:`SCPIError` -102 for a header that is not well formed,
        -113 for one that names nothing registered.
        """
        node = self._root
        suffixes: list[int] = []
        for mnemonic in text.split(":"):
            match = _MNEMONIC.fullmatch(mnemonic)
            if match is None:
                raise SCPIError(-102)
            found = node.children.get(match[1].upper())
            if found is None:
                raise SCPIError(-113)
            if found.takes_suffix:
                suffixes.append(int(match[2]) if match[2] else 1)
            elif match[2]:
                raise SCPIError(-113)
            node = found
        binding = node.query if query else node.setter
        if binding is None:
            raise SCPIError(-113)
        return binding, suffixes
