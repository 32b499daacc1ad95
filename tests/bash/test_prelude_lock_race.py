"""The lock under contention and CPU load: who does not get it names who has it, never "an unknown
holder" (the holder dropped it between the two looks: that one tries again)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pushdeploy.remote import protocol, scripts
from tests.support.bashlib import BashHost

pytestmark = pytest.mark.slow

SCRIPTS = 10  # at once, as ten deploys started together
ROUNDS = 12
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


def test_ten_takers_at_once_under_load_each_get_it_or_name_its_holder(host: BashHost) -> None:
    busy = [
        subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=60)])
        for _ in range(os.cpu_count() or 2)
    ]
    unknown, named, took = [], 0, 0
    try:
        deadline = time.monotonic() + 60
        for round_ in range(ROUNDS):
            if time.monotonic() > deadline:
                break
            running = [
                host.start(
                    "lock_take 0 120\nvalue took yes",
                    run=scripts.Run(
                        f"token-{round_}-{i}", f"taker {i}", "me@here", "20260101T000000Z"
                    ),
                )
                for i in range(SCRIPTS)
            ]
            for one in running:
                result = one.finish(timeout=30)
                if result.status == 0:
                    took += 1
                elif result.status == protocol.EXIT_LOCK_HELD and "taker " in (
                    result.failure[1] or ""
                ):
                    named += 1
                else:
                    unknown.append((result.status, result.failure))
    finally:
        for proc in busy:
            proc.kill()
            proc.wait(10)
    assert (unknown, took > 0) == ([], True), f"{took} took it, {named} named its holder"
