"""Injected faults in the protocol core, in memory: bytes in, bytes, holds and reports out.

Every script is fed each of the rig's ways (whole, byte by byte, with
trailing bytes, through a reused buffer): which commands a fault hits, and
what the client receives, must not depend on how the bytes were split.
A :class:`~linesock.Hold` is carried out at once (:func:`carry_out`); the
front ends' waiting is tested on the wire (tests/test_faults.py).
"""

from __future__ import annotations

import concurrent.futures
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linesock import GARBAGE, Closing, Fault, FaultKind, Faults, Hold, parse_fault
from session_rig import Rig, Way, carry_out, every_way, make_rig

SCRIPT = b"echo a\necho b\necho c\n"


def fed(
    way: Way, faults: Faults, script: bytes = SCRIPT, **options: object
) -> tuple[bytes, list[Hold], list[str], Rig]:
    """Feed *script* under *faults*; return (bytes sent, holds met, handler calls, rig)."""
    rig = make_rig(faults=faults, **options)  # type: ignore[arg-type]
    holds: list[Hold] = []
    out = carry_out(rig.session, way.feed(rig.session, script), holds)
    return out, holds, rig.handler.calls, rig


@pytest.mark.srs("SRS-207")
@every_way
def test_a_delay_runs_the_command_and_holds_its_answer_and_all_after(way: Way) -> None:
    """The held bytes are the command's answer; the commands behind it wait in order."""
    faults = Faults()
    faults.delay(0.25, count=1, match="echo b")
    out, holds, calls, rig = fed(way, faults)
    assert out == b"a\nb\nc\n" + way.then()
    assert holds == [Hold(b"b\n", delay=0.25)]
    assert calls[:3] == ["echo a", "echo b", "echo c"]
    assert rig.stats.faults == 1
    assert ("fault", "delay 250 count 1 match 'echo b'", "echo b") in rig.observer.told()


@pytest.mark.srs("SRS-212")
@every_way
def test_slow_holds_the_answer_with_its_rate(way: Way) -> None:
    """``slow``: the command runs; its bytes go out at the fault's rate."""
    faults = Faults()
    faults.slow(1200, count=1, match="echo b")
    out, holds, calls, _rig = fed(way, faults)
    assert out == b"a\nb\nc\n" + way.then()
    assert holds == [Hold(b"b\n", bytes_per_second=1200)]
    assert calls[:3] == ["echo a", "echo b", "echo c"]


@pytest.mark.srs("SRS-208")
@pytest.mark.srs("SRS-210")
@pytest.mark.srs("SRS-211")
@every_way
@pytest.mark.parametrize(
    ("inject", "answer"),
    [
        (lambda faults: faults.silence(count=1, match="echo b"), b""),
        (lambda faults: faults.error("E 1", count=1, match="echo b"), b"E 1\n"),
        (lambda faults: faults.garbage(count=1, match="echo b"), GARBAGE + b"\n"),
    ],
    ids=["silence", "error", "garbage"],
)
def test_a_fault_in_the_answers_place_keeps_the_command_from_running(
    way: Way, inject: object, answer: bytes
) -> None:
    """``silence``, ``error``, ``garbage``: the command does not run; the others do."""
    faults = Faults()
    inject(faults)  # type: ignore[operator]
    out, _holds, calls, _rig = fed(way, faults)
    assert out == b"a\n" + answer + b"c\n" + way.then()
    assert "echo b" not in calls
    assert calls[:2] == ["echo a", "echo c"]


@pytest.mark.srs("SRS-209")
@every_way
@pytest.mark.parametrize("reset", [False, True], ids=["drop", "drop-reset"])
def test_a_drop_answers_what_came_before_and_closes(way: Way, reset: bool) -> None:
    """``drop``: the answers before it, then the session closes; what follows is not counted."""
    faults = Faults()
    faults.drop(reset=reset, count=1, match="echo b")
    out, _holds, calls, rig = fed(way, faults)
    assert out == b"a\n"
    assert rig.closing() is (Closing.RESET if reset else Closing.DROP)
    assert calls == ["echo a"]
    assert rig.stats.commands == 2


@pytest.mark.srs("SRS-213")
@every_way
def test_invalid_lines_and_disconnect_never_take_a_fault(way: Way) -> None:
    """A fault matching everything skips an undecodable line and ``disconnect``."""
    faults = Faults()
    faults.error("E")
    out, _holds, _calls, rig = fed(way, faults, b"\xff\xfe\necho a\ndisconnect\n")
    assert out == b"invalid\nE\n"
    assert rig.closing() is Closing.DISCONNECT
    assert rig.stats.faults == 1


@pytest.mark.srs("SRS-214")
@every_way
def test_with_a_token_auth_lines_never_take_a_fault(way: Way) -> None:
    """The server's ``auth`` lines, first or later, are not the instrument's commands."""
    faults = Faults()
    faults.error("E", count=2)
    script = b"auth t0ken\nauth t0ken\necho a\necho b\n"
    out, _holds, _calls, _rig = fed(way, faults, script, token="t0ken")
    assert out == b"ok\nok\nE\nE\n" + way.then()
    assert len(faults) == 0


@pytest.mark.srs("SRS-207")
def test_a_delay_waits_for_a_deferred_answer_then_holds_it() -> None:
    """A delayed command whose answer is a Future: the hold comes once the Future is done."""
    faults = Faults()
    faults.delay(0.5, count=1, match="later")
    rig = make_rig(faults=faults)
    assert rig.session.receive(b"echo a\nlater\necho c\n") == b"a\n"
    future = rig.handler.futures[0]
    assert isinstance(rig.pending(), concurrent.futures.Future)
    future.set_result("done")
    assert rig.session.resume("done") == b""
    holds: list[Hold] = []
    assert carry_out(rig.session, b"", holds) == b"done\nc\n"
    assert holds == [Hold(b"done\n", delay=0.5)]


@pytest.mark.srs("SRS-207")
def test_commands_that_arrive_during_a_hold_wait_behind_it() -> None:
    """While a hold is pending, new commands are queued, then answered after it."""
    faults = Faults()
    faults.delay(1, count=1)
    rig = make_rig(faults=faults)
    assert rig.session.receive(b"echo a\n") == b""
    assert rig.session.receive(b"echo b\n") == b""
    hold = rig.pending()
    assert hold == Hold(b"a\n", delay=1)
    assert rig.session.resume() == b"b\n"
    assert rig.pending() is None


@pytest.mark.srs("SRS-216")
def test_a_recording_session_reports_the_fault_then_what_was_sent() -> None:
    """The observer hears of each fault, and each command's record holds what the client got."""
    faults = Faults()
    faults.error("E1", count=1, match="echo b")
    faults.delay(0.1, count=1, match="echo c")
    rig = make_rig(faults=faults, record=True)
    carry_out(rig.session, rig.session.receive(SCRIPT + b"echo d\n"))
    assert rig.observer.calls == [
        ("fault", "error E1 count 1 match 'echo b'", "echo b"),
        ("fault", "delay 100 count 1 match 'echo c'", "echo c"),
        ("commands", ["echo a", "echo b"], ["a", "E1"], [0, 1]),
        ("commands", ["echo c"], ["c"], [0]),
        ("commands", ["echo d"], ["d"], [0]),
    ]


@pytest.mark.srs("SRS-213")
def test_the_fault_path_keeps_the_output_bound() -> None:
    """Under a fault, a long batch is still answered in chunks of about OUTPUT_CHUNK."""
    faults = Faults()
    faults.error("E", match="never")
    rig = make_rig(faults=faults)
    first = rig.session.receive(b"big 100000\n" * 5)
    assert len(first) == 3 * 100_001
    assert rig.has_queued()
    assert carry_out(rig.session, first) == (b"x" * 100_000 + b"\n") * 5


_TEXT = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]))


@st.composite
def faults_as_given(draw: st.DrawFn) -> Fault:
    """Any valid fault: every kind, with or without a count and a pattern."""
    kind = draw(st.sampled_from(list(FaultKind)))
    values: dict[str, object] = {}
    if kind is FaultKind.DELAY:
        values["seconds"] = draw(st.sampled_from([0.0, 0.001, 0.5, 12.25, 3600.0]))
    elif kind is FaultKind.SLOW:
        values["bytes_per_second"] = draw(st.sampled_from([0.5, 1.0, 960.0, 115200.0]))
    elif kind is FaultKind.ERROR:
        values["text"] = draw(_TEXT)
    elif kind is FaultKind.DROP:
        values["reset"] = draw(st.booleans())
    count = draw(st.none() | st.integers(min_value=1, max_value=10**6))
    match = draw(st.none() | _TEXT.filter(bool))
    return Fault(kind, count=count, match=match, **values)  # type: ignore[arg-type]


@pytest.mark.srs("SRS-213")
@given(faults_as_given())
def test_a_fault_reads_back_as_itself(fault: Fault) -> None:
    """``parse_fault(shlex.split(str(fault)))`` is the fault again, quoting and all."""
    assert parse_fault(shlex.split(str(fault))) == fault


@pytest.mark.srs("SRS-213")
@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("", "which fault?"),
        ("boom", "unknown fault 'boom'"),
        ("delay", "delay needs a value"),
        ("delay count 2", "delay needs a value"),
        ("delay soon", "MS must be a number, not 'soon'"),
        ("delay nan", "MS must be a finite number"),
        ("delay -5", "a delay must be from 0 to 3600 s"),
        ("slow 0", "a rate must be above 0 bytes/s"),
        ("error", "error needs a value"),
        ("silence count 0", "count must be a whole number from 1, not '0'"),
        ("silence count", "expected count N or match GLOB, got 'count'"),
        ("silence match x match y", "expected count N or match GLOB, got 'match'"),
        ("garbage loudly", "expected count N or match GLOB, got 'loudly'"),
        ("drop match ''", "a match pattern must not be empty"),
    ],
)
def test_a_bad_fault_is_refused_saying_why(words: str, message: str) -> None:
    """Each malformed fault raises ValueError with a message that names the problem."""
    with pytest.raises(ValueError, match="^" + message.replace("?", r"\?").replace("(", r"\(")):
        parse_fault(shlex.split(words))


@pytest.mark.srs("SRS-214")
def test_faults_list_clear_and_count_down() -> None:
    """``describe`` lists what is left, oldest first; a used-up fault is gone; ``clear`` empties."""
    changes: list[tuple[str, str]] = []
    faults = Faults(on_change=lambda action, detail: changes.append((action, detail)))
    assert not faults
    faults.delay(0.5, count=2, match="VOLT?")
    faults.drop(reset=True)
    assert faults.describe() == ["delay 500 count 2 match VOLT?", "drop reset"]
    assert faults.take("VOLT?") == Fault(FaultKind.DELAY, seconds=0.5, count=2, match="VOLT?")
    assert faults.describe() == ["delay 500 count 1 match VOLT?", "drop reset"]
    faults.take("VOLT?")
    assert list(faults) == [Fault(FaultKind.DROP, reset=True)]
    faults.clear()
    faults.clear()  # nothing left: no second record
    assert len(faults) == 0
    assert changes == [
        ("fault", "delay 500 count 2 match VOLT?"),
        ("fault", "drop reset"),
        ("clear", ""),
    ]
