"""The session lifecycle is decided once: every front end records the same sessions alike.

The same scripted sessions, played against the threaded, asyncio and uvloop
servers, must leave the same transcript records, timestamps and peer ports
aside: the same commands and answers, the same refusals, the same end
reasons (an ``EndReason`` text, never one assembled per front end).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from frontends import RunningServer, start_asyncio_on, start_threaded
from linesock import EndReason, Fault, FaultKind, ServerConfig, Session, read_transcript
from linesock import _lifecycle as lifecycle
from linesock._lifecycle import ServerCore
from wire import connect, converse, read_exactly, read_until_eof


def _start_uvloop(handler_name: str, **options: Any) -> RunningServer:
    uvloop = pytest.importorskip("uvloop")
    return start_asyncio_on(uvloop.new_event_loop, handler_name, **options)


def _start_asyncio(handler_name: str, **options: Any) -> RunningServer:
    return start_asyncio_on(asyncio.new_event_loop, handler_name, **options)


STARTERS: dict[str, Callable[..., RunningServer]] = {
    "threaded": start_threaded,
    "asyncio": _start_asyncio,
    "uvloop": _start_uvloop,
}


def records_of(path: Path) -> list[dict[str, object]]:
    """The transcript's records without their times, the peers reduced to their host."""
    records = []
    for record in read_transcript(path):
        del record["t"]
        if record.get("event") == "connect":
            host, _, port = str(record["peer"]).rpartition(":")
            assert port.isdigit()
            record["peer"] = host
        records.append(record)
    return records


def play_open_sessions(port: int) -> None:
    """Sessions without a token: commands of every kind, an HTTP client, one that vanishes."""
    script = b"echo a\nlines 2\nsilent\nraise\n\xff\xfe\nlf\nping\ndisconnect\nnever run\n"
    assert converse(port, script) == b"a\nline 1\nline 2\ninvalid\npong\n"
    assert converse(port, b"GET / HTTP/1.1\r\nHost: rig\r\n\r\n") == b""
    with connect(port) as vanishing:
        vanishing.sendall(b"echo v\nhalf a li")
        assert read_exactly(vanishing, 2) == b"v\n"
    assert converse(port, b"echo last\nshutdown\n") == b"last\n"


def play_token_sessions(port: int) -> None:
    """Sessions with a token: one refused, one that authenticates."""
    assert converse(port, b"auth wrong\necho x\n") == b"unauthorized\n"
    assert converse(port, b"auth s3cret\necho in\nshutdown\n") == b"ok\nin\n"


def play_a_session_the_server_stops(running: RunningServer) -> None:
    """A session still open when the server is stopped."""
    with connect(running.port) as client:
        client.sendall(b"echo open\n")
        assert read_exactly(client, 5) == b"open\n"
        running.stop()
        assert read_until_eof(client) == b""


def connect_record(session: int) -> dict[str, object]:
    return {"session": session, "event": "connect", "peer": "127.0.0.1"}


def end_record(session: int, reason: EndReason) -> dict[str, object]:
    return {"session": session, "event": "end", "reason": reason.value}


OPEN_RECORDS = [
    connect_record(1),
    {"session": 1, "command": "echo a", "answers": ["a"]},
    {"session": 1, "command": "lines 2", "answers": ["line 1", "line 2"]},
    {"session": 1, "command": "silent", "answers": []},
    {"session": 1, "command": "raise", "answers": []},
    {
        "session": 1,
        "invalid": "undecodable",
        "size": 2,
        "data": "\\xff\\xfe",
        "answers": ["invalid"],
    },
    {"session": 1, "command": "lf", "answers": []},
    {"session": 1, "command": "ping", "answers": ["pong"]},
    {"session": 1, "command": "disconnect", "answers": []},
    end_record(1, EndReason.DISCONNECT),
    connect_record(2),
    {"session": 2, "event": "refused", "reason": "http"},
    end_record(2, EndReason.REFUSED),
    connect_record(3),
    {"session": 3, "command": "echo v", "answers": ["v"]},
    end_record(3, EndReason.CLIENT_CLOSED),
    connect_record(4),
    {"session": 4, "command": "echo last", "answers": ["last"]},
    {"session": 4, "command": "shutdown", "answers": []},
    end_record(4, EndReason.SHUTDOWN),
]

TOKEN_RECORDS = [
    connect_record(1),
    {"session": 1, "event": "refused", "reason": "unauthorized"},
    end_record(1, EndReason.REFUSED),
    connect_record(2),
    {"session": 2, "event": "auth", "result": "ok"},
    {"session": 2, "command": "echo in", "answers": ["in"]},
    {"session": 2, "command": "shutdown", "answers": []},
    end_record(2, EndReason.SHUTDOWN),
]


STOPPED_RECORDS = [
    connect_record(1),
    {"session": 1, "command": "echo open", "answers": ["open"]},
    end_record(1, EndReason.SERVER_STOPPING),
]


@pytest.mark.srs("SRS-154")
@pytest.mark.parametrize("front_end", sorted(STARTERS))
@pytest.mark.parametrize(
    ("options", "play", "expected"),
    [
        ({}, play_open_sessions, OPEN_RECORDS),
        ({"token": "s3cret"}, play_token_sessions, TOKEN_RECORDS),
    ],
    ids=["open", "token"],
)
def test_every_front_end_records_the_same_sessions_alike(
    front_end: str,
    options: dict[str, Any],
    play: Callable[[int], None],
    expected: list[dict[str, object]],
    tmp_path: Path,
) -> None:
    """Refused, HTTP-refused, invalid, multi-answer, raising, disconnect, vanished: one record."""
    path = tmp_path / "rig.jsonl"
    running = STARTERS[front_end]("protocol_handler", transcript=str(path), **options)
    try:
        play(running.port)
        assert running.wait_stopped(10.0), "the client's shutdown did not stop the server"
    finally:
        running.stop()
    assert records_of(path) == expected


@pytest.mark.srs("SRS-154")
@pytest.mark.parametrize("front_end", sorted(STARTERS))
def test_every_front_end_records_a_session_cut_by_stop_alike(
    front_end: str, tmp_path: Path
) -> None:
    """A session open when the server stops ends with the reason 'the server is stopping'."""
    path = tmp_path / "rig.jsonl"
    play_a_session_the_server_stops(STARTERS[front_end]("protocol_handler", transcript=str(path)))
    assert records_of(path) == STOPPED_RECORDS


def test_a_served_session_is_freed_as_soon_as_it_is_dropped() -> None:
    """No reference cycle: the session, its reports and its framer go by reference counting.

    With a cycle in each, every session was left to the garbage collector,
    whose collections cost the threaded server some 5,000 instructions a
    session (tools/measure_instructions.py).  Here the collector keeps what
    it finds unreachable, and none of it may be the session's.
    """
    core = ServerCore(lambda command: "ok", ServerConfig())
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        served = core.begin("127.0.0.1:5025")
        assert served.session.receive(b"read x\nping\n") == b"ok\npong\n"
        assert served.session.receive(b"disconnect\n") == b""
        served.end(served.ended_by_client())
        kinds: set[type] = {type(kept) for kept in (served, served.session, served.reports)}
        kinds.add(type(served.session.framer))
        del served
        gc.collect()
        assert [kept for kept in gc.garbage if type(kept) in kinds] == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert (core.stats.sessions, core.stats.commands) == (1, 3)


def count_sessions_built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Session, int]]:
    """Have each Session the lifecycle builds listed, with the count of sessions begun then."""
    built: list[tuple[Session, int]] = []

    def build(handler: Any, config: Any, stats: Any, *args: Any, **kwargs: Any) -> Session:
        session = Session(handler, config, stats, *args, **kwargs)
        built.append((session, stats.sessions))
        return session

    monkeypatch.setattr(lifecycle, "Session", build)
    return built


def test_a_prepared_session_is_the_one_the_next_client_gets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """prepare() builds the next session ahead; begin() hands out that one, numbered in turn.

    Built while the server waits, it costs the client nothing; until then
    it counts, logs and records nothing.
    """
    built = count_sessions_built(monkeypatch)
    core = ServerCore(lambda command: "ok", ServerConfig())
    caplog.set_level("INFO", logger="linesock")
    core.prepare()
    core.prepare()  # one is enough
    assert (len(built), core.stats.sessions, caplog.messages) == (1, 0, [])
    first = core.begin("127.0.0.1:5025")
    assert (first.session, first.number, first.reports.number) == (built[0][0], 1, 1)
    second = core.begin("127.0.0.1:5026")  # nothing prepared: built then
    assert (second.session, second.number, len(built)) == (built[1][0], 2, 2)
    core.prepare()
    core.stats.sessions = 10  # the counters are the caller's to reset
    third = core.begin("127.0.0.1:5027")  # the prepared one is numbered 3: built anew
    assert (third.session, third.number, third.reports.number) == (built[3][0], 11, 11)
    assert caplog.messages == [
        "client connected from 127.0.0.1:5025",
        "client connected from 127.0.0.1:5026",
        "client connected from 127.0.0.1:5027",
    ]


@pytest.mark.parametrize("busy", ["queue", "refuse"])  # the listen queue, and the gate
@pytest.mark.parametrize("front_end", sorted(STARTERS))
def test_every_front_end_prepares_each_session_before_its_client_comes(
    front_end: str, busy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each session is built while the server waits: before the count of sessions includes it."""
    built = count_sessions_built(monkeypatch)
    running = STARTERS[front_end]("protocol_handler", busy=busy)
    try:
        for _ in range(3):
            assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"
    finally:
        running.stop()
    counts = [sessions for _, sessions in built]
    # A fourth is prepared for a client that never comes, unless the stop came first.
    assert counts in ([0, 1, 2], [0, 1, 2, 3])


def test_a_session_prepared_before_a_change_follows_the_change(tmp_path: Path) -> None:
    """A change made while the server waits applies to the prepared session: faults, transcript."""
    path = tmp_path / "rig.jsonl"
    core = ServerCore(lambda command: "ok", ServerConfig(transcript=str(path)))
    core.prepare()  # before the transcript is open: this one would not record
    core.open()
    core.prepare()
    core.faults.add(Fault(FaultKind.ERROR, text="-350,Queue overflow", count=1))
    served = core.begin("127.0.0.1:5025")
    assert served.session.receive(b"read x\nread y\n") == b"-350,Queue overflow\nok\n"
    served.end(EndReason.CLIENT_CLOSED)
    core.close()
    records = [(record.get("event"), record.get("command")) for record in read_transcript(path)]
    assert records == [
        ("control", None),
        ("connect", None),
        ("fault", "read x"),
        (None, "read x"),
        (None, "read y"),
        ("end", None),
    ]
