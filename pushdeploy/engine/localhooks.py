"""Hooks on your own machine: ``pre-deploy-local`` and ``post-deploy-local`` (pm2 deploy's names).

Each runs with ``bash -c`` in the directory pushdeploy works from (``-C`` or the current one),
with your environment plus the deploy's facts as ``PUSHDEPLOY_*`` variables (``facts``). Their
output is shown as it comes, a line at a time, prefixed ``local │`` (hidden by ``-q``).

* ``pre-deploy-local`` runs before any connection. If it fails, nothing is contacted and the
  deploy stops with exit 6. Only ENV, REF and HOSTS are known then; the others are empty (the
  servers resolve the ref).
* ``post-deploy-local`` runs after the deploy, whether it succeeded or failed, with every fact;
  its own failure is a warning, never a change of the deploy's result or exit status.

The deploy's ``env`` values are for the servers and are not passed to these hooks.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from pushdeploy.config.environment import Environment
from pushdeploy.errors import DeployFailed
from pushdeploy.remote.report import DeployReport

NAMES = ("ENV", "REF", "SHA", "RELEASE", "HOSTS", "OUTCOME", "DURATION")


def facts(env: Environment, ref: str | None, report: DeployReport | None = None) -> dict[str, str]:
    """The ``PUSHDEPLOY_*`` variables: what is known of the deploy (before it: ENV, REF, HOSTS)."""
    known = {
        "ENV": env.name,
        "REF": (report.ref if report and report.ref else ref) or "",
        "HOSTS": " ".join(h.spec for h in env.hosts),
    }
    if report is not None:
        known |= {
            "SHA": report.sha,
            "RELEASE": report.release,
            "OUTCOME": report.outcome,
            "DURATION": f"{report.seconds:.1f}",
        }
    return {f"PUSHDEPLOY_{name}": known.get(name, "") for name in NAMES}


def run(
    name: str,
    command: str,
    variables: Mapping[str, str],
    base: Path,
    show: Callable[[str], None],
) -> int:
    """Run one local hook; each line it prints goes to ``show``; its exit status."""
    with subprocess.Popen(
        ["bash", "-c", command],
        cwd=base,
        env={**os.environ, **variables},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            show(f"local {name} │ {raw.decode(errors='replace').rstrip()}")
        return proc.wait()


def before(env: Environment, ref: str | None, base: Path, show: Callable[[str], None]) -> None:
    """``pre-deploy-local``, if set: a failure stops the deploy before any connection."""
    if not env.hooks.pre_deploy_local:
        return
    status = run("pre-deploy-local", env.hooks.pre_deploy_local, facts(env, ref), base, show)
    if status:
        raise DeployFailed(
            f"pre-deploy-local exited with status {status}; no host was contacted",
            "fix what it checks (its output is above), then deploy again",
        )


def after(
    env: Environment,
    ref: str | None,
    report: DeployReport,
    base: Path,
    show: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    """``post-deploy-local``, if set, after success and failure alike; its failure only warns."""
    if not env.hooks.post_deploy_local:
        return
    status = run(
        "post-deploy-local", env.hooks.post_deploy_local, facts(env, ref, report), base, show
    )
    if status:
        warn(f"post-deploy-local exited with status {status}")
