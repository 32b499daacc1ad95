"""What counts as drift across a fleet: the problems ``status`` finds in what the hosts said.

Each finding names the host (or the hosts) and says what to do. Only what a host says is wrong
counts, never what it left unsaid: hosts on different releases, a live release missing from
``.deploys`` or from disk, ``current`` pointing at no release, a held lock, a host not set up, a
full disk, a monitor (``app`` set) stopped, failed or serving another release than the live one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushdeploy.cli.doctor import FULL_KB
from pushdeploy.config.values import shown
from pushdeploy.remote.lock import STALE_AFTER

if TYPE_CHECKING:
    from pushdeploy.remote.status import HostStatus

Finding = tuple[str, str]  # one drift item: what is wrong (naming the host), what to do about it
ONE_RELEASE = "deploy (or revert) to bring every host to one release"
UNLOCK = "if no deploy is running, 'pushdeploy ENV unlock' removes the lock"
SETUP = "run 'pushdeploy ENV setup'"
LOGS = "see 'pushdeploy ENV monitor logs'"


def findings(statuses: list[HostStatus]) -> list[Finding]:
    """Everything the hosts disagree on, or that needs a look before the next deploy."""
    found: list[Finding] = []
    groups: dict[str, list[str]] = {}
    for status in statuses:
        groups.setdefault(status.release, []).append(status.host)
    if len(groups) > 1:
        said = [f"{release or 'nothing live'} on {', '.join(h)}" for release, h in groups.items()]
        found.append((f"hosts on different releases: {'; '.join(said)}", ONE_RELEASE))
    for status in statuses:
        found += [(f"{status.host}: {message}", hint) for message, hint in of_host(status)]
    return found


def of_host(s: HostStatus) -> list[Finding]:
    found = []
    if not s.set_up:
        found.append(("not set up", SETUP))
    if s.link and not s.live and not s.tj_live:
        found.append((f"current points at {shown(s.link, 80)}, not at a release", ONE_RELEASE))
    if s.missing:
        found.append((f"current points at {s.live}, which is not on disk", ONE_RELEASE))
    if s.live and s.entry is None:
        found.append((f"the live release {s.live} is not in .deploys", ONE_RELEASE))
    if s.lock:
        stale = s.lock_age is not None and s.lock_age > STALE_AFTER
        found.append((f"locked by {s.lock}" + (" (stale)" if stale else ""), UNLOCK))
    if (s.free_kib is not None and s.free_kib < FULL_KB) or s.free_inodes == 0:
        left = "no inode" if s.free_inodes == 0 else size(s.free_kib)
        full = f"the disk holding the deploy root is full ({left} left)"
        found.append((full, "free space on the server (old releases, logs)"))
    if (m := s.monitor) is None:
        return found
    if m.state in {"not installed", "stopped", "not running"} and s.release:
        found.append((f"the monitor is {m.state}", SETUP if m.state == "not installed" else LOGS))
    elif m.error or m.state in {"stopping", "failed"}:
        said = "the monitor " + ("has failed" if m.state == "failed" else f"is {m.state}")
        found.append((said + (f": {m.error}" if m.error else ""), LOGS))
    elif m.release and s.live and m.release != s.live and not m.reloading:
        said = f"the monitor serves {m.release}, not the live release {s.live}"
        found.append((said, "'pushdeploy ENV reload' reloads it into the live release"))
    return found


def drift(statuses: list[HostStatus]) -> list[str]:
    """The drift messages, e.g. ``web2: locked by ann@laptop (...)``; empty when none."""
    return [message for message, _ in findings(statuses)]


def size(kib: int | None) -> str:
    """``512 KiB``, ``12.3 MiB``, ``4.0 GiB``; ``?`` when unknown."""
    if kib is None:
        return "?"
    power = min(3, (kib.bit_length() - 1) // 10) if kib else 0
    return f"{kib / 1024**power:.1f} {('MiB', 'GiB', 'TiB')[power - 1]}" if power else f"{kib} KiB"
