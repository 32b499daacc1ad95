"""Running the pushdeploy command line in-process, as a test would type it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from pushdeploy.cli.main import main


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("pushdeploy: error:")]


def run_cli(*argv: str | Path, stdin: bytes = b"") -> Result:
    """``stdin`` is what a pipe into pushdeploy would carry (empty by default: hermetic)."""
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in argv], stdout=out, stderr=err, stdin=io.BytesIO(stdin))
    return Result(status, out.getvalue(), err.getvalue())
