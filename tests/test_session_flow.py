"""The protocol core's flow in memory: deferred answers, output chunking, push, the recorder.

docs/protocol.md, Deferred answers, and the Session API a transport drives:
``pending`` and ``resume``, ``has_queued`` and ``answer_queued``, ``push``,
and what an observer's ``commands`` is told with ``record=True``.  The
rig's ``later`` command answers with a ``concurrent.futures.Future``,
``coro TEXT`` with an un-awaited coroutine (see ``session_rig``).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Generator, Iterator

import pytest

from linesock import OUTPUT_CHUNK, Closing, InvalidLine, ServerConfig, Session
from session_rig import PONG, Rig, Way, drain, every_way, make_rig

pytestmark = pytest.mark.srs("SRS-157")


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A session with the rig's handler; its un-awaited coroutines are closed afterwards."""
    made = make_rig()
    yield made
    made.handler.close()


@pytest.fixture
def recording() -> Iterator[Rig]:
    """A session created with ``record=True``."""
    made = make_rig(record=True)
    yield made
    made.handler.close()


# -- deferred answers ----------------------------------------------------------------


@pytest.mark.srs("SRS-043", "SRS-015")
@every_way
def test_a_future_answer_leaves_the_session_pending_and_later_commands_wait(
    way: Way, rig: Rig
) -> None:
    """After a Future, later commands are queued, not run, until ``resume`` answers in order."""
    assert way.feed(rig.session, b"echo a\nlater\necho b\nping\n") == b"a\n"
    assert rig.pending() is rig.handler.futures[0]
    assert not rig.has_queued()
    assert rig.session.answer_queued() == b""
    assert rig.handler.calls == ["echo a", "later"]
    assert rig.session.resume("done") == b"done\nb\npong\n" + way.then()
    assert rig.pending() is None
    assert rig.handler.calls == ["echo a", "later", "echo b"]
    assert rig.observer.calls == []


@pytest.mark.srs("SRS-043", "SRS-015")
def test_reads_that_arrive_while_an_answer_is_pending_are_queued_not_run(rig: Rig) -> None:
    """Every read after a deferred answer waits, unrun, and is answered in order on resume."""
    assert rig.session.receive(b"later\n") == b""
    assert rig.session.receive(b"echo b\n") == b""
    assert rig.session.receive(b"\xff\nping\n") == b""
    assert rig.handler.calls == ["later"]
    assert rig.observer.calls == []
    assert rig.session.resume("done") == b"done\nb\ninvalid\npong\n"
    assert rig.handler.calls == ["later", "echo b"]


class _Awaitable:
    """An awaitable that is not a coroutine: a custom object with ``__await__``."""

    def __await__(self) -> Generator[None, None, str]:
        yield None
        return "never awaited"


@pytest.mark.srs("SRS-090", "SRS-091")
@every_way
def test_an_awaitable_answer_is_deferred_like_a_future(way: Way, rig: Rig) -> None:
    """A coroutine (an ``async def`` handler's answer) is pending until resumed."""
    assert way.feed(rig.session, b"coro x\necho b\n") == b""
    assert rig.pending() is rig.handler.coroutines[0]
    assert rig.handler.calls == ["coro x"]
    assert rig.session.resume("x") == b"x\nb\n" + way.then()


@pytest.mark.srs("SRS-091")
@every_way
def test_any_object_with_await_is_a_deferred_answer(way: Way) -> None:
    """An object with ``__await__`` defers like a coroutine; the core never awaits it."""
    awaitable = _Awaitable()
    calls: list[str] = []

    def handler(command: str) -> object:
        calls.append(command)
        return awaitable if command == "wait" else command

    session = Session(handler, ServerConfig())
    assert way.feed(session, b"wait\nnext\n") == b""
    assert session.pending is awaitable
    assert calls == ["wait"]
    assert session.resume("done") == b"done\nnext\n" + way.then()


@pytest.mark.srs("SRS-043", "SRS-092")
@every_way
def test_a_failed_deferred_answer_answers_nothing_and_is_reported(way: Way, rig: Rig) -> None:
    """``resume(error=...)`` sends no line for that command, reports it, and goes on."""
    assert way.feed(rig.session, b"later\necho b\n") == b""
    error = TimeoutError("instrument busy")
    assert rig.session.resume(error=error) == b"b\n" + way.then()
    assert rig.observer.calls == [("handler_failed", "later", "TimeoutError('instrument busy')")]
    assert rig.observer.errors[0] is error
    assert rig.stats.handler_errors == 1


@pytest.mark.srs("SRS-043", "SRS-015")
@every_way
def test_two_deferred_answers_in_a_row_each_wait_their_turn(way: Way, rig: Rig) -> None:
    """The second deferring command runs only when the first is resumed."""
    assert way.feed(rig.session, b"later\nlater\necho c\n") == b""
    first = rig.handler.futures[0]
    assert rig.pending() is first
    assert rig.handler.calls == ["later"]
    assert rig.session.resume("r1") == b"r1\n"
    assert rig.pending() is rig.handler.futures[1] is not first
    assert rig.handler.calls == ["later", "later"]
    assert rig.session.resume("r2") == b"r2\nc\n" + way.then()
    assert rig.pending() is None


@pytest.mark.srs("SRS-043", "SRS-020", "SRS-022")
@every_way
def test_built_ins_after_a_deferred_answer_wait_for_it_too(way: Way, rig: Rig) -> None:
    """``ping`` and ``disconnect`` behind a pending answer act only once it is resumed."""
    assert way.feed(rig.session, b"later\nping\ndisconnect\necho never\n") == b""
    assert rig.closing() is None
    assert rig.session.resume("r") == b"r\npong\n"
    assert rig.closing() is Closing.DISCONNECT
    assert rig.handler.calls == ["later"]


@pytest.mark.srs("SRS-014", "SRS-017", "SRS-043")
@pytest.mark.parametrize(
    ("result", "answer", "told"),
    [
        (["x", "y"], b"x\ny\n", []),
        (None, b"", []),
        ("a\nb", b"", [("bad_answer", "later", "answered with a line holding LF: a\\nb")]),
        (b"raw", b"", [("bad_answer", "later", "returned bytes, not str")]),
    ],
    ids=["list", "none", "lf", "bytes"],
)
def test_a_resumed_answer_is_checked_like_a_handlers(
    rig: Rig, result: object, answer: bytes, told: list[tuple[object, ...]]
) -> None:
    """The result passed to ``resume`` is an answer like any: lines, none, or dropped."""
    assert rig.session.receive(b"later\nping\n") == b""
    assert rig.session.resume(result) == answer + PONG
    assert rig.observer.calls == told


@pytest.mark.srs("SRS-043")
def test_a_deferred_answer_after_auth_in_the_same_read_is_pending() -> None:
    """``ok`` goes out at once; the deferred command after it holds the rest."""
    rig = make_rig(token="s3cret")
    assert rig.session.receive(b"auth s3cret\nlater\nping\n") == b"ok\n"
    assert rig.pending() is rig.handler.futures[0]
    assert rig.session.resume("r") == b"r\npong\n"


# -- output chunking ------------------------------------------------------------------

BIG = 100_000
BIG_ANSWER = b"x" * BIG + b"\n"
BIG_SCRIPT = b"big %d\n" % BIG * 5 + b"echo end\n"


@pytest.mark.srs("SRS-034")
def test_answers_stop_past_the_output_chunk_and_the_rest_waits_unrun(rig: Rig) -> None:
    """Once a batch's answers pass OUTPUT_CHUNK, later commands wait, unrun, for answer_queued."""
    assert 2 * BIG < OUTPUT_CHUNK < 3 * BIG
    assert rig.session.receive(BIG_SCRIPT) == BIG_ANSWER * 3
    assert rig.has_queued()
    assert len(rig.handler.calls) == 3
    assert rig.session.answer_queued() == BIG_ANSWER * 2 + b"end\n"
    assert not rig.has_queued()
    assert rig.session.answer_queued() == b""
    assert len(rig.handler.calls) == 6


@pytest.mark.srs("SRS-034", "SRS-015")
def test_commands_arriving_while_answers_are_queued_wait_behind_them(rig: Rig) -> None:
    """A read that comes while commands are queued is queued after them, in order."""
    assert rig.session.receive(BIG_SCRIPT) == BIG_ANSWER * 3
    assert rig.session.receive(b"echo later\nping\n") == b""
    assert rig.session.answer_queued() == BIG_ANSWER * 2 + b"end\nlater\npong\n"
    assert not rig.has_queued()


@pytest.mark.srs("SRS-034", "SRS-009")
@every_way
def test_chunked_answers_join_up_to_the_unchunked_answers_whatever_the_reads(way: Way) -> None:
    """Drained through answer_queued, the chunks of any way of feeding are all the answers."""
    rig = make_rig()
    assert drain(rig.session, way.feed(rig.session, BIG_SCRIPT)) == (
        BIG_ANSWER * 5 + b"end\n" + way.then()
    )


@pytest.mark.srs("SRS-034", "SRS-043")
def test_a_deferred_answer_behind_the_chunk_waits_for_answer_queued(rig: Rig) -> None:
    """A queued deferring command becomes pending only when the queue is answered."""
    assert rig.session.receive(BIG_SCRIPT.replace(b"echo end", b"later") + b"ping\n") == (
        BIG_ANSWER * 3
    )
    assert rig.session.answer_queued() == BIG_ANSWER * 2
    assert rig.pending() is rig.handler.futures[0]
    assert not rig.has_queued()
    assert rig.session.resume("r") == b"r\npong\n"


# -- push ------------------------------------------------------------------------------


@pytest.mark.srs("SRS-156", "SRS-015")
@every_way
def test_push_from_inside_the_handler_joins_the_batch_in_command_order(way: Way, rig: Rig) -> None:
    """A line pushed while a command runs goes out after earlier answers, before later ones."""
    assert way.feed(rig.session, b"echo a\npush early\necho b\n") == (
        b"a\nearly\nafter push\nb\n" + way.then()
    )


@pytest.mark.srs("SRS-156")
@pytest.mark.parametrize(
    ("answer", "wire"),
    [("x", b"x\n"), (["a", "", "b"], b"a\n\nb\n"), (None, b""), ([], b"")],
    ids=["str", "list", "none", "empty"],
)
def test_push_outside_the_handler_returns_the_encoded_lines(
    rig: Rig, answer: object, wire: bytes
) -> None:
    """Between reads, ``push`` returns the answer's wire bytes at once."""
    assert rig.session.receive(b"ping\n") == PONG
    assert rig.session.push(answer) == wire
    assert rig.observer.calls == []


@pytest.mark.srs("SRS-156", "SRS-017")
@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("a\nb", "answered with a line holding LF: a\\nb"),
        (["ok", "a\nb"], "answered with a line holding LF: a\\nb"),
        (b"raw", "returned bytes, not str"),
    ],
    ids=["lf", "lf_item", "bytes"],
)
def test_a_pushed_answer_that_cannot_go_on_the_wire_is_dropped_and_reported(
    rig: Rig, answer: object, problem: str
) -> None:
    """``push`` checks like a handler's answer: an LF line or bytes are dropped and reported."""
    kept = b"ok\n" if isinstance(answer, list) else b""
    assert rig.session.push(answer) == kept
    assert rig.observer.calls == [("bad_answer", "", problem)]
    assert rig.stats.handler_errors == 1


@pytest.mark.srs("SRS-156", "SRS-013")
def test_a_pushed_answer_the_encoding_cannot_carry_is_dropped() -> None:
    """Under ``encoding="ascii"`` a pushed ``é`` is dropped and reported."""
    rig = make_rig(encoding="ascii")
    assert rig.session.push(["é", "e"]) == b"e\n"
    assert rig.observer.calls == [("bad_answer", "", "answered with text ascii cannot encode")]


# -- the recorder ----------------------------------------------------------------------


def test_the_recorder_is_told_each_batch_with_where_each_lines_answers_start(
    recording: Rig,
) -> None:
    """``answers[starts[i]:starts[i + 1]]`` are line i's: none, one, several, invalid, raised."""
    script = b"silent\necho x\nlines 3\n\xff\nraise\nping\n"
    assert recording.session.receive(script) == (b"x\nline 1\nline 2\nline 3\ninvalid\npong\n")
    invalid = InvalidLine("undecodable", b"\xff", 1)
    assert recording.observer.calls == [
        ("invalid_line", invalid),
        ("handler_failed", "raise", "RuntimeError('boom: raise')"),
        (
            "commands",
            ["silent", "echo x", "lines 3", invalid, "raise", "ping"],
            ["x", "line 1", "line 2", "line 3", "invalid", "pong"],
            [0, 0, 1, 4, 5, 5],
        ),
    ]


@every_way
def test_each_line_is_reported_once_with_its_answers_however_the_bytes_arrive(
    way: Way, recording: Rig
) -> None:
    """Over all batches, every answered line is reported once, in order, with its answers."""
    script = b"silent\necho x\nlines 3\n\xff\nraise\nping\n"
    way.feed(recording.session, script)
    assert recording.observer.answered() == [
        ("silent", []),
        ("echo x", ["x"]),
        ("lines 3", ["line 1", "line 2", "line 3"]),
        (InvalidLine("undecodable", b"\xff", 1), ["invalid"]),
        ("raise", []),
        ("ping", ["pong"]),
        *[("ping", ["pong"])] * way.trails,
    ]


def test_a_deferred_command_is_reported_when_it_is_resumed(recording: Rig) -> None:
    """The batch up to a deferring command is reported at once; it and the rest after resume."""
    assert recording.session.receive(b"echo a\nlater\necho b\n") == b"a\n"
    assert recording.observer.calls == [
        ("commands", ["echo a", "later", "echo b"], ["a"], [0]),
    ]
    assert recording.session.resume(["r1", "r2"]) == b"r1\nr2\nb\n"
    assert recording.observer.calls[1:] == [
        ("commands", ["later"], ["r1", "r2"], [0]),
        ("commands", ["echo b"], ["b"], [0]),
    ]


def test_a_failed_deferred_command_is_reported_with_no_answers(recording: Rig) -> None:
    """A deferred answer resumed with an error is reported as a line without answers."""
    recording.session.receive(b"later\n")
    recording.session.resume(error=KeyError("gone"))
    assert recording.observer.calls == [
        ("handler_failed", "later", "KeyError('gone')"),
        ("commands", ["later"], [], [0]),
    ]


def test_a_disconnect_ends_the_reported_batch(recording: Rig) -> None:
    """``disconnect`` is the last line reported, without answers; the lines after it are not."""
    recording.session.receive(b"echo x\ndisconnect\necho never\n")
    assert recording.observer.calls == [
        ("commands", ["echo x", "disconnect", "echo never"], ["x"], [0, 1]),
    ]
    assert recording.observer.answered() == [("echo x", ["x"]), ("disconnect", [])]


def test_each_output_chunk_is_reported_as_its_own_batch(recording: Rig) -> None:
    """A batch cut at OUTPUT_CHUNK reports the lines answered; the queue reports the rest."""
    recording.session.receive(b"big 200000\nbig 100000\necho a\necho b\n")
    recording.session.answer_queued()
    big = ["x" * 200_000, "x" * 100_000]
    assert recording.observer.calls == [
        ("commands", ["big 200000", "big 100000", "echo a", "echo b"], big, [0, 1]),
        ("commands", ["echo a", "echo b"], ["a", "b"], [0, 1]),
    ]


def test_a_line_pushed_from_the_handler_is_reported_as_that_commands_answer(
    recording: Rig,
) -> None:
    """A pushed line is among the answers of the command that pushed it."""
    recording.session.receive(b"echo a\npush p\necho b\n")
    assert recording.observer.answered() == [
        ("echo a", ["a"]),
        ("push p", ["p", "after push"]),
        ("echo b", ["b"]),
    ]


@every_way
def test_without_record_the_observer_is_never_told_commands(way: Way, rig: Rig) -> None:
    """With ``record=False`` ``commands`` is never called; the other reports still come."""
    way.feed(rig.session, b"echo x\n\xff\nraise\nlater\n")
    rig.session.resume("r")
    assert rig.observer.calls == [
        ("invalid_line", InvalidLine("undecodable", b"\xff", 1)),
        ("handler_failed", "raise", "RuntimeError('boom: raise')"),
    ]


def test_an_answer_dropped_by_the_encoding_is_not_reported_as_sent() -> None:
    """Under ``encoding="ascii"`` the recorder reports ``é`` as no answer, like the wire."""
    rig = make_rig(record=True, encoding="ascii")
    assert rig.session.receive(b"accent\necho a\n") == b"a\n"
    assert rig.observer.answered() == [("accent", []), ("echo a", ["a"])]


def test_futures_answered_elsewhere_are_only_passed_through(rig: Rig) -> None:
    """The core never waits on a Future: a done one is still pending until ``resume``."""
    rig.session.receive(b"later\nping\n")
    future: concurrent.futures.Future[object] = rig.handler.futures[0]
    future.set_result("already done")
    assert rig.pending() is future
    assert rig.session.receive(b"ping\n") == b""
    assert rig.session.resume(future.result()) == b"already done\npong\npong\n"
