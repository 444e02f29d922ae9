"""CPU cost of linesock's hot path against the raw reference's, without sockets.

``python -m bench.micro`` feeds the same bytes to :class:`linesock.Session`
(what every server front end runs per read) and to the raw reference's
per-read code, and prints the CPU time (``time.thread_time``, best of many
runs, so that other processes on the machine barely matter) of:

* a 256 KiB read of pipelined short commands, per command;
* a read holding one short command (a ping-pong round trip), per read,
  ended by LF, and by CR LF as ``nc -C``, telnet and PyVISA end it (the raw
  reference keeps the CR: it has no CR rule);
* a 256 KiB read of 64 KiB lines, per MB;
* a SCPI query (``VOLT?`` to a :class:`linesock.scpi.Instrument`) next to
  the same query routed by :class:`linesock.Commands` (``get volt``), per
  query, with ``--handlers`` (``./do_bench --micro --handlers``).

The figures in the core commits' messages come from here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Final

from linesock import ServerConfig, ServerStats, Session

from .servers import MAX_LINE_BYTES, SHORT_COMMAND, answer

_READ_SIZE: Final = 256 * 1024


def raw_batch(view: memoryview, size: int, buffer: bytearray) -> bytes:
    """The raw reference's work for one read that ends on a complete line."""
    end = buffer.rfind(b"\n", 0, size) + 1
    text = str(view[:end], "utf-8")
    lines = text.split("\n")
    lines.pop()
    out = []
    handler = answer
    for line in lines:
        if line == "ping":
            out.append("pong")
        elif line == "disconnect":
            break
        elif (reply := handler(line)) is not None:
            out.append(reply)
    out.append("")
    return "\n".join(out).encode()


def linesock_batch(session: Session, view: memoryview, size: int) -> bytes:
    """The threaded server's work for one read: copy out of the buffer, answer it all."""
    out = session.receive(view[:size].tobytes())
    while session.has_queued:
        out += session.answer_queued()
    return out


def best_of(function: Callable[[], object], runs: int, inner: int = 1) -> float:
    """The least CPU time one call of *function* took, over *runs* timings of *inner* calls."""
    best = float("inf")
    for _ in range(runs):
        began = time.thread_time()
        for _ in range(inner):
            function()
        best = min(best, (time.thread_time() - began) / inner)
    return best


def measure(data: bytes, runs: int, inner: int) -> tuple[float, float]:
    """CPU seconds per read of *data* for the raw reference and for linesock."""
    buffer = bytearray(_READ_SIZE)
    buffer[: len(data)] = data
    view = memoryview(buffer)
    size = len(data)
    session = Session(answer, ServerConfig(max_line_bytes=MAX_LINE_BYTES), ServerStats())
    session.receive(b"hello\n")  # past the first-line (HTTP) check
    assert raw_batch(view, size, buffer) == linesock_batch(session, view, size)
    raw = best_of(lambda: raw_batch(view, size, buffer), runs, inner)
    ours = best_of(lambda: linesock_batch(session, view, size), runs, inner)
    return raw, ours


def handler_costs(runs: int = 30, inner: int = 2000) -> tuple[float, float]:
    """CPU seconds per query: a SCPI ``VOLT?`` and a ``Commands`` ``get volt``, alike in work."""
    from linesock import Commands, scpi  # noqa: PLC0415  (only for --handlers)

    instrument = scpi.Instrument("bench,PSU,0,1.0")
    instrument.query("[SOURce]:VOLTage[:LEVel]")(lambda: 3.3)
    commands = Commands()
    commands.add(lambda name: f"{3.3:.6E}", "get")
    assert instrument("VOLT?") == "+3.300000E+00"
    assert commands("get volt") == "3.300000E+00"
    return (
        best_of(lambda: instrument("VOLT?"), runs, inner),
        best_of(lambda: commands("get volt"), runs, inner),
    )


def main() -> None:
    """Print the three figures, raw and linesock side by side (``--handlers``: the routers)."""
    if "--handlers" in sys.argv[1:]:
        scpi_query, plain_query = handler_costs()
        print(f"{'':28}{'Commands':>10}{'scpi':>10}  ratio (scpi / Commands)")
        print(
            f"{'a query, routed':28}{plain_query * 1e6:10.2f}{scpi_query * 1e6:10.2f}  "
            f"{scpi_query / plain_query:.2f}  (us/query)"
        )
        return
    command = f"{SHORT_COMMAND}\n".encode()
    pipelined = command * (_READ_SIZE // len(command))
    lines = pipelined.count(b"\n")
    long_line = b"store " + b"z" * (64 * 1024 - 6) + b"\n"
    long_lines = long_line * 4
    cases = (
        ("pipelined short commands", pipelined, 200, 1, lines, "ns/command", 1e9),
        ("one command per read", command, 30, 2000, 1, "ns/read", 1e9),
        # As nc -C, telnet and PyVISA send it (the raw reference keeps the CR).
        ("one CR LF command per read", command[:-1] + b"\r\n", 30, 2000, 1, "ns/read", 1e9),
        ("64 KiB lines", long_lines, 200, 1, len(long_lines) / 1e6, "us/MB", 1e6),
    )
    print(f"{'':28}{'raw':>10}{'linesock':>10}  ratio (raw / linesock)")
    for name, data, runs, inner, per, unit, scale in cases:
        raw, ours = measure(data, runs, inner)
        print(
            f"{name:28}{raw / per * scale:10.1f}{ours / per * scale:10.1f}  "
            f"{raw / ours:.2f}  ({unit})"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
