"""An asyncio event loop running one coroutine on a thread of its own.

For a server on ``linesock.aio`` that a test talks to from its own (blocking)
thread, as a client would::

    async def main(ready: Callable[[], None]) -> None:
        server = await aio.start_server(handler, port=0)
        found.append(server)
        ready()  # start_loop_thread returns now
        await server.serve_forever()


    running = start_loop_thread(asyncio.new_event_loop, main)
    ...
    running.stop(found[0].close)  # ends serve_forever, joins, checks the loop's reports
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from .waiting import WAIT

#: ``main(ready)``: the coroutine run on the loop; it calls ``ready()`` once it serves.
Main = Callable[[Callable[[], None]], Coroutine[Any, Any, object]]


@dataclass
class LoopThread:
    """A loop thread started by :func:`start_loop_thread`."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    finished: threading.Event = field(default_factory=threading.Event)
    """Set once the coroutine has returned or raised and the loop is closed."""
    failures: list[str] = field(default_factory=list)
    """What the loop reported to its exception handler, and what ``main`` raised after ready()."""

    def call(self, callback: Callable[[], object]) -> None:
        """Run *callback* on the loop soon; nothing happens once the loop has closed."""
        if not self.finished.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(callback)

    def stop(self, ending: Callable[[], object], timeout: float = WAIT) -> None:
        """Call *ending* on the loop (it must make ``main`` return), then join the thread.

        Idempotent.  Fails if the thread does not end within *timeout*, or if
        the loop reported anything while it ran.
        """
        self.call(ending)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the event loop thread did not end within {timeout} s"
        assert not self.failures, f"the event loop reported: {self.failures}"


def start_loop_thread(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    main: Main,
    *,
    name: str = "linesock-test-loop",
    timeout: float = WAIT,
) -> LoopThread:
    """Run ``main(ready)`` on a new loop from *loop_factory* in a daemon thread.

    Returns once ``main`` called ``ready()``.  What ``main`` raises before
    that is raised here (a server that could not start, say); a failure
    after it, and anything the loop reports to its exception handler (a
    protocol callback that raised, a task whose exception nobody retrieved),
    is kept in :attr:`LoopThread.failures` and fails :meth:`LoopThread.stop`.
    """
    loop = loop_factory()
    ready = threading.Event()
    before_ready: list[BaseException] = []
    failures: list[str] = []
    finished = threading.Event()

    def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        failures.append(f"{context.get('message')}: {context.get('exception')!r}")
        loop.default_exception_handler(context)

    def run() -> None:
        loop.set_exception_handler(report)
        try:
            loop.run_until_complete(main(ready.set))
        except BaseException as exc:
            if ready.is_set():
                failures.append(repr(exc))
            else:
                before_ready.append(exc)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
            finally:
                finished.set()
                ready.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise AssertionError(f"the coroutine on {name} was not ready within {timeout} s")
    if before_ready:
        thread.join(timeout)
        raise before_ready[0]
    return LoopThread(loop, thread, finished, failures)
