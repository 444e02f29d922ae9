"""linesock.Commands: splitting, argument conversion, error lines, help, and serving it.

Most tests call the router directly: it is sans-IO, a handler like any other.
The last ones serve it with the threaded server, the asyncio server and
``linesock serve`` over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

import linesock
from linesock import CommandError, Commands, aio
from support import WAIT, converse


class Setting(enum.Enum):
    """An enum with string values, as a command parameter."""

    VOLT = "volt"
    CURR = "curr"


class Channel(enum.IntEnum):
    """An enum with int values, whose names differ from its values."""

    A = 1
    B = 2


@pytest.fixture
def commands() -> Commands:
    """A router with a few typed commands, as a rig would have."""
    commands = Commands()

    @commands.command("set")
    def set_value(channel: int, value: float) -> str:
        """Set a channel's output.

        The rest of the docstring is not shown by help.
        """
        return f"set {channel!r} {value!r}"

    @commands.command()
    def say(text: str, times: int = 1) -> list[str]:
        """Say a text, perhaps several times."""
        return [text] * times

    @commands.command()
    def total(*values: float) -> str:
        return repr(sum(values))

    return commands


# -- splitting and dispatch ---------------------------------------------------


@pytest.mark.srs("SRS-140")
def test_arguments_are_converted_by_the_type_hints(commands: Commands) -> None:
    """``set 2 0.5`` calls the function with the int 2 and the float 0.5."""
    assert commands("set 2 0.5") == "set 2 0.5"
    assert commands("set -7 1e3") == "set -7 1000.0"


@pytest.mark.srs("SRS-138")
def test_command_without_name_uses_the_function_name() -> None:
    """``@commands.command()`` and bare ``@commands.command`` register the function's name."""
    commands = Commands()

    @commands.command()
    def first() -> str:
        return "one"

    @commands.command
    def second() -> str:
        return "two"

    assert (commands("first"), commands("second")) == ("one", "two")
    assert first() == "one"  # the decorator returns the function itself


@pytest.mark.srs("SRS-139")
def test_quoted_arguments_are_one_word(commands: Commands) -> None:
    """Double quotes, single quotes and backslash escapes work as in a shell."""
    assert commands('say "two words"') == ["two words"]
    assert commands("say 'it''s' 2") == ["its", "its"]
    assert commands(r"say a\ b") == ["a b"]
    assert commands("say \"it's\" '2'") == ["it's", "it's"]
    assert commands("say ''") == [""]


@pytest.mark.srs("SRS-139", "SRS-141")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ('say "open', "error invalid quoting: no closing quotation"),
        ("say 'open", "error invalid quoting: no closing quotation"),
        ("say end\\", "error invalid quoting: no escaped character"),
    ],
)
def test_unbalanced_quoting_is_an_error_line(commands: Commands, line: str, answer: str) -> None:
    """A line shlex cannot split gets one ``error invalid quoting: ...`` line."""
    assert commands(line) == answer


@pytest.mark.srs("SRS-139")
def test_runs_of_spaces_tabs_and_cr_separate_words(commands: Commands) -> None:
    """Words may be separated by any run of spaces, tabs and CRs, before and after too."""
    assert commands("  set\t 1 \r 2  ") == "set 1 2.0"


@pytest.mark.srs("SRS-139")
def test_other_whitespace_belongs_to_the_word(commands: Commands) -> None:
    """A vertical tab or NBSP does not separate words, as with shlex."""
    assert commands("say a\x0bb") == ["a\x0bb"]
    assert commands("say a\xa0b") == ["a\xa0b"]


@pytest.mark.srs("SRS-139")
@given(st.text(alphabet=st.characters(blacklist_characters="'\"\\")))
def test_unquoted_lines_split_exactly_as_shlex_does(line: str) -> None:
    """For any line without quotes or backslashes, the router's words are shlex.split's."""
    seen: list[tuple[str, ...]] = []
    commands = Commands()

    @commands.command("w")
    def record(*words: str) -> None:
        seen.append(words)

    words = shlex.split(line)
    commands("w " + line)
    assert seen == [tuple(words)]


@pytest.mark.srs("SRS-141")
@pytest.mark.parametrize("line", ["", "   ", "\t", "\r"])
def test_empty_line_is_an_error_line(commands: Commands, line: str) -> None:
    """A line with no words gets ``error empty command``."""
    assert commands(line) == "error empty command"


@pytest.mark.srs("SRS-138", "SRS-141")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("sett 1 2", "error unknown command 'sett'"),
        ("SET 1 2", "error unknown command 'SET'"),
        ("'' 1", "error unknown command ''"),
        ('"it\'s"', 'error unknown command "it\'s"'),
        ("bell\x07", "error unknown command 'bell\\x07'"),
        ("x" * 50, f"error unknown command '{'x' * 40}'..."),
    ],
)
def test_unknown_command_is_named_in_the_error(commands: Commands, line: str, answer: str) -> None:
    """Names are case-sensitive; the unknown name is shown as its repr, cut at 40 characters."""
    assert commands(line) == answer


# -- argument counts ----------------------------------------------------------


@pytest.mark.srs("SRS-141")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("set 1", "error set: expected 2 arguments, got 1"),
        ("set", "error set: expected 2 arguments, got 0"),
        ("set 1 2 3", "error set: expected 2 arguments, got 3"),
        ("say", "error say: expected 1 to 2 arguments, got 0"),
        ("say a 1 x", "error say: expected 1 to 2 arguments, got 3"),
    ],
)
def test_wrong_argument_count_is_an_error_line(commands: Commands, line: str, answer: str) -> None:
    """Too few or too many arguments get ``error NAME: expected ..., got N``."""
    assert commands(line) == answer


@pytest.mark.srs("SRS-141")
def test_argument_count_wording_for_none_one_and_at_least() -> None:
    """No-argument, one-argument and variadic commands word the expected count to match."""
    commands = Commands()

    @commands.command()
    def idn() -> str:
        return "rig"

    @commands.command()
    def get(channel: int) -> str:
        return str(channel)

    @commands.command()
    def mean(first: float, *more: float) -> str:
        return "ok"

    assert commands("idn now") == "error idn: expected no arguments, got 1"
    assert commands("get") == "error get: expected 1 argument, got 0"
    assert commands("get 1 2") == "error get: expected 1 argument, got 2"
    assert commands("mean") == "error mean: expected at least 1 argument, got 0"


@pytest.mark.srs("SRS-140")
def test_variadic_arguments_are_converted(commands: Commands) -> None:
    """``*values: float`` takes any number of words, each converted."""
    assert commands("total") == "0"
    assert commands("total 1 2.5 -1") == "2.5"


@pytest.mark.srs("SRS-140")
def test_defaults_and_optional_fill_missing_trailing_arguments() -> None:
    """A missing argument takes the parameter's default, or None for ``T | None`` without one."""
    commands = Commands()

    @commands.command()
    def pick(first: int | None, second: Optional[str], third: float = 0.5) -> str:  # noqa: UP045
        return repr((first, second, third))

    assert commands("pick") == "(None, None, 0.5)"
    assert commands("pick 1") == "(1, None, 0.5)"
    assert commands("pick 1 two 3") == "(1, 'two', 3.0)"
    assert commands("pick 1 two 3 4") == "error pick: expected 0 to 3 arguments, got 4"


# -- conversions --------------------------------------------------------------


@pytest.mark.srs("SRS-141")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("set x 2", "error set: channel: invalid int 'x'"),
        ("set 1.5 2", "error set: channel: invalid int '1.5'"),
        ("set 1 two", "error set: value: invalid float 'two'"),
        ("set '' 2", "error set: channel: invalid int ''"),
        ("total 1 2 x", "error total: values: invalid float 'x'"),
        ("say hi many", "error say: times: invalid int 'many'"),
        (f"set {'9' * 41}x 1", f"error set: channel: invalid int '{'9' * 40}'..."),
    ],
)
def test_value_that_does_not_convert_is_an_error_line(
    commands: Commands, line: str, answer: str
) -> None:
    """``error NAME: PARAMETER: invalid TYPE 'VALUE'`` names the first bad argument."""
    assert commands(line) == answer


@pytest.mark.srs("SRS-140", "SRS-141")
@pytest.mark.parametrize(
    ("word", "value"),
    [
        *[(word, True) for word in ("true", "on", "yes", "1", "TRUE", "On", "YES")],
        *[(word, False) for word in ("false", "off", "no", "0", "False", "OFF", "No")],
    ],
)
def test_bool_accepts_its_spellings_in_any_case(word: str, value: bool) -> None:
    """true/false, on/off, yes/no and 1/0 convert to bool, whatever their case."""
    commands = Commands()

    @commands.command()
    def output(on: bool) -> str:
        return repr(on)

    assert commands(f"output {word}") == repr(value)
    assert commands("output maybe") == "error output: on: invalid bool 'maybe'"
    assert commands("output 2") == "error output: on: invalid bool '2'"


@pytest.mark.srs("SRS-140", "SRS-141")
def test_enum_accepts_member_names_in_any_case_and_values() -> None:
    """An Enum parameter takes a member name (any case) or the text of a member's value."""
    commands = Commands()

    @commands.command()
    def get(setting: Setting, channel: Channel) -> str:
        return f"{setting.name} {channel.name}"

    assert commands("get volt a") == "VOLT A"
    assert commands("get CURR b") == "CURR B"
    assert commands("get Volt 2") == "VOLT B"
    assert commands("get power a") == (
        "error get: setting: invalid Setting 'power' (one of: volt, curr)"
    )
    assert commands("get volt 3") == "error get: channel: invalid Channel '3' (one of: a, b)"


@pytest.mark.srs("SRS-140")
def test_unannotated_parameters_take_the_word_as_is() -> None:
    """A parameter without annotation, ``*args`` included, receives the str."""
    commands = Commands()

    @commands.command()
    def join(first, *rest) -> str:  # type: ignore[no-untyped-def]
        return "+".join([first, *rest])

    assert commands("join 1 2.0 x") == "1+2.0+x"


@pytest.mark.srs("SRS-140")
def test_string_annotations_are_resolved() -> None:
    """Annotations written as strings (``from __future__ import annotations``) convert."""
    commands = Commands()

    def scale(factor: "float", setting: "Setting") -> str:  # noqa: UP037
        return f"{factor * 2} {setting.value}"

    commands.add(scale)
    assert commands("scale 1.5 curr") == "3.0 curr"


# -- results and exceptions ---------------------------------------------------


@pytest.mark.srs("SRS-138")
def test_the_function_result_is_the_answer_unchanged() -> None:
    """A str, a list, a generator or None come back exactly as the function returned them."""
    commands = Commands()
    lines = ["a", "b"]

    @commands.command()
    def many() -> list[str]:
        return lines

    @commands.command()
    def nothing() -> None:
        return None

    @commands.command()
    def counting(up_to: int) -> Iterator[str]:
        yield from (str(number) for number in range(1, up_to + 1))

    assert commands("many") is lines
    assert commands("nothing") is None
    assert list(commands("counting 3")) == ["1", "2", "3"]


@pytest.mark.srs("SRS-142")
def test_exception_in_a_command_propagates(commands: Commands) -> None:
    """A command that raises is not turned into an answer: the exception reaches the server."""

    @commands.command()
    def broken() -> str:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError, match="bug"):
        commands("broken")


@pytest.mark.srs("SRS-142")
def test_command_error_becomes_an_error_line_on_one_line() -> None:
    """``raise CommandError(msg)`` answers ``error NAME: msg``, its line breaks made spaces."""
    commands = Commands()

    @commands.command()
    def arm(seconds: float) -> str:
        if seconds > 10:
            raise CommandError(f"{seconds:g} s is too long\n(10 s at most)")
        return "armed"

    assert commands("arm 1") == "armed"
    assert commands("arm 12") == "error arm: 12 s is too long (10 s at most)"


@pytest.mark.srs("SRS-142", "SRS-143")
def test_async_command_returns_an_awaitable_of_its_answer() -> None:
    """An ``async def`` command makes the call return an awaitable; errors before it do not."""
    commands = Commands()

    @commands.command()
    async def slow(delay: float) -> str:
        await asyncio.sleep(delay)
        if delay > 1:
            raise CommandError("too slow")
        return f"waited {delay}"

    pending = commands("slow 0")
    assert inspect.iscoroutine(pending)
    assert asyncio.run(pending) == "waited 0.0"
    assert asyncio.run(commands("slow 2")) == "error slow: too slow"
    assert commands("slow x") == "error slow: delay: invalid float 'x'"
    assert commands("slow") == "error slow: expected 1 argument, got 0"


@pytest.mark.srs("SRS-138")
def test_bound_methods_register_as_commands() -> None:
    """``commands.add(obj.method, name)`` routes to the method of that object."""

    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def add(self, amount: int = 1) -> str:
            """Add to the count."""
            self.count += amount
            return str(self.count)

    counter = Counter()
    commands = Commands()
    assert commands.add(counter.add, "inc") == counter.add
    assert [commands("inc"), commands("inc 5")] == ["1", "6"]
    assert commands("help inc") == "inc [<amount:int>]  Add to the count."


@pytest.mark.srs("SRS-138", "SRS-140")
def test_callable_object_registers_with_its_call_signature() -> None:
    """An object with a typed ``__call__`` converts its arguments like a function."""

    class Doubler:
        def __call__(self, number: int) -> str:
            return str(2 * number)

    commands = Commands()
    commands.add(Doubler(), "double")
    assert commands("double 21") == "42"
    assert commands("double x") == "error double: number: invalid int 'x'"


# -- help ---------------------------------------------------------------------


@pytest.mark.srs("SRS-145")
def test_help_lists_signatures_and_first_docstring_lines(commands: Commands) -> None:
    """``help`` answers one aligned line per command, in registration order, help last."""
    assert commands("help") == [
        "set <channel:int> <value:float>  Set a channel's output.",
        "say <text> [<times:int>]         Say a text, perhaps several times.",
        "total [<values:float> ...]",
        "help [<command>]                 List the commands, or show one.",
    ]


@pytest.mark.srs("SRS-145")
def test_help_with_a_name_shows_that_command(commands: Commands) -> None:
    """``help set`` answers set's line alone; an unknown name gets the unknown-command error."""
    assert commands("help set") == "set <channel:int> <value:float>  Set a channel's output."
    assert commands("help help") == "help [<command>]  List the commands, or show one."
    assert commands("help sett") == "error unknown command 'sett'"
    assert commands("help set say") == "error help: expected 0 to 1 arguments, got 2"


@pytest.mark.srs("SRS-145")
def test_help_shows_enum_choices_and_bool() -> None:
    """Enum parameters list their members in help; bool parameters say bool."""
    commands = Commands()

    @commands.command()
    def get(setting: Setting, verbose: bool = False) -> str:
        """Read a setting."""
        return "0"

    assert commands("help get") == "get <setting:volt|curr> [<verbose:bool>]  Read a setting."


@pytest.mark.srs("SRS-145")
def test_a_registered_help_replaces_the_built_in(commands: Commands) -> None:
    """A user's own ``help`` command answers instead of the built-in one."""

    @commands.command("help")
    def my_help() -> str:
        return "ask the lab"

    assert commands("help") == "ask the lab"
    assert commands("help set") == "error help: expected no arguments, got 1"


@pytest.mark.srs("SRS-138")
def test_contains_and_repr_name_the_commands(commands: Commands) -> None:
    """``name in commands`` and ``repr`` reflect the registered commands."""
    assert "set" in commands
    assert "help" in commands
    assert "sett" not in commands
    assert repr(commands) == "<linesock.Commands help set say total>"


# -- registration errors ------------------------------------------------------


def _keyword_only(value: int, *, scale: int = 1) -> str:
    return "x"


def _keywords(value: int, **extra: int) -> str:
    return "x"


def _list(values: list[int]) -> str:
    return "x"


def _union(value: int | str) -> str:
    return "x"


def _any(value: Any) -> str:
    return "x"


def _required_after_optional(first: int | None, second: int) -> str:
    return "x"


def _unresolvable(value: NoSuchType) -> str:  # type: ignore[name-defined]  # noqa: F821
    return "x"


@pytest.mark.srs("SRS-144")
@pytest.mark.parametrize(
    ("function", "message"),
    [
        (_keyword_only, r"parameter 'scale' is keyword-only"),
        (_keywords, r"parameter '\*\*extra' is keyword-only"),
        (_list, r"parameter 'values' is annotated list\[int\]; a command parameter must be"),
        (_union, r"parameter 'value' is annotated int \| str"),
        (_any, r"parameter 'value' is annotated (typing\.)?Any;"),
        (_required_after_optional, r"the required parameter 'second' follows an optional one"),
        (_unresolvable, r"cannot resolve its type hints: name 'NoSuchType' is not defined"),
    ],
)
def test_unusable_signature_is_a_type_error_at_registration(function: Any, message: str) -> None:
    """A signature the router cannot fill raises TypeError naming the command and the problem."""
    commands = Commands()
    with pytest.raises(TypeError, match=r"^command 'cmd' \(_\w+\): " + message):
        commands.command("cmd")(function)
    assert "cmd" not in commands


@pytest.mark.srs("SRS-144")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("set", "command name 'set' is already registered"),
        ("ping", "the server answers 'ping' itself"),
        ("shutdown", "the server answers 'shutdown' itself"),
        ("two words", "a name is one word without spaces, quotes or backslashes"),
        ("", "a name is one word"),
        ("it's", "a name is one word"),
    ],
)
def test_bad_command_name_is_a_type_error(commands: Commands, name: str, message: str) -> None:
    """Taken names, server built-ins and names no line could select raise TypeError."""
    with pytest.raises(TypeError, match=re.escape(message)):
        commands.add(lambda: "x", name)


@pytest.mark.srs("SRS-144")
def test_non_callable_is_a_type_error() -> None:
    """Registering something that cannot be called raises TypeError."""
    with pytest.raises(TypeError, match="command 'x': 42 is not callable"):
        Commands().add(42, "x")  # type: ignore[type-var]


# -- served over real sockets -------------------------------------------------


@pytest.mark.srs("SRS-138")
def test_threaded_server_answers_with_the_router(commands: Commands) -> None:
    """Served by ``linesock.Server``, routed answers and error lines reach a Client."""
    with linesock.Server(commands) as server, linesock.Client(port=server.port) as client:
        assert client.request("set 3 0.25") == ["set 3 0.25"]
        assert client.request('say "a b" 2') == ["a b", "a b"]
        assert client.request("sett 1") == ["error unknown command 'sett'"]
        assert client.request("set x 1") == ["error set: channel: invalid int 'x'"]
        assert client.request("help")[0].startswith("set <channel:int> <value:float>")


@pytest.mark.srs("SRS-141", "SRS-142")
def test_raw_socket_sees_error_lines_and_no_traceback(
    commands: Commands, caplog: pytest.LogCaptureFixture
) -> None:
    """Pipelined bad lines each get one error line; a raising command gets none and is logged."""

    @commands.command()
    def broken() -> str:
        raise ZeroDivisionError("bug in the command")

    with linesock.Server(commands) as server:
        wire_bytes = converse(server.port, b'say "open\n\nbroken\nset 1\nping\ndisconnect\n')
    assert wire_bytes == (
        b"error invalid quoting: no closing quotation\n"
        b"error empty command\n"
        b"error set: expected 2 arguments, got 1\n"
        b"pong\n"
    )
    assert "ZeroDivisionError: bug in the command" in caplog.text


@pytest.mark.srs("SRS-138", "SRS-143")
def test_asyncio_server_awaits_async_commands() -> None:
    """Served by ``linesock.aio.start_server``, async and plain commands answer in order."""
    commands = Commands()

    @commands.command()
    async def later(delay: float, text: str) -> str:
        await asyncio.sleep(delay)
        return text

    @commands.command()
    def now(text: str) -> str:
        return text

    async def main() -> bytes:
        async with await aio.start_server(commands) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"later 0.05 first\nnow second\nlater 0 third\nlater x y\ndisconnect\n")
            answers = await reader.read()
            writer.close()
            await writer.wait_closed()
            return answers

    answers = asyncio.run(asyncio.wait_for(main(), WAIT))
    assert answers == b"first\nsecond\nthird\nerror later: delay: invalid float 'x'\n"


@pytest.mark.srs("SRS-138")
def test_linesock_serve_serves_a_router(tmp_path: Path) -> None:
    """``linesock serve module:commands`` serves a Commands instance from the user's module."""
    (tmp_path / "rig.py").write_text(
        textwrap.dedent(
            """
            import linesock

            commands = linesock.Commands()

            @commands.command("set")
            def set_value(channel: int, value: float) -> str:
                return f"channel {channel} at {value}"
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "linesock", "serve", "rig:commands", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        listening = re.search(r"listening on \S+:(\d+)$", process.stdout.readline().strip())
        assert listening is not None
        answers = converse(int(listening[1]), b"set 1 2\nset 1\nshutdown\n")
        assert answers == b"channel 1 at 2.0\nerror set: expected 2 arguments, got 1\n"
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.srs("SRS-138")
def test_docs_first_example_prints_what_its_comments_say(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first example of docs/routing.md runs and prints the answers its comments show."""
    text = (Path(__file__).parent.parent / "docs" / "routing.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    exec(compile(example, "docs/routing.md", "exec"), {})
    promised = re.findall(r"  # (\[.*\])$", example, re.MULTILINE)
    assert capsys.readouterr().out.splitlines() == promised
    assert len(promised) == 3
