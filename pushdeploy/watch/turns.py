"""Pull fleets that take turns through etcd: a lease-backed semaphore, and each server's live record.

``rollout = etcd://HOST:PORT/PREFIX`` makes watchers on many servers (``pushdeploy ENV watch``
with ``host = local``) take turns: at most ``batch`` of them (a count, or a percentage of the
servers that have recorded a release; 1 when unset) update at once. The keys under PREFIX::

    PREFIX/turns/NAME-UUID   one per watcher that holds or waits for a turn, attached to its lease
    PREFIX/live/NAME         each server's live record (JSON, no lease): what ``status`` shows

The recipe is etcd's semaphore: ``Turns.turn`` grants a lease (``ttl`` seconds), puts its key
with it, and holds a turn once its key is among the ``size`` oldest under ``turns/`` (etcd's
create revision orders them: first come, first served); until then it polls, 0.2 s at first and
at most 1 s apart. A thread refreshes the lease every ``ttl/3`` seconds while the watcher waits
and while it holds; leaving the ``with`` block revokes the lease, which deletes the key: the
next in line goes. A watcher killed mid-update gives its turn back when its lease expires, at
most ``ttl`` seconds later.

Lifecycle and the lost turn: when the lease cannot be refreshed (etcd down for longer than the
lease, or the lease gone), ``turn.lost`` is set and ``turn.why`` says why. While waiting, that
ends the wait with a ``ConnectionError``. While holding, nothing is stopped: the deploy in flight
goes on to its end, since stopping it midway would itself change the live release and deploy's
own checks and rollback still guard this server; the watcher warns with ``turn.why`` when the
block ends, records what happened, and queues again like anyone else before its next deploy.
The semaphore is as good as the lease: a watcher cut off from etcd for longer than ``ttl`` may
overlap with the next holder, and says so.

Usage (watch.py)::

    coordinator = turns.for_env(env)            # None without rollout
    with coordinator.turn() as turn:            # waits as long as it takes (or timeout=SECONDS)
        report = deploy(...)
    if turn.lost.is_set():
        console.warn(turn.why)
    coordinator.record_live(release, identity, "ok")
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pushdeploy.config.values import BatchSize
from pushdeploy.errors import ConnectionError, LockHeld
from pushdeploy.remote.protocol import RELEASE_ID_PATTERN
from pushdeploy.watch.etcd import Pair, parse_rollout

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

TTL = 10  # seconds a watcher's turn outlives the watcher
POLL_FIRST, POLL_MOST = 0.2, 1.0  # seconds between looks at the queue: the first, the longest
TEXT_LIMIT = 300  # characters kept of any text read from etcd (other servers wrote it)
COLUMNS = ["server", "release", "identity", "outcome", "when", "turn"]
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
RELEASE_ID = re.compile(RELEASE_ID_PATTERN)


@dataclass
class Turn:
    """One watcher's place in the queue: its key and lease; ``lost`` is set (and ``why`` said)
    when the lease could not be kept, ``done`` when the block has ended."""

    key: str
    lease: int
    ttl: int
    lost: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    why: str = ""

    def lose(self, why: str) -> None:
        self.why = f"lost its turn: {why}"
        self.lost.set()


class Turns:
    """The turns of one rollout, as watcher ``name`` (this server) takes them."""

    def __init__(self, rollout: str, name: str, size: int | BatchSize, ttl: int = TTL) -> None:
        self.client, self.prefix = parse_rollout(rollout)
        self.name = safe_name(name)
        self.size, self.ttl = size, ttl

    @property
    def queue_prefix(self) -> str:
        return f"{self.prefix}/turns/"

    @contextmanager
    def turn(self, timeout: float | None = None) -> Iterator[Turn]:
        """Wait for a turn (at most ``timeout`` seconds: then ``LockHeld``; None: as long as it
        takes), hold it for the block, give it back after, whatever happens in the block."""
        lease, ttl = self.client.grant(self.ttl)
        turn = Turn(f"{self.queue_prefix}{self.name}-{uuid.uuid4().hex}", lease, ttl)
        keeper = threading.Thread(target=self._keep, args=(turn,), name="turn-lease", daemon=True)
        try:
            self.client.put(
                turn.key, json.dumps({"name": self.name, "since": now()}).encode(), lease
            )
            keeper.start()
            self._wait(turn, timeout)
            yield turn
        finally:
            turn.done.set()
            if keeper.is_alive():
                keeper.join(self.client.timeout + 1)
            with suppress(ConnectionError):  # etcd down: the lease ends by itself within ttl
                self.client.revoke(lease)

    def _wait(self, turn: Turn, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = POLL_FIRST
        while True:  # each look is bounded; the wait, by ``timeout`` or else by the lease
            if turn.lost.is_set():
                raise ConnectionError(turn.why.replace("its turn", "its place in the queue"))
            queue = self.client.range(self.queue_prefix, prefix=True)
            keys = [pair.key for pair in queue]
            if turn.key not in keys:
                turn.lose(f"its key vanished from etcd at {self.client.endpoint}")
                continue
            size = self.size_now()
            if keys.index(turn.key) < size:
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                holders = ", ".join(
                    dict.fromkeys(name_of(p, self.queue_prefix) for p in queue[:size])
                )
                raise LockHeld(
                    f"no turn within {timeout:g}s: all {size} held by {holders}",
                    f"a watcher that died gives its turn back within {self.ttl}s;"
                    " 'pushdeploy ENV status' shows the fleet",
                )
            turn.lost.wait(pause if left is None else min(pause, left))
            pause = min(pause * 1.5, POLL_MOST)

    def _keep(self, turn: Turn) -> None:
        """Refresh the lease every ttl/3 s until the block ends; say so when it cannot."""
        good_until = time.monotonic() + turn.ttl
        interval = max(turn.ttl / 3, 0.1)
        while not turn.done.wait(interval):  # ends with the block, or on losing the lease
            try:
                left = self.client.keepalive(turn.lease, timeout=interval)
            except ConnectionError as error:
                if time.monotonic() < good_until:
                    continue  # etcd may be back before the lease ends
                return turn.lose(f"{error} (for longer than its lease, {turn.ttl}s)")
            if left <= 0:
                return turn.lose(f"its lease expired in etcd at {self.client.endpoint}")
            good_until = time.monotonic() + left

    def size_now(self) -> int:
        if isinstance(self.size, int):
            return max(1, self.size)
        return size_of(self.size, self.client.count(f"{self.prefix}/live/"))

    def record_live(self, release: str, identity: str, outcome: str) -> None:
        """Put this server's live record: the release live now (after a failure, the one kept),
        the identity (commit SHA, artifact SHA-256) of what its last deploy tried, and how that
        went ("ok", or a word for what went wrong)."""
        record = {"release": release, "identity": identity, "outcome": outcome, "at": now()}
        self.client.put(f"{self.prefix}/live/{self.name}", json.dumps(record).encode())


def for_env(env: Environment, name: str | None = None) -> Turns | None:
    """The turns of ``env.rollout.etcd`` for this server (``rollout-name``, else its host name), of
    ``env.rollout.batch`` at once (1 when unset), its lease ``rollout-lease``; None without a rollout."""
    if env.rollout.etcd is None:
        return None
    who = name or env.rollout.name or socket.gethostname()
    return Turns(env.rollout.etcd, who, env.rollout.batch or 1, env.rollout.lease)


def size_of(batch: BatchSize | int | None, servers: int) -> int:
    """How many turns there are: ``batch`` as a count, or a share of ``servers`` (at least 1)."""
    if isinstance(batch, BatchSize):
        return batch.size(max(1, servers))
    return max(1, batch or 1)


def safe_name(name: str) -> str:
    """A name fit for a key: letters, digits, ``.``, ``_``, ``-``; anything else becomes ``_``."""
    return NAME_UNSAFE.sub("_", name.strip())[:100] or "unnamed"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cut(value: Any, limit: int = TEXT_LIMIT) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= limit else text[:limit] + "…"


def name_of(pair: Pair, prefix: str) -> str:
    """The watcher's name in a key ``PREFIX/turns/NAME-UUID``."""
    return cut(pair.key.removeprefix(prefix).rpartition("-")[0] or pair.key, 100)


# --- The fleet as status shows it --------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One server of the fleet, as its record and the queue say (empty strings: not said)."""

    name: str
    release: str = ""
    identity: str = ""
    outcome: str = ""
    at: str = ""
    turn: str = ""  # "holds", "waits", or "" (not in the queue)


def fleet(rollout: str, batch: BatchSize | None) -> list[Member]:
    """Every server that has a live record or a place in the queue, by name."""
    client, prefix = parse_rollout(rollout)
    records = client.range(f"{prefix}/live/", prefix=True)
    queue = client.range(f"{prefix}/turns/", prefix=True)
    size, turns = size_of(batch, len(records)), dict[str, str]()
    for position, pair in enumerate(queue):
        turns.setdefault(name_of(pair, f"{prefix}/turns/"), "holds" if position < size else "waits")
    members = {m.name: m for m in (member(p, f"{prefix}/live/") for p in records)}
    members |= {name: Member(name) for name in turns if name not in members}
    return [replace(m, turn=turns.get(m.name, "")) for _, m in sorted(members.items())]


def member(pair: Pair, prefix: str) -> Member:
    """One live record, read field by field: only strings, cut short."""
    try:
        data = json.loads(pair.value.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        data = None
    said = data if isinstance(data, dict) else {}
    fields = ("release", "identity", "outcome", "at")
    return Member(cut(pair.key.removeprefix(prefix), 100), *(cut(said.get(f)) for f in fields))


def row(m: Member) -> list[str]:
    identity = m.identity if len(m.identity) <= 12 else m.identity[:12]
    return [m.name, m.release or "-", identity or "-", m.outcome or "-", m.at or "-", m.turn or "-"]


def member_json(m: Member) -> dict[str, Any]:
    return {key: value or None for key, value in vars(m).items()}


def runs(m: Member) -> str:
    """What identifies the release live on ``m``: the identity (commit SHA, digest) its last deploy
    put or found live, when that ended ok; else the short one its release ID carries
    (``…Z-3f2a9c1``); else its release as said. Never the ID itself: each server stamps its own
    release IDs, so a fleet on one commit has as many IDs as servers."""
    if m.outcome == "ok" and m.identity:
        return m.identity
    short = m.release.partition("-")[2].partition(".")[0]
    return short if RELEASE_ID.fullmatch(m.release) else m.release


def findings(members: list[Member]) -> list[tuple[str, str]]:
    """What status flags in the fleet: servers on different releases (by ``runs``: a short
    identity joins the group of a whole one it begins), a last deploy not ok."""
    found, groups = [], dict[str, list[str]]()
    for m in sorted((m for m in members if m.release), key=lambda m: -len(runs(m))):
        key = runs(m)
        if RELEASE_ID.fullmatch(m.release) and key != m.identity:
            key = next((whole for whole in groups if whole.startswith(key)), key)
        groups.setdefault(key, []).append(m.name)
    if len(groups) > 1:
        said = "; ".join(
            f"{key[:12]} on {', '.join(sorted(names))}" for key, names in groups.items()
        )
        hint = "a rollout may be under way: watch the turns; else see each server's watcher log"
        found.append((f"fleet: servers on different releases: {said}", hint))
    for m in members:
        if m.outcome and m.outcome != "ok":
            what = f"{m.identity[:12]} " if m.identity else ""
            hint = f"see the watcher's log on {m.name} ('pushdeploy ENV log' there)"
            found.append((f"fleet: {m.name}: its last deploy {what}ended {m.outcome}", hint))
    return found
