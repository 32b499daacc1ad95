"""deploy.conf.example is the documentation of every key, a fixture that must load, and packaged.

The file's style: each key appears once as an uncommented ``key = value`` line, under the comment
that documents it. A key added to ``pushdeploy.config.keys.KEYS`` without a line here fails this test.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.config.hosts import Host
from pushdeploy.config.keys import KEYS

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy.conf.example"
TEXT = EXAMPLE.read_text(encoding="utf-8")
KEY_LINE = re.compile(r"^[a-z-]+ =")


@pytest.mark.parametrize("key", list(KEYS))
def test_the_example_documents_every_key(key: str) -> None:
    """Each key has a ``key = `` line (commented out or not) in a block that opens with a comment."""
    pattern = re.compile(rf"^(?:# ?)?{re.escape(key)} =", re.MULTILINE)
    found = pattern.search(TEXT)
    assert found is not None, f"deploy.conf.example has no '{key} = ...' line"
    above = [
        line
        for line in TEXT[: found.start()].splitlines()
        if not (KEY_LINE.match(line) or line.startswith((" ", "\t")))
    ]
    assert above[-1].startswith("#"), f"'{key}' has no comment above it"


def test_the_example_parses_with_no_unknown_keys() -> None:
    ini = config.parse(TEXT, str(EXAMPLE))
    assert config.sections(ini) == ["production", "staging", "demo"]


@pytest.mark.parametrize("section", ["production", "staging", "demo"])
def test_every_section_of_the_example_loads(section: str) -> None:
    assert config.load(EXAMPLE, section).name == section


def test_the_example_production_section_reads_as_documented() -> None:
    env = config.load(EXAMPLE, "production")
    expected = (
        (
            Host("deploy@app1.example.com", "app1.example.com", "deploy"),
            Host("deploy@app2.example.com:2222", "app2.example.com", "deploy", 2222),
        ),
        "npm ci --omit=dev\nnpm run build",
        (("NODE_ENV", "production"), ("GREETING", "hello world")),
        ("node_modules/", "logs/", ".env"),
    )
    assert expected == (env.hosts, env.hooks.build, env.env, env.shared)


def test_staging_inherits_production_and_overrides_the_host() -> None:
    production = config.load(EXAMPLE, "production")
    staging = config.load(EXAMPLE, "staging")
    expected = (
        (Host("deploy@staging.example.com", "staging.example.com", "deploy"),),
        production.source.repo,
        production.path,
        production.monitor.app,
    )
    assert expected == (staging.hosts, staging.source.repo, staging.path, staging.monitor.app)


def test_staging_clears_the_pre_deploy_hook_it_would_inherit() -> None:
    production = config.load(EXAMPLE, "production")
    staging = config.load(EXAMPLE, "staging")
    expected = ("./bin/maintenance-notice", None, "production")
    assert expected == (production.hooks.pre_deploy, staging.hooks.pre_deploy, staging.inherit)


def test_the_demo_runs_locally() -> None:
    assert config.load(EXAMPLE, "demo").hosts == (Host("local", "local"),)


def test_the_packaged_copy_is_identical() -> None:
    packaged = (
        files("pushdeploy.config").joinpath("deploy.conf.example").read_text(encoding="utf-8")
    )
    assert packaged == TEXT


@pytest.mark.parametrize("key", [k for k, spec in KEYS.items() if spec.default])
def test_the_example_states_each_default_as_the_table_of_keys_has_it(key: str) -> None:
    """The "(default)" that closes a key's comment is KEYS' default: the example cannot drift."""
    found = re.search(rf"^(?:# ?)?{re.escape(key)} =", TEXT, re.MULTILINE)
    assert found is not None
    comment = [line for line in TEXT[: found.start()].splitlines() if line.startswith("#")][-1]
    stated = re.search(r"\(([^()]*)\)$", comment)
    assert stated is not None, f"{key}: no (default) at the end of {comment!r}"
    assert KEYS[key].default in re.split(r"[;,]\s*", stated[1]), (key, stated[1])
