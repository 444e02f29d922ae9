"""Turning a handler's answer into wire bytes: the checks every writer goes through.

A handler answers with a ``str`` (one line), an iterable of ``str`` (several
lines) or ``None`` (no line).  Anything else, an item that is not text, or a
line holding LF (it would reach the client as two lines) cannot go on the
wire: it is dropped and reported, and the session goes on.  The session's
batch loop, deferred answers and answers pushed later (the compat layer's
``send``) all use these functions, so they are checked and encoded alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeAlias

__all__ = ["ReportError", "ReportProblem", "add_answer", "encode_lines", "excerpt", "sendable"]

# The longest piece of client data that goes into a log line.
_EXCERPT_BYTES: Final = 128

#: Told about each answer line that is dropped: ``(command, problem)``.
ReportProblem: TypeAlias = Callable[[str, str], None]
#: Told about a generator answer that raised midway: ``(command, error)``.
ReportError: TypeAlias = Callable[[str, BaseException], None]


def add_answer(
    out: list[str],
    result: object,
    command: str,
    bad: ReportProblem,
    failed: ReportError,
    *,
    budget: int | None = None,
) -> tuple[int, Iterator[object] | None]:
    """Append the lines of a handler's *result* to *out*, dropping unsendable ones.

    Returns how many characters (LFs included) were added, and, for an
    iterator (a generator, say) that still had lines when *budget*
    characters were added, the iterator, to go on with once they are sent:
    so a long streamed answer is held a chunk at a time, never whole.
    """
    if result is None:
        return 0, None
    if isinstance(result, str):
        items: Iterable[object] = (result,)
    elif isinstance(result, (bytes, bytearray)) or not isinstance(result, Iterable):
        bad(command, f"returned {type(result).__name__}, not str")
        return 0, None
    else:
        items = result
    streamed = budget is not None and isinstance(items, Iterator)
    size = 0
    try:
        for item in items:
            if not isinstance(item, str):
                bad(command, f"answered with {type(item).__name__}, not str")
            elif "\n" in item:
                bad(command, f"answered with a line holding LF: {excerpt(item)}")
            else:
                out.append(item)
                size += len(item) + 1
                if streamed and size > budget:  # type: ignore[operator]  # streamed: int
                    return size, items  # type: ignore[return-value]  # an Iterator
    except BaseException as exc:  # a generator handler that raised midway
        failed(command, exc)
    return size, None


def encode_lines(out: list[str], encoding: str, eol: str, bad: ReportProblem) -> bytes:
    """Turn answer lines into wire bytes, *eol* after each.

    A line that *encoding* cannot carry is dropped and reported, and so is
    one holding CR when CR alone ends a line (it would arrive as two).
    """
    if eol == "\r" and "\r" in "".join(out):
        kept = [item for item in out if "\r" not in item]
        for item in out:
            if "\r" in item:
                bad("", f"answered with a line holding CR: {excerpt(item)}")
        out = kept
    wire = bytearray()
    for item in out:
        try:
            wire += (item + eol).encode(encoding)
        except UnicodeEncodeError:
            bad("", f"answered with text {encoding} cannot encode")
    return bytes(wire)


def excerpt(data: bytes | str) -> str:
    """Client data made safe for a log line: cut to 128 bytes and escaped."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    text = repr(raw[:_EXCERPT_BYTES])[2:-1]
    return text + "..." if len(raw) > _EXCERPT_BYTES else text


def sendable(
    out: list[str], starts: list[int], encoding: str, eol: str
) -> tuple[list[str], list[int]]:
    """The answer lines that :func:`encode_lines` sends, and where each command's now start.

    For a recorder, which must record what went on the wire: ``out[starts[i]:]``
    up to the next start are command i's answers.
    """
    ends = [*starts[1:], len(out)]
    kept: list[str] = []
    kept_starts: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        kept_starts.append(len(kept))
        for item in out[start:end]:
            if eol == "\r" and "\r" in item:
                continue
            try:
                item.encode(encoding)
            except UnicodeEncodeError:
                continue
            kept.append(item)
    return kept, kept_starts
