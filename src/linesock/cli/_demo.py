"""``linesock demo``: a server and two clients in one process, printing the whole exchange."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .. import Client, Server
from .._config import DEFAULT_HOST, DEFAULT_TIMEOUT
from ..sample import PowerSupply
from ._client_commands import CLOSING_COMMANDS, end_session, exchange
from ._options import Subparsers, port_number, set_command
from ._reporting import EXIT_OK, CommandFailed, format_address, print_lines
from ._serve import listen_or_fail

__all__ = ["DemoSettings", "add_demo_parser", "run_demo"]

# The sequence `linesock demo` plays, after the seed's sample: a first client
# works and disconnects, a second one finds the state it left and shuts the
# server down.
_DEMO_SESSIONS: Final = (
    ("ping", "idn", "set volt 5", "set curr 0.2", "output on", "measure", "disconnect"),
    ("measure", "set volt 1.5", "measure", "status", "volt 9", "disconnect"),
    # The same supply in SCPI, as a pymeasure or QCoDeS driver speaks to it.
    ("*IDN?", "VOLT 3.3", "VOLT?;MEAS:CURR?", "VOLT 99", "SYST:ERR?", "shutdown"),
)
_DEMO_ENDINGS: Final = {
    "disconnect": "disconnected; the server is free for the next client",
    "shutdown": "the server closed the connection and stops listening",
}
# How long the demo waits for its server to stop after `shutdown`.
_DEMO_STOP_TIMEOUT: Final = 5.0


def add_demo_parser(subparsers: Subparsers) -> None:
    """Declare ``linesock demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run a server and two clients in one process, printing the exchange",
        description="Start a server with the sample power supply, let a first client send "
        "commands and disconnect, then a second one send more and shut the server down; "
        "print every command (->) and answer (<-).",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=0,
        help="the port the demo server listens on; 0 lets the OS choose (default: %(default)s)",
    )
    set_command(parser, DemoSettings.from_namespace, run_demo)


@dataclass(frozen=True)
class DemoSettings:
    """What ``linesock demo`` was told."""

    port: int
    """The port of the demo server; 0 lets the OS choose."""

    @classmethod
    def from_namespace(cls, arguments: argparse.Namespace) -> DemoSettings:
        """Read the parsed arguments of ``demo``."""
        return cls(arguments.port)


def run_demo(settings: DemoSettings) -> int:
    """Play the demo sessions against an in-process server and check that it stopped."""
    server = Server(PowerSupply(), DEFAULT_HOST, settings.port)
    listen_or_fail(server, DEFAULT_HOST, settings.port)
    host, port = server.address
    print(
        f"server: serving the sample power supply (linesock.sample) on {format_address(host, port)}"
    )
    serving = threading.Thread(target=server.serve_forever, name="linesock-demo", daemon=True)
    serving.start()
    try:
        for number, commands in enumerate(_DEMO_SESSIONS, start=1):
            _demo_session(number, Client(host, port, DEFAULT_TIMEOUT), commands)
        serving.join(_DEMO_STOP_TIMEOUT)
        if serving.is_alive() or server.is_running:
            raise CommandFailed(f"the server still runs {_DEMO_STOP_TIMEOUT:g} s after shutdown")
        print(f"server: stopped (is_running={server.is_running})")
    finally:
        if serving.is_alive():
            server.stop(_DEMO_STOP_TIMEOUT)
    return EXIT_OK


def _demo_session(number: int, client: Client, commands: Sequence[str]) -> None:
    """Connect *client*, send *commands* (the last one ends the session), print it all."""
    print()
    try:
        client.connect()
    except ConnectionError as exc:
        raise CommandFailed(str(exc)) from None
    print(f"client {number}: connected (connect() checked the server with ping)")
    try:
        for command in commands:
            print(f"-> {command}")
            if command in CLOSING_COMMANDS:
                end_session(client, command)
                print(f"client {number}: {_DEMO_ENDINGS[command]}")
                return
            answers = exchange(client, command, DEFAULT_TIMEOUT)
            print_lines(answers, prefix="<- ")
            if not answers:
                print("   (no answer)")
    finally:
        client.close()
