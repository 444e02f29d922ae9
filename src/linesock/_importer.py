"""Load a command handler named by a ``module:attribute`` string.

Design notes
------------
``linesock serve mymodule:handler`` follows the convention of uvicorn and
gunicorn: the module is imported by its dotted name, then the attribute path
after the colon (``obj`` or ``obj.attr``) is looked up on it.  The current
working directory is put on ``sys.path`` first, so a ``handler.py`` next to
the user works without installing anything.

Each way the string can fail to name a handler gets its own
:class:`HandlerImportError` with a message that says what to fix.  A module
that is found but fails while it is being imported (a syntax error, an
import of some *other* missing module, any exception) is a bug in the
user's code: that error is re-raised as is, with its own traceback, since
that is what the user needs to see.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import cast

__all__ = ["HandlerImportError", "import_handler"]

_EXAMPLE = "'mymodule:handler'"


class HandlerImportError(ValueError):
    """A ``module:attribute`` string does not name a usable handler; the message says why."""


def import_handler(spec: str) -> Callable[[str], object]:
    """Import and return the handler that *spec* (``"module:attribute"``) names.

    The attribute may be a dotted path (``"module:obj.attr"``).  The current
    working directory is made importable.

    Raises:
        HandlerImportError: *spec* is malformed, its module does not exist,
            the attribute is missing, or it is not a callable handler.
        Exception: whatever the module itself raised while being imported.
    """
    module_name, attribute_path = _split(spec)
    _make_cwd_importable()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _names_the_module(exc.name, module_name):
            raise  # the user's module imports something that is missing
        raise HandlerImportError(_not_found_message(spec, module_name, exc.name)) from exc

    found: object = module
    parts = attribute_path.split(".")
    for index, part in enumerate(parts):
        try:
            found = getattr(found, part)
        except AttributeError:
            where = ":".join([module_name, ".".join(parts[:index])]).rstrip(":")
            raise HandlerImportError(_missing_attribute_message(spec, where, found, part)) from None

    if inspect.isclass(found):
        raise HandlerImportError(
            f"handler {spec!r} is a class; give an instance of it instead, "
            f"e.g. 'handler = {found.__name__}()' in {module_name} and "
            f"'{module_name}:handler'"
        )
    if not callable(found):
        raise HandlerImportError(
            f"handler {spec!r} is a {type(found).__name__}, not a callable; "
            "a handler is called with each command (a str) and returns its answer"
        )
    return cast("Callable[[str], object]", found)


def _split(spec: str) -> tuple[str, str]:
    """Split *spec* into module name and attribute path, or say what is wrong with it."""
    module_name, colon, attribute_path = spec.partition(":")
    if not colon:
        problem = "it has no ':'"
    elif not module_name:
        problem = "the module name before ':' is empty"
    elif not attribute_path:
        problem = "the attribute after ':' is empty"
    elif not all(module_name.split(".")):
        problem = f"{module_name!r} is not a dotted module name"
    elif not all(part.isidentifier() for part in attribute_path.split(".")):
        problem = f"{attribute_path!r} is not a dotted attribute name"
    else:
        return module_name, attribute_path
    raise HandlerImportError(
        f"handler {spec!r} must be given as 'module:attribute', e.g. {_EXAMPLE}: {problem}"
    )


def _make_cwd_importable() -> None:
    """Put the current working directory first on ``sys.path`` unless it is there already."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    # A module file written after the interpreter started may be hidden by
    # the import system's directory caches.
    importlib.invalidate_caches()


def _names_the_module(missing: str | None, module_name: str) -> bool:
    """Tell whether the missing module is *module_name* or one of its parent packages."""
    if missing is None:
        return False
    return module_name == missing or module_name.startswith(missing + ".")


def _not_found_message(spec: str, module_name: str, missing: str | None) -> str:
    """Explain that the handler's module does not exist, and where it was looked for."""
    which = "" if missing == module_name else f" (no module {missing!r})"
    return (
        f"cannot import handler {spec!r}: no module named {module_name!r}{which}; "
        f"the current directory is {os.getcwd()} and sys.path[0] is {sys.path[0]}"
    )


def _missing_attribute_message(spec: str, where: str, found: object, part: str) -> str:
    """Explain that *part* is not an attribute of *found*, suggesting a near name."""
    message = f"cannot import handler {spec!r}: {where!r} has no attribute {part!r}"
    public = [name for name in dir(found) if not name.startswith("_")]
    close = difflib.get_close_matches(part, public, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message
