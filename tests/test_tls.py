"""TLS and the shared token, on every front end that takes them."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable

import pytest
import trustme

from frontends import RunningServer
from linesock import Client, Server
from support import WAIT, connect, read_until_eof

Serve = Callable[..., RunningServer]


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    """A throwaway certificate authority for this module's tests."""
    return trustme.CA()


@pytest.fixture
def server_context(authority: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_context(authority: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the throwaway authority."""
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def tls_converse(port: int, context: ssl.SSLContext, data: bytes) -> bytes:
    """Send *data* over TLS and return everything until the server closes."""
    with context.wrap_socket(connect(port), server_hostname="127.0.0.1") as sock:
        sock.sendall(data)
        return read_until_eof(sock)


@pytest.mark.srs("SRS-061")
def test_a_tls_session_speaks_the_same_protocol(
    serve: Serve, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """Over TLS, commands, CRLF, UTF-8, invalid lines and pipelining behave as on TCP."""
    running = serve(ssl_context=server_context)
    script = b"echo caf\xc3\xa9\r\n\xff\nlines 2\n" + b"echo x\n" * 1000 + b"disconnect\n"
    expected = b"caf\xc3\xa9\ninvalid\nline 1\nline 2\n" + b"x\n" * 1000
    assert tls_converse(running.port, client_context, script) == expected


@pytest.mark.srs("SRS-061")
def test_the_client_speaks_tls(
    serve: Serve, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """linesock.Client with ssl_context connects, requests and disconnects over TLS."""
    running = serve(ssl_context=server_context)
    with Client(port=running.port, ssl_context=client_context) as client:
        assert client.request("lines 2") == ["line 1", "line 2"]
    with Client("localhost", running.port, ssl_context=client_context) as client:
        assert client.request("echo by name") == ["by name"]


@pytest.mark.srs("SRS-063")
def test_a_plain_tcp_client_on_a_tls_port_is_dropped_and_the_server_goes_on(
    serve: Serve, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """Cleartext commands to a TLS server are never run; the next TLS client is served."""
    running = serve(ssl_context=server_context)
    received = b""
    with connect(running.port) as plain:  # every recv bounded by WAIT: a hang fails
        plain.sendall(b"echo cleartext\nshutdown\n")
        with contextlib.suppress(ConnectionResetError):  # EOF or reset: both end it
            while chunk := plain.recv(4096):
                received += chunk
    # Nothing, or a TLS alert record (content type 21): never an answer line.
    assert received == b"" or received.startswith(b"\x15\x03"), received
    assert tls_converse(running.port, client_context, b"ping\ndisconnect\n") == b"pong\n"


@pytest.mark.srs("SRS-062")
def test_a_client_that_does_not_trust_the_certificate_cannot_connect(
    serve: Serve, server_context: ssl.SSLContext
) -> None:
    """Certificate checks are on: an unknown authority is a ConnectionError."""
    running = serve(ssl_context=server_context)
    with pytest.raises(ConnectionError, match="TLS handshake"):
        Client(port=running.port, ssl_context=ssl.create_default_context()).connect()


@pytest.mark.srs("SRS-062")
def test_a_certificate_for_another_name_is_refused(
    serve: Serve, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """The client checks the server's name, not only its authority."""
    running = serve(ssl_context=server_context)
    client = Client(port=running.port, ssl_context=client_context, server_hostname="rig.example")
    with pytest.raises(ConnectionError, match="TLS handshake"):
        client.connect()


@pytest.mark.srs("SRS-064")
def test_mutual_tls_serves_a_client_with_a_certificate_and_refuses_one_without(
    serve: Serve, authority: trustme.CA, server_context: ssl.SSLContext
) -> None:
    """With a client CA on the server, only clients holding a certificate are served."""
    server_context.verify_mode = ssl.CERT_REQUIRED
    authority.configure_trust(server_context)
    running = serve(ssl_context=server_context)

    anonymous = ssl.create_default_context()
    authority.configure_trust(anonymous)
    with pytest.raises(ConnectionError):
        Client(port=running.port, ssl_context=anonymous, timeout=WAIT).connect()

    holder = ssl.create_default_context()
    authority.configure_trust(holder)
    authority.issue_cert("bench-7@lab.example").configure_cert(holder)
    with Client(port=running.port, ssl_context=holder) as client:
        assert client.request("echo trusted") == ["trusted"]


@pytest.mark.srs("SRS-065", "SRS-067")
def test_the_client_authenticates_with_its_token(serve: Serve) -> None:
    """Client(token=...) sends auth first; connect() then succeeds."""
    running = serve(token="rig-42")
    with Client(port=running.port, token="rig-42") as client:
        assert client.request("echo hi") == ["hi"]


@pytest.mark.srs("SRS-066", "SRS-067")
def test_a_wrong_token_makes_connect_fail_clearly(serve: Serve) -> None:
    """A refused token is a ConnectionError that says so, and the server goes on."""
    running = serve(token="rig-42")
    with pytest.raises(ConnectionError, match="refused the token"):
        Client(port=running.port, token="rig-43").connect()
    with pytest.raises(ConnectionError, match="answered ping with 'unauthorized'"):
        Client(port=running.port).connect()
    with Client(port=running.port, token="rig-42") as client:
        assert client.ping()


@pytest.mark.srs("SRS-061", "SRS-065")
def test_token_and_tls_together(
    serve: Serve, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """The token travels inside TLS; both checks apply."""
    running = serve(ssl_context=server_context, token="rig-42")
    with Client(port=running.port, ssl_context=client_context, token="rig-42") as client:
        assert client.request("echo both") == ["both"]


@pytest.mark.srs("SRS-049", "SRS-185")
def test_the_clients_waits_hold_over_tls(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """Over TLS (Python's timeout, not the kernel's) request() and recv() time out, lose nothing."""
    release = threading.Event()

    def handler(command: str) -> str:
        release.wait(WAIT)
        return f"released {command}"

    with (
        Server(handler, ssl_context=server_context) as server,
        Client(port=server.port, ssl_context=client_context, timeout=0.2) as client,
    ):
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^no answer within 0\.2 s$"):
            client.request("late")
        assert 0.2 <= time.monotonic() - started < 0.2 + 1.0
        with pytest.raises(TimeoutError, match=r"^no answer within 0\.05 s$"):
            client.recv(timeout=0.05)
        release.set()
        assert [client.recv(), client.recv()] == ["released late", "pong"]
        assert client.request("again") == ["released again"]


@pytest.mark.srs("SRS-207")
@pytest.mark.srs("SRS-209")
@pytest.mark.srs("SRS-211")
@pytest.mark.srs("SRS-212")
def test_faults_hold_over_tls(
    serve: Serve, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """Delay, garbage, slow and drop behave over TLS as over TCP, in command order."""
    running = serve(ssl_context=server_context)
    faults = running.faults
    if faults is None:
        pytest.skip(f"the {running.front_end} server takes faults on its control port")
    faults.delay(0.05, count=1, match="echo a")
    faults.garbage(count=1, match="echo b")
    faults.slow(2000, count=1, match="big*")
    faults.drop(count=1, match="echo d")
    script = b"echo a\necho b\nbig 40\necho c\necho d\necho e\n"
    expected = b"a\n\xff\xfe\xc3\x28\x80\n" + b"x" * 40 + b"\nc\n"
    assert tls_converse(running.port, client_context, script) == expected
    assert len(faults) == 0
