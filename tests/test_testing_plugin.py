"""linesock.testing: the pytest plugin's fixtures, run the way a handler author runs them.

The pytester tests write a complete test file, run pytest on it, and check
the outcome and what the servers left behind (a stopped server refuses
connections and its port can be bound again).  The last tests use the
fixtures directly, as this suite's own plugin.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import linesock
from linesock import Commands
from linesock.testing import RunningServer, ServeFactory, start_server

pytest_plugins = ["pytester"]

# The handler module the example test files import.
RIG = """
import linesock

commands = linesock.Commands()
readings = {}


@commands.command("set")
def set_value(channel: int, value: float) -> str:
    '''Store a reading.'''
    readings[channel] = value
    return "ok"


@commands.command()
def get(channel: int) -> str:
    '''Read a reading back.'''
    return f"{readings.get(channel, 0.0):g}"


@commands.command()
async def later(text: str) -> str:
    '''Answer from a coroutine: needs the asyncio server.'''
    return text
"""

# What a handler author writes: the docs/testing.md example, in essence.
EXAMPLE = """
import pytest
import linesock
import rig


@pytest.fixture
def linesock_handler():
    return rig.commands


def test_set_then_get(linesock_client):
    assert linesock_client.request("set 1 2.5") == ["ok"]
    assert linesock_client.request("get 1") == ["2.5"]


def test_unknown_command(linesock_client):
    assert linesock_client.request("sett 1") == ["error unknown command 'sett'"]


def test_the_server_is_threaded_by_default(linesock_server):
    assert linesock_server.kind == "threaded"
    assert linesock_server.host == "127.0.0.1"
"""


def port_is_released(port: int) -> bool:
    """True when nothing listens on *port* and a new server can bind it."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.create_server(("127.0.0.1", port)):
        return True


def ports_written(pytester: pytest.Pytester) -> list[int]:
    """The ports the example tests wrote to ports.txt, one per line."""
    return [int(line) for line in (pytester.path / "ports.txt").read_text().split()]


@pytest.fixture
def rig(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory holding the handler module rig.py."""
    pytester.makepyfile(rig=RIG)
    pytester.syspathinsert()
    return pytester


@pytest.mark.srs("SRS-147")
def test_example_test_file_passes(rig: pytest.Pytester) -> None:
    """A test file that overrides linesock_handler and uses linesock_client passes as is."""
    rig.makepyfile(test_rig=EXAMPLE)
    result = rig.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


@pytest.mark.srs("SRS-147")
def test_docs_example_passes(pytester: pytest.Pytester) -> None:
    """The rig.py and test_rig.py of docs/testing.md pass as written, on both servers."""
    text = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    rig_module, test_module = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[:2]
    pytester.makepyfile(rig=rig_module, test_rig=test_module)
    pytester.syspathinsert()
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_on_both_servers?asyncio? PASSED*"])


@pytest.mark.srs("SRS-151")
def test_readme_handler_and_its_test_are_short_and_pass(pytester: pytest.Pytester) -> None:
    """README's routed handler (under 15 lines) and its fixture test (under 10 lines) pass."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Commands with typed arguments") :]
    rig_module, test_module = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:2]
    assert len(rig_module.splitlines()) < 15
    assert len(test_module.splitlines()) < 10
    pytester.makepyfile(rig=rig_module, test_rig=test_module)
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.srs("SRS-146")
def test_plugin_is_registered_by_the_entry_point(rig: pytest.Pytester) -> None:
    """A fresh pytest process loads the plugin through the pytest11 entry point, unasked."""
    rig.makepyfile(test_rig=EXAMPLE)
    result = rig.runpytest_subprocess("--trace-config", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*linesock*linesock/testing.py*"])


@pytest.mark.srs("SRS-148")
def test_failing_test_still_stops_its_server(rig: pytest.Pytester) -> None:
    """When the test fails, teardown stops the server: the port refuses connections and is free."""
    rig.makepyfile(
        test_failing="""
        import pytest
        import rig

        @pytest.fixture
        def linesock_handler():
            return rig.commands

        def test_fails(linesock_client, linesock_server):
            with open("ports.txt", "w") as ports:
                print(linesock_server.port, file=ports)
            assert linesock_client.request("get 1") == ["not this"]
        """
    )
    result = rig.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError*"])
    [port] = ports_written(rig)
    assert port_is_released(port)
    assert not [t for t in threading.enumerate() if t.name == "linesock-server"]


@pytest.mark.srs("SRS-147", "SRS-148")
def test_asyncio_kind_from_the_ini_option(rig: pytest.Pytester) -> None:
    """``linesock_server_kind = asyncio`` in the ini file serves async commands on asyncio."""
    rig.makeini("[pytest]\nlinesock_server_kind = asyncio\n")
    rig.makepyfile(
        test_async="""
        import pytest
        import rig

        @pytest.fixture
        def linesock_handler():
            return rig.commands

        def test_async_command(linesock_client, linesock_server):
            with open("ports.txt", "w") as ports:
                print(linesock_server.port, file=ports)
            assert linesock_server.kind == "asyncio"
            assert linesock_client.request("later hello") == ["hello"]
            assert linesock_client.request("set 1 x") == ["error set: value: invalid float 'x'"]
        """
    )
    result = rig.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [port] = ports_written(rig)
    assert port_is_released(port)
    assert not [t for t in threading.enumerate() if t.name == "linesock-testing-loop"]


@pytest.mark.srs("SRS-147")
def test_kind_parametrized_runs_each_test_on_both_servers(rig: pytest.Pytester) -> None:
    """Parametrizing linesock_server_kind runs a test once per server kind."""
    rig.makepyfile(
        test_both="""
        import pytest
        import rig

        @pytest.fixture
        def linesock_handler():
            return rig.commands

        @pytest.mark.parametrize("linesock_server_kind", ["threaded", "asyncio"])
        def test_both(linesock_client, linesock_server, linesock_server_kind):
            assert linesock_server.kind == linesock_server_kind
            assert linesock_client.request("set 2 4") == ["ok"]
        """
    )
    result = rig.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_both?threaded? PASSED*", "*test_both?asyncio? PASSED*"])


@pytest.mark.srs("SRS-147")
def test_server_options_reach_the_server_and_the_client(rig: pytest.Pytester) -> None:
    """linesock_server_options configures the server; the client sends its token itself."""
    rig.makepyfile(
        test_options="""
        import pytest
        import linesock
        import rig

        @pytest.fixture
        def linesock_handler():
            return rig.commands

        @pytest.fixture
        def linesock_server_options():
            return {"token": "s3cret", "max_line_bytes": 16}

        def test_options(linesock_client, linesock_server):
            assert linesock_client.request("get 1") == ["0"]
            assert linesock_client.request("set 1 " + "9" * 20) == ["invalid"]
            assert linesock_server.stats.overlong_lines == 1
            linesock_client.close()  # one client at a time: make room for the next
            with pytest.raises(ConnectionError, match="refused the token"):
                linesock_server.connect(token="wrong")
        """
    )
    result = rig.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.srs("SRS-148", "SRS-149")
def test_serve_factory_starts_several_servers_and_stops_them_all(rig: pytest.Pytester) -> None:
    """linesock_serve starts servers of either kind with their own options; all stop after."""
    rig.makepyfile(
        test_factory="""
        import linesock
        import rig

        def test_two_servers(linesock_serve):
            first = linesock_serve(rig.commands)
            second = linesock_serve(rig.commands, kind="asyncio", idle_timeout=5)
            with open("ports.txt", "w") as ports:
                print(first.port, second.port, file=ports)
            assert (first.kind, second.kind) == ("threaded", "asyncio")
            assert first.port != second.port
            with first.connect() as one, second.connect() as two:
                assert one.request("later x") == []
                assert two.request("later x") == ["x"]
        """
    )
    result = rig.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [first, second] = ports_written(rig)
    assert port_is_released(first)
    assert port_is_released(second)


@pytest.mark.srs("SRS-150")
def test_missing_handler_fixture_says_what_to_define(pytester: pytest.Pytester) -> None:
    """Without a linesock_handler fixture, the test errors with a message saying to define it."""
    pytester.makepyfile(
        test_missing="""
        def test_forgot(linesock_client):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*mark the test with @pytest.mark.linesock(handler=...), or define a fixture*"]
    )


@pytest.mark.srs("SRS-147", "SRS-150")
def test_marker_names_handler_kind_and_options_closest_first(rig: pytest.Pytester) -> None:
    """``pytest.mark.linesock`` on a module, class or test sets handler, kind and options."""
    rig.makepyfile(
        test_marker="""
        import pytest
        import rig

        pytestmark = pytest.mark.linesock(handler=rig.commands)

        def test_module_handler(linesock_client, linesock_server):
            assert linesock_server.kind == "threaded"
            assert linesock_client.request("set 1 2") == ["ok"]

        @pytest.mark.linesock(handler=str.upper, kind="asyncio", max_line_bytes=8)
        def test_own_handler_kind_and_options(linesock_client, linesock_server):
            assert linesock_server.kind == "asyncio"
            assert linesock_client.request("set 1 2") == ["SET 1 2"]
            assert linesock_client.request("set 1 234") == ["invalid"]

        @pytest.mark.linesock(kind="asyncio")
        class TestGroup:
            def test_class_kind_module_handler(self, linesock_client, linesock_server):
                assert linesock_server.kind == "asyncio"
                assert linesock_client.request("later x") == ["x"]

            @pytest.mark.linesock(handler=str.lower)
            def test_method_handler(self, linesock_client, linesock_server):
                assert linesock_server.kind == "asyncio"
                assert linesock_client.request("SET") == ["set"]

        @pytest.mark.linesock(rig.commands)
        def test_positional_handler(linesock_client):
            pass

        @pytest.mark.linesock(kind="trio")
        def test_unknown_kind(linesock_client):
            pass
        """
    )
    result = rig.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.linesock takes keywords only (handler=..., kind=..., and server*",
            "*the linesock marker's kind is 'trio'; use one of threaded, asyncio*",
        ]
    )


@pytest.mark.srs("SRS-150")
def test_unknown_kind_in_the_ini_is_an_error(rig: pytest.Pytester) -> None:
    """An ini value other than threaded or asyncio fails with the accepted values."""
    rig.makeini("[pytest]\nlinesock_server_kind = uvloop\n")
    rig.makepyfile(
        test_kind="""
        def test_kind(linesock_serve):
            pass
        """
    )
    result = rig.runpytest("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*linesock_server_kind is 'uvloop'; use one of threaded, asyncio*"]
    )


# -- start_server and RunningServer, without pytester ---------------------------


@pytest.mark.srs("SRS-148")
@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_start_server_outside_fixtures_stops_at_the_end_of_with(kind: Any) -> None:
    """``with start_server(handler, kind) as running:`` serves, then releases the port."""
    with start_server(lambda command: command.upper(), kind) as running:
        with running.connect() as client:
            assert client.request("hi") == ["HI"]
        assert repr(running) == (
            f"<linesock.testing.RunningServer {kind} 127.0.0.1:{running.port} running>"
        )
    assert running.is_stopped
    assert port_is_released(running.port)
    running.stop()  # stopping again does nothing


@pytest.mark.srs("SRS-150")
def test_unknown_kind_is_a_value_error() -> None:
    """start_server refuses a kind it does not know, naming the ones it does."""
    with pytest.raises(ValueError, match="unknown linesock server kind 'uvloop'; use one of"):
        start_server(str, "uvloop")  # type: ignore[arg-type]


@pytest.mark.srs("SRS-150")
def test_bad_option_fails_start_and_leaves_no_loop_thread() -> None:
    """An invalid server option raises from start_server, with no event loop thread left behind."""
    with pytest.raises(ValueError, match="backlog must be at least 1"):
        start_server(str, "asyncio", backlog=0)
    assert not [t for t in threading.enumerate() if t.name == "linesock-testing-loop"]


@pytest.mark.srs("SRS-150")
@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_stop_reports_a_server_blocked_by_its_handler(kind: Any) -> None:
    """A handler that never returns makes stop fail with an error that says so, not hang."""
    entered, release = threading.Event(), threading.Event()

    def handler(command: str) -> str:
        entered.set()
        release.wait(10)
        return "released"

    running = start_server(handler, kind)
    client = running.connect()
    try:
        client.send("block")
        assert entered.wait(10)
        with pytest.raises(RuntimeError, match=f"the {kind} linesock server .* did not stop"):
            running.stop(timeout=0.3)
        assert not running.is_stopped
    finally:
        release.set()
        client.close()
    running.stop()
    assert port_is_released(running.port)


# -- the fixtures, as this suite's own plugin --------------------------------------


@pytest.fixture
def linesock_handler() -> Commands:
    """A small router for the fixture tests below."""
    commands = Commands()

    @commands.command()
    def double(number: int) -> str:
        return str(2 * number)

    return commands


@pytest.fixture(params=["threaded", "asyncio"])
def linesock_server_kind(request: pytest.FixtureRequest) -> str:
    """Both server kinds, one after the other."""
    kind: str = request.param
    return kind


@pytest.mark.srs("SRS-147")
def test_client_fixture_talks_to_the_handler(
    linesock_client: linesock.Client, linesock_server: RunningServer, linesock_server_kind: str
) -> None:
    """linesock_client is connected to linesock_server, which runs the requested kind."""
    assert linesock_server.kind == linesock_server_kind
    assert linesock_client.request("double 21") == ["42"]
    assert linesock_server.stats.sessions == 1


@pytest.mark.srs("SRS-149")
def test_serve_factory_follows_the_kind_fixture(
    linesock_serve: ServeFactory, linesock_server_kind: str
) -> None:
    """Without a kind, linesock_serve starts the kind linesock_server_kind names."""
    running = linesock_serve(str.upper)
    assert running.kind == linesock_server_kind
    with running.connect(timeout=2) as client:
        assert client.request("abc") == ["ABC"]


@pytest.fixture
def leftover_threads() -> Iterator[None]:
    """Fail if a test leaves linesock server threads running."""
    yield
    names = {"linesock-server", "linesock-testing-loop"}
    assert not [t for t in threading.enumerate() if t.name in names]


@pytest.mark.srs("SRS-148")
def test_stopping_in_the_test_is_allowed(
    linesock_server: RunningServer, leftover_threads: None
) -> None:
    """A test may stop the server itself; the fixture's teardown then does nothing more."""
    linesock_server.stop()
    assert port_is_released(linesock_server.port)


# -- faults and the control port ---------------------------------------------------


@pytest.mark.srs("SRS-230")
def test_faults_kick_and_the_control_port_in_a_test_file(rig: pytest.Pytester) -> None:
    """A test injects through linesock_server.faults or its control port; the next sees none."""
    rig.makepyfile(
        test_plugin_faults="""
        import pytest
        import linesock
        import rig

        pytestmark = pytest.mark.linesock(handler=rig.commands, control_port=0)
        left = []

        def test_inject_and_leave_it(linesock_client, linesock_server):
            linesock_server.faults.error("E1", match="get *")
            assert linesock_client.request("get 1") == ["E1"]
            left.append(linesock_server.faults)

        def test_the_next_test_sees_none(linesock_client, linesock_server):
            assert len(left[0]) == 0  # cleared when the test that set it ended
            assert linesock_server.faults.describe() == []
            assert linesock_client.request("get 1") == ["0"]

        def test_through_the_control_port(linesock_client, linesock_server):
            host, port = linesock_server.control_address
            assert (host, port) == ("127.0.0.1", linesock_server.control_port)
            with linesock.Client(host, port) as control:
                assert control.request("fault error E2 count 1 match 'get *'") == ["ok"]
            assert linesock_client.request("get 1") == ["E2"]
            assert linesock_client.request("get 1") == ["0"]

        @pytest.mark.parametrize("linesock_server_kind", ["threaded", "asyncio"])
        def test_kick(linesock_client, linesock_server):
            assert linesock_server.kick()
            with pytest.raises(ConnectionError):
                linesock_client.request("get 1")
        """
    )
    result = rig.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


@pytest.mark.srs("SRS-230")
@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_a_running_server_has_faults_kick_and_no_control_port_unless_asked(kind: Any) -> None:
    """start_test_server's RunningServer carries the server's own faults; control_port is None."""
    with start_server(str.upper, kind) as running:
        assert running.control_address is None
        assert running.control_port is None
        assert not running.kick()
        running.faults.error("E1", count=1, match="abc")
        with running.connect() as client:
            assert client.request("abc") == ["E1"]
            assert client.request("abc") == ["ABC"]
            assert running.faults.describe() == []


@pytest.mark.srs("SRS-230")
def test_the_docs_fault_example_passes(pytester: pytest.Pytester) -> None:
    """docs/testing.md's faults and control port example passes against its rig.py."""
    text = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    [example] = [block for block in blocks if "control_port=0" in block]
    pytester.makepyfile(rig=blocks[0], test_plugin_fault_docs=example)
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
