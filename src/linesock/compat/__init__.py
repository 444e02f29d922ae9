"""A drop-in replacement for the ``socket-oneline`` 1.2.0 classes, built on linesock.

Code written for ``socket-oneline`` switches by changing one import::

    from linesock.compat import OnelineClient, OnelineServer

How the old calls map onto linesock
-----------------------------------
:class:`OnelineServer` wraps a threaded :class:`linesock.Server`:

* ``start()`` checks its parameters, builds a ``Server`` whose handler calls
  ``callback(cmd, False)`` and answers nothing itself, and whose
  ``on_invalid`` hook calls ``callback(text, True)``; it returns True once
  the port is listening (no sleep) and False, with the reason logged, when a
  parameter is missing or the port cannot be bound.  ``ip_port=0`` lets the
  OS choose a port; ``ip_port`` holds the real one after ``start()``.
* ``send(rsp)`` writes one line to the connected client.  It is thread-safe:
  call it from the callback, or later from any thread (a GUI event loop, a
  worker) while the client is connected.  A response holding LF is refused,
  since it would reach the client as several lines.
* ``term()`` stops the server from any thread; calling it again does nothing.
* ``ping``, ``disconnect`` and ``shutdown`` are answered by linesock's
  protocol core (:class:`linesock.Session`), as the old server did.

:class:`OnelineClient` drives a :class:`linesock.LineFramer` over a plain
socket, so answers are framed exactly as linesock's own client frames them.
``recv()`` keeps the old contract of returning ``''`` when no line comes in
time, and also when the server has closed the connection.

What is different, and why
--------------------------
* Lines are decoded whole, as UTF-8: ``café`` arrives as ``café``.  The old
  server decoded byte by byte, so every non-ASCII character was lost.
* A line the server cannot decode reaches the callback with
  ``is_invalid=True`` and its text decoded with ``errors="replace"`` (each
  bad byte becomes U+FFFD), where the old server silently dropped the bad
  bytes.  The callback sees where the damage is, and still gets the rest.
* A line longer than :data:`linesock.DEFAULT_MAX_LINE_BYTES` is not a
  command: the callback gets ``is_invalid=True`` and the line's first 128
  bytes.  The old server buffered any length in memory.
* One CR right before the LF is dropped (``nc -C`` and telnet work); the
  client no longer strips other whitespace from answers.
* Nothing sleeps or polls, and a client that vanishes without
  ``disconnect`` frees the server at once instead of making it spin.
* A callback that raises is logged and the server goes on serving.
* A first line that looks like HTTP closes the connection without calling
  the callback (linesock's guard against browsers posting to the port);
  both Oneline clients send ``ping`` first, so they never trip it.
* ``localhost`` and other names are bound on IPv4, as before.
* Errors are never silent: with ``verbose`` they go to the given logger (or
  stdout), otherwise to the standard ``logging`` logger ``linesock.compat``.
* ``OnelineClient.send`` refuses a command holding CR or LF (it would reach
  the server as two commands), and ``term()`` says ``disconnect`` before it
  closes, so an old server is never left spinning on a vanished client.

docs/migrating.md has the side-by-side table of old and new calls.
"""

from ._client import OnelineClient
from ._endpoint import InfoLogger, OnelineCallback
from ._server import OnelineServer

__all__ = ["InfoLogger", "OnelineCallback", "OnelineClient", "OnelineServer"]
