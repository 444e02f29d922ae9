"""What a run was measured on: the machine, the versions of the peers, the load."""

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
