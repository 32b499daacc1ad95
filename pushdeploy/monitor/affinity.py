"""CPU affinity of a starting generation: its start-up runs on some CPUs, the rest keep serving.

Why: during a reload the new workers' start-up (an interpreter loading the app: tens to hundreds
of ms of CPU each) competes for the CPUs with the generation that still serves every request. On
a small machine all cores are busy starting, and requests wait in run queues: on 2 cores the
p99 inside a reload window was ~3x the steady p99. So a *reload* generation (not the first one,
which has nothing to protect) is confined while it starts to ``startup_cpus``, the upper half
of the monitor's own CPUs (one CPU of two); the scheduler moves the serving workers to the
others. When the generation is ready (before the old one is retired), or once half of
``ready.timeout`` has passed (so the confinement can slow a start-up but never fail it), every
worker gets the monitor's full set back. The generation it replaces then drains and exits on
the confined half (its exit is background work too, and it never needs the set back).

Lifecycle of one worker: it is born confined, spawned inside ``spawning_on(cpus)``, which sets the
spawning thread's own mask for the duration of ``posix_spawn`` (a child inherits its parent
thread's mask, and the mask survives ``exec``, so every thread and process the app starts inherits
it). Setting the mask on the child after ``posix_spawn`` instead left it a few hundred
microseconds on any CPU, enough for its ``exec`` to stall a serving CPU: on 2 cores the window p99
of ``bench/reload.py`` without keep-alive went from 1.65-1.93x to 1.24-1.37x the steady p99.
``move(only_from=confined)`` then walks every task (thread) of the worker and of its descendants
(an app may fork its own workers), because ``sched_setaffinity`` changes one thread only. A task
that is not on the confined set any more chose its own affinity and is left alone. The walk
repeats until a pass changes nothing, so a thread created from a still-confined thread during the
walk is caught by the next pass.

No privileges needed (a process may change the affinity of processes of its own uid) and fully
reversible, unlike ``nice``. Best effort: a worker that exited, or a kernel that refuses a set
(EINVAL: CPUs outside a cpuset), is skipped. Descendants are found by ``ppid`` in ``/proc``;
a process that daemonized away from its parent during start-up is not found and stays confined.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

PASSES = 5  # restore walks at most this often (a pass that changes nothing ends it sooner)


def startup_cpus(allowed: set[int]) -> set[int] | None:
    """The CPUs a starting generation is confined to: the upper half of ``allowed``, or None."""
    if len(allowed) < 2:
        return None
    ordered = sorted(allowed)
    return set(ordered[len(ordered) - len(ordered) // 2 :])


@contextlib.contextmanager
def spawning_on(cpus: set[int] | None) -> Iterator[None]:
    """Processes spawned by this thread inside the block start on ``cpus`` (None: unchanged)."""
    mine = os.sched_getaffinity(0) if cpus else None
    if cpus and not _set(0, cpus):
        mine = None  # the kernel refused the set: spawn unconfined
    try:
        yield
    finally:
        if mine is not None:
            _set(0, mine)


def move(pids: list[int], cpus: set[int], *, only_from: set[int] | None = None) -> int:
    """Put every task of ``pids`` and their descendants on ``cpus``; how many tasks moved.

    With ``only_from``, only the tasks still on exactly that set move (see the module doc).
    """
    moved = 0
    for _ in range(PASSES):
        changed = 0
        for pid in _family(pids):
            for tid in _tasks(pid):
                with contextlib.suppress(OSError):
                    current = os.sched_getaffinity(tid)
                    if current != cpus and only_from in (None, current) and _set(tid, cpus):
                        changed += 1
        moved += changed
        if not changed:
            break
    return moved


def _set(tid: int, cpus: set[int]) -> bool:
    try:
        os.sched_setaffinity(tid, cpus)
    except OSError:  # ProcessLookupError: exited; PermissionError: not ours; EINVAL: cpuset
        return False
    return True


def _tasks(pid: int) -> list[int]:
    """The thread ids of ``pid`` (just ``pid`` when ``/proc`` cannot say)."""
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError):
        return [pid]


def _family(pids: list[int]) -> list[int]:
    """``pids`` and all their descendants, found by each process's parent in ``/proc``."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                ppid = _parent(int(name))
                if ppid is not None:
                    children.setdefault(ppid, []).append(int(name))
    family: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in family:  # a handful of processes: a list is fine
            family.append(pid)
            todo.extend(children.get(pid, []))
    return family


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        return int(stat.rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
