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
    """Recorded lines not sent: invalid lines, and ``shutdown`` unless asked for."""
    differences: list[AnswerDifference] = field(default_factory=list)
    """Every command whose answers differ, in replay order."""

    @property
    def matched(self) -> bool:
        """True when every replayed answer equals the recorded one."""
        return not self.differences


def _sessions(records: Iterable[TranscriptRecord]) -> list[tuple[int, list[TranscriptRecord]]]:
    """Split the records into sessions, each with its number and its command records.

    A session starts at its ``connect`` event, so a file that several server
    runs appended to (each numbering from 1) splits correctly.
    """
    sessions: list[tuple[int, list[TranscriptRecord]]] = []
    for record in records:
        if record.get("event") == "connect":
            sessions.append((int(record["session"]), []))
        elif ("command" in record or "invalid" in record) and sessions:
            sessions[-1][1].append(record)
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
                if command is None or (command == "shutdown" and not include_shutdown):
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
