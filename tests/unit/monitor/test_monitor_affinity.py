"""Start-up CPUs: a process spawned inside ``spawning_on`` is born on them; the spawner is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pushdeploy.monitor import affinity

MANY_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 or more CPUs")

# The child prints the CPUs it was allowed at its first instruction of Python, before anyone
# could have moved it: only inheritance from the spawning thread explains a confined set there.
REPORT_OWN_CPUS = "import json, os; print(json.dumps(sorted(os.sched_getaffinity(0))))"


def spawn_and_report() -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", REPORT_OWN_CPUS], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


@MANY_CPUS
def test_a_child_spawned_inside_the_block_is_born_on_the_start_up_cpus() -> None:
    full = os.sched_getaffinity(0)
    cpus = affinity.startup_cpus(full)
    assert cpus is not None and cpus != full
    with affinity.spawning_on(cpus):
        born_on = spawn_and_report()
    assert born_on == sorted(cpus)
    assert os.sched_getaffinity(0) == full  # the spawning thread got its own set back


@MANY_CPUS
def test_the_spawning_thread_gets_its_set_back_when_the_spawn_fails() -> None:
    full = os.sched_getaffinity(0)
    with pytest.raises(FileNotFoundError), affinity.spawning_on(affinity.startup_cpus(full)):
        subprocess.run(["/nonexistent/app"], check=False)
    assert os.sched_getaffinity(0) == full


def test_no_start_up_cpus_means_an_unconfined_child() -> None:
    with affinity.spawning_on(None):
        born_on = spawn_and_report()
    assert born_on == sorted(os.sched_getaffinity(0))
