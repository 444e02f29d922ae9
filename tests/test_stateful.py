"""A hypothesis state machine of clients connecting, sending, leaving and vanishing.

The model: clients form a queue in connection order; only the first is
served, the others' commands wait.  Every answer a client receives must be
exactly the model's, in order, once.
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import handlers
from linesock import Server
from support import WAIT, connect, read_exactly, read_until_eof

pytestmark = pytest.mark.srs("SRS-084")

words = st.text(alphabet="abcxyzé€ 0123456789", min_size=0, max_size=12)


class ServedClients(RuleBasedStateMachine):
    """Clients of one threaded server, driven at random."""

    def __init__(self) -> None:
        super().__init__()
        self.server = Server(handlers.protocol_handler)
        self.server.start()
        self.queue: list[tuple[socket.socket, list[bytes]]] = []

    @rule()
    @precondition(lambda self: len(self.queue) < 4)
    def connect_client(self) -> None:
        """A new client joins the end of the queue."""
        self.queue.append((connect(self.server.port), []))

    @rule(position=st.integers(0, 3), word=words)
    @precondition(lambda self: self.queue)
    def send_echo(self, position: int, word: str) -> None:
        """Any client, served or waiting, sends a command."""
        sock, expected = self.queue[position % len(self.queue)]
        sock.sendall(f"echo {word}\n".encode())
        expected.append(f"{word}\n".encode())

    @rule(position=st.integers(0, 3), count=st.integers(0, 5))
    @precondition(lambda self: self.queue)
    def send_lines(self, position: int, count: int) -> None:
        """Any client asks for a multi-line answer."""
        sock, expected = self.queue[position % len(self.queue)]
        sock.sendall(b"lines %d\n" % count)
        expected.extend(b"line %d\n" % n for n in range(1, count + 1))

    @rule()
    @precondition(lambda self: self.queue)
    def served_client_checks_its_answers(self) -> None:
        """The served client pings and reads every answer owed to it, then pong."""
        sock, expected = self.queue[0]
        sock.sendall(b"ping\n")
        wanted = b"".join(expected) + b"pong\n"
        assert read_exactly(sock, len(wanted)) == wanted
        expected.clear()

    @rule()
    @precondition(lambda self: self.queue)
    def served_client_disconnects(self) -> None:
        """The served client sends disconnect and receives all it is owed, then EOF."""
        sock, expected = self.queue.pop(0)
        with sock:
            sock.sendall(b"disconnect\n")
            assert read_until_eof(sock) == b"".join(expected)

    @rule(mid_line=st.booleans())
    @precondition(lambda self: self.queue)
    def served_client_vanishes(self, mid_line: bool) -> None:
        """The served client closes without a word, perhaps mid-line."""
        sock, _ = self.queue.pop(0)
        if mid_line:
            sock.sendall(b"shutdown")
        sock.close()

    @invariant()
    def server_keeps_running(self) -> None:
        """Nothing clients do stops the server."""
        assert self.server.is_running

    def teardown(self) -> None:
        """Close every client and stop the server."""
        for sock, _ in self.queue:
            sock.close()
        self.server.stop(timeout=WAIT)


ServedClients.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestServedClients = ServedClients.TestCase
