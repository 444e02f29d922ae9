"""The one copy of the helpers the tests share: raw sockets, waiting, loop threads.

Import them from here (``from support import connect, wait_until``):

* :mod:`support.wire`: raw-socket helpers for tests that check the exact bytes
  on the wire (``connect``, ``read_exactly``, ``read_until_eof``,
  ``converse``, ``nothing_arrives``);
* :mod:`support.waiting`: ``WAIT`` (the bound on every wait), ``wait_until``
  for states no event announces, and ``free_port``;
* :mod:`support.loops`: ``start_loop_thread``, an asyncio event loop running a
  coroutine on a thread of its own, for a server the test talks to from outside;
* :mod:`support.compiled`: ``core_build``, which build of the core is in use
  (pure Python, or compiled with mypyc by ``./do_install --compiled``).
"""

from __future__ import annotations

from .compiled import core_build
from .loops import LoopThread, start_loop_thread
from .waiting import WAIT, free_port, wait_until
from .wire import connect, converse, nothing_arrives, read_exactly, read_until_eof

__all__ = [
    "WAIT",
    "LoopThread",
    "connect",
    "converse",
    "core_build",
    "free_port",
    "nothing_arrives",
    "read_exactly",
    "read_until_eof",
    "start_loop_thread",
    "wait_until",
]
