"""The session lifecycle, decided once for every server front end.

Design notes
------------
The threaded and the asyncio servers only move bytes and wait.  What a
session's beginning and end mean (counting it, logging it, recording it,
why it ended, which counter an ending adds to) is decided here, in
:class:`ServerCore` and the :class:`ServedSession` it hands out for each
client, so the same client gives the same log lines and the same
transcript records on every front end.

:class:`SessionReports` is the session's :class:`SessionObserver`: it
turns what the pure protocol core reports into log lines and transcript
records.  It is an object of its own, holding neither the session nor its
:class:`ServedSession`: an observer that held the session would make a
reference cycle of every session, which only the garbage collector could
free (~5,000 instructions a session on the threaded server, most of it the
collections of the older generations that the survivors set off).  The
clock is read here (the HTTP warning's rate limit, the transcript's
timestamps), never in the core.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Final

from ._access import Refusal
from ._answers import excerpt
from ._config import Handler, ServerConfig, ServerStats
from ._faults import Fault, Faults
from ._framing import InvalidLine
from ._protocol import Session, SessionObserver
from ._transcript import Transcript
from ._wire import AUTH_PREFIX, OK, Closing, EndReason

__all__ = ["ServedSession", "ServerCore", "SessionReports"]

logger: Final = logging.getLogger("linesock")

# The warnings about HTTP clients and failed authentications are logged at
# most this often, in seconds; the second counts what it did not log.
_WARNING_INTERVAL: Final = 60.0
# A failed authentication holds the slot this long before the next client is
# served, doubling every _AUTH_DELAY_STEP failures within _WARNING_INTERVAL
# of each other, up to _AUTH_DELAY_MAX: 300 guesses in a row take 3.5 s, ten
# retries of a misconfigured client 50 ms.  A right token is never delayed.
_AUTH_DELAY: Final = 0.005
_AUTH_DELAY_STEP: Final = 100
_AUTH_DELAY_MAX: Final = 1.0
# Endings that add to a counter of their own.
_ENDING_COUNTERS: Final = {
    EndReason.IDLE: "idle_disconnects",
    EndReason.AUTH_TIMEOUT: "auth_timeouts",
    EndReason.WRITE_TIMEOUT: "write_timeouts",
}


class ServerCore:
    """What every server front end shares: settings, counters, transcript, session lifecycle.

    A front end calls :meth:`open` when it starts listening and :meth:`close`
    when it stops, and :meth:`begin` for each client it accepts; calling
    :meth:`prepare` while it waits for the next one takes the session's
    construction off the client's time.
    """

    def __init__(self, handler: Handler, config: ServerConfig) -> None:
        """Hold the handler and settings; nothing is opened until :meth:`open`."""
        self.handler: Final = handler
        self.config: Final = config
        self.stats: Final = ServerStats()
        #: Where sessions are recorded, once :meth:`open` has run.
        self.transcript: Transcript | None = None
        self._owns_transcript = False
        self._last_http_warning = -math.inf
        self._last_auth_failure = -math.inf
        self._last_auth_warning = -math.inf
        self._recent_auth_failures = 0
        self._unreported_auth_failures = 0
        #: The ``SystemExit`` or ``KeyboardInterrupt`` a handler raised to stop the server.
        self.handler_exit: BaseException | None = None
        #: The faults injected into the served session (``server.faults``).
        self.faults: Final = Faults(on_change=self._faults_changed)
        #: The session being served, if any.
        self.current: ServedSession | None = None
        # The next session's reports and protocol core, built by prepare().
        self._prepared: tuple[SessionReports, Session] | None = None

    def record_change(self, action: str, **details: str) -> None:
        """Log and record a change made from outside the session (a fault, a kick, a state set).

        The transcript record goes in the session being served (0 when none),
        so a replay can tell an injected fault from a real one.
        """
        shown = " ".join(details.values())
        logger.info("control: %s%s", action, f" {shown}" if shown else "")
        if self.transcript is not None:
            current = self.current
            number = 0 if current is None else current.number
            self.transcript.event(number, "control", action=action, **details)

    def _faults_changed(self, action: str, description: str) -> None:
        """Log and record a fault added, or the faults cleared."""
        if description:
            self.record_change(action, fault=description)
        else:
            self.record_change(action)

    def open(self) -> None:
        """Open the transcript if it was given as a path (``TranscriptError`` if it cannot be)."""
        given = self.config.transcript
        self._prepared = None  # it was built not to record: the transcript was not open yet
        if self.transcript is not None or given is None:
            return
        if isinstance(given, Transcript):
            self.transcript = given
        else:
            self.transcript = Transcript(os.fspath(given))
            self._owns_transcript = True

    def close(self) -> None:
        """Report the failed authentications not yet logged; close the transcript if owned."""
        if self._unreported_auth_failures:
            logger.warning(
                "%d more clients failed to authenticate since the last warning",
                self._unreported_auth_failures,
            )
            self._unreported_auth_failures = 0
        if self._owns_transcript and self.transcript is not None:
            self.transcript.close()

    def reopen_transcript(self) -> None:
        """Reopen the transcript at its path (after a logrotate-style rename, on SIGHUP)."""
        if self.transcript is not None:
            self.transcript.reopen()

    def auth_failed(self) -> float:
        """Count a failed authentication, log it (rate-limited); return the delay it costs."""
        now = time.monotonic()
        if now - self._last_auth_failure > _WARNING_INTERVAL:
            self._recent_auth_failures = 0
        self._last_auth_failure = now
        self._recent_auth_failures += 1
        if now - self._last_auth_warning >= _WARNING_INTERVAL:
            self._last_auth_warning = now
            if self._unreported_auth_failures:
                logger.warning(
                    "%d more clients failed to authenticate in the last minute; "
                    "a client failed to authenticate: connection closed",
                    self._unreported_auth_failures,
                )
            else:
                logger.warning(
                    "a client failed to authenticate: connection closed "
                    "(further failures are counted and logged at most once a minute)"
                )
            self._unreported_auth_failures = 0
        else:
            self._unreported_auth_failures += 1
        doublings = (self._recent_auth_failures - 1) // _AUTH_DELAY_STEP
        return min(_AUTH_DELAY_MAX, _AUTH_DELAY * float(2**doublings))

    def prepare(self) -> None:
        """Build the next session's protocol core now, while the front end waits for a client.

        Built after the accept, it would delay the client's first answer;
        built before, it costs the client nothing (docs/performance.md,
        *Churn: the next session built while the server waits*).  Nothing of
        it shows before :meth:`begin` hands it out: it counts, logs and
        records nothing, and what it reads (the handler, the settings, the
        live list of faults, the open transcript) does not change in
        between.  Optional: :meth:`begin` builds one when none is prepared.
        """
        if self._prepared is None:
            self._prepared = self._new_session(self.stats.sessions + 1)

    def _new_session(self, number: int) -> tuple[SessionReports, Session]:
        """Session *number*'s reports and protocol core."""
        reports = SessionReports(self, number)
        recording = self.transcript is not None or self.config.log_commands
        session = Session(
            self.handler, self.config, self.stats, reports, record=recording, faults=self.faults
        )
        return reports, session

    def begin(self, peer: str) -> ServedSession:
        """Count, log and record a new client session with the client at *peer*."""
        self.stats.sessions += 1
        number = self.stats.sessions
        logger.info("client connected from %s", peer)
        prepared, self._prepared = self._prepared, None
        if prepared is None or prepared[0].number != number:
            prepared = self._new_session(number)
        served = ServedSession(self, peer, *prepared)
        self.current = served
        return served

    def turned_away(self, peer: str, waited: float | None = None) -> None:
        """Count, log and record a client refused as busy, or closed after ``max_wait``.

        It never had a session: the record has session 0, which replay skips.
        """
        if waited is None:
            self.stats.busy_refusals += 1
            logger.info("client from %s refused: busy (another client is served)", peer)
            reason = "busy"
        else:
            self.stats.wait_expiries += 1
            logger.info("client from %s closed after waiting %.1f s (max_wait)", peer, waited)
            reason = "max_wait"
        if self.transcript is not None:
            self.transcript.event(0, "turned away", peer=peer, reason=reason)

    def warn_http(self, first: str | InvalidLine) -> None:
        """Log that a client spoke HTTP, at most once a minute."""
        now = time.monotonic()
        if now - self._last_http_warning >= _WARNING_INTERVAL:
            self._last_http_warning = now
            shown = first if isinstance(first, str) else first.data
            logger.warning(
                "a client spoke HTTP (%s): connection closed; this port speaks the "
                "Oneline protocol (warned at most once a minute)",
                excerpt(shown),
            )


class ServedSession:
    """One client's session as a server sees it: the protocol core, its number, its reports."""

    def __init__(
        self, core: ServerCore, peer: str, reports: SessionReports, session: Session
    ) -> None:
        """Start the session *reports* numbers, with the client at *peer*; record its connect."""
        self.number: Final = reports.number
        self.peer: Final = peer
        self._core: Final = core
        self._transcript: Final = core.transcript
        self._ended = False
        if self._transcript is not None:
            self._transcript.event(self.number, "connect", peer=peer)
        #: What the session reports, logged and recorded.
        self.reports: Final = reports
        #: The protocol state: feed it what the client sends.
        self.session: Final = session

    @property
    def lingers(self) -> bool:
        """Whether the connection closes the lingering way: after the client asked to end.

        Closing a socket with unread input resets the connection, which can
        destroy answers the client has not read yet; so after ``disconnect``,
        ``shutdown``, a refusal or a ``drop`` fault the server half-closes and
        reads until the client closes too (bounded), where after anything
        else it just closes (and after ``drop reset``, resets).
        """
        closing = self.session.closing
        return closing is not None and closing is not Closing.RESET

    def stops_server(self) -> bool:
        """Whether the server stops serving after this session (logged, with why)."""
        closing = self.session.closing
        if closing is Closing.SHUTDOWN:
            logger.info("shutdown requested by the client")
        elif closing is Closing.STOP:
            self._core.handler_exit = self.session.handler_exit
            logger.info("the handler asked the server to stop: %r", self.session.handler_exit)
        return closing is not None and closing.stops_server

    def ended_by_client(self) -> EndReason:
        """Why the session ended when the connection closed without a server-side reason."""
        closing = self.session.closing
        return EndReason.CLIENT_CLOSED if closing is None else EndReason.of(closing)

    def end(self, reason: EndReason, detail: str = "") -> None:
        """Count, log and record the end of the session (once; later calls are ignored)."""
        if self._ended:
            return
        self._ended = True
        if self._core.current is self:
            self._core.current = None
        counter = _ENDING_COUNTERS.get(reason)
        if counter is not None:
            setattr(self._core.stats, counter, getattr(self._core.stats, counter) + 1)
        lost = self.session.receive_eof()
        if lost:
            logger.debug("client left %d bytes of an unfinished line: dropped", lost)
        logger.info("client session ended: %s%s", reason.value, f" ({detail})" if detail else "")
        if self._transcript is not None:
            self._transcript.event(self.number, "end", reason=reason.value)


class SessionReports(SessionObserver):
    """What one session's protocol core reports, turned into log lines and transcript records."""

    def __init__(self, core: ServerCore, number: int) -> None:
        """Report for session *number* of *core*'s server."""
        self.number: Final = number
        self._core: Final = core
        self._transcript: Final = core.transcript
        #: How long the slot stays held after a failed authentication (see ``auth_failed``).
        self.refusal_delay = 0.0

    def commands(
        self, lines: Sequence[str | InvalidLine], answers: Sequence[str], starts: Sequence[int]
    ) -> None:
        """Log (``log_commands``) and record a batch of commands and answers; never a token."""
        if self._core.config.token is not None:
            lines, answers, starts = self._without_auth(lines, answers, starts)
        if self._core.config.log_commands:
            self._log_batch(lines, answers, starts)
        if starts and self._transcript is not None:
            self._transcript.commands(self.number, lines, answers, starts)

    def _log_batch(
        self, lines: Sequence[str | InvalidLine], answers: Sequence[str], starts: Sequence[int]
    ) -> None:
        """Log each command and its answers, escaped and cut short, like Redis's MONITOR."""
        ends = [*starts[1:], len(answers)]
        for line, start, end in zip(lines, starts, ends, strict=False):
            shown = f"<{line.reason} line>" if isinstance(line, InvalidLine) else excerpt(line)
            said = " | ".join(map(excerpt, answers[start:end])) or "(no answer)"
            logger.info("session %d: %s -> %s", self.number, shown, said)

    def _without_auth(
        self, lines: Sequence[str | InvalidLine], answers: Sequence[str], starts: Sequence[int]
    ) -> tuple[Sequence[str | InvalidLine], Sequence[str], Sequence[int]]:
        """The batch without its later ``auth`` lines, each recorded as an auth event instead."""
        count = len(starts)
        if not any(map(_is_auth, lines[:count])):
            return lines, answers, starts
        ends = [*starts[1:], len(answers)]
        kept_lines: list[str | InvalidLine] = []
        kept_answers: list[str] = []
        kept_starts: list[int] = []
        for line, start, end in zip(lines[:count], starts, ends, strict=True):
            if _is_auth(line):
                result = "ok" if answers[start:end] == [OK] else "unauthorized"
                if self._transcript is not None:
                    self._transcript.event(self.number, "auth", result=result)
                if self._core.config.log_commands:
                    logger.info("session %d: auth (token not shown) -> %s", self.number, result)
                continue
            kept_starts.append(len(kept_answers))
            kept_lines.append(line)
            kept_answers += answers[start:end]
        return kept_lines, kept_answers, kept_starts

    def fault(self, fault: Fault, command: str) -> None:
        """Log and record a fault applied to *command* (never an ``auth``: faults skip those)."""
        logger.info(
            "session %d: fault %s applied to %s", self.number, fault.action, excerpt(command)
        )
        if self._transcript is not None:
            self._transcript.event(
                self.number, "fault", fault=fault.kind.value, action=fault.action, command=command
            )

    def invalid_line(self, line: InvalidLine) -> None:
        """Log an invalid line, escaped and cut short."""
        logger.info("%s line of %d bytes: %s", line.reason, line.size, excerpt(line.data))

    def handler_failed(self, command: str, error: BaseException) -> None:
        """Log a handler that raised, with its traceback."""
        logger.error("handler raised on command %s", excerpt(command), exc_info=error)

    def bad_answer(self, command: str, problem: str) -> None:
        """Log an answer that was dropped."""
        logger.error("handler %s (command %s); dropped", problem, excerpt(command))

    def authenticated(self) -> None:
        """Record a good ``auth`` (never the token)."""
        if self._transcript is not None:
            self._transcript.event(self.number, "auth", result="ok")

    def refused(self, refusal: Refusal, first: str | InvalidLine) -> None:
        """Log and record a refusal at the first line (never the line itself when it is auth)."""
        if refusal is Refusal.HTTP:
            self._core.warn_http(first)
        else:
            self.refusal_delay = self._core.auth_failed()
        if self._transcript is not None:
            self._transcript.event(self.number, "refused", reason=refusal.value)


def _is_auth(line: str | InvalidLine) -> bool:
    """Whether *line* is an ``auth`` command (which carries a token)."""
    return isinstance(line, str) and line.startswith(AUTH_PREFIX)
