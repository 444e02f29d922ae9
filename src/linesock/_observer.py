"""What a session reports, for whoever owns the I/O to log and record.

:class:`~linesock.Session` is sans-IO: it tells an observer what happened
(an invalid line, a handler that raised, a dropped answer, a refusal, each
answered batch) instead of logging or writing a transcript itself.  An
observer object rather than returned events, because a batch of a thousand
pipelined commands must cost no allocation per command when nobody records
it.  The servers' observer is :class:`linesock._lifecycle.SessionReports`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._access import Refusal
from ._faults import Fault
from ._framing import InvalidLine

__all__ = ["SessionObserver"]


class SessionObserver:
    """What a session reports, for logging and transcripts; every method does nothing here.

    The servers pass one that logs and records (see ``linesock._lifecycle``);
    a transport of your own may subclass this and override what it needs.
    """

    def commands(
        self, lines: Sequence[str | InvalidLine], answers: Sequence[str], starts: Sequence[int]
    ) -> None:
        """A batch was answered: ``lines[i]``'s answers start at ``answers[starts[i]]``.

        Only the first ``len(starts)`` lines were answered.  Called only for a
        session created with ``record=True``.
        """

    def invalid_line(self, line: InvalidLine) -> None:
        """An undecodable or overlong line arrived (it is answered by ``on_invalid``)."""

    def handler_failed(self, command: str, error: BaseException) -> None:
        """The handler (or ``on_invalid``, or a deferred answer) raised *error*."""

    def bad_answer(self, command: str, problem: str) -> None:
        """An answer to *command* could not go on the wire and was dropped."""

    def authenticated(self) -> None:
        """The first line was ``auth`` with the right token."""

    def refused(self, refusal: Refusal, first: str | InvalidLine) -> None:
        """The session was refused at its *first* line."""

    def fault(self, fault: Fault, command: str) -> None:
        """An injected *fault* was applied to *command* (see :class:`~linesock.Faults`)."""
