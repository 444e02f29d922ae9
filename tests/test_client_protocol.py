"""The client core in memory: ClientConnection, bytes in and bytes out, no socket.

Every rule of the client side is fed to :class:`linesock.ClientConnection`
directly: the handshake with and without a token, request framing, answers
whole, one byte at a time, in every packet size from 1 to 9 and with the
next answer's bytes trailing, invalid lines, and the close sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linesock import (
    NEED_DATA,
    AuthenticationError,
    ClientConfig,
    ClientConnection,
    ClientState,
    LinesockError,
    NeedData,
    NoServerError,
    NotConnectedError,
    RemoteProtocolError,
)

T = TypeVar("T")

WHERE = "127.0.0.1:5001"

pytestmark = pytest.mark.srs("SRS-187")


def make(**options: object) -> ClientConnection:
    """A connection to 127.0.0.1:5001 with *options* (ClientConfig fields)."""
    return ClientConnection(ClientConfig(port=5001, **options))  # type: ignore[arg-type]


def ready(**options: object) -> ClientConnection:
    """A connection past its handshake."""
    connection = make(**options)
    assert connection.start() == b"ping\n"
    connection.receive_data(b"pong\n")
    assert connection.handshake_step() is None
    return connection


def state(connection: ClientConnection) -> ClientState:
    """Read ``connection.state`` afresh (a type checker would keep its narrowed value)."""
    return connection.state


def settled(connection: ClientConnection) -> bool:
    """Read ``connection.settled`` afresh (a type checker would keep its narrowed value)."""
    return connection.settled


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """*data* in pieces of *size* bytes (the last one may be shorter)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def pull_after(
    connection: ClientConnection, pieces: list[bytes], pull: Callable[[], T | NeedData]
) -> T:
    """Feed *pieces* one by one; *pull* must need data until the last one, then give a result."""
    for piece in pieces[:-1]:
        connection.receive_data(piece)
        assert pull() is NEED_DATA, f"a result before the last piece, after {piece!r}"
    connection.receive_data(pieces[-1])
    result = pull()
    assert result is not NEED_DATA
    return result


SIZES = pytest.mark.parametrize("size", [*range(1, 10), 1000], ids=lambda size: f"by{size}")


# -- the handshake ------------------------------------------------------------


@pytest.mark.srs("SRS-047")
@SIZES
def test_without_a_token_the_handshake_is_ping_then_pong(size: int) -> None:
    """start() sends ping; the connection is READY once pong came, however it was split."""
    connection = make()
    assert state(connection) is ClientState.IDLE
    assert connection.start() == b"ping\n"
    assert state(connection) is ClientState.CHECKING
    assert connection.handshake_step() is NEED_DATA
    assert pull_after(connection, list(chunks(b"pong\n", size)), connection.handshake_step) is None
    assert state(connection) is ClientState.READY


@pytest.mark.srs("SRS-047", "SRS-050")
@pytest.mark.parametrize("token", [None, "t"], ids=["ping", "auth-then-ping"])
def test_a_server_that_closes_right_after_its_pong_leaves_a_closed_connection(
    token: str | None,
) -> None:
    """The handshake passes, but the connection stays CLOSED: the next use says so."""
    connection = make(token=token)
    connection.start()
    if token is not None:
        connection.receive_data(b"ok\n")
        assert connection.handshake_step() == b"ping\n"
    connection.receive_data(b"pong\n")
    connection.receive_data(b"")
    assert connection.handshake_step() is None
    assert state(connection) is ClientState.CLOSED
    with pytest.raises(ConnectionError, match="closed the connection"):
        connection.request("x")


@pytest.mark.srs("SRS-067")
def test_with_a_token_auth_goes_first_and_ping_only_after_ok() -> None:
    """start() sends auth TOKEN; only ok releases the ping; pong makes it READY."""
    connection = make(token="rig-42")
    assert connection.start() == b"auth rig-42\n"
    assert state(connection) is ClientState.AUTHENTICATING
    assert connection.handshake_step() is NEED_DATA
    connection.receive_data(b"o")
    assert connection.handshake_step() is NEED_DATA
    connection.receive_data(b"k\n")
    assert connection.handshake_step() == b"ping\n"
    assert state(connection) is ClientState.CHECKING
    connection.receive_data(b"pong\n")
    assert connection.handshake_step() is None
    assert state(connection) is ClientState.READY


@pytest.mark.srs("SRS-067")
@pytest.mark.parametrize("then_eof", [False, True], ids=["open", "closed-after"])
def test_a_refused_token_is_an_authentication_error(then_eof: bool) -> None:
    """A reply to auth other than ok raises AuthenticationError, even if the server closed too."""
    connection = make(token="wrong")
    connection.start()
    connection.receive_data(b"unauthorized\n")
    if then_eof:
        connection.receive_data(b"")
    with pytest.raises(AuthenticationError) as caught:
        connection.handshake_step()
    assert str(caught.value) == f"the server at {WHERE} refused the token (unauthorized)"
    assert isinstance(caught.value, ConnectionError)
    assert isinstance(caught.value, LinesockError)


@pytest.mark.srs("SRS-067")
def test_a_ping_answered_unauthorized_is_an_authentication_error() -> None:
    """Without a token, a server that wants one answers ping unauthorized: AuthenticationError."""
    connection = make()
    connection.start()
    connection.receive_data(b"unauthorized\n")
    with pytest.raises(AuthenticationError) as caught:
        connection.handshake_step()
    assert str(caught.value) == f"the server at {WHERE} answered ping with 'unauthorized'"


@pytest.mark.srs("SRS-048")
def test_a_peer_answering_ping_otherwise_is_not_a_oneline_server() -> None:
    """Any other answer to ping is a plain ConnectionError naming it."""
    connection = make()
    connection.start()
    connection.receive_data(b"hello\n")
    with pytest.raises(ConnectionError) as caught:
        connection.handshake_step()
    assert type(caught.value) is ConnectionError
    assert str(caught.value) == f"the server at {WHERE} answered ping with 'hello'"


@pytest.mark.srs("SRS-048")
@pytest.mark.parametrize(
    ("token", "data", "message"),
    [
        (None, b"", "did not answer ping: the server at {where} closed the connection"),
        ("t", b"", "did not answer auth: the server at {where} closed the connection"),
        (None, b"\xff\n", "did not answer ping: the server sent an undecodable line of 1 bytes"),
    ],
    ids=["eof-at-ping", "eof-at-auth", "invalid-at-ping"],
)
def test_a_handshake_cut_short_names_the_step(token: str | None, data: bytes, message: str) -> None:
    """The server closing, or sending an invalid line, fails the handshake step it interrupts."""
    connection = make(token=token)
    connection.start()
    connection.receive_data(data)
    with pytest.raises(ConnectionError) as caught:
        connection.handshake_step()
    assert str(caught.value) == f"the server at {WHERE} " + message.format(where=WHERE)
    assert isinstance(caught.value.__cause__, RemoteProtocolError | ConnectionError)


@pytest.mark.srs("SRS-048")
def test_a_server_that_closed_before_the_handshake_began_fails_it() -> None:
    """EOF received before start() (an asyncio transport may see it first) fails the ping."""
    connection = make()
    connection.receive_data(b"")
    assert connection.start() == b"ping\n"
    assert state(connection) is ClientState.CLOSED
    with pytest.raises(ConnectionError, match=r"did not answer ping: .* closed the connection"):
        connection.handshake_step()


def test_the_errors_of_the_front_ends_io_are_worded_by_the_connection() -> None:
    """A timed-out handshake, a refused connection and a failed TLS handshake, in one wording."""
    connection = make(token="t")
    connection.start()
    timeout = connection.handshake_error(TimeoutError("timed out"))
    assert (type(timeout), str(timeout)) == (
        ConnectionError,
        f"the server at {WHERE} did not answer auth: timed out",
    )
    refused = connection.connect_error(ConnectionRefusedError(111, "Connection refused"))
    assert isinstance(refused, NoServerError)
    assert (
        str(refused) == f"no server accepts connections at {WHERE}: [Errno 111] Connection refused"
    )
    tls = connection.tls_error(OSError("bad certificate"))
    assert isinstance(tls, NoServerError)
    assert str(tls) == f"TLS handshake with {WHERE} failed: bad certificate"


def test_a_connection_is_started_once() -> None:
    """start() on a started connection raises RuntimeError: each TCP connection gets a new one."""
    connection = make()
    connection.start()
    with pytest.raises(RuntimeError, match="started once"):
        connection.start()


@pytest.mark.srs("SRS-059")
@pytest.mark.parametrize(
    "use",
    [
        lambda c: c.send("x"),
        lambda c: c.request("x"),
        lambda c: c.close_request(),
        lambda c: c.next_line(),
        lambda c: c.next_answers(),
    ],
    ids=["send", "request", "close_request", "next_line", "next_answers"],
)
def test_before_start_everything_raises_not_connected(
    use: Callable[[ClientConnection], object],
) -> None:
    """A connection not started sends and pulls nothing: NotConnectedError, saying so."""
    with pytest.raises(NotConnectedError, match=r"^the client is not connected; call connect\(\)$"):
        use(make())


# -- requests -------------------------------------------------------------------


@pytest.mark.srs("SRS-052", "SRS-053")
def test_a_command_is_one_line_and_a_request_adds_the_ping_sentinel() -> None:
    """send() ends the command with LF; request() adds the ping sentinel, except to ping itself."""
    connection = ready()
    assert connection.send("set volt 3.3") == b"set volt 3.3\n"
    assert connection.request("read x") == b"read x\nping\n"
    assert connection.request("") == b"\nping\n"
    assert connection.request("ping") == b"ping\n"
    assert ready(encoding="latin-1").request("café") == "café\nping\n".encode("latin-1")


@pytest.mark.srs("SRS-051")
@pytest.mark.parametrize("command", ["a\nb", "a\rb", "a\r\n", "\n"])
def test_a_command_holding_cr_or_lf_is_refused(command: str) -> None:
    """send() and request() raise ValueError for CR or LF, and the connection goes on."""
    connection = ready()
    with pytest.raises(ValueError, match="cannot hold CR or LF"):
        connection.send(command)
    with pytest.raises(ValueError, match="cannot hold CR or LF"):
        connection.request(command)
    assert state(connection) is ClientState.READY
    assert connection.request("echo clean") == b"echo clean\nping\n"


@pytest.mark.parametrize("command", ["disconnect", "shutdown"])
def test_request_refuses_the_closing_commands(command: str) -> None:
    """disconnect and shutdown end the session: they go through close_request(), not request()."""
    with pytest.raises(ValueError, match="ends the session: use close_request"):
        ready().request(command)


@pytest.mark.srs("SRS-052")
@SIZES
@pytest.mark.parametrize(
    ("script", "answers"),
    [
        (b"pong\n", []),
        (b"line 1\npong\n", ["line 1"]),
        (b"line 1\nline 2\nline 3\npong\n", ["line 1", "line 2", "line 3"]),
        (b"\npong\n", [""]),
        ("ünï ☕\npong\n".encode(), ["ünï ☕"]),
        (b"a\r\nb\r\npong\r\n", ["a", "b"]),
    ],
    ids=["none", "one", "three", "empty-line", "utf-8", "crlf"],
)
def test_request_answers_are_the_lines_before_pong(
    size: int, script: bytes, answers: list[str]
) -> None:
    """next_answers() gives every line before the sentinel's pong, however the reads split them."""
    connection = ready()
    connection.request("command")
    assert connection.next_answers() is NEED_DATA
    pieces = list(chunks(script, size))
    assert pull_after(connection, pieces, connection.next_answers) == answers
    assert connection.buffered_lines == 0
    assert connection.next_answers() is NEED_DATA  # nothing left over


@pytest.mark.srs("SRS-052")
def test_bytes_after_the_pong_stay_for_what_follows() -> None:
    """Trailing bytes (the next answer, part of a line) are kept for the next pull."""
    connection = ready()
    connection.request("first")
    connection.receive_data(b"one\npong\ntwo\npo")
    assert connection.next_answers() == ["one"]
    assert connection.buffered_lines == 1
    connection.request("second")
    assert connection.next_answers() is NEED_DATA
    connection.receive_data(b"ng\nthree\n")
    assert connection.next_answers() == ["two"]
    assert connection.next_line() == "three"


@pytest.mark.srs("SRS-052")
def test_a_long_answer_over_many_reads_comes_whole_and_in_order() -> None:
    """Ten thousand answer lines, fed in reads of 4 KiB that cut lines anywhere, come back whole."""
    expected = [f"line {number}" for number in range(10_000)]
    script = "".join(f"{line}\n" for line in [*expected, "pong"]).encode()
    connection = ready()
    connection.request("lines")
    assert pull_after(connection, list(chunks(script, 4096)), connection.next_answers) == expected
    assert connection.buffered_lines == 0


@pytest.mark.srs("SRS-052")
def test_a_handler_answering_pong_ends_the_answers_early() -> None:
    """The sentinel is the first pong: an answer pong ends the list, as documented."""
    connection = ready()
    connection.request("say pong")
    connection.receive_data(b"before\npong\nafter\npong\n")
    assert connection.next_answers() == ["before"]
    assert [connection.next_line(), connection.next_line()] == ["after", "pong"]


@pytest.mark.srs("SRS-052")
def test_request_ping_answers_pong() -> None:
    """request('ping') is answered ['pong']: the sentinel is the answer."""
    connection = ready()
    assert connection.request("ping") == b"ping\n"
    connection.receive_data(b"pong\n")
    assert connection.next_answers() == ["pong"]


@pytest.mark.srs("SRS-052")
def test_lines_sent_before_a_request_are_among_its_answers() -> None:
    """Unread answers of earlier send() calls come first, as the sentinel reads up to its pong."""
    connection = ready()
    connection.send("echo a")
    connection.request("lines 2")
    connection.receive_data(b"a\nline 1\n")
    assert connection.next_answers() is NEED_DATA
    connection.receive_data(b"line 2\npong\n")
    assert connection.next_answers() == ["a", "line 1", "line 2"]


# -- single lines and invalid lines -------------------------------------------------


@pytest.mark.srs("SRS-053")
@SIZES
def test_next_line_gives_each_line_once_the_lf_came(size: int) -> None:
    """next_line() needs data until a whole line came; then it gives the lines in order."""
    connection = ready()
    assert pull_after(connection, list(chunks(b"first line\n", size)), connection.next_line) == (
        "first line"
    )
    connection.receive_data(b"second\nthird\n")
    assert connection.buffered_lines == 2
    assert [connection.next_line(), connection.next_line()] == ["second", "third"]
    assert connection.next_line() is NEED_DATA


@pytest.mark.srs("SRS-058")
def test_an_undecodable_answer_raises_remote_protocol_error_with_the_raw_bytes() -> None:
    """An undecodable line raises RemoteProtocolError carrying it; the lines after it stay."""
    connection = ready()
    connection.receive_data(b"\xff\xfe\nfine\n")
    with pytest.raises(RemoteProtocolError, match="undecodable line of 2 bytes") as caught:
        connection.next_line()
    assert (caught.value.line.reason, caught.value.line.data) == ("undecodable", b"\xff\xfe")
    assert connection.next_line() == "fine"


@pytest.mark.srs("SRS-058")
@pytest.mark.parametrize("whole", [True, False], ids=["one-read", "read-by-read"])
def test_an_invalid_line_in_an_answer_raises_and_drops_the_answers_before_it(whole: bool) -> None:
    """next_answers() raises at the invalid line; what follows it is read as usual."""
    connection = ready()
    connection.request("command")
    script = [b"a\n", b"\xff\n", b"b\n", b"pong\n"]
    if whole:
        connection.receive_data(b"".join(script))
    else:
        for piece in script[:2]:
            connection.receive_data(piece)
            if piece == b"a\n":
                assert connection.next_answers() is NEED_DATA
        connection.receive_data(b"".join(script[2:]))
    with pytest.raises(RemoteProtocolError):
        connection.next_answers()
    assert [connection.next_line(), connection.next_line()] == ["b", "pong"]


@pytest.mark.srs("SRS-058")
@pytest.mark.parametrize(("length", "valid"), [(7, True), (8, True), (9, False)])
def test_an_answer_over_max_line_bytes_is_invalid(length: int, valid: bool) -> None:
    """With max_line_bytes=8, a line of 7 or 8 bytes is an answer, one of 9 an overlong line."""
    connection = ready(max_line_bytes=8)
    line = b"x" * length
    connection.request("command")
    connection.receive_data(line + b"\npong\n")
    if valid:
        assert connection.next_answers() == [line.decode()]
        return
    with pytest.raises(RemoteProtocolError) as caught:
        connection.next_answers()
    assert (caught.value.line.reason, caught.value.line.size) == ("overlong", 9)


# -- the end of the connection --------------------------------------------------------


@pytest.mark.srs("SRS-050")
def test_after_the_server_closed_the_lines_before_are_read_then_connection_error() -> None:
    """EOF: buffered lines are still read; then every pull and send raises ConnectionError."""
    connection = ready()
    connection.receive_data(b"last\npartial without lf")
    connection.receive_data(b"")
    assert state(connection) is ClientState.CLOSED
    assert connection.next_line() == "last"
    closed = f"^the server at {WHERE} closed the connection$"
    for use in (connection.next_line, connection.next_answers, lambda: connection.send("x")):
        with pytest.raises(ConnectionError, match=closed) as caught:
            use()
        assert not isinstance(caught.value, NotConnectedError)


@pytest.mark.srs("SRS-050")
def test_eof_in_the_middle_of_an_answer_raises_connection_error() -> None:
    """A request whose pong never comes ends in ConnectionError once the server closed."""
    connection = ready()
    connection.request("lines 3")
    connection.receive_data(b"line 1\n")
    assert connection.next_answers() is NEED_DATA
    connection.receive_data(b"")
    with pytest.raises(ConnectionError, match="closed the connection"):
        connection.next_answers()


@pytest.mark.srs("SRS-055", "SRS-056")
@pytest.mark.parametrize("command", ["disconnect", "shutdown"])
def test_the_close_sequence_drops_every_line_until_the_server_closes(command: str) -> None:
    """close_request() sends the command; what arrives after is dropped; EOF makes it CLOSED."""
    connection = ready()
    connection.receive_data(b"unread answer\n")
    assert connection.close_request(command) == f"{command}\n".encode()
    assert state(connection) is ClientState.CLOSING
    assert connection.buffered_lines == 0
    connection.receive_data(b"late answer\npong\n")
    assert connection.buffered_lines == 0
    connection.receive_data(b"")
    assert state(connection) is ClientState.CLOSED


def test_close_request_after_the_server_closed_sends_nothing() -> None:
    """A connection the server already closed needs no closing command: b''."""
    connection = ready()
    connection.receive_data(b"")
    assert connection.close_request() == b""
    assert state(connection) is ClientState.CLOSED


def test_close_request_takes_only_the_closing_commands() -> None:
    """close_request('ping') is a mistake of the caller: ValueError."""
    with pytest.raises(ValueError, match="disconnect or shutdown"):
        ready().close_request("ping")


def test_repr_shows_the_server_and_the_state() -> None:
    """repr() names the address and the state."""
    assert repr(ready()) == f"<linesock.ClientConnection {WHERE} ready>"


@pytest.mark.srs("SRS-052", "SRS-058")
def test_lines_after_an_invalid_one_are_gathered_like_any_other() -> None:
    """Once the invalid line is pulled, the lines around it make up answers as usual."""
    connection = ready()
    connection.receive_data(b"\xff\n")
    connection.receive_data(b"b\n")  # joins a batch that holds an invalid line
    with pytest.raises(RemoteProtocolError):
        connection.next_line()
    connection.request("command")
    assert connection.next_answers() is NEED_DATA  # b came, its pong not yet
    connection.receive_data(b"c\npong\n")
    assert connection.next_answers() == ["b", "c"]


@pytest.mark.srs("SRS-052")
def test_a_new_request_drops_the_part_answer_of_one_given_up() -> None:
    """Answers gathered for a request given up on (a timeout) do not leak into the next one."""
    connection = ready()
    connection.request("first")
    connection.receive_data(b"part of first\n")
    assert connection.next_answers() is NEED_DATA
    connection.request("second")
    connection.receive_data(b"rest\npong\n")
    assert connection.next_answers() == ["rest"]


def test_handshake_step_once_connected_is_none() -> None:
    """A connection past its handshake has no step left: None."""
    assert ready().handshake_step() is None


# -- receive_answers(): a request's read in one call, split directly when it can be ----


def past_handshake(**options: object) -> ClientConnection:
    """A READY connection, whatever its answer terminator."""
    connection = make(**options)
    connection.start()
    ending = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}[
        str(options.get("answer_terminator", "lf"))
    ]
    connection.receive_data(b"pong" + ending)
    assert connection.handshake_step() is None
    return connection


def outcome(call: Callable[[], T]) -> tuple[object, object]:
    """What *call* returned, or the type and message of what it raised."""
    try:
        return ("returned", call())
    except Exception as exc:  # any difference between the two paths counts
        return (type(exc), str(exc))


def both_ways(
    plain: ClientConnection, direct: ClientConnection, data: bytes
) -> tuple[tuple[object, object], tuple[object, object]]:
    """receive_data() then next_answers() on *plain*; receive_answers() on *direct*."""

    def two_calls() -> list[str] | NeedData:
        plain.receive_data(data)
        return plain.next_answers()

    return outcome(two_calls), outcome(lambda: direct.receive_answers(data))


def assert_alike(plain: ClientConnection, direct: ClientConnection) -> None:
    """The two connections are in the same state; a settled one has nothing to pull."""
    assert (state(plain), plain.buffered_lines, plain.line_overlong) == (
        state(direct),
        direct.buffered_lines,
        direct.line_overlong,
    )
    if settled(direct):
        assert state(direct) is ClientState.READY
        assert (direct.buffered_lines, direct.line_overlong) == (0, False)


@pytest.mark.srs("SRS-052")
def test_a_whole_answer_is_split_at_once_and_leaves_the_connection_settled() -> None:
    """The common read: its answers come back and nothing is buffered; settled says so."""
    connection = ready()
    assert not settled(connection)  # nothing taken through receive_answers() yet
    connection.request("read x")
    assert connection.receive_answers(b"1.5\npong\n") == ["1.5"]
    assert settled(connection)
    assert connection.buffered_lines == 0
    assert connection.next_answers() is NEED_DATA
    assert connection.request("ping") == b"ping\n"
    assert connection.receive_answers(b"pong\n") == ["pong"]
    connection.request("lines")
    assert connection.receive_answers("a\n\nü\npong\n".encode()) == ["a", "", "ü"]
    assert settled(connection)


@pytest.mark.srs("SRS-052", "SRS-058")
@pytest.mark.parametrize(
    ("options", "reads"),
    [
        ({}, [b"a\r\npong\r\n"]),  # a CR before LF: the framer drops it
        ({}, [b"a\rb\npong\n"]),  # a CR inside a line stays in it
        ({}, [b"\xff\nb\npong\n", b"c\npong\n"]),  # undecodable: raised, the rest read
        ({}, [b"one\npong\ntwo\npo", b"ng\n"]),  # the rest of a read stays for what follows
        ({}, [b"say\npong\nafter\npong\n"]),  # the first pong ends the answers
        ({}, [b"part", b"ial\npong\n"]),  # a line split across reads
        ({}, [b"a\n", b"b\npong\n"]),  # answers over two reads
        ({}, [b"a\npong\n", b""]),  # then the server closes
        ({"max_line_bytes": 8}, [b"x" * 9 + b"\npong\n"]),  # overlong
        ({"max_line_bytes": 8}, [b"x" * 8 + b"\npong\n"]),  # just fits
        ({"max_answer_lines": 2}, [b"a\nb\nc\npong\n"]),  # past the bound
        ({"max_answer_lines": 2}, [b"a\nb\npong\n"]),  # at the bound
        ({"answer_terminator": "crlf"}, [b"a\nb\r\npong\r\n"]),  # another framer
    ],
)
def test_receive_answers_gives_what_receive_data_then_next_answers_give(
    options: dict[str, object], reads: list[bytes]
) -> None:
    """Every read a request may meet: the same answers, errors and state either way."""
    plain, direct = past_handshake(**options), past_handshake(**options)
    plain.request("command")
    direct.request("command")
    for data in reads:
        first, second = both_ways(plain, direct, data)
        assert first == second
        assert_alike(plain, direct)
    assert outcome(plain.next_line) == outcome(direct.next_line)


@pytest.mark.srs("SRS-052")
def test_settled_is_cleared_by_whatever_may_leave_something_to_pull() -> None:
    """receive_data() and close_request() clear it; a direct read sets it again."""
    connection = ready()
    connection.request("first")
    assert connection.receive_answers(b"1\npong\n") == ["1"]
    assert settled(connection)
    connection.receive_data(b"late\n")
    assert not settled(connection)
    assert connection.next_line() == "late"
    connection.request("second")
    assert connection.receive_answers(b"2\npong\n") == ["2"]
    assert settled(connection)
    connection.close_request()
    assert not settled(connection)


_PIECES = [b"ok", b"pong", b"\n", b"\r", b"\r\n", b"\xff", "ü".encode(), b"x" * 9, b"pong\n"]
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.sampled_from([b"read x", b"ping"])),
        st.tuples(st.just("read"), st.lists(st.sampled_from(_PIECES), max_size=6).map(b"".join)),
        st.tuples(st.just("line"), st.just(b"")),
        st.tuples(st.just("close"), st.just(b"")),
    ),
    max_size=14,
)


@pytest.mark.srs("SRS-052")
@settings(max_examples=400, deadline=None)
@given(
    steps=_STEPS,
    options=st.sampled_from(
        [{}, {"max_line_bytes": 8}, {"max_answer_lines": 2}, {"answer_terminator": "crlf"}]
    ),
)
def test_receive_answers_matches_the_two_calls_for_any_script(
    steps: list[tuple[str, bytes]], options: dict[str, object]
) -> None:
    """Any mix of requests, reads (an empty one is the end), pulls and a close: alike."""
    plain, direct = past_handshake(**options), past_handshake(**options)
    for kind, data in steps:
        if kind == "read":
            first, second = both_ways(plain, direct, data)
        elif kind == "request":
            command = data.decode()
            first, second = (
                outcome(partial(plain.request, command)),
                outcome(partial(direct.request, command)),
            )
        elif kind == "line":
            first, second = outcome(plain.next_line), outcome(direct.next_line)
        else:
            first, second = outcome(plain.close_request), outcome(direct.close_request)
        assert first == second
        assert_alike(plain, direct)
