"""The references served pyvisa-sim devices are checked against, and how to talk to them.

One *exchange* is a message written and every answer it gets:

* :func:`sim_exchange`, in process with PyVISA's ``@sim`` backend: the
  answers are read while the device's output buffers hold any, so no read
  waits for a timeout; where pyvisa-sim raises, the answers it buffered
  before are read all the same (:data:`RAISED` marks the exchange);
* :func:`socket_exchange`, over TCP with PyVISA's ``@py`` backend: the message
  is followed by ``ping`` and the answers are the lines before ``pong``.

:func:`serve_file` runs ``linesock serve FILE.yaml ...`` in a subprocess and
waits for its ``listening on`` lines, never by sleeping.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyvisa
import pyvisa_sim

from linesock.sim import Terminators

#: Our own device files.
DEVICES: Final = Path(__file__).parent / "devices"
#: pyvisa-sim's own device file.
DEFAULT_YAML: Final = Path(pyvisa_sim.__file__).parent / "default.yaml"
#: The bound on every wait, in seconds.
WAIT: Final = 10.0
#: The answers of one exchange beyond which a reference is broken.
MAX_ANSWERS: Final = 50
#: Marks an exchange where pyvisa-sim raised in process.
RAISED: Final = "<pyvisa-sim raised>"

LISTENING: Final = re.compile(
    r"linesock: listening on (?P<host>[^ ]+):(?P<port>\d+)(?: \(device (?P<device>.+)\))?\n"
)
_TEXT: Final = {"lf": "\n", "cr": "\r", "crlf": "\r\n"}
_NUMBER: Final = re.compile(r"-?\d+\.\d+")


@dataclass(frozen=True)
class Case:
    """A device of a file, the @sim resource to compare with, and the messages to send."""

    path: Path
    device: str
    sim_resource: str
    script: Sequence[str]
    random: frozenset[str] = field(default_factory=frozenset)
    """Messages whose answers hold RANDOM values: compared by shape."""

    @property
    def id(self) -> str:
        """The test id."""
        return f"{self.path.stem}:{self.device}"


def terminations(terminators: Terminators) -> dict[str, Any]:
    """PyVISA's ``write_termination`` and ``read_termination`` for a device's terminators."""
    return {
        "write_termination": _TEXT[terminators.terminator],
        "read_termination": _TEXT[terminators.answer_terminator],
        "encoding": "utf-8",
    }


def shape(answers: Sequence[str]) -> list[str]:
    """Answers with every decimal number replaced by ``N``: what RANDOM values keep."""
    return [_NUMBER.sub("N", answer) for answer in answers]


@contextlib.contextmanager
def sim_session(path: Path, resource: str, terminators: Terminators) -> Iterator[Any]:
    """A PyVISA ``@sim`` session on *resource* of the file *path*, fresh devices included."""
    manager = pyvisa.ResourceManager(f"{path}@sim")
    session = manager.open_resource(resource, timeout=int(WAIT * 1000), **terminations(terminators))
    try:
        yield session
    finally:
        session.close()
        manager.close()


@contextlib.contextmanager
def socket_session(port: int, terminators: Terminators) -> Iterator[Any]:
    """A PyVISA ``@py`` session on ``TCPIP0::127.0.0.1::PORT::SOCKET``."""
    manager = pyvisa.ResourceManager("@py")
    session = manager.open_resource(
        f"TCPIP0::127.0.0.1::{port}::SOCKET", timeout=int(WAIT * 1000), **terminations(terminators)
    )
    try:
        yield session
    finally:
        session.close()
        manager.close()


def _pending(session: Any) -> int:
    """How many answers the @sim device of *session* holds unread."""
    device = session.visalib.sessions[session.session].device
    return len(device._output_buffers)


def sim_exchange(session: Any, message: str) -> list[str]:
    """Write *message* to an @sim session and read every answer it buffered."""
    answers = []
    try:
        session.write(message)
    except Exception:
        answers.append(RAISED)
    for _ in range(MAX_ANSWERS):
        if not _pending(session):
            return answers
        answers.append(session.read())
    raise AssertionError(f"more than {MAX_ANSWERS} answers to {message!r}")


def socket_exchange(session: Any, message: str) -> list[str]:
    """Write *message* and ``ping`` to a @py session; the answers are the lines before ``pong``."""
    session.write(message)
    session.write("ping")
    answers: list[str] = []
    for _ in range(MAX_ANSWERS):
        line = session.read()
        if line == "pong":
            return answers
        answers.append(line)
    raise AssertionError(f"no pong after {MAX_ANSWERS} answers to {message!r}")


def same_answers(case: Case, sim_session: Any, socket_session: Any) -> None:
    """Every message of the case's script is answered alike by @sim and over TCP."""
    for message in case.script:
        expected = sim_exchange(sim_session, message)
        got = socket_exchange(socket_session, message)
        if RAISED in expected:
            expected = [answer for answer in expected if answer != RAISED]
        if message in case.random:
            assert shape(got) == shape(expected), message
            assert got != ["ERROR"]
        else:
            assert got == expected, message


def linesock_command(*args: str | os.PathLike[str]) -> list[str]:
    """The command line that runs ``linesock`` with *args* in this interpreter."""
    return [sys.executable, "-m", "linesock", *map(str, args)]


class Served:
    """A ``linesock serve`` subprocess and what its ``listening on`` lines said."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        """Wrap *process*."""
        self.process: Final = process
        self.lines: list[str] = []

    @property
    def ports(self) -> dict[str | None, list[int]]:
        """The ports each ``listening on`` line named, by device (None: the plain line)."""
        found: dict[str | None, list[int]] = {}
        for line in self.lines:
            match = LISTENING.fullmatch(line)
            assert match, line
            found.setdefault(match["device"], []).append(int(match["port"]))
        return found

    @property
    def port(self) -> int:
        """The port of the one plain ``listening on`` line."""
        (port,) = self.ports[None]
        return port

    def finish(self) -> tuple[int, str]:
        """Wait for the server to exit by itself; its exit code and stderr."""
        _, stderr = self.process.communicate(timeout=WAIT)
        return self.process.returncode, stderr.decode()

    def read_lines(self, count: int) -> None:
        """Read *count* ``listening on`` lines, failing with stderr if they do not come."""
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        received = b""
        deadline = time.monotonic() + WAIT
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while received.count(b"\n") < count and time.monotonic() < deadline:
                if selector.select(max(0.0, deadline - time.monotonic())):
                    chunk = os.read(descriptor, 4096)
                    if not chunk:
                        break
                    received += chunk
        self.lines = received.decode().splitlines(keepends=True)
        if len(self.lines) < count:
            # Whether it had ended (and how) or was still running, for the report.
            status = self.process.poll()
            self.process.kill()
            _, stderr = self.process.communicate(timeout=WAIT)
            state = "still running" if status is None else f"exited with {status}"
            raise AssertionError(f"serve said {self.lines} ({state}); stderr: {stderr.decode()}")


@contextlib.contextmanager
def serve_file(*args: str | os.PathLike[str], devices: int = 1) -> Iterator[Served]:
    """Run ``linesock serve ARGS``; wait for *devices* ``listening on`` lines; end it after."""
    process = subprocess.Popen(
        linesock_command("serve", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    served = Served(process)
    try:
        served.read_lines(devices)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=WAIT)
