"""The doctor's script: which commands the hooks name, and the doctor.sh checks its body calls."""

from __future__ import annotations

import subprocess

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.remote import doctor
from pushdeploy.remote.scripts import Run
from pushdeploy.sources import of as source_of

RUN = Run("token", "owner", "who", "20260101T000000Z")


def environment(**keys: str) -> Environment:
    """[production] of a deploy.conf with these keys (underscores become dashes)."""
    lines = ["[production]", "host = app1", "repo = git@x:a.git", "path = /srv/app"]
    lines += [f"{k.replace('_', '-')} = {v}".replace("\n", "\n    ") for k, v in keys.items()]
    ini = config.parse("\n".join(lines) + "\n", "deploy.conf")
    return config.build_environment(
        "production", "deploy.conf", config.effective(ini, "production")
    )


def body(env: Environment) -> list[str]:
    """The script's own lines after ``step doctor``, up to the end the wrapper adds."""
    text = doctor.script(env, RUN, source_of(env))
    return text.split("\nstep doctor\n", 1)[1].split("\nOK=1\n", 1)[0].splitlines()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("npm ci --omit=dev", ["npm"]),
        ("npm ci\nnpm run build", ["npm"]),
        ("bundle install && RAILS_ENV=production rake assets:precompile", ["bundle", "rake"]),
        ("sudo systemctl restart app", ["sudo", "systemctl"]),
        ("env -i FOO=1 node x.js | tee log; yarn", ["env", "node", "tee", "yarn"]),
        ("if test -f x; then make; fi", ["test", "make"]),
        ("for f in a b; do echo $f; done", ["echo"]),
        ("./bin/migrate && /usr/bin/python3 x", ["/usr/bin/python3"]),
        ("$TOOL run; (cd sub && composer install)", ["cd", "composer"]),
        ("echo 'unbalanced", ["echo"]),
        ("cmd \\\n  --flag", ["cmd"]),
    ],
)
def test_the_commands_a_hook_names_are_the_first_words_of_its_simple_commands(
    text: str, named: list[str]
) -> None:
    assert named == doctor.commands_named(text)


def test_tools_say_which_keys_name_them_and_skip_the_touch_and_monitor_strategies() -> None:
    env = environment(build="npm ci", test="npm test", restart="touch")
    assert doctor.tools(env) == {"npm": ["build", "test"]}
    assert doctor.tools(environment(restart="pm2 reload app")) == {"pm2": ["restart"]}


def test_the_script_takes_no_lock_and_looks_up_only_plain_command_names() -> None:
    env = environment(build="'np m;rm' x\nnpm ci")
    text = "\n".join(body(env))
    assert ("lock_take" in text, "np m" in text, "doctor_tools npm" in text) == (False, False, True)


def test_a_git_deploy_checks_git_and_the_repo() -> None:
    expected = [
        *("doctor_shell", "doctor_git", "doctor_tools npm", "doctor_path", "doctor_agent"),
        *("doctor_repo 30", "doctor_state"),
    ]
    assert expected == body(environment(build="npm ci"))


def test_health_and_app_add_their_checks_with_the_monitors_status_command() -> None:
    env = environment(health="http://127.0.0.1:3000/", app="node server.js", listen="3000")
    expected = [
        "doctor_health",
        "doctor_monitor 30 /srv/app/.pushdeploy/monitor.pyz"
        " python3 /srv/app/.pushdeploy/monitor.pyz status --config /srv/app/.pushdeploy/monitor.json",
    ]
    assert expected == body(env)[-2:]


def test_the_body_is_only_calls_of_doctor_sh_functions() -> None:
    """Server-side logic lives in doctor.sh: every body line calls one of its functions."""
    defined = {line.split("()")[0] for line in doctor.LIBRARY.splitlines() if "() {" in line}
    env = environment(health="http://127.0.0.1:3000/", app="node server.js", listen="3000")
    assert {line.split()[0] for line in body(env)} <= defined


def test_the_script_parses_as_bash() -> None:
    env = environment(build="npm ci", health="http://127.0.0.1:3000/")
    done = subprocess.run(
        ["bash", "-n"], input=doctor.script(env, RUN, source_of(env)), text=True, timeout=30
    )
    assert done.returncode == 0
