"""What a run was measured on: the machine, the versions of the peers, the load, the steal time."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path

from .processes import redis_available

_COMPILE_CORE = Path(__file__).resolve().parent.parent / "tools" / "compile_core.py"

#: The 1, 5 and 15 minute load averages, as ``os.getloadavg()`` gives them.
LoadAverage = tuple[float, float, float]
#: All CPUs' time since boot in clock ticks, and the part of it stolen by the
#: hypervisor for other guests (``/proc/stat``'s first line).
CpuTicks = tuple[int, int]

_PROC_STAT = Path("/proc/stat")
# /proc/stat's cpu fields: user nice system idle iowait irq softirq steal
# (guest and guest_nice follow, already counted in user and nice).
_STEAL_FIELD = 7


def parse_cpu_ticks(stat: str) -> CpuTicks:
    r"""The all-CPUs line of a ``/proc/stat`` text as (all ticks, stolen ticks).

    >>> parse_cpu_ticks("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n")
    (1000, 35)
    """
    fields = stat.split("\n", 1)[0].split()
    if not fields or fields[0] != "cpu" or len(fields) <= _STEAL_FIELD + 1:
        raise ValueError(f"not the all-CPUs line of /proc/stat: {stat[:80]!r}")
    ticks = [int(field) for field in fields[1 : _STEAL_FIELD + 2]]
    return sum(ticks), ticks[_STEAL_FIELD]


def cpu_ticks() -> CpuTicks | None:
    """All CPUs' ticks and their stolen ticks now (None where ``/proc/stat`` is not)."""
    try:
        return parse_cpu_ticks(_PROC_STAT.read_text())
    except (OSError, ValueError):
        return None


def steal_share(before: CpuTicks | None, after: CpuTicks | None) -> float | None:
    """The share of the CPU time between two readings that the hypervisor gave other guests.

    A guest's load average does not see a host that other guests keep busy;
    its steal time does.  None when either reading is missing, or no tick passed.

    >>> steal_share((1000, 10), (3000, 50))
    0.02
    """
    if before is None or after is None or after[0] <= before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


def cpu_description() -> str:
    """CPU model and count: what decides whether a baseline recorded earlier applies."""
    model = "unknown CPU"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return f"{model}, {os.cpu_count()} CPUs"


def machine_description(cpu: str | None = None) -> str:
    """CPU model and count (*cpu*, if known already) and kernel: what the run was measured on."""
    return f"{cpu or cpu_description()}, Linux {platform.release()}"


def format_steal(share: float | None) -> str:
    """A steal share as ``0.3 %``, or what it is when it could not be read."""
    return "not measured (no /proc/stat)" if share is None else f"{share:.1%}"


def format_load(load: LoadAverage) -> str:
    """A load average as ``1.27 / 0.90 / 0.85``."""
    return " / ".join(f"{value:.2f}" for value in load)


def core_build() -> str:
    """Which build of linesock's core this interpreter imports, and so every server here runs.

    ``pure Python``, or ``compiled (mypyc)`` after ``./do_install --compiled``;
    a compiled build older than its sources says so (it runs other code than
    the sources show).  A run's figures are of one build only.
    """
    import linesock._protocol as core  # noqa: PLC0415 - the runner alone needs it

    if str(core.__file__).endswith(".py"):
        return "pure Python"
    status = subprocess.run(
        [sys.executable, str(_COMPILE_CORE), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    return "compiled (mypyc)" + (", STALE: older than its sources" if status == "stale" else "")


def peer_versions() -> dict[str, str]:
    """The versions of linesock and of the peers it was measured against."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    versions = {}
    for package in ("linesock", "uvloop", "socket-oneline", "twisted"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    if redis_available():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            text = subprocess.run(
                ["redis-server", "--version"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
            versions["redis-server"] = text.split("v=")[1].split()[0] if "v=" in text else "?"
    return versions
