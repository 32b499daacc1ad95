"""Orchestration across hosts: open connections, run each phase everywhere, decide what follows.

A deploy is two phases per host: ``prepare`` (lock, fetch, build; nothing live changes) on every
host, then ``activate`` (switch, restart, check) on every host. A host that fails to prepare makes
every other host discard its prepared release; a host that fails after going live switches itself
back, and the hosts that went live with it are rolled back too, so all hosts keep serving one
release. Phases run in parallel threads, one per host.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pushdeploy import history, lock, protocol, scripts
from pushdeploy.config import Environment
from pushdeploy.console import Console
from pushdeploy.errors import DeployFailed, DeployReverted, LockHeld, PushdeployError, Refused
from pushdeploy.keys import Host
from pushdeploy.protocol import Outcome
from pushdeploy.release import now

if TYPE_CHECKING:  # the transport module imports Fabric: only load it when a host is contacted
    from pushdeploy.transport import Transport

Opener = Callable[[Environment, Host, Callable[[str], None], str], "Transport"]


class Session:
    """One invocation against one environment: the hosts' transports, the lock claim, the console.

    Transports are opened on first use, all hosts in parallel, and closed by ``close``.
    """

    def __init__(
        self,
        env: Environment,
        console: Console,
        *,
        command: str,
        dry_run: bool = False,
        host_key: str | None = None,
        wait: int = 0,
        opener: Opener | None = None,
    ) -> None:
        self.env, self.console, self.dry_run = env, console, dry_run
        self.host_key = host_key or env.host_key
        self.opener = opener
        claim = lock.claim(command)
        self.run = scripts.Run(
            claim.token,
            claim.owner,
            claim.who,
            now().strftime("%Y%m%dT%H%M%SZ"),
            wait,
            lock.STALE_AFTER,
        )
        self._transports: dict[str, Transport] = {}

    def transports(self) -> dict[str, Transport]:
        from pushdeploy.transport import RecordingTransport, open_transport

        opener = self.opener or open_transport
        if not self._transports:
            if self.dry_run:
                self._transports = {
                    h.spec: RecordingTransport(h.spec, self._print_script) for h in self.env.hosts
                }
            else:
                opened = self._parallel(
                    {h.spec: h for h in self.env.hosts},
                    lambda host: opener(self.env, host, self.console.warn, self.host_key),
                )
                self._transports = opened
        return self._transports

    def _print_script(self, host: str, script: str) -> None:
        self.console.raw(f"# ---- {host} ----\n{script}")

    def _parallel(self, items: dict[str, Any], work: Callable[[Any], Any]) -> dict[str, Any]:
        if len(items) == 1:
            ((key, item),) = items.items()
            return {key: work(item)}
        with ThreadPoolExecutor(max_workers=min(len(items), 32)) as pool:
            futures = {key: pool.submit(work, item) for key, item in items.items()}
            return {key: future.result() for key, future in futures.items()}

    def phase(self, scripts_by_host: dict[str, str]) -> dict[str, Outcome]:
        transports = self.transports()

        def run_one(label: str) -> Outcome:
            outcome = Outcome(0)

            def on_line(stream: str, line: str) -> None:
                marker = (
                    protocol.parse(line) if stream == "out" else protocol.Marker("output", "", line)
                )
                outcome.add(marker)
                if marker.kind == "step":
                    self.console.step(label, marker.text)
                elif marker.kind == "warn":
                    self.console.warn(f"{label}: {marker.text}")
                elif marker.kind == "output":
                    self.console.remote_output(label, marker.text)

            outcome.status = transports[label].run(scripts_by_host[label], on_line)
            if self.dry_run:
                outcome.done = True
            return outcome

        return self._parallel({label: label for label in scripts_by_host}, run_one)

    def everywhere(self, script: str) -> dict[str, Outcome]:
        return self.phase({h.spec: script for h in self.env.hosts})

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()


def failure(label: str, outcome: Outcome) -> PushdeployError:
    """The error a failed script run stands for."""
    what = outcome.failure or f"the script ended with status {outcome.status}"
    step = outcome.failed_step or "script"
    error: PushdeployError
    if outcome.status == protocol.EXIT_LOCK_HELD:
        error = LockHeld(f"{label}: {what}")
    elif outcome.status == protocol.EXIT_NOT_SET_UP:
        error = DeployFailed(f"{label}: {what}", "run 'pushdeploy ENV setup' first")
    elif outcome.status == protocol.EXIT_SWITCHED_BACK:
        error = DeployReverted(f"{label}: {step} failed after going live ({what}); switched back")
    else:
        error = DeployFailed(f"{label}: {step} failed: {what}")
    error.details = outcome.tail()
    return error


def check_all(outcomes: dict[str, Outcome]) -> None:
    for label, outcome in outcomes.items():
        if not (outcome.ok and outcome.done):
            raise failure(label, outcome)


def deploy(session: Session, ref: str | None) -> dict[str, Outcome]:
    env = session.env
    if len(env.hosts) == 1:
        outcomes = session.everywhere(scripts.deploy_one(env, session.run, ref))
        check_all(outcomes)
        return outcomes
    prepared = session.everywhere(scripts.prepare(env, session.run, ref))
    failed = {label: o for label, o in prepared.items() if not (o.ok and o.done)}
    shas = {o.values.get("sha") for o in prepared.values() if o.ok}
    if not failed and len(shas) > 1:
        failed = {
            "all hosts": Outcome(1, failure="the hosts resolved the ref to different commits")
        }
    if failed:
        ready = [label for label in prepared if label not in failed]
        if ready:
            session.phase({label: scripts.discard(env, session.run) for label in ready})
        label, outcome = next(iter(failed.items()))
        raise failure(label, outcome)
    activated = session.everywhere(scripts.activate(env, session.run))
    broken = {label: o for label, o in activated.items() if not (o.ok and o.done)}
    if broken:
        live = [label for label in activated if label not in broken]
        if live:
            session.console.warn(f"rolling back {', '.join(live)} so every host serves one release")
            session.phase(
                {
                    label: scripts.rollback(
                        env,
                        session.run,
                        prepared[label].values["release"],
                        prepared[label].values["previous"],
                    )
                    for label in live
                }
            )
        label, outcome = next(iter(broken.items()))
        error = failure(label, outcome)
        if live and not isinstance(error, DeployReverted):
            error = DeployReverted(error.message + "; the other hosts were rolled back")
        raise error
    return prepared


def without_tests(env: Environment) -> Environment:
    return dataclasses.replace(env, test=None)


def read_status(session: Session) -> dict[str, Outcome]:
    outcomes = session.everywhere(scripts.status(session.env))
    check_all(outcomes)
    return outcomes


def revert(session: Session, steps: int) -> dict[str, history.Entry]:
    """Go back ``steps`` good deploys on every host, as each host's own history says."""
    statuses = read_status(session)
    targets: dict[str, history.Entry] = {}
    for label, outcome in statuses.items():
        entries = history.parse(outcome.lines.get("deploys", []))
        try:
            targets[label] = history.revert_target(entries, outcome.values.get("live", ""), steps)
        except Refused as exc:
            raise Refused(f"{label}: {exc.message}", exc.hint) from None
    reverted = session.phase(
        {
            label: scripts.revert(
                session.env, session.run, target, statuses[label].values.get("live", "")
            )
            for label, target in targets.items()
        }
    )
    check_all(reverted)
    return targets
