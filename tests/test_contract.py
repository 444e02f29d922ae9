"""Promises of srs.json that no other test file pins: exact built-ins, defaults, logging, version.

Each test names the requirement it verifies; the others live next to the
code they exercise (test_protocol.py, test_server.py, ...).
"""

from __future__ import annotations

import hmac
import importlib.metadata
import importlib.resources
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import linesock
from frontends import RunningServer
from handlers import protocol_handler
from linesock import Client, Server, ServerConfig
from support import connect, converse, read_until_eof

Serve = Callable[..., RunningServer]
MiB = 1024 * 1024
SOURCE_VERSION_FILE = Path(__file__).parents[1] / "src" / "linesock" / "_version.py"


@pytest.mark.srs("SRS-019")
def test_built_ins_match_only_the_exact_whole_line(serve: Serve) -> None:
    """Case, spaces or a suffix make a built-in an ordinary command for the handler."""
    running = serve()
    script = b"PING\nping \n ping\nPing\ndisconnect \nshutdownx\nDISCONNECT\nping\ndisconnect\n"
    expected = b"ack:PING\nack:ping \nack: ping\nack:Ping\nack:disconnect \nack:shutdownx\n"
    assert converse(running.port, script) == expected + b"ack:DISCONNECT\npong\n"


@pytest.mark.srs("SRS-028")
def test_the_limits_have_their_documented_defaults() -> None:
    """1 MiB lines, no idle timeout, 60 s write timeout, unless told otherwise."""
    config = ServerConfig()
    assert (config.max_line_bytes, config.idle_timeout, config.write_timeout) == (MiB, None, 60.0)
    exported = (linesock.DEFAULT_MAX_LINE_BYTES, linesock.DEFAULT_WRITE_TIMEOUT)
    assert exported == (MiB, 60.0)


@pytest.mark.srs("SRS-031", "SRS-025")
def test_built_in_commands_count_toward_the_line_limit(serve: Serve) -> None:
    """Under a 3-byte limit, `ping` and `shutdown` are overlong lines, not built-ins."""
    running = serve(max_line_bytes=3)
    with connect(running.port) as sock:
        sock.sendall(b"ping\nshutdown\nabc\n")
        sock.shutdown(socket.SHUT_WR)
        assert read_until_eof(sock) == b"invalid\ninvalid\nack:abc\n"
    assert not running.wait_stopped(0.2)


@pytest.mark.srs("SRS-046")
def test_the_library_logs_to_the_linesock_logger_and_prints_nothing(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Sessions full of errors write nothing to stdout or stderr; records go to `linesock`."""
    with caplog.at_level(logging.DEBUG), Server(protocol_handler) as server:
        script = b"\xff\nraise\nlf\n" + b"x" * 2 * MiB + b"\nping\ndisconnect\n"
        assert converse(server.port, script) == b"invalid\ninvalid\npong\n"
        converse(server.port, b"GET / HTTP/1.1\r\n\r\n")
    assert caplog.records
    assert {record.name.split(".")[0] for record in caplog.records} == {"linesock"}
    assert capfd.readouterr() == ("", "")


# Run in a fresh interpreter: in this one, other tests' logging set-up could hide
# (or fake) a handler the library added.  __main__ is left out: importing it runs the CLI.
IMPORT_EVERY_MODULE = """
import importlib, json, logging, pkgutil
import linesock
modules = sorted(
    info.name
    for info in pkgutil.walk_packages(linesock.__path__, "linesock.")
    if not info.name.endswith(".__main__")
)
for name in modules:
    importlib.import_module(name)
names = ["", *(name for name in logging.root.manager.loggerDict if name.startswith("linesock"))]
loggers = {}
for name in names:
    logger = logging.getLogger(name)
    handlers = [type(handler).__name__ for handler in logger.handlers]
    loggers[name] = [handlers, logging.getLevelName(logger.level), logger.propagate]
print(json.dumps({"modules": modules, "loggers": loggers}))
"""


@pytest.mark.srs("SRS-046")
def test_importing_every_module_adds_no_log_handler_and_sets_no_level() -> None:
    """The library leaves logging's set-up to the application: no handler, no level, anywhere."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stderr == ""
    found = json.loads(result.stdout)
    # The walk found the package's modules, so the check below covers them.
    assert {"linesock.cli", "linesock.aio", "linesock.compat", "linesock.testing"} <= set(
        found["modules"]
    )
    loggers = found["loggers"]
    assert "linesock" in loggers
    # The root logger as logging leaves it; the library's with no handler and no level
    # of their own, passing every record on to the application's handlers.
    assert loggers.pop("") == [[], "WARNING", True]
    assert {name: state for name, state in loggers.items() if state != [[], "NOTSET", True]} == {}


def is_connected(client: Client) -> bool:
    """Read ``client.connected`` afresh (a type checker would keep its narrowed value)."""
    return client.connected


@pytest.mark.srs("SRS-057")
def test_the_client_connects_on_entering_with_and_disconnects_on_leaving() -> None:
    """`with Client(...)` is connected inside the block; after it the next client is served."""
    with Server(protocol_handler) as server:
        with Client(port=server.port) as client:
            assert client.connected
            assert client.request("echo inside") == ["inside"]
        assert not is_connected(client)
        assert converse(server.port, b"echo next\ndisconnect\n") == b"next\n"
        assert server.stats.sessions == 2


@pytest.mark.srs("SRS-068")
def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server checks `auth TOKEN` with hmac.compare_digest, the right and wrong one alike."""
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(offered: bytes, expected: bytes) -> bool:
        compared.append((offered, expected))
        return real_compare(offered, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with Server(protocol_handler, token="s3cret") as server:
        assert converse(server.port, b"auth s3cret\ndisconnect\n") == b"ok\n"
        assert converse(server.port, b"auth guess\ndisconnect\n") == b"unauthorized\n"
        assert converse(server.port, b"ping\n") == b"unauthorized\n"
    assert compared == [(b"s3cret", b"s3cret"), (b"guess", b"s3cret"), (b"", b"s3cret")]


@pytest.mark.srs("SRS-075")
def test_client_bytes_in_log_lines_are_cut_to_128_bytes_and_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A long undecodable line with terminal escapes is logged escaped, 128 bytes at most."""
    line = b"\x1b[31m\xff" + b"A" * 500
    with caplog.at_level(logging.INFO, logger="linesock"), Server(protocol_handler) as server:
        assert converse(server.port, line + b"\ndisconnect\n") == b"invalid\n"
    [message] = [r.getMessage() for r in caplog.records if "undecodable" in r.getMessage()]
    assert "\x1b" not in message
    assert "\\x1b[31m\\xff" + "A" * (128 - 6) + "..." in message
    assert "A" * (128 - 5) not in message


@pytest.mark.srs("SRS-136")
def test_the_version_has_one_source() -> None:
    """`linesock.__version__` and the installed metadata both come from _version.py."""
    namespace: dict[str, object] = {}
    exec(SOURCE_VERSION_FILE.read_text(), namespace)
    assert linesock.__version__ == namespace["__version__"]
    assert importlib.metadata.version("linesock") == linesock.__version__, (
        "the installed metadata is stale: run ./do_install"
    )


@pytest.mark.srs("SRS-137")
def test_the_package_ships_py_typed() -> None:
    """The PEP 561 marker is part of the installed package."""
    assert importlib.resources.files("linesock").joinpath("py.typed").is_file()
