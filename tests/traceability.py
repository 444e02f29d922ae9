"""Requirements traceability: which tests verify which requirement of srs.json, and how they did.

A pytest plugin, registered by ``tests/conftest.py``.  A test declares the
requirements it verifies with a marker::

    @pytest.mark.srs("SRS-004", "SRS-005")
    def test_waiting_clients_are_served_in_arrival_order(serve): ...

(on a test, a class, a module's ``pytestmark`` or one ``pytest.param``; every
instance of a parametrised test counts).  At the end of the session the
plugin prints a table (requirement, result, description, tests), and writes
it to ``out/ver/traceability.md`` and ``out/ver/traceability.json``::

    {"SRS-004": {"tests": ["tests/test_protocol.py::test_...[threaded]", ...],
                 "result": "pass", ...}}

A requirement's result is ``fail`` when one of its tests failed, ``pass`` when
none failed and at least one passed, and ``untested`` otherwise: no test names
it, or all of its tests were skipped (the table says why) or did not run.

When the run fails
------------------
* Always, when a test names an id that srs.json lacks, or carries an ``srs``
  marker without ids; and when a marked test fails (pytest fails the run
  then anyway).
* Only when the run covers the whole suite, when a requirement is
  ``untested``.  The run covers the whole suite unless pytest was given a
  narrower path than ``testpaths`` (a file, a directory inside it, a node id),
  ``-k`` or ``-m``, or deselected tests some other way (``--deselect``,
  ``--lf``), or only collected (``--collect-only``, which still fails on
  requirements that no test names).  A partial run reports its untested
  requirements and does not fail on them: running one file must not fail
  because of the tests it left out.  It writes its report to
  ``out/ver/partial/`` instead (as does ``--collect-only``), so ``out/ver/``
  keeps the report of the last whole-suite run.

Settings (pyproject ``[tool.pytest.ini_options]``): ``srs_file``, the
requirements (default ``srs.json`` at the root, validated against
``srs.schema.json`` beside it); ``srs_report_dir`` (default ``out/ver``).
With ``-q`` the terminal table lists only the requirements that did not pass,
with ``--collect-only`` only those that no test names.
Turn the plugin off with ``-p no:traceability``.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import pytest

__all__ = [
    "Requirement",
    "RequirementsError",
    "SchemaError",
    "load_requirements",
    "schema_errors",
]

MARKER: Final = "srs"
Result = Literal["pass", "fail", "untested"]
Outcome = Literal["passed", "failed", "skipped", "not run"]


# -- srs.json and its schema --------------------------------------------------


class SchemaError(ValueError):
    """The schema uses a keyword this small validator does not implement."""


class RequirementsError(ValueError):
    """srs.json is missing, not JSON, or does not match its schema."""


@dataclass(frozen=True)
class Requirement:
    """One entry of srs.json."""

    id: str
    area: str
    description: str


# Keywords that only annotate a schema; they constrain nothing.
_ANNOTATIONS: Final = frozenset({"$schema", "$id", "title", "description"})
_CONSTRAINTS: Final = frozenset(
    {
        "type",
        "enum",
        "minimum",
        "minLength",
        "pattern",
        "required",
        "properties",
        "additionalProperties",
        "minItems",
        "items",
    }
)
_JSON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _has_type(instance: object, name: str) -> bool:
    """Tell whether *instance* is of the JSON type *name* (a bool is not a number)."""
    if name not in _JSON_TYPES:
        raise SchemaError(f"unsupported type {name!r}")
    if isinstance(instance, bool) and name != "boolean":
        return False
    return isinstance(instance, _JSON_TYPES[name])


def schema_errors(instance: object, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """Check *instance* against *schema*; return one message per violation.

    Implements exactly the JSON Schema keywords srs.schema.json uses (type,
    enum, minimum, minLength, pattern, required, properties,
    additionalProperties: false, minItems, items) and raises SchemaError for
    any other, so a schema edit cannot be silently ignored.
    """
    unknown = set(schema) - _ANNOTATIONS - _CONSTRAINTS
    if unknown:
        raise SchemaError(f"{where}: unsupported schema keywords {sorted(unknown)}")
    if "type" in schema and not _has_type(instance, schema["type"]):
        return [f"{where}: expected {schema['type']}, got {type(instance).__name__}"]
    errors: list[str] = []
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} is not one of {schema['enum']}")
    number = isinstance(instance, int | float) and not isinstance(instance, bool)
    if number and "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{where}: {instance} is less than {schema['minimum']}")
    if isinstance(instance, str):
        errors += _string_errors(instance, schema, where)
    if isinstance(instance, dict):
        errors += _object_errors(instance, schema, where)
    if isinstance(instance, list):
        errors += _array_errors(instance, schema, where)
    return errors


def _string_errors(instance: str, schema: Mapping[str, Any], where: str) -> list[str]:
    """The violations of a string's minLength and pattern."""
    errors = []
    if "minLength" in schema and len(instance) < schema["minLength"]:
        errors.append(f"{where}: shorter than {schema['minLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], instance):
        errors.append(f"{where}: {instance!r} does not match {schema['pattern']!r}")
    return errors


def _array_errors(instance: list[object], schema: Mapping[str, Any], where: str) -> list[str]:
    """The violations of an array's minItems and items."""
    errors = []
    if "minItems" in schema and len(instance) < schema["minItems"]:
        errors.append(f"{where}: fewer than {schema['minItems']} items")
    if "items" in schema:
        for index, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], f"{where}[{index}]")
    return errors


def _object_errors(instance: dict[str, object], schema: Mapping[str, Any], where: str) -> list[str]:
    """The violations of an object's required, properties and additionalProperties."""
    errors = [
        f"{where}: {name!r} is missing"
        for name in schema.get("required", ())
        if name not in instance
    ]
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name, subschema in properties.items():
        if name in instance:
            errors += schema_errors(instance[name], subschema, f"{where}.{name}")
    additional = schema.get("additionalProperties", True)
    if additional is not True:
        if additional is not False:
            raise SchemaError(f"{where}: only additionalProperties true or false is supported")
        errors += [f"{where}: unexpected {name!r}" for name in instance if name not in properties]
    return errors


def load_requirements(path: Path) -> dict[str, Requirement]:
    """Read srs.json, check it against the srs.schema.json beside it, and index it by id."""
    schema_path = path.with_name("srs.schema.json")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RequirementsError(f"cannot read the requirements: {exc}") from exc
    errors = schema_errors(document, schema)
    if errors:
        raise RequirementsError(f"{path} does not match {schema_path.name}: " + "; ".join(errors))
    requirements: dict[str, Requirement] = {}
    for entry in document["requirements"]:
        if entry["id"] in requirements:
            raise RequirementsError(f"{path}: the id {entry['id']} is used twice")
        requirements[entry["id"]] = Requirement(entry["id"], entry["area"], entry["description"])
    return requirements


# -- the plugin -----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare where the requirements are read from and the reports written to."""
    parser.addini("srs_file", "the requirements file (relative to the rootdir)", default="srs.json")
    parser.addini(
        "srs_report_dir",
        "where traceability.md/.json are written (relative to the rootdir)",
        default="out/ver",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (unless the ini file does) and start tracing this session."""
    if not any(
        line.split(":")[0].split("(")[0].strip() == MARKER for line in config.getini("markers")
    ):
        config.addinivalue_line(
            "markers", f"{MARKER}(*ids): the requirement ids this test verifies"
        )
    config.pluginmanager.register(Traceability(config), "srs-traceability")


@dataclass
class _TestRecord:
    """What one collected test claims to verify, and how its run went."""

    ids: list[str]
    failed: bool = False
    passed: bool = False
    skip_reason: str | None = None

    @property
    def outcome(self) -> Outcome:
        """The test's outcome over its setup, call and teardown."""
        if self.failed:
            return "failed"
        if self.skip_reason is not None:
            return "skipped"
        return "passed" if self.passed else "not run"


@dataclass
class _Row:
    """One requirement's line of the report."""

    requirement: Requirement
    tests: list[str]
    outcomes: dict[str, Outcome]
    result: Result
    note: str = ""


@dataclass
class _Report:
    """The whole traceability report of a session."""

    rows: list[_Row]
    whole_suite: bool
    scope: str
    problems: list[str] = field(default_factory=list)


class Traceability:
    """Collects the ``srs`` markers and test outcomes of one session and reports them."""

    def __init__(self, config: pytest.Config) -> None:
        """Prepare to trace the session of *config*."""
        self.config = config
        self.requirements: dict[str, Requirement] = {}
        self.records: dict[str, _TestRecord] = {}
        self.marker_problems: list[str] = []
        self.deselected = 0
        self.unmarked = 0
        self.report: _Report | None = None
        self.written_to: Path | None = None

    # -- collecting ----------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Load srs.json; a broken one is a usage error before any test runs."""
        path = self.config.rootpath / str(self.config.getini("srs_file"))
        try:
            self.requirements = load_requirements(path)
        except RequirementsError as exc:
            raise pytest.UsageError(f"traceability: {exc}") from exc

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Count deselected tests (a partial run), and still check the ids they name."""
        self.deselected += len(items)
        for item in items:
            self._claimed_ids(item)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Note what each test that will run claims to verify."""
        for item in session.items:
            ids = self._claimed_ids(item)
            if ids:
                self.records[item.nodeid] = _TestRecord(ids)
            else:
                self.unmarked += 1

    def _claimed_ids(self, item: pytest.Item) -> list[str]:
        """The known requirement ids of *item*'s markers; note the unknown and malformed ones."""
        ids: list[str] = []
        for mark in item.iter_markers(MARKER):
            if not mark.args or mark.kwargs:
                self.marker_problems.append(
                    f"{item.nodeid}: @pytest.mark.srs needs ids, and only ids"
                )
            for value in mark.args:
                if value not in self.requirements:
                    self.marker_problems.append(
                        f"{item.nodeid} names {value!r}, which srs.json lacks"
                    )
                elif value not in ids:
                    ids.append(value)
        return ids

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each phase of a marked test into its outcome."""
        record = self.records.get(report.nodeid)
        if record is None:
            return
        expected_failure = getattr(report, "wasxfail", None)
        if expected_failure is not None:  # an expected failure verifies nothing
            if report.failed:
                record.failed = True
            else:
                record.skip_reason = f"xfail: {expected_failure}" if expected_failure else "xfail"
        elif report.failed:
            record.failed = True
        elif report.skipped:
            record.skip_reason = _skip_reason(report)
        elif report.when == "call":
            record.passed = True

    # -- reporting -------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Build the report, write its files, and fail the session on the problems found."""
        if not self.requirements:  # sessionstart failed: nothing to report
            return
        self.report = self._build_report(session)
        directory = self.config.rootpath / str(self.config.getini("srs_report_dir"))
        if not self.report.whole_suite or self.config.option.collectonly:
            directory /= "partial"  # keep the last whole-suite report where it is
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "traceability.json").write_text(_as_json(self.report), encoding="utf-8")
        (directory / "traceability.md").write_text(self._as_markdown(self.report), encoding="utf-8")
        self.written_to = directory
        if self.report.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _build_report(self, session: pytest.Session) -> _Report:
        """Give each requirement its tests and result; list what fails the run."""
        whole_suite, scope = self._scope()
        collect_only = bool(self.config.option.collectonly)
        tests_of: dict[str, list[str]] = {identifier: [] for identifier in self.requirements}
        for nodeid, record in self.records.items():
            for identifier in record.ids:
                tests_of[identifier].append(nodeid)
        problems = sorted(set(self.marker_problems))
        rows = []
        for identifier, requirement in self.requirements.items():
            outcomes = {nodeid: self.records[nodeid].outcome for nodeid in tests_of[identifier]}
            reasons = [self.records[nodeid].skip_reason for nodeid in tests_of[identifier]]
            row = _judge(requirement, outcomes, whole_suite, {r for r in reasons if r})
            rows.append(row)
            if row.result == "fail":
                problems.append(f"{identifier} failed: {row.note}")
            elif row.result == "untested" and whole_suite and (not collect_only or not outcomes):
                problems.append(f"{identifier} is untested: {row.note}")
        return _Report(rows, whole_suite, scope, problems)

    def _scope(self) -> tuple[bool, str]:
        """Whether the run covers the whole suite, and a phrase saying what it covers."""
        config = self.config
        narrowing = []
        if config.option.keyword:
            narrowing.append(f"-k {config.option.keyword!r}")
        if config.option.markexpr:
            narrowing.append(f"-m {config.option.markexpr!r}")
        if self.deselected:
            narrowing.append(f"{self.deselected} tests deselected")
        testpaths = [(config.rootpath / path).resolve() for path in config.getini("testpaths")] or [
            config.rootpath.resolve()
        ]
        narrowing += [f"node id {arg}" for arg in config.args if "::" in arg]
        paths = [arg for arg in config.args if "::" not in arg]
        given = [(config.invocation_params.dir / arg).resolve() for arg in paths]
        if given and not all(
            any(path == testpath or path in testpath.parents for path in given)
            for testpath in testpaths
        ):
            narrowing.append("paths " + " ".join(paths))
        only = ", collect only" if config.option.collectonly else ""
        if narrowing:
            return False, "partial run (" + "; ".join(narrowing) + only + ")"
        return True, "whole suite" + only

    def _as_markdown(self, report: _Report) -> str:
        """The report as a Markdown page."""
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        source = self.config.getini("srs_file")
        lines = [
            "# Requirements traceability",
            "",
            f"Generated by `tests/traceability.py` from `{source}` on {now}.",
            f"Scope: {report.scope}"
            + ("." if report.whole_suite else "; untested requirements do not fail a partial run."),
            "",
            _summary(report) + ".",
            "",
            "| Requirement | Area | Description | Tests | Result |",
            "|---|---|---|---|---|",
        ]
        for row in report.rows:
            tests = "<br>".join(f"`{name}`{count}" for name, count in _grouped(row.outcomes))
            result = f"**{row.result}**" if row.result != "pass" else row.result
            if row.note and row.result != "pass":
                result += f" ({_cell(row.note)})"
            requirement = row.requirement
            lines.append(
                f"| {requirement.id} | {requirement.area} | {_cell(requirement.description)}"
                f" | {tests or 'none'} | {result} |"
            )
        if report.problems:
            lines += ["", "## Problems that fail the run", ""]
            lines += [f"- {_cell(problem)}" for problem in report.problems]
        return "\n".join(lines) + "\n"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the table (with -q, only the requirements that did not pass)."""
        report = self.report
        if report is None:
            return
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", f"requirements traceability: {report.scope}")
        hidden: Counter[str] = Counter()
        for row in report.rows:
            why_hidden = self._why_hidden(report, row)
            if why_hidden:
                hidden[why_hidden] += 1
            else:
                _write_row(terminalreporter, row)
        if hidden:
            spelled = ", ".join(f"{number} {why}" for why, number in hidden.items())
            write(f"(requirements not shown: {spelled})")
        for problem in sorted(set(self.marker_problems)):
            terminalreporter.write_line(f"traceability: {problem}", red=True)
        write(f"{_summary(report)}; {self.unmarked} tests verify no requirement")
        write(f"traceability written to {self.written_to}/traceability.md and traceability.json")
        if report.problems:
            terminalreporter.write_line(
                f"traceability: FAILED: {len(report.problems)} problems (listed in "
                f"{self.written_to}/traceability.md)",
                red=True,
                bold=True,
            )
            terminalreporter.stats.setdefault("traceability failure", []).append(report)

    def _why_hidden(self, report: _Report, row: _Row) -> str | None:
        """Why the terminal table leaves *row* out, or None to show it."""
        if not report.whole_suite and not row.tests:
            return "not in this run"
        if self.config.get_verbosity() < 0 and row.result == "pass":
            return "passed, shown without -q"
        if self.config.option.collectonly and row.tests:
            return "collected, not run"
        return None


_COLOURS: Final[Mapping[Result, dict[str, bool]]] = {
    "pass": {"green": True},
    "fail": {"red": True},
    "untested": {"yellow": True},
}


def _write_row(terminalreporter: pytest.TerminalReporter, row: _Row) -> None:
    """Print one requirement: id, result and description, then its tests or why it failed."""
    write = terminalreporter.write_line
    width = max(shutil.get_terminal_size().columns, 120)
    head = f"{row.requirement.id}  {row.result:<8}  "
    terminalreporter.write(head, **_COLOURS[row.result], bold=row.result != "pass")
    description = textwrap.wrap(row.requirement.description, width - len(head))
    write(description[0])
    for line in description[1:]:
        write(" " * len(head) + line)
    detail = ", ".join(f"{name}{count}" for name, count in _grouped(row.outcomes))
    if row.result != "pass" and row.note:
        detail = f"{row.note}" + (f"; tests: {detail}" if detail else "")
    wrapped = textwrap.wrap(
        detail or "no test", width - 8, break_long_words=False, break_on_hyphens=False
    )
    for line in wrapped:
        write(f"        {line}")


def _judge(
    requirement: Requirement,
    outcomes: dict[str, Outcome],
    whole_suite: bool,
    skip_reasons: set[str],
) -> _Row:
    """A requirement's result from its tests' outcomes, with a note saying why."""
    tests = list(outcomes)
    counts = Counter(outcomes.values())
    if counts["failed"]:
        failed = [nodeid for nodeid, outcome in outcomes.items() if outcome == "failed"]
        return _Row(requirement, tests, outcomes, "fail", "failed: " + ", ".join(failed))
    if counts["passed"]:
        return _Row(requirement, tests, outcomes, "pass")
    if not tests:
        note = "no test verifies it" if whole_suite else "no test of it in this run"
    elif counts["skipped"]:
        note = "all its tests were skipped: " + "; ".join(sorted(skip_reasons))
    else:
        note = "its tests did not run"
    return _Row(requirement, tests, outcomes, "untested", note)


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason pytest gives for a skip, without its ``Skipped:`` prefix."""
    if isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)


def _grouped(outcomes: Mapping[str, Outcome]) -> Iterable[tuple[str, str]]:
    """Tests grouped by function (the instances of a parametrised test together).

    Yields the test's name and a suffix counting its instances and their outcomes.
    """
    groups: dict[str, Counter[str]] = {}
    for nodeid, outcome in outcomes.items():
        groups.setdefault(nodeid.split("[", 1)[0], Counter())[outcome] += 1
    for name, counts in groups.items():
        total = sum(counts.values())
        if total == 1 and counts["passed"]:
            yield name, ""
        elif set(counts) == {"passed"}:
            yield name, f" [{total}]"
        else:
            spelled = ", ".join(f"{number} {outcome}" for outcome, number in sorted(counts.items()))
            yield name, f" [{total}: {spelled}]"


def _as_json(report: _Report) -> str:
    """The report as JSON: ``{id: {"tests": [...], "result": ..., ...}}``."""
    document: dict[str, dict[str, object]] = {}
    for row in report.rows:
        entry: dict[str, object] = {
            "tests": row.tests,
            "result": row.result,
            "area": row.requirement.area,
            "description": row.requirement.description,
            "outcomes": row.outcomes,
        }
        if row.note:
            entry["note"] = row.note
        document[row.requirement.id] = entry
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _summary(report: _Report) -> str:
    """``137 requirements: 130 pass, 2 fail, 5 untested``."""
    counts = Counter(row.result for row in report.rows)
    return (
        f"{len(report.rows)} requirements: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['untested']} untested"
    )


def _cell(text: str) -> str:
    """*text* made safe for one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
