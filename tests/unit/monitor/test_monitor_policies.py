"""The monitor's decisions: respawn backoff, start-up CPUs and the heartbeat's reload guard."""

from __future__ import annotations

import pytest

from pushdeploy.monitor.affinity import startup_cpus
from pushdeploy.monitor.generation import backoff_delay
from pushdeploy.monitor.heartbeat import Verdict, decide


@pytest.mark.parametrize(
    ("crashes", "delay"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (50, 30.0)],
)
def test_backoff_doubles_up_to_a_cap(crashes: int, delay: float) -> None:
    assert backoff_delay(crashes) == delay


@pytest.mark.parametrize(
    ("allowed", "confined"),
    [
        ({0}, None),
        ({3}, None),
        ({0, 1}, {1}),
        ({0, 1, 2}, {2}),
        ({0, 1, 2, 3}, {2, 3}),
        ({0, 2, 4, 6, 8}, {6, 8}),
    ],
)
def test_a_reload_starts_on_the_upper_half_of_the_cpus(
    allowed: set[int], confined: set[int] | None
) -> None:
    assert startup_cpus(allowed) == confined


@pytest.mark.parametrize(
    ("failures", "now", "running", "expected"),
    [
        ({}, 100.0, False, Verdict(False)),
        (
            {7: (1, "timed out")},
            100.0,
            False,
            Verdict(True, "heartbeat failed for worker 7: timed out"),
        ),
        (
            {7: (1, "timed out")},
            5.0,
            False,
            Verdict(False, "suppressed: generation younger than 10s"),
        ),
        ({7: (1, "timed out")}, 100.0, True, Verdict(False, "reload already running")),
        (
            {7: (1, "x"), 3: (2, "y")},
            100.0,
            False,
            Verdict(True, "heartbeat failed for worker 3: y"),
        ),
    ],
)
def test_heartbeat_reloads_after_one_failure_unless_guarded(
    failures: dict[int, tuple[int, str]], now: float, running: bool, expected: Verdict
) -> None:
    verdict = decide(
        failures,
        threshold=1,
        now=now,
        generation_started=0.0,
        suppress=10.0,
        reload_running=running,
    )
    assert verdict == expected


def test_heartbeat_threshold_counts_consecutive_failures() -> None:
    args = {"now": 100.0, "generation_started": 0.0, "suppress": 10.0, "reload_running": False}
    assert decide({7: (2, "x")}, threshold=3, **args) == Verdict(False)
    assert decide({7: (3, "x")}, threshold=3, **args).reload
