"""Local hooks run on this machine with the deploy's facts; a failing pre hook stops everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.engine import localhooks
from pushdeploy.errors import DeployFailed
from pushdeploy.remote.report import DeployReport, HostReport


def environment(tmp_path: Path, extra: str) -> config.Environment:
    conf = tmp_path / "deploy.conf"
    conf.write_text(f"[prod]\nhost = web1 web2\nrepo = /r\npath = /srv/app\n{extra}", "utf-8")
    return config.load(conf, "prod")


def test_before_the_deploy_only_env_ref_and_hosts_are_known(tmp_path: Path) -> None:
    env = environment(tmp_path, "")
    assert localhooks.facts(env, "main") == {
        "PUSHDEPLOY_ENV": "prod",
        "PUSHDEPLOY_REF": "main",
        "PUSHDEPLOY_SHA": "",
        "PUSHDEPLOY_RELEASE": "",
        "PUSHDEPLOY_HOSTS": "web1 web2",
        "PUSHDEPLOY_OUTCOME": "",
        "PUSHDEPLOY_DURATION": "",
    }


def test_after_the_deploy_every_fact_is_known(tmp_path: Path) -> None:
    env = environment(tmp_path, "")
    host = HostReport("web1", "ok", 0, "main", "3f2a9c1" + "0" * 33, "R1")
    report = DeployReport.of("deploy", "prod", [host], seconds=2.44)
    facts = localhooks.facts(env, None, report)
    assert (facts["PUSHDEPLOY_REF"], facts["PUSHDEPLOY_SHA"][:7], facts["PUSHDEPLOY_RELEASE"]) == (
        "main",
        "3f2a9c1",
        "R1",
    )
    assert (facts["PUSHDEPLOY_OUTCOME"], facts["PUSHDEPLOY_DURATION"]) == ("ok", "2.4")


def test_a_local_hook_runs_in_the_base_directory_with_the_facts(tmp_path: Path) -> None:
    env = environment(tmp_path, 'pre-deploy-local = echo "$PUSHDEPLOY_ENV@$(pwd)" > seen\n')
    shown: list[str] = []
    localhooks.before(env, "main", tmp_path, shown.append)
    assert (tmp_path / "seen").read_text() == f"prod@{tmp_path}\n"


def test_a_local_hooks_output_is_shown_line_by_line(tmp_path: Path) -> None:
    env = environment(tmp_path, "pre-deploy-local = printf 'one\\ntwo\\n'\n")
    shown: list[str] = []
    localhooks.before(env, "main", tmp_path, shown.append)
    assert shown == ["local pre-deploy-local │ one", "local pre-deploy-local │ two"]


def test_a_failing_pre_deploy_local_stops_with_exit_6(tmp_path: Path) -> None:
    env = environment(tmp_path, "pre-deploy-local = exit 3\n")
    with pytest.raises(DeployFailed) as caught:
        localhooks.before(env, "main", tmp_path, lambda line: None)
    assert caught.value.status == 6
    assert caught.value.message == "pre-deploy-local exited with status 3; no host was contacted"


def test_a_failing_post_deploy_local_only_warns(tmp_path: Path) -> None:
    env = environment(tmp_path, "post-deploy-local = exit 4\n")
    warned: list[str] = []
    report = DeployReport.of("deploy", "prod", [], outcome="failed", exit_status=6)
    localhooks.after(env, "main", report, tmp_path, lambda line: None, warned.append)
    assert warned == ["post-deploy-local exited with status 4"]
