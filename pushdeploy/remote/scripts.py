"""Pure builders of the remote bash scripts: one script per phase, every value shlex-quoted, no I/O.

Each script is ``main() { <header>; <prelude.sh>; <libraries>; <body>; }; main 3<&0 </dev/null;
exit``: bash reads the whole function (and that last line) before running it, so commands inside
never read the rest of the script from stdin, and fd 3 is the client's input for the guard
(prelude.sh). The header holds quoted values; the logic is the .sh libraries' functions (the
source's, restart.sh, release.sh, revert.sh, setup.sh, ...); the body calls them.
The client follows a script through the markers it prints (protocol.py). A deploy's two phases:

* prepare   take the lock, pre-deploy, fetch, resolve the ref, build the release; nothing live
            changes. In a fleet, then wait at the barrier for every host (``deploy(fleet=True)``).
* activate  switch ``current`` (logged first), post-deploy, restart, test, health; on failure
            switch back; prune; release the lock.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

from pushdeploy.config.environment import Environment
from pushdeploy.remote import protocol, release, restart
from pushdeploy.remote.activation import go_live
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.source import Source

PRELUDE = files("pushdeploy.remote").joinpath("prelude.sh").read_text(encoding="utf-8")
REVERT = files("pushdeploy.remote").joinpath("revert.sh").read_text(encoding="utf-8")
SETUP = files("pushdeploy.remote").joinpath("setup.sh").read_text(encoding="utf-8")
q = shlex.quote
# The layout in the scripts' own terms (paths written from "$P"): the header names each path once
# from it, and prelude.sh and the bodies use only those names (a test holds them to it).
SHELL_LAYOUT = Layout("$P")
PATH_NAMES = {"REPO_DIR": "repo", "RELEASES": "releases", "CURRENT": "current", "SHARED": "shared"}
PATH_NAMES |= {"DEPLOYS": "deploys", "STATE": "state", "L": "lock", "RUN_LOGS": "run_logs"}
PATH_NAMES |= {"NEXT_CURRENT": "next_current", "BACK_CURRENT": "back_current"}
PATH_NAMES |= {"UPLOADS": "uploads", "ETAGS": "etags"}


@dataclass(frozen=True)
class Run:
    """Facts about this invocation that every script of it shares."""

    token: str
    owner: str
    who: str
    stamp: str  # the time half of the release IDs it makes (release.stamp)
    wait: int = 0
    stale_after: int = 120
    force: bool = False  # deploy even when the identity is live already


# A script that takes no lock: with no token, no lock is ever its own (prelude.sh lock_mine).
READ_ONLY = Run("", "", "", "")


def wrap(
    env: Environment,
    run: Run,
    body: list[str],
    *,
    user: bool = False,
    kind: str = "",
    source: Source,
    libraries: Sequence[str] = (),
) -> str:
    """One whole script: header, prelude.sh, ``body``; ``user``: the body runs the user's commands.

    Only a script that runs user commands (hooks, build, a restart command) carries what they
    need: the user's env, the build text, the restart strategy (restart.py: its switch-back call
    in RESTART_BACK, its libraries) and its source's library (git's or the artifact's: sources/).
    A read-only script carries none. ``libraries``: more bash functions the body calls (a .sh
    file's text, as doctor.sh), after the others, each once.
    """
    strategy = restart.of(env)
    header = [
        f"P={qpath(env.path)}",
        " ".join(f'{name}="{getattr(SHELL_LAYOUT, attr)}"' for name, attr in PATH_NAMES.items()),
        protocol.contract(),
        f"TOKEN={q(run.token)} OWNER={q(run.owner)} WHO={q(run.who)}",
        f"export PUSHDEPLOY_ENV={q(env.name)} SHARED",
        f'SET_UP="{source.set_up}" FORCE={int(run.force)} UNCHANGED=""',
    ]
    if user:
        header += [
            *source.header(),
            f"RESTART_FILE={q(env.restart.file)} KEEP_RELEASES={env.keep}",
            f"BUILD={q(env.hooks.build or '')} NEEDS_TTY={int(env.hooks.needs_tty)}"
            f" SHARED_BESIDE={int(reaches_shared_beside(env))}",
            "SHARED_ITEMS=(" + " ".join(q(item) for item in env.shared) + ")",
            f"RESTART_BACK=({strategy.switch_back()})",
            # The user's env reaches hooks and builds (see `user_shell`), never this shell: a name
            # like P, REPO or PATH must not redirect the script's own variables and commands.
            "USER_ENV=(" + " ".join(f"{name}={q(value)}" for name, value in env.env) + ")",
            f"MIGRATE_CMD={q(env.hooks.migrate or '')}",
        ]
    else:
        header.append("USER_ENV=(); RESTART_BACK=(:)")
    carried = [*([source.library(), *strategy.libraries()] if user else []), *libraries]
    lines = [
        f"# pushdeploy {kind or 'script'}",  # what it is, for a reader (and the fake transport)
        "main() {",
        *header,
        PRELUDE.rstrip("\n"),
        *(library.rstrip("\n") for library in dict.fromkeys(carried)),
        "beats_start",  # first: the client hears the script through every quiet step
        *body,
        "OK=1",
        "mark done",
        "}",
        # fd 3 keeps the client's input for the guard (prelude.sh), which reads it from the
        # start: one line, so bash has read all of the script before main runs.
        "main 3<&0 </dev/null; exit",
        "",
    ]
    return "\n".join(lines)


def reaches_shared_beside(env: Environment) -> bool:
    """Does user text reach ``../shared`` from the release, as TJ's hooks did from path/current?
    Then releases/shared links to path/shared (prelude.sh); other deploys keep releases/ clean."""
    texts = (
        env.hooks.pre_deploy,
        env.hooks.post_deploy,
        env.hooks.test,
        env.hooks.build,
        env.restart.strategy,
        env.hooks.post_setup,
    )
    return any("../shared" in text for text in texts if text)


def take_lock(run: Run) -> str:
    return f"step lock\nlock_take {run.wait} {run.stale_after}"


def prepare_steps(env: Environment, run: Run, ref: str | None, source: Source) -> list[str]:
    """Lock, pre-deploy, the source's identity (skipped when it is live already, unless
    ``--force``: prelude.sh ``skip_if_live``), its content, and the release built from it."""
    body = [take_lock(run), "need_setup", "read_live", 'value previous "$PREV"']
    if env.hooks.pre_deploy:  # in the live release (prelude.sh pre_deploy)
        body.append(f"pre_deploy {q(env.hooks.pre_deploy)}")
    body += [
        *source.identify(ref),
        *source.verify(),
        "skip_if_live",
        *source.obtain(),
        *release.new_id(run.stamp),
        'value release "$ID"',
        'build_release "$ID" "$SHA"',
    ]
    return body


def activate_steps(env: Environment) -> list[str]:
    return [*go_live(env, "$ID", "deploy"), 'prune "$ID" "$PREV"']


def deploy(
    env: Environment,
    run: Run,
    ref: str | None,
    *,
    fleet: bool = False,
    source: Source,
) -> str:
    """The whole deploy of one host. In a ``fleet`` it stops between the phases: it says
    ``prepared`` and waits, its lock held, for the client's word (session.Rollout): "migrate"
    (the primary host runs the migration), then "go" when its batch is next; the end of its
    input instead stops it, cleaning up. Alone, it migrates (if asked) and goes on."""
    alone = ["migrate_release"] if env.hooks.migrate else []
    body = [
        f"FLEET={int(fleet)}",
        *prepare_steps(env, run, ref, source),
        *(["await_go"] if fleet else alone),
        *activate_steps(env),
    ]
    return wrap(
        env, run, body, user=True, kind="deploy", source=source, libraries=[release.LIBRARY]
    )


def revert(env: Environment, run: Run, source: Source) -> str:
    """Go back to an earlier deploy, in one session: with the lock held, say what is live and the
    history (as ``status`` does), then wait for the client's pick (``to TJ ID SHA REF``, read by
    the client from that history: rollout.pick) and switch to it, or rebuild it when it was pruned
    (the source's one rebuild step: git fetches, an artifact refuses). revert.sh's functions."""
    (rebuild,) = source.rebuild()  # one command, run by rebuild_pruned
    body = [
        take_lock(run),
        "need_setup",
        "read_live",
        *history_lines(),
        "revert_pick",
        tj_release(run, source),
        "revert_check",
        f"rebuild_pruned {rebuild}",
        *go_live(env, "$ID", "revert"),
    ]
    libraries = [release.LIBRARY, REVERT]
    return wrap(env, run, body, user=True, kind="revert", source=source, libraries=libraries)


def history_lines() -> list[str]:
    """What is live, what is on disk and the history, as ``value``/``line`` markers."""
    return ["report_history"]


def tj_release(run: Run, source: Source) -> str:
    """A revert to a line of TJ's deploy (of git): its short SHA made whole, a release ID made
    for it; refused where artifacts are deployed."""
    if source.kind != "git":
        return "revert_tj_refused"
    return f"revert_tj {release.id_arguments(run.stamp)}"


def rollback(
    env: Environment, run: Run, release: str, previous: str, source: Source, action: str = "deploy"
) -> str:
    """Undo a deploy (or revert) that went live here while it failed on another host (revert.sh).
    A deploy undone is marked bad, as a failed one is; a revert's pick is not: it was a good
    release, and the fleet only went back because another host failed."""
    mark = "bad" if action == "deploy" else ""
    body = [take_lock(run), f"rollback_release {q(release)} {q(previous)} {q(action)} {q(mark)}"]
    return wrap(env, run, body, user=True, kind="rollback", source=source, libraries=[REVERT])


def setup(env: Environment, run: Run, source: Source) -> str:
    """Make the deploy root, the source's mirror and what the restart strategy installs (setup.sh)."""
    dirs = " ".join(q(f"shared/{item.rstrip('/')}") for item in env.shared if item.endswith("/"))
    body = [
        "step check",
        *source.setup(),
        "setup_check_bash",
        *([f'hook pre-setup "$HOME" {q(env.hooks.pre_setup)}'] if env.hooks.pre_setup else []),
        "setup_check_path",  # after pre-setup (it may make P), before the lock taken under P
        take_lock(run),
        f'setup_directories "{SHELL_LAYOUT.logs}" "{SHELL_LAYOUT.pids}" {dirs}'.rstrip(),
        *source.mirror(),
        "link_releases_shared",
        *restart.of(env).setup_steps(),
        *([f'hook post-setup "$P" {q(env.hooks.post_setup)}'] if env.hooks.post_setup else []),
    ]
    return wrap(env, run, body, user=True, kind="setup", source=source, libraries=[SETUP])


def status(env: Environment, source: Source) -> str:
    """Read back what is live, the releases on disk, the history and the lock (no lock taken)."""
    body = [*history_lines(), "report_setup", "report_lock"]
    return wrap(env, READ_ONLY, body, kind="status", source=source)


def unlock(env: Environment, source: Source) -> str:
    """Remove the lock, whatever state it is in, and say exactly what was there."""
    return wrap(env, READ_ONLY, ["lock_remove"], kind="unlock", source=source)
