"""The steps remote/steps.py declares are the ones the generated scripts say.

Every script kind of every golden case (tests/golden/deploy.conf) is built as the commands build
it; the words after ``step`` and ``hook`` in its code (its body, its libraries, prelude.sh) are
the steps it can say. The order they come in at run time is the integration tier's to check:
tests/integration/test_fake_matches_scripts.py runs the real scripts and the fake side by side.
"""

from __future__ import annotations

import re

import pytest

from pushdeploy.config.environment import Environment
from pushdeploy.remote import steps
from pushdeploy.sources.artifact import is_url
from tests import golden

SAID = re.compile(r"\b(?:step|hook) ([a-z][a-z-]*)\b")
# Each script kind the fake answers step by step, with the steps it may say.
DECLARED = {
    "deploy": (*steps.PREPARE, *steps.MIGRATE, *steps.ACTIVATE),
    "fleet-deploy": (*steps.PREPARE, *steps.MIGRATE, *steps.ACTIVATE),
    "revert": steps.REVERT,
    "rollback": steps.ROLLBACK,
    "setup": steps.SETUP,
    "unlock": steps.UNLOCK,
}


def said_in(script: str) -> set[str]:
    """The step names a script's code names (comments left out)."""
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    return set(SAID.findall("\n".join(code)))


def source(env: Environment) -> str:
    if not env.source.artifact:
        return "git"
    return "download" if is_url(env.source.artifact) else "upload"


def built(case: str) -> dict[str, str]:
    return {kind: build() for kind, build in golden.builders(golden.environment(case)).items()}


@pytest.mark.parametrize("case", golden.sections())
def test_every_step_a_script_can_say_is_declared(case: str) -> None:
    undeclared = {kind: sorted(said_in(text) - steps.ALL) for kind, text in built(case).items()}
    assert {kind: [] for kind in undeclared} == undeclared


@pytest.mark.parametrize("case", golden.sections())
def test_each_step_chosen_for_a_config_is_in_its_script(case: str) -> None:
    env, scripts = golden.environment(case), built(case)
    missing = {
        kind: sorted(set(steps.chosen(names, env, source(env))) - said_in(scripts[kind]))
        for kind, names in DECLARED.items()
        if kind in scripts
    }
    assert {kind: [] for kind in missing} == missing


def test_the_phases_follow_each_other_in_one_order() -> None:
    """A deploy's steps, all of them configured: prepare, the migration, then activate."""
    assert (*steps.PREPARE, *steps.MIGRATE, *steps.ACTIVATE) == (
        *("lock", "pre-deploy", "fetch", "resolve", "upload", "download", "verify"),
        *("release", "shared", "build", "migrate"),
        *("switch", "post-deploy", "restart", "test", "health", "prune"),
    )
