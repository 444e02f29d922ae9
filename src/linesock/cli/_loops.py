"""The event loops ``serve --loop`` offers, and running a coroutine on a new one.

asyncio (and uvloop, an optional dependency) is imported only when
``--loop`` asks for it: the threaded server and the client commands start
without it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from ._reporting import CommandFailed

if TYPE_CHECKING:
    import asyncio

__all__ = ["EVENT_LOOPS", "EventLoopFactory", "event_loop_factory", "run_on_new_loop"]

#: The event loops ``serve --loop`` offers; without ``--loop``, the threaded Server.
EVENT_LOOPS: Final = ("asyncio", "uvloop")

#: What makes a new event loop (``asyncio.new_event_loop``, ``uvloop.new_event_loop``).
EventLoopFactory: TypeAlias = "Callable[[], asyncio.AbstractEventLoop]"

Result = TypeVar("Result")


def event_loop_factory(name: str) -> EventLoopFactory:
    """What makes a new event loop of the kind *name* (one of :data:`EVENT_LOOPS`).

    Fails with exit 1 and the pip command when uvloop is asked for but missing.
    """
    if name == "uvloop":
        try:
            import uvloop  # noqa: PLC0415  (an optional dependency)
        except ImportError:
            raise CommandFailed(
                "--loop uvloop needs uvloop, which is not installed: pip install 'linesock[uvloop]'"
            ) from None
        new_uvloop: EventLoopFactory = uvloop.new_event_loop
        return new_uvloop
    import asyncio  # noqa: PLC0415  (only for --loop)

    return asyncio.new_event_loop


def run_on_new_loop(
    new_event_loop: EventLoopFactory, main: Callable[[], Coroutine[Any, Any, Result]]
) -> Result:
    """Run the coroutine *main* makes to completion on a new loop, then close the loop."""
    loop = new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
