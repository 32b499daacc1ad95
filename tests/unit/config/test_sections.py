"""Environment in sections: each key of the table feeds one field of one section, and nothing shows it.

``Environment`` keeps what every command needs at its top level and the rest in frozen sections
(``env.source``, ``env.hooks``, ...); each row of keys.KEYS names its section, and
``build_environment`` fills the fields from the rows. A user sees none of it: ``config`` lists the
same keys, in the table's order, with the same values.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pushdeploy.config import deployconf, keys
from pushdeploy.config.environment import SECTIONS, Environment
from pushdeploy.config.keys import KEYS
from tests.support.cli import run_cli

# Environment's own fields that no key feeds: the section's name, its file, and what was read.
NOT_KEYS = {"name", "config_file", "settings", "external"}

CONF = """\
[defaults]
keep = 9
port = 2222

[app]
host = web1 deploy@web2:2200
repo = https://bot:hunter2@git.example.test/app.git
path = /srv/app/
ref = main
forward-agent = yes
needs_tty = yes
pre-deploy = echo pre
migrate = ./manage.py migrate
primary = web1
build =
  npm ci
  curl -fsS https://u:pw@files.example.test/x
restart = monitor
health = /health
health-timeout = 12s
shared = node_modules/ .env
env = API_TOKEN=abc MODE=fast GREETING='hello world'
batch = 50%
batch-pause = 3
app = python3 app.py
listen = 127.0.0.1:3000
heartbeat = /hb 5
smtp = mail.example.test:587
interval = 15
rollout = etcd://127.0.0.1:2379/app
rollout-name = srv1
"""

# What `pushdeploy app config` printed for CONF before Environment had sections, byte for byte.
LISTING = """\
host = web1 deploy@web2:2200
# user = (ssh config or local user)
port = 2222
# key = (ssh config and agent)
forward-agent = yes
# host-key = strict
# ssh = paramiko
repo = https://bot:***@git.example.test/app.git
# artifact-sha256 = (URL.sha256, else the server's ETag)
# verify = none
path = /srv/app
ref = main
needs_tty = yes
pre-deploy = echo pre
migrate = ./manage.py migrate
primary = web1
build = npm ci
    curl -fsS https://u:***@files.example.test/x
# restart-file = tmp/restart.txt
restart = monitor
health = /health
health-timeout = 12
shared = node_modules/ .env
env = API_TOKEN=*** MODE=fast GREETING='hello world'
batch = 50%
batch-pause = 3
# parallel = 32
keep = 9
app = python3 app.py
# workers = 2
listen = 127.0.0.1:3000
# ready = accept
# ready-timeout = 30
heartbeat = /hb 5
# grace = 30
smtp = mail.example.test:587
# smtp-user = (no login)
# mail-from = (pushdeploy@this host)
# github-api = https://api.github.com
# github-repo = (from repo)
interval = 15
# watch-backoff = 600
rollout = etcd://127.0.0.1:2379/app
# rollout-lease = 10
rollout-name = srv1
"""


def environment() -> Environment:
    ini = deployconf.parse(CONF, "deploy.conf")
    return deployconf.build_environment("app", "deploy.conf", deployconf.effective(ini, "app"))


def field_names(owner: type) -> set[str]:
    return {f.name for f in dataclasses.fields(owner)}


def test_every_key_names_the_top_level_or_one_section_that_has_its_field() -> None:
    """A key's section is "" (the top level) or one of SECTIONS, and the class there has the
    key's field."""
    places = {
        key: (spec.section, spec.attr in field_names(SECTIONS.get(spec.section, Environment)))
        for key, spec in KEYS.items()
    }
    assert {key for key, (section, _) in places.items() if section not in {"", *SECTIONS}} == set()
    assert [key for key, (_, found) in places.items() if not found] == []


def test_every_section_field_is_fed_by_exactly_one_key() -> None:
    """Each field of each section, and each top-level field but the section's name, file and
    what was read, has exactly one key of the table behind it: none is left to a default of
    its own, none is fed twice."""
    fed: dict[tuple[str, str], list[str]] = {}
    for key, spec in KEYS.items():
        fed.setdefault((spec.section, spec.attr), []).append(key)
    fields = [(section, name) for section, owner in SECTIONS.items() for name in field_names(owner)]
    fields += [("", name) for name in field_names(Environment) - NOT_KEYS - set(SECTIONS)]
    assert {place: fed.get(place, []) for place in fields if len(fed.get(place, [])) != 1} == {}
    assert set(fed) == set(fields)


def test_environment_has_one_field_per_section_holding_its_class() -> None:
    env = environment()
    assert {name: type(getattr(env, name)) for name in SECTIONS} == dict(SECTIONS)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_sections_are_frozen(section: str) -> None:
    part = getattr(environment(), section)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(part, dataclasses.fields(part)[0].name, None)


def test_the_environment_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        environment().hooks = environment().hooks  # type: ignore[misc]


@pytest.mark.parametrize("key", list(KEYS))
def test_value_of_reads_each_key_where_its_section_keeps_it(key: str) -> None:
    env, spec = environment(), KEYS[key]
    holder = getattr(env, spec.section) if spec.section else env
    assert getattr(holder, spec.attr) == keys.value_of(env, key)


def test_replaced_changes_a_key_in_its_section_and_nothing_else() -> None:
    env = environment()
    changed = keys.replaced(env, {"build": "make", "keep": 3, "rollout": None})
    expected = dataclasses.replace(
        env,
        keep=3,
        hooks=dataclasses.replace(env.hooks, build="make"),
        rollout=dataclasses.replace(env.rollout, etcd=None),
    )
    assert (changed, env.hooks.build) == (
        expected,
        "npm ci\ncurl -fsS https://u:pw@files.example.test/x",
    )


def test_config_lists_the_same_keys_in_the_same_order_with_the_same_values(
    tmp_path: Path,
) -> None:
    (tmp_path / "deploy.conf").write_text(CONF)
    result = run_cli("-C", tmp_path, "app", "config")
    assert (result.status, result.stdout, result.stderr) == (0, LISTING, "")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("repo", "https://bot:***@git.example.test/app.git\n"),
        ("port", "2222\n"),
        ("restart", "monitor\n"),
        ("restart-file", "tmp/restart.txt\n"),
        ("batch", "50%\n"),
        ("rollout", "etcd://127.0.0.1:2379/app\n"),
        ("watch-backoff", "600\n"),
        ("notify", ""),
        ("user", ""),
    ],
)
def test_config_key_prints_one_value_as_before(tmp_path: Path, key: str, expected: str) -> None:
    (tmp_path / "deploy.conf").write_text(CONF)
    assert run_cli("-C", tmp_path, "app", "config", key).stdout == expected
