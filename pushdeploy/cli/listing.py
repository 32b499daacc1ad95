"""The reading commands: ``current``, ``previous`` and ``list``, from one read-back per host.

Each host answers one status script (scripts.status); the pure history module interprets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushdeploy.engine import deploy
from pushdeploy.errors import ExitStatus
from pushdeploy.remote import history

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation


def read(inv: Invocation) -> dict[str, deploy.HostHistory]:
    session = inv.session("status")
    try:
        return deploy.read_histories(session)
    finally:
        session.close()


def live_entry(host: deploy.HostHistory) -> history.Entry | None:
    """The line that made what is live live (history.find), or TJ's last line while path/source
    is live."""
    if host.tj_live:
        return history.live_deploy(host.entries, "", tj_live=True)
    return history.find(host.entries, host.live)


def describe(entry: history.Entry | None, release: str) -> dict[str, str | None]:
    """One release as JSON would carry it: a field the history does not know is None (null)."""
    if entry is None:
        return {"release": release or None, "sha": None, "ref": None, "time": None, "who": None}
    return {
        "release": entry.release or ("source (TJ's deploy)" if entry.tj else None),
        "sha": entry.sha or None,
        "ref": entry.ref or None,
        "time": entry.time or None,
        "who": entry.who or None,
    }


def show(inv: Invocation, found: dict[str, dict[str, str | None]]) -> int:
    if inv.args.json:
        inv.console.data(found)
        return ExitStatus.OK
    for label, item in found.items():
        prefix = f"{label}: " if len(found) > 1 else ""
        if not item["release"]:
            inv.console.result(f"{prefix}nothing deployed")
            continue
        details = (
            f" {item['sha'][:7]} ({item['ref'] or ''}) deployed {item['time'] or ''}"
            f" by {item['who'] or ''}"
            if item["sha"]
            else ""
        )
        inv.console.result(f"{prefix}{item['release']}{details}")
    return ExitStatus.OK


def run_current(inv: Invocation) -> int:
    return show(
        inv, {label: describe(live_entry(host), host.live) for label, host in read(inv).items()}
    )


def run_previous(inv: Invocation) -> int:
    found = {}
    for label, host in read(inv).items():
        target = history.revert_target(host.entries, host.live, 1, host.tj_live)
        found[label] = describe(target, target.release)
    return show(inv, found)


Row = dict[str, str | bool | int | None]


def rows(host: deploy.HostHistory) -> list[Row]:
    """Each deploy, oldest first, once: its history fields, ``state`` (ok, bad, pruned, or tj: a
    line of TJ's deploy, in path/source), ``live`` (a boolean) and ``revert``: the N of
    ``revert N`` that goes back to it (None when revert would not: the live one, a bad one, or
    one deployed after it)."""
    bad = history.bad_releases(host.entries)
    done: list[history.Entry] = []
    for entry in history.deploys(host.entries):
        if entry.tj or entry.release not in {e.release for e in done}:
            done.append(entry)
    live = history.live_deploy(host.entries, host.live, host.tj_live)
    here = next((i for i, e in enumerate(done) if is_live(e, live)), -1)
    targets = [e for e in done[: max(here, 0)] if e.tj or e.release not in bad]

    def state(entry: history.Entry) -> str:
        if entry.tj:
            return "tj"
        return (
            "bad" if entry.release in bad else "ok" if entry.release in host.on_disk else "pruned"
        )

    def release(entry: history.Entry) -> dict[str, str | None]:
        """A TJ line that a revert built the live release from names that release."""
        said = describe(entry, entry.release)
        return {**said, "release": host.live} if entry.tj and host.live and entry is live else said

    return [
        {
            **release(entry),
            "state": state(entry),
            "live": is_live(entry, live),
            "revert": next((len(targets) - i for i, t in enumerate(targets) if t is entry), None),
        }
        for entry in done
    ]


def is_live(entry: history.Entry, live: history.Entry | None) -> bool:
    """``entry`` is the live deploy: that very line, or a line of the same release."""
    return live is not None and (
        entry is live or (bool(entry.release) and entry.release == live.release)
    )


def run_list(inv: Invocation) -> int:
    """The releases per host; pruned ones (no longer on disk) only with ``--all``."""
    payload: dict[str, list[Row]] = {}
    hidden = 0
    for label, host in read(inv).items():
        found = rows(host)
        shown = [r for r in found if inv.opts.all or r["state"] != "pruned"]
        hidden += len(found) - len(shown)
        payload[label] = shown
    if hidden:
        inv.console.info(f"{hidden} pruned release{'s' if hidden > 1 else ''} not shown (--all)")
    if inv.args.json:
        inv.console.data(payload)
        return ExitStatus.OK
    for label, found_rows in payload.items():
        if len(payload) > 1:
            inv.console.result(f"{label}:")
        table = [
            [
                "*" if r["live"] else "",
                str(r["release"]),
                str(r["ref"] or ""),
                str(r["sha"] or "")[:7],
                str(r["time"] or ""),
                str(r["who"] or ""),
                str(r["state"]),
            ]
            for r in found_rows
        ]
        inv.console.table(["", "release", "ref", "sha", "deployed", "by", "state"], table)
    return ExitStatus.OK
