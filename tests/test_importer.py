"""Tests of import_handler: the ``module:attribute`` loader behind ``linesock serve``."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from linesock import sample
from linesock._importer import HandlerImportError, import_handler

HANDLER_MODULE = """
def handler(command):
    return "got " + command

class Application:
    def handle(self, command):
        return "app got " + command

app = Application()
answer = 42
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary working directory; sys.path and sys.modules are restored afterwards."""
    saved_path = sys.path[:]
    saved_modules = set(sys.modules)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


def write_module(directory: Path, name: str, source: str) -> None:
    """Write the module *name* (dots make packages) with *source* under *directory*."""
    *packages, module = name.split(".")
    for index in range(len(packages)):
        package = directory.joinpath(*packages[: index + 1])
        package.mkdir(exist_ok=True)
        package.joinpath("__init__.py").touch()
    directory.joinpath(*packages, module + ".py").write_text(textwrap.dedent(source))


@pytest.mark.srs("SRS-111")
def test_returns_the_named_function(workdir: Path) -> None:
    """A module in the working directory is imported and its function returned."""
    write_module(workdir, "importer_plain", HANDLER_MODULE)
    assert import_handler("importer_plain:handler")("x") == "got x"


@pytest.mark.srs("SRS-111")
def test_dotted_attribute_path_reaches_a_method(workdir: Path) -> None:
    """``module:obj.attr`` returns the attribute of the object."""
    write_module(workdir, "importer_dotted", HANDLER_MODULE)
    assert import_handler("importer_dotted:app.handle")("x") == "app got x"


@pytest.mark.srs("SRS-111")
def test_module_in_a_package(workdir: Path) -> None:
    """A dotted module name imports a module inside a package."""
    write_module(workdir, "importer_pkg.inner", HANDLER_MODULE)
    assert import_handler("importer_pkg.inner:handler")("y") == "got y"


@pytest.mark.srs("SRS-111")
def test_working_directory_is_put_first_on_sys_path(workdir: Path) -> None:
    """When the working directory is not on sys.path, it is inserted at the front."""
    sys.path[:] = [entry for entry in sys.path if entry not in (str(workdir), "")]
    write_module(workdir, "importer_cwd", HANDLER_MODULE)
    import_handler("importer_cwd:handler")
    assert sys.path[0] == str(workdir)


def test_working_directory_is_not_added_twice(workdir: Path) -> None:
    """A working directory already on sys.path is left where it is."""
    sys.path.append(str(workdir))
    write_module(workdir, "importer_twice", HANDLER_MODULE)
    import_handler("importer_twice:handler")
    assert sys.path.count(str(workdir)) == 1
    assert sys.path[-1] == str(workdir)


def test_library_handler_needs_no_working_directory() -> None:
    """The sample handler is found by its package name from anywhere."""
    assert import_handler("linesock.sample:handler") is sample.handler


def test_handler_import_error_is_a_value_error() -> None:
    """Callers that catch ValueError also catch a bad handler string."""
    assert issubclass(HandlerImportError, ValueError)


@pytest.mark.srs("SRS-115")
@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("handler", "it has no ':'"),
        (":handler", "the module name before ':' is empty"),
        ("module:", "the attribute after ':' is empty"),
        (".module:handler", "'.module' is not a dotted module name"),
        ("package..module:handler", "'package..module' is not a dotted module name"),
        ("module:app..handle", "'app..handle' is not a dotted attribute name"),
        ("module:handler:extra", "'handler:extra' is not a dotted attribute name"),
        ("module:1handler", "'1handler' is not a dotted attribute name"),
    ],
)
def test_malformed_spec_says_what_is_wrong(spec: str, problem: str) -> None:
    """A string that is not ``module:attribute`` is refused with the reason."""
    with pytest.raises(HandlerImportError) as caught:
        import_handler(spec)
    assert str(caught.value) == (
        f"handler {spec!r} must be given as 'module:attribute', e.g. 'mymodule:handler': {problem}"
    )


@pytest.mark.srs("SRS-115")
def test_missing_module_names_the_working_directory_and_sys_path(workdir: Path) -> None:
    """A module that does not exist is reported with the cwd and sys.path[0]."""
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_absent:handler")
    assert str(caught.value) == (
        "cannot import handler 'importer_absent:handler': no module named "
        f"'importer_absent'; the current directory is {workdir} "
        f"and sys.path[0] is {sys.path[0]}"
    )
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


@pytest.mark.srs("SRS-115")
def test_missing_parent_package_is_reported_as_not_found(workdir: Path) -> None:
    """A missing package of a dotted module name counts as the module not found."""
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_nopackage.inner:handler")
    assert str(caught.value).startswith(
        "cannot import handler 'importer_nopackage.inner:handler': no module named "
        "'importer_nopackage.inner' (no module 'importer_nopackage'); "
        f"the current directory is {workdir}"
    )


@pytest.mark.srs("SRS-115")
def test_missing_module_inside_existing_package(workdir: Path) -> None:
    """A package that exists without the named submodule is reported as not found."""
    write_module(workdir, "importer_haspkg.other", HANDLER_MODULE)
    with pytest.raises(HandlerImportError, match=r"no module named 'importer_haspkg\.inner';"):
        import_handler("importer_haspkg.inner:handler")


@pytest.mark.srs("SRS-116")
def test_module_that_imports_a_missing_module_raises_that_error_as_is(workdir: Path) -> None:
    """A ModuleNotFoundError for another module, from inside the user's module, is not hidden."""
    write_module(workdir, "importer_needs_dep", "import importer_missing_dependency\n")
    with pytest.raises(ModuleNotFoundError) as caught:
        import_handler("importer_needs_dep:handler")
    assert not isinstance(caught.value, HandlerImportError)
    assert caught.value.name == "importer_missing_dependency"


@pytest.mark.srs("SRS-116")
def test_import_error_inside_the_module_is_raised_as_is(workdir: Path) -> None:
    """An ImportError raised while the user's module runs is re-raised unchanged."""
    write_module(workdir, "importer_bad_from", "from os import no_such_name\n")
    with pytest.raises(ImportError, match="cannot import name 'no_such_name'") as caught:
        import_handler("importer_bad_from:handler")
    assert not isinstance(caught.value, HandlerImportError)


@pytest.mark.srs("SRS-116")
def test_any_exception_inside_the_module_is_raised_as_is(workdir: Path) -> None:
    """A module that raises while it is imported propagates its own exception."""
    write_module(workdir, "importer_raises", "raise RuntimeError('broken on import')\n")
    with pytest.raises(RuntimeError, match="broken on import"):
        import_handler("importer_raises:handler")


@pytest.mark.srs("SRS-115")
def test_missing_attribute_suggests_a_close_name(workdir: Path) -> None:
    """A misspelt attribute is reported with the nearest existing name."""
    write_module(workdir, "importer_typo", HANDLER_MODULE)
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_typo:handlr")
    assert str(caught.value) == (
        "cannot import handler 'importer_typo:handlr': 'importer_typo' has no "
        "attribute 'handlr'; did you mean 'handler'?"
    )


@pytest.mark.srs("SRS-115")
def test_missing_attribute_without_a_close_name(workdir: Path) -> None:
    """An attribute with no near match is reported without a suggestion."""
    write_module(workdir, "importer_nothing", HANDLER_MODULE)
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_nothing:zzz")
    assert str(caught.value) == (
        "cannot import handler 'importer_nothing:zzz': 'importer_nothing' has no attribute 'zzz'"
    )


@pytest.mark.srs("SRS-115")
def test_missing_nested_attribute_names_the_object_searched(workdir: Path) -> None:
    """In ``module:obj.attr``, a missing ``attr`` is reported on ``module:obj``."""
    write_module(workdir, "importer_nested", HANDLER_MODULE)
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_nested:app.handel")
    assert str(caught.value) == (
        "cannot import handler 'importer_nested:app.handel': 'importer_nested:app' has no "
        "attribute 'handel'; did you mean 'handle'?"
    )


@pytest.mark.srs("SRS-115")
def test_attribute_that_is_not_callable_is_refused(workdir: Path) -> None:
    """An attribute that cannot be called is not accepted as a handler."""
    write_module(workdir, "importer_value", HANDLER_MODULE)
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_value:answer")
    assert str(caught.value) == (
        "handler 'importer_value:answer' is a int, not a callable; a handler is called "
        "with each command (a str) and returns its answer"
    )


def test_class_is_refused_with_a_hint_to_give_an_instance(workdir: Path) -> None:
    """Naming a class instead of an instance is refused, since each command would build one."""
    write_module(workdir, "importer_class", HANDLER_MODULE)
    with pytest.raises(HandlerImportError) as caught:
        import_handler("importer_class:Application")
    assert str(caught.value) == (
        "handler 'importer_class:Application' is a class; give an instance of it instead, "
        "e.g. 'handler = Application()' in importer_class and 'importer_class:handler'"
    )


def test_module_written_after_start_is_found(workdir: Path) -> None:
    """A module created after an earlier import in the same directory is still found."""
    write_module(workdir, "importer_first", HANDLER_MODULE)
    import_handler("importer_first:handler")
    write_module(workdir, "importer_second", HANDLER_MODULE)
    assert import_handler("importer_second:handler")("z") == "got z"
    assert os.getcwd() == str(workdir)
