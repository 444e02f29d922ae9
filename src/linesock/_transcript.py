r"""Session transcripts: what each client sent and what it was answered, as JSON lines.

Design notes
------------
A rig that must show what was sent to an instrument keeps this file as its
record.  Each line is one JSON object with ``t`` (Unix time, seconds) and
``session`` (the server's session number, from 1), and one of:

* ``{"event": "connect", "peer": "127.0.0.1:40312"}``
* ``{"command": "set volt 3.3", "answers": ["ok"]}``, for every complete
  line that was a command, built-ins included (``disconnect`` and
  ``shutdown`` have no answers);
* ``{"invalid": "undecodable", "size": 3, "data": "\\xff\\xfe", "answers":
  ["invalid"]}``, where ``data`` is the escaped start of the line;
* ``{"event": "auth", "result": "ok"}`` (the token itself is never written);
* ``{"event": "refused", "reason": "unauthorized" | "http"}``;
* ``{"event": "end", "reason": "the client sent disconnect"}``.

Cost: nothing when off (one ``None`` check per command).  When on, the
session notes where each command's answers start in the batch it already
builds, and the transcript formats the batch at once with the C string
escaper of the ``json`` module, one timestamp and one buffered write per
batch, flushed so that a crash loses nothing already answered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import IO, Any, Final

from ._errors import TranscriptError
from ._framing import InvalidLine

__all__ = ["Transcript", "TranscriptRecord", "read_transcript"]

logger: Final = logging.getLogger("linesock")

#: One parsed transcript line.
TranscriptRecord = dict[str, Any]


def _escape_bytes(data: bytes) -> str:
    """Raw bytes as printable text: Python's escapes, without the ``b''``."""
    return repr(data)[2:-1]


def _is_plain(text: str) -> bool:
    """True if *text* can stand between JSON quotes as it is: printable ASCII, nothing to escape.

    Each test is one C-level scan (``isascii`` is O(1)); DEL and control
    characters fail ``isprintable`` and take the escaping path.
    """
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _plain_records(head: str, commands: Sequence[str], answers: Sequence[str]) -> str:
    """The records of commands with one plain answer each, built without a per-command loop."""
    count = len(commands)
    parts = [f'"]}}\n{head}"command":"'] * (4 * count)
    parts[0::4] = commands
    parts[1::4] = ['","answers":["'] * count
    parts[2::4] = answers
    parts[-1] = '"]}\n'
    return f'{head}"command":"' + "".join(parts)


class Transcript:
    """A transcript file that servers append session records to (thread-safe).

    Pass it as ``transcript=`` to :class:`~linesock.Server` or
    :func:`linesock.aio.start_server` (a path works too: the server then opens
    and closes the file itself).  The file is opened for appending, so
    restarts add to one record.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open *path* for appending (created if missing).

        Raises:
            TranscriptError: the file cannot be opened for appending; the
                message names it.
        """
        self.path: Final = Path(path)
        self._file: IO[str] | None = _open_for_appending(self.path)
        self._lock = threading.Lock()
        #: Records that could not be written since the file failed (see :meth:`reopen`).
        self.dropped_records = 0

    @property
    def is_open(self) -> bool:
        """True while records are written: not closed, and not failed since the last reopen."""
        return self._file is not None

    def close(self) -> None:
        """Flush and close the file (a failure to flush is logged, never raised)."""
        with self._lock:
            file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                _log_failure(self.path, exc, "closing it")

    def reopen(self) -> None:
        """Close the file and open its path anew: after a logrotate-style rename, or a failure.

        Servers call this on SIGHUP (``linesock serve``), outside the signal
        handler.  If the path cannot be opened, the failure is logged once and
        records are dropped until the next reopen.
        """
        self.close()
        try:
            file = _open_for_appending(self.path)
        except TranscriptError as exc:
            logger.error("%s: records are dropped until the next reopen", exc)
            return
        with self._lock:
            self._file = file
            self.dropped_records = 0

    def __enter__(self) -> Transcript:
        """Use the transcript in a ``with`` block; it closes at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the file."""
        self.close()

    def event(self, session: int, event: str, **fields: str) -> None:
        """Write one event record (connect, auth, refused, end)."""
        extra = "".join(f',"{name}":{_quote(value)}' for name, value in fields.items())
        self._write(f'{{"t":{time.time():.6f},"session":{session},"event":"{event}"{extra}}}\n')

    def commands(
        self,
        session: int,
        lines: Sequence[str | InvalidLine],
        answers: Sequence[str],
        starts: Sequence[int],
    ) -> None:
        """Write one record per command of a batch.

        ``lines[i]``'s answers are ``answers[starts[i]:starts[i + 1]]`` (the
        last one's run to the end of *answers*); only ``len(starts)`` lines
        are recorded.
        """
        count = len(starts)
        head = f'{{"t":{time.time():.6f},"session":{session},'
        commands = lines if count == len(lines) else lines[:count]
        if isinstance(starts, range) or (len(answers) == count and starts == list(range(count))):
            # The usual batch: one answer per command.  When no string needs
            # escaping, the records are assembled by C-level slicing and one
            # join, with no per-command bytecode at all.
            try:
                plain = _is_plain("".join(commands)) and _is_plain("".join(answers))  # type: ignore[arg-type]
            except TypeError:  # an InvalidLine among the commands
                plain = False
            if plain:
                self._write(_plain_records(head, commands, answers))  # type: ignore[arg-type]
                return
            answer_fields: Iterable[str] = map(_quote, answers)
        else:
            quoted = list(map(_quote, answers))
            ends = [*starts[1:], len(answers)]
            answer_fields = [
                ",".join(quoted[start:end]) for start, end in zip(starts, ends, strict=True)
            ]
        try:
            command_fields = list(map(_quote, commands))  # type: ignore[arg-type]
            key = '"command":'
        except TypeError:  # an InvalidLine among them: each names its own key
            command_fields = list(map(self._describe, commands))
            key = ""
        start = head + key
        body = f"]}}\n{start}".join(
            map(',"answers":['.join, zip(command_fields, answer_fields, strict=False))
        )
        self._write(f"{start}{body}]}}\n")

    @staticmethod
    def _describe(line: str | InvalidLine) -> str:
        """The JSON fields naming one line: its command, or why it was invalid."""
        if isinstance(line, InvalidLine):
            data = _quote(_escape_bytes(line.data))
            return f'"invalid":"{line.reason}","size":{line.size},"data":{data}'
        return f'"command":{_quote(line)}'

    def _write(self, text: str) -> None:
        """Append *text* and flush it to the OS; on failure, log once and drop from then on.

        A transcript that cannot be written (a full disk, ``/dev/full``) must
        not take the server down or hang it: serving goes on, one ERROR line
        names the file, and records are counted in :attr:`dropped_records`
        until :meth:`reopen` succeeds.
        """
        with self._lock:
            file = self._file
            if file is None:
                self.dropped_records += 1
                return
            try:
                file.write(text)
                file.flush()
            except OSError as exc:
                self._file = None
                self.dropped_records += 1
                _log_failure(self.path, exc, "writing to it")
                with contextlib.suppress(OSError):
                    file.close()  # the unwritten text goes with it: memory stays flat


def _open_for_appending(path: Path) -> IO[str]:
    """Open *path* for appending, or raise ``TranscriptError`` naming it."""
    try:
        return path.open("a", encoding="utf-8")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise TranscriptError(f"cannot open the transcript {path}: {reason}") from exc


def _log_failure(path: Path, exc: OSError, doing: str) -> None:
    """Log, once per failure, that the transcript could not be written."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    logger.error(
        "cannot write the transcript %s (%s, %s): serving goes on without it; "
        "records are dropped until it is reopened (SIGHUP)",
        path,
        reason,
        doing,
    )


def read_transcript(path: str | os.PathLike[str]) -> Iterator[TranscriptRecord]:
    """Yield the records of a transcript file in order."""
    with Path(path).open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a transcript record: {exc}") from None
