"""The generated remote scripts are exactly the golden ones committed under tests/golden.

Every script kind of every case in tests/golden/deploy.conf is built as the commands build it
and compared with its file, character for character; an intended change is made by
regenerating them (tests/golden/__init__.py: ``REGENERATE``) and reviewing ``git diff``.
"""

from __future__ import annotations

import functools
import subprocess

import pytest

from tests import golden

HOW = f"if the change is intended, run `{golden.REGENERATE}` and review `git diff tests/golden`"


@functools.cache
def generated() -> dict[str, str]:
    return golden.render()


def every_case() -> list[str]:
    """``CASE/KIND.sh`` of every golden script, known from the configs (without building any)."""
    return [
        f"{case}/{kind}.sh"
        for case in golden.sections()
        for kind in golden.builders(golden.environment(case))
    ]


@pytest.mark.parametrize("name", every_case())
def test_the_generated_script_is_the_golden_one(name: str) -> None:
    """What the builders make today is, to the character, what tests/golden holds."""
    path = golden.DIR / name
    assert path.is_file(), f"tests/golden/{name} is missing; {HOW}"
    expected = golden.read(path)
    actual = generated()[name]
    assert expected == actual, f"tests/golden/{name} differs from the generated script; {HOW}"


def test_every_golden_file_is_a_case() -> None:
    """No stale file: each file in a case directory is a script some case still makes."""
    stale = sorted(set(golden.on_disk()) - set(generated()))
    assert stale == [], f"files of no case in tests/golden: {stale}; {HOW}"


def test_every_case_is_listed() -> None:
    """The parametrization above covers everything ``render`` builds."""
    assert sorted(every_case()) == sorted(generated())


def test_the_cases_cover_sources_restarts_and_fleets() -> None:
    """Git and artifacts, one host and a fleet, and each restart strategy have a case."""
    envs = [golden.environment(case) for case in golden.sections()]
    assert {"git", "artifact"} <= {"artifact" if env.source.artifact else "git" for env in envs}
    assert {1, 2} <= {min(len(env.hosts), 2) for env in envs}
    assert {"touch", "monitor", "command"} <= {
        env.restart.strategy if env.restart.strategy in {"touch", "monitor"} else "command"
        for env in envs
    }


def test_the_placeholders_stand_in_for_what_was_embedded() -> None:
    """Each normalised program was really in some script, so no placeholder is dead."""
    raw = "".join(
        build()
        for case in golden.sections()
        for build in golden.builders(golden.environment(case)).values()
    )
    unused = [text[:60] for text in golden.placeholders() if text not in raw]
    assert unused == []


@pytest.mark.parametrize("name", every_case())
def test_a_golden_script_is_still_bash(name: str) -> None:
    """Placeholders are quoted words or heredoc text: ``bash -n`` parses every golden file."""
    checked = subprocess.run(
        ["bash", "-n", str(golden.DIR / name)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
