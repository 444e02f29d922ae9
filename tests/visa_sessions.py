"""PyVISA as a client of linesock servers: the resources and the recipes of docs/pyvisa.md.

The ``tests/test_pyvisa*.py`` modules drive real servers through PyVISA's
pure-Python backend (pyvisa-py, ``@py``), resource
``TCPIP0::127.0.0.1::PORT::SOCKET``, as an instrument script does; this
module opens those resources with a bounded timeout and holds the recipes
the page gives users (:func:`request`, :func:`resynchronise`), so the tests
run the same code the page shows.

What pyvisa-py does with a connection the server closed shapes the helpers
for closes: its read cannot tell a close from silence (it polls the dead
socket, a CPU busy, until its timeout) and raises ``VI_ERROR_TMO``; a write
goes out until the kernel has seen the server's reset, then raises
``BrokenPipeError`` (an ``OSError``, not a ``VisaIOError``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from support import WAIT, wait_until

pyvisa = pytest.importorskip("pyvisa", reason="the PyVISA tests need pyvisa and pyvisa-py")
pytest.importorskip("pyvisa_py", reason="the PyVISA tests need the pyvisa-py backend (@py)")

from pyvisa import constants  # noqa: E402 (after the skip: only with pyvisa installed)
from pyvisa.errors import VisaIOError  # noqa: E402
from pyvisa.resources import MessageBasedResource  # noqa: E402

#: The timeout of a resource that expects its answers: the suite's bound on a wait.
TIMEOUT_MS = int(WAIT * 1000)
#: The timeout of a resource whose server is about to close: every read after
#: the close waits this long, pyvisa-py cannot tell a close from silence.
CLOSING_TIMEOUT_MS = 300
#: PyVISA's status code for a read that ran out of time.
TIMED_OUT = constants.StatusCode.error_timeout


def resource_name(port: int) -> str:
    """The VISA resource of a raw TCP socket instrument on this machine."""
    return f"TCPIP0::127.0.0.1::{port}::SOCKET"


@contextlib.contextmanager
def open_resource(port: int, timeout_ms: int = TIMEOUT_MS, **options: Any) -> Iterator[Any]:
    """A PyVISA (@py) resource for 127.0.0.1:*port* with *options* (terminations...), closed after.

    Without terminations in *options*, PyVISA's defaults apply: write CRLF,
    read none.  The resource is a ``MessageBasedResource``, typed ``Any``
    for the tests' sake (its methods return ``Any`` or unions anyway).
    """
    # Not closed: every ResourceManager of a process shares one session, whose
    # close() closes every resource opened through any of them.
    manager = pyvisa.ResourceManager("@py")
    resource = manager.open_resource(resource_name(port), timeout=timeout_ms, **options)
    assert isinstance(resource, MessageBasedResource)
    try:
        yield resource
    finally:
        resource.close()


def open_lf(port: int, timeout_ms: int = TIMEOUT_MS) -> contextlib.AbstractContextManager[Any]:
    """A resource with LF terminations both ways: what a default linesock server needs."""
    return open_resource(port, timeout_ms, read_termination="\n", write_termination="\n")


def request(instrument: Any, command: str) -> list[str]:
    """Every answer line to *command*, however many: send it and ``ping``, read to ``pong``.

    The recipe of docs/pyvisa.md for commands with zero or several answer
    lines, which ``query()`` (one line) would leave half read.
    """
    instrument.write(command + instrument.write_termination + "ping")
    answers = []
    while (line := instrument.read()) != "pong":
        answers.append(line)
    return answers


def resynchronise(instrument: Any) -> list[str]:
    """Bring a resource back in step: send ``ping``, read (and return) everything to ``pong``."""
    instrument.write("ping")
    stale = []
    while (line := instrument.read()) != "pong":
        stale.append(line)
    return stale


def assert_read_times_out(instrument: Any) -> None:
    """A read raises ``VisaIOError``, ``VI_ERROR_TMO``: how pyvisa-py sees a close, or silence."""
    with pytest.raises(
        VisaIOError, match=r"^VI_ERROR_TMO \(-1073807339\): Timeout expired"
    ) as caught:
        instrument.read()
    assert caught.value.error_code == TIMED_OUT


def refused_write(instrument: Any, within: float = WAIT) -> OSError:
    """Write ``ping`` every few ms until a write raises (within *within* s); return the error.

    The first write to a closed connection still goes out (the server
    resets it), the next one fails; a server that lingers over a close
    takes what is written until it lets go.
    """
    raised: list[OSError] = []

    def write_fails() -> bool:
        try:
            instrument.write("ping")
        except OSError as exc:
            raised.append(exc)
            return True
        return False

    assert wait_until(write_fails, within), f"every write went out for {within} s"
    return raised[0]
