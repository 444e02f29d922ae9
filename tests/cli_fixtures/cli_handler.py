"""A handler module for the CLI tests: ``linesock serve cli_handler:handler``."""

from __future__ import annotations

import sys
import threading


def handler(command: str) -> str | list[str] | None:
    """Answer ``echo TEXT`` with TEXT, ``count N`` with 1..N, ``quiet`` with nothing.

    ``hang`` writes ``hanging`` to stderr and never returns.
    """
    word, _, rest = command.partition(" ")
    if word == "echo":
        return rest
    if word == "count":
        return [str(number) for number in range(1, int(rest) + 1)]
    if word == "quiet":
        return None
    if word == "hang":
        print("hanging", file=sys.stderr, flush=True)
        threading.Event().wait()
    return f"error unknown command {word!r}"


class Application:
    """An object whose method is a handler, for the ``module:object.method`` form."""

    def handle(self, command: str) -> str:
        """Answer every command with ``app got COMMAND``."""
        return f"app got {command}"


#: Served as ``cli_handler:app.handle``.
app = Application()

#: Not a handler: ``cli_handler:not_callable`` must be refused.
not_callable = 42
