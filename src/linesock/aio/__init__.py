"""linesock on asyncio: :func:`start_server` and :func:`connect`.

>>> import asyncio
>>> from linesock import aio
>>> async def handler(command: str) -> str:
...     return command.upper()
>>> async def main() -> list[str]:
...     async with await aio.start_server(handler) as server:
...         async with await aio.connect(port=server.port) as client:
...             return await client.request("hello")
>>> asyncio.run(main())
['HELLO']

The server follows the same protocol rules, takes the same options
(:class:`~linesock.ServerConfig`) and counts the same :class:`~linesock.ServerStats`
as the threaded :class:`~linesock.Server`: both drive the one sans-IO
:class:`~linesock.Session`.  It runs on whatever event loop is running,
uvloop's included.

Design notes
------------
Why a Protocol.  :class:`AsyncServer` serves each client with an
``asyncio.Protocol`` whose ``data_received`` hands the whole read to the
session and writes every answer it produced with one ``transport.write``.
Pipelined commands are thus framed, answered and written in batches, with
no task, future or ``await`` per line; a ``readline`` loop pays all three
for every command.

One client at a time.  The server accepts with ``loop.sock_accept`` on its
own non-blocking listening socket and accepts the next client only once the
current connection is lost.  Waiting clients stay in the kernel's backlog,
their commands in their socket buffers, and are served in arrival order,
none lost: the threaded server's behaviour, with nothing held in user space.

Answers in command order.  A handler may return an awaitable (any ``async
def`` handler does) or a ``concurrent.futures.Future``.  The session then
holds it as pending and queues the commands behind it (the protocol stops
reading once a bounded amount waits); one task awaits the pending answer,
resumes the session (which answers the queued commands up to the next
deferred one), writes, and repeats while one is pending.  No answer can
overtake the one before it.

Handlers run on the event loop thread: a plain function that blocks blocks
the loop.  Use ``async def``, or return a ``concurrent.futures.Future`` that
another thread resolves.
"""

from ._client import AsyncClient, connect
from ._server import AsyncServer, start_server

__all__ = ["AsyncClient", "AsyncServer", "connect", "start_server"]
