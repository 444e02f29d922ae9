"""The Oneline protocol, rule by rule (docs/protocol.md), against every server front end.

Each test runs once per front end (threaded, asyncio, uvloop, the ``linesock
serve`` process, and the socket-oneline compatible ``linesock.compat``
server) through the ``serve`` fixture, and checks the exact bytes on the wire
with raw sockets, so no client library can hide a fault.  A rule compat
cannot meet by design is skipped for it with the reason: a server option its
``start()`` does not take (the starter skips).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from frontends import COMPAT, FRONT_ENDS, RunningServer, serve_fixture
from support import connect, converse, nothing_arrives, read_exactly, read_until_eof

Serve = Callable[..., RunningServer]

#: ``serve`` for this module: every front end of the other suites, and compat.
serve = serve_fixture({**FRONT_ENDS, **COMPAT})


# -- Rule 1: TCP, one server per port, port 0 picks a free port -------------


@pytest.mark.srs("SRS-001", "SRS-002")
def test_port_zero_reports_the_real_port_and_serves_on_it(serve: Serve) -> None:
    """A server asked for port 0 reports the port the OS chose, and answers there."""
    running = serve()
    assert running.host == "127.0.0.1"
    assert running.port > 0
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


@pytest.mark.srs("SRS-003")
def test_a_second_server_on_the_same_port_fails(serve: Serve) -> None:
    """Only one server can listen on a port."""
    running = serve()
    with pytest.raises(OSError), socket.create_server(("127.0.0.1", running.port)):
        pass


# -- Rule 2: one client session at a time, the others wait in order ---------


@pytest.mark.srs("SRS-004")
def test_a_waiting_client_is_served_only_after_the_current_one_leaves(serve: Serve) -> None:
    """A second client's commands wait, unanswered, until the first client disconnects."""
    running = serve()
    with connect(running.port) as first, connect(running.port) as second:
        first.sendall(b"echo first\n")
        assert read_exactly(first, 6) == b"first\n"
        second.sendall(b"echo second\n")
        assert nothing_arrives(second, within=0.3)
        first.sendall(b"disconnect\n")
        assert read_until_eof(first) == b""
        assert read_exactly(second, 7) == b"second\n"


@pytest.mark.srs("SRS-005")
def test_waiting_clients_are_served_in_arrival_order_and_lose_nothing(serve: Serve) -> None:
    """Clients queued behind a session are served one by one, in the order they connected."""
    running = serve()
    with connect(running.port) as first:
        first.sendall(b"ping\n")
        assert read_exactly(first, 5) == b"pong\n"
        waiting = []
        for number in range(3):
            sock = connect(running.port)
            sock.sendall(b"echo %d\nlines 2\ndisconnect\n" % number)
            waiting.append(sock)
        first.sendall(b"disconnect\n")
        assert read_until_eof(first) == b""
        for number, sock in enumerate(waiting):
            with sock:
                assert read_until_eof(sock) == b"%d\nline 1\nline 2\n" % number


# -- Rule 3: a command is the bytes up to LF; one CR before it is dropped ----


@pytest.mark.srs("SRS-006", "SRS-007", "SRS-008")
@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (b"echo plain\n", b"plain\n"),
        (b"echo crlf\r\n", b"crlf\n"),
        (b"echo two crs\r\r\n", b"two crs\r\n"),
        (b"echo inner\rcr\n", b"inner\rcr\n"),
        (b"echo  spaces  \n", b" spaces  \n"),
        (b"\n", b"ack:\n"),
        (b"\r\n", b"ack:\n"),
        (b"echo nul\x00byte\n", b"nul\x00byte\n"),
        (b"echo tab\tand\x7fdel\n", b"tab\tand\x7fdel\n"),
    ],
    ids=["lf", "crlf", "two-cr", "inner-cr", "spaces", "empty", "empty-crlf", "nul", "controls"],
)
def test_a_command_is_the_bytes_before_lf_less_one_cr(
    serve: Serve, sent: bytes, answer: bytes
) -> None:
    """The handler gets exactly the bytes before LF, with one trailing CR dropped."""
    running = serve()
    assert converse(running.port, sent + b"disconnect\n") == answer


@pytest.mark.srs("SRS-008", "SRS-086")
def test_thousands_of_empty_lines_are_thousands_of_commands(serve: Serve) -> None:
    """Every empty line reaches the handler as an empty command."""
    running = serve()
    assert converse(running.port, b"\n" * 5000 + b"disconnect\n") == b"ack:\n" * 5000


@pytest.mark.srs("SRS-009", "SRS-010")
def test_a_command_written_one_byte_at_a_time_arrives_whole(serve: Serve) -> None:
    """How the bytes are split into packets does not change the command."""
    running = serve()
    with connect(running.port) as sock:
        for byte in b"echo caf\xc3\xa9 \xe2\x82\xac\r\n":
            sock.sendall(bytes([byte]))
        assert read_exactly(sock, len("café €\n".encode())) == "café €\n".encode()


# -- Rule 4: UTF-8 commands; an undecodable line is answered `invalid` -------


@pytest.mark.srs("SRS-010")
def test_utf8_commands_arrive_whole(serve: Serve) -> None:
    """Multi-byte characters, 4-byte ones included, reach the handler intact."""
    running = serve()
    text = "echo café ünïcödé 日本 🎛"
    assert converse(running.port, f"{text}\ndisconnect\n".encode()) == (text[5:] + "\n").encode()


@pytest.mark.srs("SRS-011")
@pytest.mark.parametrize(
    "line",
    [
        b"\xff",
        b"caf\xe9",  # Latin-1, not UTF-8
        b"\x80continuation",
        b"\xc0\xaf",  # overlong encoding of '/'
        b"\xe0\x80\xaf",  # overlong 3-byte form
        b"\xed\xa0\x80",  # a UTF-16 surrogate
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"truncated \xe2\x82",
    ],
    ids=["ff", "latin1", "continuation", "overlong2", "overlong3", "surrogate", "too-big", "cut"],
)
def test_an_undecodable_line_is_answered_invalid_and_the_session_goes_on(
    serve: Serve, line: bytes
) -> None:
    """Invalid UTF-8 never reaches the handler: the answer is `invalid`, then normal service."""
    running = serve()
    assert converse(running.port, line + b"\necho still here\ndisconnect\n") == (
        b"invalid\nstill here\n"
    )


@pytest.mark.srs("SRS-011", "SRS-086")
def test_every_single_byte_value_gets_exactly_one_answer(serve: Serve) -> None:
    """Each byte value alone on a line is one command: ASCII is acked, the rest are invalid."""
    running = serve()
    script = b"".join(bytes([value]) + b"\n" for value in range(256) if value != 0x0A)
    expected = []
    for value in range(256):
        if value == 0x0A:
            continue
        if value == 0x0D:
            expected.append(b"ack:\n")  # a lone CR before LF is dropped
        elif value < 0x80:
            expected.append(b"ack:" + bytes([value]) + b"\n")
        else:
            expected.append(b"invalid\n")
    assert converse(running.port, script + b"disconnect\n") == b"".join(expected)


# -- Rule 5: zero, one or more answer lines, in command order ---------------


@pytest.mark.srs("SRS-014", "SRS-015")
def test_answers_come_in_command_order_with_any_number_of_lines(serve: Serve) -> None:
    """None answers nothing, a list answers each line, and order follows the commands."""
    running = serve()
    script = b"lines 3\nsilent\necho one\nlines 0\necho two\ndisconnect\n"
    assert converse(running.port, script) == b"line 1\nline 2\nline 3\none\ntwo\n"


@pytest.mark.srs("SRS-017")
def test_an_answer_holding_lf_is_dropped_not_split(serve: Serve) -> None:
    """A handler answer with LF never reaches the wire as extra lines; the next answer follows."""
    running = serve()
    assert converse(running.port, b"lf\necho next\ndisconnect\n") == b"next\n"


@pytest.mark.srs("SRS-016")
def test_the_server_never_speaks_first(serve: Serve) -> None:
    """A connected client that sends nothing receives nothing."""
    running = serve()
    with connect(running.port) as sock:
        assert nothing_arrives(sock, within=0.3)


# -- Rule 6: the built-in commands ------------------------------------------


@pytest.mark.srs("SRS-018")
def test_ping_is_answered_pong(serve: Serve) -> None:
    """`ping` gets `pong`, whatever the handler would have said."""
    running = serve()
    assert converse(running.port, b"ping\r\nping\ndisconnect\n") == b"pong\npong\n"


@pytest.mark.srs("SRS-020")
def test_disconnect_flushes_earlier_answers_closes_and_serves_the_next_client(
    serve: Serve,
) -> None:
    """`disconnect` closes after all earlier answers; the next client is served at once."""
    running = serve()
    assert converse(running.port, b"lines 2\ndisconnect\n") == b"line 1\nline 2\n"
    assert converse(running.port, b"echo next\ndisconnect\n") == b"next\n"


@pytest.mark.srs("SRS-022")
def test_lines_after_disconnect_in_the_same_packet_are_not_run(serve: Serve) -> None:
    """Commands that follow `disconnect` in one write are never answered."""
    running = serve()
    assert converse(running.port, b"echo a\ndisconnect\necho b\nshutdown\n") == b"a\n"
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


@pytest.mark.srs("SRS-021")
def test_shutdown_answers_earlier_commands_then_stops_the_server(serve: Serve) -> None:
    """`shutdown` flushes earlier answers, closes, and the server stops listening."""
    running = serve()
    assert converse(running.port, b"echo last\nshutdown\n") == b"last\n"
    assert running.wait_stopped(10.0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=5).close()


@pytest.mark.srs("SRS-073")
def test_shutdown_can_be_refused_and_then_acts_as_disconnect(serve: Serve) -> None:
    """With remote shutdown off, `shutdown` ends only the client's own session."""
    running = serve(allow_remote_shutdown=False)
    assert converse(running.port, b"echo a\nshutdown\necho b\n") == b"a\n"
    assert not running.wait_stopped(0.2)
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


@pytest.mark.srs("SRS-024")
def test_a_shutdown_fragment_without_lf_does_not_stop_the_server(serve: Serve) -> None:
    """An unterminated `shutdown` at close is never run."""
    running = serve()
    with connect(running.port) as sock:
        sock.sendall(b"shutdown")
        sock.shutdown(socket.SHUT_WR)
        assert read_until_eof(sock) == b""
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


# -- Rule 7: a vanished client ends its session cleanly ---------------------


def _close_mid_line(port: int) -> None:
    """Connect, send part of a line, and close."""
    with connect(port) as sock:
        sock.sendall(b"echo never finish")


def _reset_mid_line(port: int) -> None:
    """Connect, send part of a line, and reset the connection (RST, not FIN)."""
    sock = connect(port)
    sock.sendall(b"echo never finish")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def _half_close_mid_line(port: int) -> None:
    """Connect, send part of a line, shut down the sending side, then close."""
    with connect(port) as sock:
        sock.sendall(b"echo never finish")
        sock.shutdown(socket.SHUT_WR)
        assert read_until_eof(sock) == b""


@pytest.mark.srs("SRS-023")
@pytest.mark.parametrize(
    "vanish", [_close_mid_line, _reset_mid_line, _half_close_mid_line], ids=lambda f: f.__name__
)
def test_a_client_that_vanishes_mid_line_leaves_the_server_idle_and_ready(
    serve: Serve, vanish: Callable[[int], None]
) -> None:
    """After a client disappears mid-line the server does not spin and serves the next one."""
    running = serve()
    vanish(running.port)
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"
    for _ in range(5):
        vanish(running.port)
    before = running.cpu_seconds()
    with connect(running.port) as idle:
        idle.sendall(b"ping\n")
        assert read_exactly(idle, 5) == b"pong\n"
        time.sleep(0.5)  # measuring CPU while idle needs some wall time
        used = running.cpu_seconds() - before
        assert used < 0.1, f"the server used {used:.3f} s of CPU while idle"
        idle.sendall(b"disconnect\n")
        assert read_until_eof(idle) == b""


@pytest.mark.srs("SRS-025")
def test_a_client_that_half_closes_after_its_commands_gets_every_answer(serve: Serve) -> None:
    """Half-closing after complete commands still yields all answers, then EOF."""
    running = serve()
    with connect(running.port) as sock:
        sock.sendall(b"echo a\nlines 2\nsleep 0.05\n")
        sock.shutdown(socket.SHUT_WR)
        assert read_until_eof(sock) == b"a\nline 1\nline 2\nslept\n"
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


@pytest.mark.srs("SRS-079")
def test_a_client_that_connects_and_leaves_silently_frees_the_slot(serve: Serve) -> None:
    """Many clients that connect and vanish in a row never block the next one."""
    running = serve()
    for _ in range(200):
        connect(running.port).close()
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


# -- Rule 8: a handler that raises is logged; the session goes on -----------


@pytest.mark.srs("SRS-026")
def test_a_raising_handler_answers_nothing_and_the_session_goes_on(serve: Serve) -> None:
    """A handler exception sends no line; the next commands are answered as usual."""
    running = serve()
    assert converse(running.port, b"raise\nping\necho after\ndisconnect\n") == b"pong\nafter\n"
    if (stats := running.counters()) is not None:
        assert stats.handler_errors == 1


# -- Rule 9: pipelining ------------------------------------------------------


@pytest.mark.srs("SRS-015", "SRS-027")
def test_pipelined_commands_are_all_answered_in_order_before_disconnect(serve: Serve) -> None:
    """Thousands of commands in one write are each answered once, in order."""
    running = serve()
    count = 20_000
    script = b"".join(b"echo %d\n" % number for number in range(count)) + b"disconnect\n"
    answers = converse(running.port, script).split(b"\n")
    assert answers.pop() == b""
    assert answers == [b"%d" % number for number in range(count)]


@pytest.mark.srs("SRS-009", "SRS-027")
def test_pipelined_commands_split_at_every_boundary_give_the_same_answers(serve: Serve) -> None:
    """Writing a script in pieces of every size from 1 to 9 bytes does not change the answers."""
    running = serve()
    script = b"echo a\r\nlines 2\n\necho \xc3\xa9\n\xff\nping\n"
    expected = b"a\nline 1\nline 2\nack:\n\xc3\xa9\ninvalid\npong\n"
    for size in range(1, 10):
        with connect(running.port) as sock:
            for start in range(0, len(script), size):
                sock.sendall(script[start : start + size])
            sock.sendall(b"disconnect\n")
            assert read_until_eof(sock) == expected, f"pieces of {size} bytes"


# -- The line length limit -----------------------------------------------------

LIMIT = 64


@pytest.mark.srs("SRS-029")
@pytest.mark.parametrize(
    ("length", "answer"),
    [(LIMIT - 1, b"ack"), (LIMIT, b"ack"), (LIMIT + 1, b"invalid")],
    ids=["limit-1", "limit", "limit+1"],
)
def test_the_line_limit_counts_every_byte_before_lf(
    serve: Serve, length: int, answer: bytes
) -> None:
    """A line of max_line_bytes is a command; one byte more is answered `invalid`."""
    running = serve(max_line_bytes=LIMIT)
    line = b"x" * length
    expected = b"ack:" + line + b"\n" if answer == b"ack" else b"invalid\n"
    assert converse(running.port, line + b"\nping\ndisconnect\n") == expected + b"pong\n"


@pytest.mark.srs("SRS-029")
def test_a_cr_counts_toward_the_line_limit(serve: Serve) -> None:
    """The CR of CRLF is one of the counted bytes."""
    running = serve(max_line_bytes=LIMIT)
    script = b"x" * LIMIT + b"\r\n" + b"x" * (LIMIT - 1) + b"\r\ndisconnect\n"
    assert converse(running.port, script) == b"invalid\nack:" + b"x" * (LIMIT - 1) + b"\n"


@pytest.mark.srs("SRS-030")
def test_an_overlong_line_streamed_in_pieces_is_answered_invalid_once(serve: Serve) -> None:
    """A line far over the limit, sent in many writes, gets one `invalid`; service goes on."""
    running = serve(max_line_bytes=LIMIT)
    with connect(running.port) as sock:
        for _ in range(100):
            sock.sendall(b"y" * 1000)
        sock.sendall(b"\necho ok\ndisconnect\n")
        assert read_until_eof(sock) == b"invalid\nok\n"


# -- Access: the shared token and HTTP refusal ---------------------------------


@pytest.mark.srs("SRS-065")
def test_with_a_token_the_first_command_must_authenticate(serve: Serve) -> None:
    """`auth TOKEN` is answered `ok` and the session proceeds as usual."""
    running = serve(token="s3cret")
    assert converse(running.port, b"auth s3cret\r\necho in\ndisconnect\n") == b"ok\nin\n"


@pytest.mark.srs("SRS-066")
@pytest.mark.parametrize(
    "first",
    [b"auth wrong", b"auth s3cre", b"auth s3cret2", b"auth  s3cret", b"ping", b"\xff", b"auth"],
    ids=["wrong", "prefix", "longer", "extra-space", "ping", "undecodable", "bare-auth"],
)
def test_a_bad_or_missing_auth_is_answered_unauthorized_and_closed(
    serve: Serve, first: bytes
) -> None:
    """Anything but the right `auth` line first gets `unauthorized`, EOF, and no handler call."""
    running = serve(token="s3cret")
    assert converse(running.port, first + b"\necho not run\nshutdown\n") == b"unauthorized\n"
    assert converse(running.port, b"auth s3cret\nping\ndisconnect\n") == b"ok\npong\n"
    if (stats := running.counters()) is not None:
        assert stats.auth_failures == 1


@pytest.mark.srs("SRS-071")
@pytest.mark.parametrize(
    "request_head",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST /rig HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nshutdown\n",
        b"Host: 127.0.0.1\r\n",
        b"host: 127.0.0.1\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"GET /\r\n",
    ],
    ids=["get", "post", "host", "host-lower", "options", "get-root"],
)
def test_a_first_line_that_looks_like_http_closes_without_an_answer(
    serve: Serve, request_head: bytes
) -> None:
    """A browser's request is never run: the connection closes and the server goes on."""
    running = serve()
    assert converse(running.port, request_head) == b""
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"
    if (stats := running.counters()) is not None:
        assert stats.http_refusals == 1


@pytest.mark.srs("SRS-071")
@pytest.mark.parametrize(
    "first", [b"get volt", b"GET VOLT", b"Get /x", b"post 1", b"PUT x y", b"hostname"]
)
def test_instrument_commands_that_start_like_http_methods_are_served(
    serve: Serve, first: bytes
) -> None:
    """Only a browser-shaped first line is refused: method words alone are commands."""
    running = serve()
    assert converse(running.port, first + b"\ndisconnect\n") == b"ack:" + first + b"\n"


def test_http_words_after_the_first_line_are_ordinary_commands(serve: Serve) -> None:
    """Only the first line is checked for HTTP; later lines go to the handler."""
    running = serve()
    assert converse(running.port, b"ping\nGET /x HTTP/1.1\ndisconnect\n") == (
        b"pong\nack:GET /x HTTP/1.1\n"
    )
