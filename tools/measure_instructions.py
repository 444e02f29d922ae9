"""Instructions per round trip, per session and per request, counted by valgrind: no noise.

Usage: ``.venv/bin/python tools/measure_instructions.py [UNITS [CASE ...]]``
(default 1000 units, every case; a session counts as ten units).  Needs valgrind (``apt install
valgrind``); takes about five minutes.

Timed figures on this shared machine move by 5-30 % from one round to the
next, more than the margins the targets are judged on.  The instructions a
thread executes do not move.  For each case below this script runs itself
under valgrind's callgrind, twice, with N and 2N units of work, and prints
the difference over N: what start-up costs (imports, listening, threads)
cancels out.  The peer runs natively, outside valgrind.

* ping-pong: the servers of tools/measure_pinned.py (the raw reference,
  the raw loop with ``linesock.Session``, ``linesock.Server``) on a thread
  of the traced process, answering a client's ``read x`` round trips; the
  serving thread's instructions are counted.
* churn: the same servers, and tools/measure_churn.py's sessions (connect,
  ``ping``, ``disconnect``, close).
* request: the clients of tools/measure_client.py (the raw client that
  counts LFs, the one that decodes, the one that also makes every check
  of the client core inline, ``Client.request``) in the traced
  process's main thread, against the bench's threaded server in its own
  process.  Less steady than the other two (within some 10 %): a
  request's two answers come in one read or two, as the timing falls.

Only user-space instructions are counted: the kernel's work is left out.
It is the same for each server of a case (one ``recvfrom`` and one
``sendto`` a round trip under ``strace -c``), and it is most of the time a
round trip takes, so a ratio here is larger than the CPU-time ratio of
``./do_bench`` (for example, 1.17x here against 1.05-1.08x there for
ping-pong on 3ba2646).  Instructions are not time either (a cache miss
costs more than an instruction), but for the interpreter's own work they
are close to it, and they tell a change of a few bytecodes from noise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CASES = {
    "ping-pong": ("raw", "raw loop + Session", "linesock.Server"),
    "churn": ("raw", "raw loop + Session", "linesock.Server"),
    "request": ("raw, counts LFs", "raw, decodes", "raw, checks inline", "Client.request"),
}
UNIT: dict[str, str] = {"ping-pong": "round trip", "churn": "session", "request": "request"}
# A session's work is about ten round trips': fewer of them keep a run short.
_SESSIONS_PER_UNIT = 0.1
# What each of callgrind's per-thread files says of itself.
_THREAD = re.compile(r"^thread: (\d+)$", re.MULTILINE)
_TOTAL = re.compile(r"^summary: (\d+)$", re.MULTILINE)


def serve_and_drive(case: str, subject: str, count: int) -> None:
    """In the traced process: run *count* units of *case* with *subject*, the peer native."""
    from bench.servers import answer, serve_raw  # noqa: PLC0415 - the traced child only
    from measure_churn import CLIENT as SESSIONS  # noqa: PLC0415
    from measure_pinned import CLIENT as ROUND_TRIPS  # noqa: PLC0415
    from measure_pinned import in_thread, serve_session_in_raw_loop  # noqa: PLC0415

    import linesock  # noqa: PLC0415

    if case == "request":
        drive_client(subject, count)
        return
    server = None
    if subject == "raw":
        port, _ = in_thread(serve_raw)
    elif subject == "raw loop + Session":
        port, _ = in_thread(serve_session_in_raw_loop)
    else:
        server = linesock.Server(answer)
        server.start()
        port = server.port
    client = [str(port), str(count), "0"] if case == "ping-pong" else [str(port), str(count)]
    script = ROUND_TRIPS if case == "ping-pong" else SESSIONS
    subprocess.run(
        [sys.executable, "-c", script, *client], check=True, capture_output=True, timeout=600
    )
    if server is not None:
        server.stop()


def drive_client(subject: str, count: int) -> None:
    """Run *count* requests of the client *subject* against the bench's threaded server."""
    from bench.processes import ServerProcess  # noqa: PLC0415 - the traced child only
    from measure_client import RAW_CLIENTS, linesock_client, raw_client  # noqa: PLC0415

    with Path(os.devnull).open("w") as log:
        server = ServerProcess("linesock-threaded", log)
        try:
            server.wait_ready()
            server.start()
            if subject == "Client.request":
                request, close = linesock_client(server.port)
            else:
                request, close = raw_client(server.port, RAW_CLIENTS[subject])
            for _ in range(count):
                request()
            close()
        finally:
            server.kill()


def counted(case: str, subject: str, count: int, out_dir: Path) -> int:
    """Instructions of a traced run of *count* units: the main thread's, or the others' sum."""
    prefix = out_dir / f"{case}-{len(os.listdir(out_dir))}"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            "--trace-children=no",
            f"--callgrind-out-file={prefix}.%p",
            sys.executable,
            __file__,
            "--child",
            case,
            subject,
            str(count),
        ],
        check=True,
        capture_output=True,
        timeout=1200,
    )
    threads: dict[int, int] = {}
    for path in out_dir.glob(f"{prefix.name}.*"):
        text = path.read_text()
        thread, total = _THREAD.search(text), _TOTAL.search(text)
        if thread and total:  # callgrind leaves an empty file beside the threads' own
            threads[int(thread.group(1))] = int(total.group(1))
    if case == "request":
        return threads[1]
    return sum(total for thread, total in threads.items() if thread != 1)


def main() -> None:
    """Count each case's subjects at N and 2N units; print the instructions per unit, and ratios."""
    if sys.argv[1:2] == ["--child"]:
        case, subject, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
        serve_and_drive(case, subject, count)
        return
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cases = sys.argv[2:] or list(CASES)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="linesock-callgrind-") as out:
        for case in cases:
            subjects = CASES[case]
            count = max(1, int(units * _SESSIONS_PER_UNIT)) if case == "churn" else units
            per_unit = {}
            for subject in subjects:
                small = counted(case, subject, count, Path(out))
                large = counted(case, subject, 2 * count, Path(out))
                per_unit[subject] = (large - small) / count
            base = per_unit[subjects[0]]
            for subject, figure in per_unit.items():
                print(
                    f"{case:9} {subject:20} {figure:9,.0f} instructions per {UNIT[case]}"
                    f" ({figure / base:.3f}x)"
                )
    print(f"({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
