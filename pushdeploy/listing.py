"""The reading commands: ``current``, ``previous`` and ``list``, from one read-back per host.

Each host answers one status script (scripts.status); the pure history module interprets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushdeploy import deploy, history
from pushdeploy.errors import ExitStatus

if TYPE_CHECKING:
    from pushdeploy.commands import Invocation


def read(inv: Invocation) -> dict[str, tuple[str, list[history.Entry], list[str]]]:
    session = inv.session("status")
    try:
        found = deploy.read_histories(session)
    finally:
        session.close()
    return {label: (h.live, h.entries, h.on_disk) for label, h in found.items()}


def describe(entry: history.Entry | None, release: str) -> dict[str, str]:
    if entry is None:
        return {"release": release, "sha": "", "ref": "", "time": "", "who": ""}
    return {
        "release": entry.release,
        "sha": entry.sha,
        "ref": entry.ref,
        "time": entry.time,
        "who": entry.who,
    }


def show(inv: Invocation, found: dict[str, dict[str, str]]) -> int:
    if inv.args.json:
        inv.console.data(found)
        return ExitStatus.OK
    for label, item in found.items():
        prefix = f"{label}: " if len(found) > 1 else ""
        if not item["release"]:
            inv.console.result(f"{prefix}nothing deployed")
            continue
        details = (
            f" {item['sha'][:7]} ({item['ref']}) deployed {item['time']} by {item['who']}"
            if item["sha"]
            else ""
        )
        inv.console.result(f"{prefix}{item['release']}{details}")
    return ExitStatus.OK


def run_current(inv: Invocation) -> int:
    inv.no_more_words("current")
    return show(
        inv,
        {
            label: describe(history.find(entries, live), live)
            for label, (live, entries, _) in read(inv).items()
        },
    )


def run_previous(inv: Invocation) -> int:
    inv.no_more_words("previous")
    found = {}
    for label, (live, entries, _) in read(inv).items():
        target = history.revert_target(entries, live, 1)
        found[label] = describe(target, target.release)
    return show(inv, found)


def run_list(inv: Invocation) -> int:
    inv.no_more_words("list")
    payload: dict[str, list[dict[str, str]]] = {}
    for label, (live, entries, on_disk) in read(inv).items():
        bad = history.bad_releases(entries)
        rows, seen = [], set()
        for entry in history.deploys(entries):
            if entry.release in seen:
                continue
            seen.add(entry.release)
            state = (
                "bad" if entry.release in bad else "ok" if entry.release in on_disk else "pruned"
            )
            rows.append(
                {
                    **describe(entry, entry.release),
                    "state": state,
                    "live": str(entry.release == live).lower(),
                }
            )
        payload[label] = rows
    if inv.args.json:
        inv.console.data(payload)
        return ExitStatus.OK
    for label, rows in payload.items():
        if len(payload) > 1:
            inv.console.result(f"{label}:")
        table = [
            [
                "*" if r["live"] == "true" else "",
                r["release"],
                r["ref"],
                r["sha"][:7],
                r["time"],
                r["who"],
                r["state"],
            ]
            for r in rows
        ]
        inv.console.table(["", "release", "ref", "sha", "deployed", "by", "state"], table)
    return ExitStatus.OK
