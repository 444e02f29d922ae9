"""Replay a transcript against a server and report every answer that differs.

Design notes
------------
A transcript (see :mod:`linesock._transcript`) holds, per session, each
command and the answers it got.  Replaying sends the same commands, in the
same sessions and order, to a server (the same rig after a change, or a
simulator) with :meth:`Client.request <linesock.Client.request>`, and
compares the answers line for line.

What is not sent again: invalid lines (an overlong one is only partly
recorded; sending garbage is rarely the point of a replay), ``disconnect``
(each replayed session ends with one anyway) and ``shutdown`` (it would stop
the server under test), unless ``include_shutdown`` asks for it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from ._client import Client
from ._config import DEFAULT_TIMEOUT
from ._transcript import TranscriptRecord, read_transcript

__all__ = ["AnswerDifference", "ReplayReport", "replay"]

_CLOSING: Final = ("disconnect", "shutdown")


@dataclass(frozen=True)
class AnswerDifference:
    """One command whose answers on replay differ from the recorded ones."""

    session: int
    """The recorded session number."""
    command: str
    """The command, as recorded and sent."""
    recorded: list[str]
    """The answers in the transcript."""
    replayed: list[str]
    """The answers the server gave on replay."""

    def __str__(self) -> str:
        """One line: where, what was sent, what was expected and what came."""
        return (
            f"session {self.session}: {self.command!r}: "
            f"recorded {self.recorded!r}, replayed {self.replayed!r}"
        )


@dataclass
class ReplayReport:
    """What a replay did and found."""

    sessions: int = 0
    """Sessions replayed."""
    commands: int = 0
    """Commands sent and compared."""
    skipped: int = 0
    """Recorded lines not sent: invalid lines, faulted commands, ``shutdown`` unless asked."""
    differences: list[AnswerDifference] = field(default_factory=list)
    """Every command whose answers differ, in replay order."""

    @property
    def matched(self) -> bool:
        """True when every replayed answer equals the recorded one."""
        return not self.differences


# The faults that leave the handler's answer as it was, only later.
_LATE_ONLY: Final = frozenset({"delay", "slow"})


def _sessions(records: Iterable[TranscriptRecord]) -> list[tuple[int, list[TranscriptRecord]]]:
    """Split the records into sessions, each with its number and its command records.

    A session starts at its ``connect`` event, so a file that several server
    runs appended to (each numbering from 1) splits correctly.  A command an
    injected fault answered in the handler's place (its ``fault`` record
    names it; the command's own record may come after others of its batch)
    is marked ``faulted``, and replay skips it; a ``delay`` or ``slow``
    answer is the handler's, only late, and is compared.
    """
    sessions: list[tuple[int, list[TranscriptRecord]]] = []
    faulted: list[str] = []
    for record in records:
        event = record.get("event")
        if event == "connect":
            sessions.append((int(record["session"]), []))
            faulted = []
        elif event == "fault":
            if record.get("fault") not in _LATE_ONLY:
                faulted.append(str(record.get("command")))
        elif event is None and ("command" in record or "invalid" in record) and sessions:
            kept = record
            if record.get("command") in faulted:
                faulted.remove(record["command"])
                kept = {**record, "faulted": True}
            sessions[-1][1].append(kept)
    return sessions


def replay(
    path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    token: str | None = None,
    include_shutdown: bool = False,
) -> ReplayReport:
    """Send the commands of the transcript at *path* to a server; compare the answers.

    Each recorded session is replayed on its own connection, in order; the
    connection options are those of :class:`~linesock.Client`.
    Connection errors (no server, a refused token) propagate as
    ``ConnectionError``; a server that stops answering raises ``TimeoutError``.
    """
    report = ReplayReport()
    for number, records in _sessions(read_transcript(path)):
        report.sessions += 1
        client = Client(
            host,
            port,
            timeout,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            token=token,
        )
        client.connect()
        try:
            for record in records:
                command = record.get("command")
                if (
                    command is None
                    or record.get("faulted")
                    or (command == "shutdown" and not include_shutdown)
                ):
                    report.skipped += 1
                    continue
                if command in _CLOSING:
                    client.request(command)
                    break
                report.commands += 1
                replayed = client.request(command)
                recorded = list(record["answers"])
                if replayed != recorded:
                    report.differences.append(AnswerDifference(number, command, recorded, replayed))
        finally:
            if client.connected:
                client.disconnect()
    return report
