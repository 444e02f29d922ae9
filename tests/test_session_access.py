"""The protocol core's first-line gate in memory: the token and the HTTP refusal.

docs/protocol.md, Access.  Each case is fed every way (see ``session_rig``);
what follows the first line in the same read is never run for a refused
session, and answered as usual for an authenticated one.
"""

from __future__ import annotations

import pytest

from linesock import Closing, InvalidLine, Refusal, ServerStats
from session_rig import PONG, Way, every_way, make_rig

pytestmark = pytest.mark.srs("SRS-157")

TOKEN = "s3cret"


# -- a shared token ------------------------------------------------------------------


@pytest.mark.srs("SRS-065")
@every_way
def test_auth_with_the_token_is_answered_ok_and_the_session_proceeds(way: Way) -> None:
    """``auth TOKEN`` is answered ``ok``; the commands after it, in its read too, are served."""
    rig = make_rig(token=TOKEN)
    assert way.feed(rig.session, b"auth s3cret\r\nping\necho x\n") == b"ok\npong\nx\n" + way.then()
    assert rig.observer.calls == [("authenticated",)]
    assert rig.handler.calls == ["echo x"]
    assert rig.session.closing is None
    assert rig.stats.auth_failures == 0


@pytest.mark.srs("SRS-065", "SRS-161")
@every_way
def test_a_later_auth_line_is_answered_by_the_server_never_the_handler(way: Way) -> None:
    """After authentication, ``auth`` with the token is answered ``ok`` by the server itself."""
    rig = make_rig(token=TOKEN)
    assert way.feed(rig.session, b"auth s3cret\nauth s3cret\necho a\n") == (
        b"ok\nok\na\n" + way.then()
    )
    assert rig.handler.calls[:1] == ["echo a"]
    assert rig.observer.calls == [("authenticated",)]


@pytest.mark.srs("SRS-161")
@every_way
def test_a_later_auth_line_with_a_wrong_token_refuses_the_session(way: Way) -> None:
    """A wrong token after authentication: ``unauthorized``, and the session closes refused."""
    rig = make_rig(token=TOKEN)
    out = way.feed(rig.session, b"auth s3cret\necho a\nauth nope\necho never\n")
    assert out == b"ok\na\nunauthorized\n"
    assert rig.session.closing is Closing.REFUSED
    assert "echo never" not in rig.handler.calls
    assert not any("nope" in repr(call) for call in rig.observer.calls)
    assert rig.stats.auth_failures == 1


@pytest.mark.srs("SRS-066")
@every_way
@pytest.mark.parametrize(
    ("first", "reported"),
    [
        pytest.param(b"auth wrong", "auth wrong", id="wrong_token"),
        pytest.param(b"auth s3cret ", "auth s3cret ", id="token_and_a_space"),
        pytest.param(b"auth s3cre", "auth s3cre", id="token_prefix"),
        pytest.param(b"AUTH s3cret", "AUTH s3cret", id="upper_case_auth"),
        pytest.param(b"auth", "auth", id="auth_alone"),
        pytest.param(b"auth ", "auth ", id="empty_token"),
        pytest.param(b"ping", "ping", id="ping"),
        pytest.param(b"echo x", "echo x", id="command"),
        pytest.param(b"", "", id="empty_line"),
        pytest.param(b"\xff", InvalidLine("undecodable", b"\xff", 1), id="undecodable"),
    ],
)
def test_a_wrong_or_missing_token_is_answered_unauthorized_and_refused(
    way: Way, first: bytes, reported: str | InvalidLine
) -> None:
    """Any first line but ``auth TOKEN`` gets ``unauthorized``; nothing after it runs."""
    rig = make_rig(token=TOKEN)
    assert way.feed(rig.session, first + b"\nauth s3cret\necho later\nping\n") == (
        b"unauthorized\n"
    )
    assert rig.session.closing is Closing.REFUSED
    assert rig.handler.calls == []
    assert rig.observer.calls == [("refused", Refusal.UNAUTHORIZED, reported)]
    assert (rig.stats.auth_failures, rig.stats.invalid_lines, rig.stats.handler_errors) == (
        1,
        0,
        0,
    )


@pytest.mark.srs("SRS-066")
def test_an_overlong_first_line_is_unauthorized() -> None:
    """A first line over ``max_line_bytes`` is refused, not answered ``invalid``."""
    rig = make_rig(token=TOKEN, max_line_bytes=8)
    assert rig.session.receive(b"auth s3cret\n") == b"unauthorized\n"
    assert rig.observer.calls == [
        ("refused", Refusal.UNAUTHORIZED, InvalidLine("overlong", b"auth s3cret", 11))
    ]
    assert rig.stats.overlong_lines == 0


@pytest.mark.srs("SRS-065", "SRS-069")
@every_way
def test_the_auth_line_is_never_reported_as_a_command(way: Way) -> None:
    """With ``record=True`` the batches start after ``auth``, so the token stays out of them."""
    rig = make_rig(token=TOKEN, record=True)
    assert way.feed(rig.session, b"auth s3cret\necho x\n") == b"ok\nx\n" + way.then()
    assert rig.observer.answered() == [("echo x", ["x"]), *([("ping", ["pong"])] * way.trails)]
    assert rig.observer.told() == [("authenticated",)]
    assert all(TOKEN not in repr(call) for call in rig.observer.calls)


@pytest.mark.srs("SRS-066")
@every_way
def test_a_refused_session_reports_no_commands(way: Way) -> None:
    """A refused session tells ``refused`` and nothing else, even when it records."""
    rig = make_rig(token=TOKEN, record=True)
    assert way.feed(rig.session, b"nope\nping\n") == b"unauthorized\n"
    assert rig.observer.calls == [("refused", Refusal.UNAUTHORIZED, "nope")]


# -- HTTP refusal ----------------------------------------------------------------------

HTTP_FIRST_LINES = [
    b"GET / HTTP/1.1",
    b"POST /rig HTTP/1.0",
    b"OPTIONS * HTTP/1.1",
    b"GET /favicon.ico",
    b"DELETE /x",
    b"Host: 127.0.0.1:5001",
    b"host: localhost",
]


@pytest.mark.srs("SRS-071")
@every_way
@pytest.mark.parametrize("first", HTTP_FIRST_LINES, ids=lambda line: line.decode())
def test_a_first_line_that_looks_like_http_is_refused_without_an_answer(
    way: Way, first: bytes
) -> None:
    """A browser-like first line closes the session with no byte sent and no handler call."""
    rig = make_rig()
    script = first + b"\r\nHost: x\r\nContent-Length: 5\r\n\r\nping\n"
    assert way.feed(rig.session, script) == b""
    assert rig.session.closing is Closing.REFUSED
    assert rig.handler.calls == []
    assert rig.observer.calls == [("refused", Refusal.HTTP, first.decode())]
    assert rig.stats == ServerStats(commands=rig.stats.commands, http_refusals=1)


@pytest.mark.srs("SRS-071")
@every_way
@pytest.mark.parametrize(
    "command", [b"get volt", b"GET VOLT", b"GET", b"POST", b"get / http/1.1", b"hostname: x"]
)
def test_instrument_commands_that_resemble_http_are_served(way: Way, command: bytes) -> None:
    """A method word alone, upper or lower case, or another header name, is a command."""
    rig = make_rig()
    assert way.feed(rig.session, command + b"\n") == b"ack:" + command + b"\n" + way.then()
    assert rig.session.closing is None
    assert rig.stats.http_refusals == 0


@pytest.mark.srs("SRS-071")
@every_way
def test_http_after_the_first_line_is_an_ordinary_command(way: Way) -> None:
    """Only the first line is checked: a later request line reaches the handler."""
    rig = make_rig()
    assert way.feed(rig.session, b"ping\nGET / HTTP/1.1\nHost: x\n") == (
        b"pong\nack:GET / HTTP/1.1\nack:Host: x\n" + way.then()
    )
    assert rig.observer.calls == []


@pytest.mark.srs("SRS-072")
@every_way
def test_reject_http_false_serves_an_http_first_line(way: Way) -> None:
    """With ``reject_http=False`` a request line is just a command."""
    rig = make_rig(reject_http=False)
    assert way.feed(rig.session, b"GET / HTTP/1.1\r\n") == b"ack:GET / HTTP/1.1\n" + way.then()
    assert rig.session.closing is None
    assert rig.stats.http_refusals == 0


@pytest.mark.srs("SRS-066", "SRS-071")
@every_way
def test_the_http_refusal_comes_before_the_token_check(way: Way) -> None:
    """With a token, an HTTP first line is refused as HTTP: no ``unauthorized`` is sent."""
    rig = make_rig(token=TOKEN)
    assert way.feed(rig.session, b"GET / HTTP/1.1\r\n\r\n") == b""
    assert rig.observer.calls == [("refused", Refusal.HTTP, "GET / HTTP/1.1")]
    assert (rig.stats.http_refusals, rig.stats.auth_failures) == (1, 0)


@pytest.mark.srs("SRS-066", "SRS-072")
@every_way
def test_with_reject_http_off_an_http_first_line_fails_the_token(way: Way) -> None:
    """Without the HTTP refusal, a request line before ``auth`` is a wrong first command."""
    rig = make_rig(token=TOKEN, reject_http=False)
    assert way.feed(rig.session, b"GET / HTTP/1.1\r\n") == b"unauthorized\n"
    assert rig.observer.calls == [("refused", Refusal.UNAUTHORIZED, "GET / HTTP/1.1")]
    assert (rig.stats.http_refusals, rig.stats.auth_failures) == (0, 1)


@pytest.mark.srs("SRS-066", "SRS-071")
def test_sessions_share_no_state_a_refusal_leaves_the_next_session_fresh() -> None:
    """Each session checks its own first line: one refused before it changes nothing."""
    stats = ServerStats()
    for _ in range(3):
        refused = make_rig(stats=stats)
        assert refused.session.receive(b"GET / HTTP/1.1\r\n") == b""
        assert refused.observer.calls == [("refused", Refusal.HTTP, "GET / HTTP/1.1")]
        served = make_rig(stats=stats)
        assert served.session.receive(b"ping\n") == PONG
    assert stats.http_refusals == 3
