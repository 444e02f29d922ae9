"""The traceability plugin (tests/traceability.py) and srs.json, checked with pytest's pytester.

Each plugin test writes a small srs.json and test files into a fresh
directory and runs pytest there in-process with ``-p traceability``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from traceability import (
    RequirementsError,
    SchemaError,
    load_requirements,
    schema_errors,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "srs.schema.json").read_text())


def requirements(*ids: str) -> str:
    """An srs.json holding the given ids."""
    entries = [
        {"id": identifier, "area": "protocol", "description": f"Requirement {identifier} holds."}
        for identifier in ids
    ]
    return json.dumps({"version": 1, "title": "test", "requirements": entries})


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A directory with the real schema and an srs.json of SRS-001 and SRS-002.

    Installed plugins (hypothesis, pytest-timeout, linesock's own) stay out of
    the runs there: they cost time and have nothing to do with traceability.
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.path.joinpath("srs.schema.json").write_text(json.dumps(SCHEMA))
    pytester.path.joinpath("srs.json").write_text(requirements("SRS-001", "SRS-002"))
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest with the plugin in the project directory."""
    return pytester.runpytest("-p", "traceability", *args)


def report(pytester: pytest.Pytester, directory: str = "out/ver") -> dict[str, Any]:
    """The traceability.json the last run wrote (a partial run: in out/ver/partial)."""
    result: dict[str, Any] = json.loads(
        (pytester.path / directory / "traceability.json").read_text()
    )
    return result


def markdown(pytester: pytest.Pytester, directory: str = "out/ver") -> str:
    """The traceability.md the last run wrote (a partial run: in out/ver/partial)."""
    return (pytester.path / directory / "traceability.md").read_text()


# -- the plugin -------------------------------------------------------------------


def test_a_whole_run_with_every_requirement_verified_passes_and_writes_both_reports(
    project: pytest.Pytester,
) -> None:
    """Each id lists every instance of its tests; the table is printed and written."""
    project.makepyfile(
        test_one="""
        import pytest

        @pytest.mark.srs("SRS-001")
        @pytest.mark.parametrize("n", [1, 2])
        def test_a(n):
            pass

        @pytest.mark.srs("SRS-001", "SRS-002")
        def test_b():
            pass

        def test_unmarked():
            pass
        """
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=4)
    assert report(project) == {
        "SRS-001": {
            "tests": ["test_one.py::test_a[1]", "test_one.py::test_a[2]", "test_one.py::test_b"],
            "result": "pass",
            "area": "protocol",
            "description": "Requirement SRS-001 holds.",
            "outcomes": {
                "test_one.py::test_a[1]": "passed",
                "test_one.py::test_a[2]": "passed",
                "test_one.py::test_b": "passed",
            },
        },
        "SRS-002": {
            "tests": ["test_one.py::test_b"],
            "result": "pass",
            "area": "protocol",
            "description": "Requirement SRS-002 holds.",
            "outcomes": {"test_one.py::test_b": "passed"},
        },
    }
    result.stdout.fnmatch_lines(
        [
            "*requirements traceability: whole suite*",
            "SRS-001  pass      Requirement SRS-001 holds.",
            "        test_one.py::test_a [2], test_one.py::test_b",
            "2 requirements: 2 pass, 0 fail, 0 untested; 1 tests verify no requirement",
        ]
    )
    page = markdown(project)
    assert "Scope: whole suite." in page
    assert (
        "| SRS-001 | protocol | Requirement SRS-001 holds. "
        "| `test_one.py::test_a` [2]<br>`test_one.py::test_b` | pass |"
    ) in page
    assert "Problems" not in page


def test_a_requirement_without_a_test_fails_the_whole_run(project: pytest.Pytester) -> None:
    """All tests pass, yet an unverified requirement makes the run fail."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.srs("SRS-001")
        def test_a():
            pass
        """
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)
    assert report(project)["SRS-002"]["result"] == "untested"
    assert report(project)["SRS-002"]["tests"] == []
    result.stdout.fnmatch_lines(["SRS-002  untested*", "        no test verifies it", "*FAILED*"])
    assert "- SRS-002 is untested: no test verifies it" in markdown(project)


def test_a_failing_test_fails_its_requirement(project: pytest.Pytester) -> None:
    """One failing instance makes the requirement `fail` and names the test."""
    project.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.srs("SRS-001", "SRS-002")
        @pytest.mark.parametrize("n", [1, 2])
        def test_a(n):
            assert n == 1
        """
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    entry = report(project)["SRS-001"]
    assert entry["result"] == "fail"
    assert entry["outcomes"] == {
        "test_a.py::test_a[1]": "passed",
        "test_a.py::test_a[2]": "failed",
    }
    assert entry["note"] == "failed: test_a.py::test_a[2]"
    result.stdout.fnmatch_lines(["SRS-001  fail*"])
    assert "tests: test_a.py::test_a [2: 1 failed, 1 passed]" in result.stdout.str()


@pytest.mark.parametrize("phase", ["setup", "teardown"])
def test_a_fixture_error_fails_the_requirement(project: pytest.Pytester, phase: str) -> None:
    """An error in a test's setup or teardown counts as a failure of what it verifies."""
    project.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def broken():
            if "{phase}" == "setup":
                raise RuntimeError("broken setup")
            yield
            raise RuntimeError("broken teardown")

        @pytest.mark.srs("SRS-001", "SRS-002")
        def test_a(broken):
            pass
        """
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert report(project)["SRS-001"]["result"] == "fail"


def test_skipped_tests_leave_their_requirement_untested_and_say_why(
    project: pytest.Pytester,
) -> None:
    """A requirement whose only tests were skipped is untested, with the skip reason."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.srs("SRS-001")
        def test_a():
            pass

        @pytest.mark.srs("SRS-002")
        @pytest.mark.skip(reason="netcat is not installed")
        def test_b():
            pass

        @pytest.mark.srs("SRS-002")
        def test_c():
            pytest.skip("no IPv6 here")

        @pytest.mark.srs("SRS-002")
        @pytest.mark.xfail(reason="known bug")
        def test_d():
            assert False
        """
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    entry = report(project)["SRS-002"]
    assert entry["result"] == "untested"
    assert entry["note"] == (
        "all its tests were skipped: netcat is not installed; no IPv6 here; xfail: known bug"
    )
    assert set(entry["outcomes"].values()) == {"skipped"}


def test_a_requirement_with_one_passing_and_one_skipped_test_passes(
    project: pytest.Pytester,
) -> None:
    """A skip next to a pass does not make a requirement untested."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.srs("SRS-001", "SRS-002")
        def test_a():
            pass

        @pytest.mark.srs("SRS-002")
        def test_b():
            pytest.skip("not here")
        """
    )
    assert run(project).ret == pytest.ExitCode.OK
    assert report(project)["SRS-002"]["result"] == "pass"


def test_an_unknown_id_fails_even_a_partial_run(project: pytest.Pytester) -> None:
    """Naming an id srs.json lacks is always an error, whatever was selected."""
    project.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.srs("SRS-001", "SRS-999")
        def test_a():
            pass
        """,
        test_b="""
        import pytest

        @pytest.mark.srs("SRS-002")
        def test_b():
            pass
        """,
    )
    result = run(project, "test_a.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)
    assert "SRS-999" in markdown(project, "out/ver/partial")
    result.stdout.fnmatch_lines(
        ["traceability: test_a.py::test_a names 'SRS-999', which srs.json lacks"]
    )


def test_an_srs_marker_without_ids_fails_the_run(project: pytest.Pytester) -> None:
    """`@pytest.mark.srs` alone is a mistake, not a claim."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.srs("SRS-001", "SRS-002")
        def test_a():
            pass

        @pytest.mark.srs
        def test_b():
            pass
        """
    )
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*test_b: @pytest.mark.srs needs ids, and only ids"])


@pytest.mark.parametrize(
    ("args", "scope"),
    [
        (["test_a.py"], "paths test_a.py"),
        (["-k", "test_a"], "-k 'test_a'; 1 tests deselected"),
        (["test_a.py::test_a"], "node id test_a.py::test_a"),
        (["--deselect", "test_b.py::test_b"], "1 tests deselected"),
    ],
    ids=["path", "keyword", "node-id", "deselect"],
)
def test_a_partial_run_reports_untested_requirements_without_failing(
    project: pytest.Pytester, args: list[str], scope: str
) -> None:
    """Selecting part of the suite must not fail because of the tests left out."""
    project.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.srs("SRS-001")
        def test_a():
            pass
        """,
        test_b="""
        import pytest

        @pytest.mark.srs("SRS-002")
        def test_b():
            pass
        """,
    )
    result = run(project, *args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*requirements traceability: partial run ({scope})*"])
    assert not (project.path / "out" / "ver" / "traceability.json").exists()
    assert report(project, "out/ver/partial")["SRS-002"] == {
        "tests": [],
        "result": "untested",
        "area": "protocol",
        "description": "Requirement SRS-002 holds.",
        "outcomes": {},
        "note": "no test of it in this run",
    }
    assert "SRS-002" not in result.stdout.str()  # only the requirements the run touched
    assert "untested requirements do not fail a partial run" in markdown(project, "out/ver/partial")


def test_the_testpaths_directory_or_the_rootdir_given_explicitly_is_the_whole_suite(
    project: pytest.Pytester,
) -> None:
    """Naming the directory that holds every test still checks every requirement."""
    project.makeini("[pytest]\ntestpaths = tests\n")
    project.mkpydir("tests")
    project.path.joinpath("tests", "test_a.py").write_text(
        "import pytest\n\n@pytest.mark.srs('SRS-001')\ndef test_a():\n    pass\n"
    )
    for args in ([], ["tests"], ["."]):
        result = run(project, *args)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, args
        result.stdout.fnmatch_lines(["*requirements traceability: whole suite*"])
    assert run(project, "tests/test_a.py").ret == pytest.ExitCode.OK


def test_collect_only_fails_only_on_requirements_no_test_names(project: pytest.Pytester) -> None:
    """--collect-only checks the mapping, not results: tests that did not run are fine."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.srs("SRS-001")
        def test_a():
            pass
        """
    )
    result = run(project, "--collect-only")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*whole suite, collect only*", "SRS-002  untested*", "        no test verifies it"]
    )
    assert "SRS-001  untested" not in result.stdout.str()  # collected: shown in the files only
    partial = "out/ver/partial"
    assert report(project, partial)["SRS-001"]["note"] == "its tests did not run"
    assert "SRS-001 is untested" not in markdown(project, partial)
    assert "SRS-002 is untested: no test verifies it" in markdown(project, partial)


def test_marks_on_modules_classes_and_params_all_count(project: pytest.Pytester) -> None:
    """`pytestmark`, a class mark and `pytest.param(marks=...)` name requirements too."""
    project.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.srs("SRS-001")

        @pytest.mark.srs("SRS-002")
        class TestGroup:
            def test_in_class(self):
                pass

        @pytest.mark.parametrize(
            "n", [1, pytest.param(2, marks=pytest.mark.srs("SRS-002"))]
        )
        def test_param(n):
            pass
        """
    )
    assert run(project).ret == pytest.ExitCode.OK
    assert report(project)["SRS-002"]["tests"] == [
        "test_marks_on_modules_classes_and_params_all_count.py::TestGroup::test_in_class",
        "test_marks_on_modules_classes_and_params_all_count.py::test_param[2]",
    ]
    assert len(report(project)["SRS-001"]["tests"]) == 3


def test_quiet_shows_only_the_requirements_that_did_not_pass(project: pytest.Pytester) -> None:
    """With -q the table lists the problems, and counts the rest."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.srs("SRS-001")
        def test_a():
            pass
        """
    )
    result = run(project, "-q")
    assert "SRS-001  pass" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["SRS-002  untested*", "(requirements not shown: 1 passed, shown without -q)"]
    )


def test_a_broken_requirements_file_is_a_usage_error(project: pytest.Pytester) -> None:
    """srs.json that does not match its schema stops pytest before any test runs."""
    broken = json.loads(requirements("SRS-001"))
    broken["requirements"][0]["id"] = "REQ-1"
    project.path.joinpath("srs.json").write_text(json.dumps(broken))
    project.makepyfile("def test_a():\n    pass\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*traceability:*does not match srs.schema.json*REQ-1*"])


def test_the_files_and_report_directory_come_from_the_ini(project: pytest.Pytester) -> None:
    """srs_file and srs_report_dir move the inputs and the reports."""
    project.makeini("[pytest]\nsrs_file = req/srs.json\nsrs_report_dir = reports\n")
    project.mkdir("req")
    project.path.joinpath("srs.json").rename(project.path / "req" / "srs.json")
    project.path.joinpath("srs.schema.json").rename(project.path / "req" / "srs.schema.json")
    project.makepyfile(
        "import pytest\n\n@pytest.mark.srs('SRS-001', 'SRS-002')\ndef test_a():\n    pass\n"
    )
    assert run(project).ret == pytest.ExitCode.OK
    assert (project.path / "reports" / "traceability.json").is_file()
    assert (project.path / "reports" / "traceability.md").is_file()


# -- srs.json and the validator ---------------------------------------------------


def test_the_projects_requirements_match_their_schema() -> None:
    """srs.json validates, its ids are unique and numbered in order from SRS-001."""
    loaded = load_requirements(ROOT / "srs.json")
    assert list(loaded) == [f"SRS-{number:03d}" for number in range(1, len(loaded) + 1)]
    for requirement in loaded.values():
        assert re.fullmatch(r"[^\n]+\.", requirement.description)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "$: expected object, got list"),
        ({"version": 1, "title": "t"}, "$: 'requirements' is missing"),
        ({"version": 0, "title": "t", "requirements": []}, "$.version: 0 is less than 1"),
        ({"version": True, "title": "t", "requirements": []}, "$.version: expected integer"),
        ({"version": 1, "title": "", "requirements": []}, "$.title: shorter than 1 characters"),
        ({"version": 1, "title": "t", "requirements": []}, "$.requirements: fewer than 1 items"),
        ({"version": 1, "title": "t", "requirements": [], "x": 1}, "$: unexpected 'x'"),
        (
            {"version": 1, "title": "t", "requirements": [{"id": "SRS-1"}]},
            "$.requirements[0].id: 'SRS-1' does not match",
        ),
        (
            {
                "version": 1,
                "title": "t",
                "requirements": [{"id": "SRS-001", "area": "gui", "description": "Two\nlines."}],
            },
            "$.requirements[0].area: 'gui' is not one of",
        ),
        (
            {
                "version": 1,
                "title": "t",
                "requirements": [{"id": "SRS-001", "area": "api", "description": "No full stop"}],
            },
            "$.requirements[0].description: 'No full stop' does not match",
        ),
    ],
)
def test_the_validator_reports_each_violation(document: object, message: str) -> None:
    """Every keyword of the schema is enforced, with the path to the bad value."""
    assert any(error.startswith(message) for error in schema_errors(document, SCHEMA)), (
        schema_errors(document, SCHEMA)
    )


def test_the_validator_refuses_a_keyword_it_does_not_implement() -> None:
    """A schema edit the validator would silently ignore is an error instead."""
    with pytest.raises(SchemaError, match="unsupported schema keywords \\['maxLength'\\]"):
        schema_errors("x", {"type": "string", "maxLength": 3})
    with pytest.raises(SchemaError, match="unsupported type"):
        schema_errors("x", {"type": "null"})


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    """Two requirements with one id cannot both be traced."""
    (tmp_path / "srs.schema.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "srs.json").write_text(requirements("SRS-001", "SRS-001"))
    with pytest.raises(RequirementsError, match="the id SRS-001 is used twice"):
        load_requirements(tmp_path / "srs.json")
