"""The step-marker protocol between a generated remote script and the client.

A script prints marker lines on stdout and nothing else there (hook and build output is sent to
stderr), so the client can follow it live over one channel::

    ::pushdeploy::step fetch                 a step begins
    ::pushdeploy::value sha 3f2a...          a value read back (one word key, rest of line value)
    ::pushdeploy::warn the lock was stale    something the user should see; the run goes on
    ::pushdeploy::fail build the build ...   the step that failed and why; the script then exits
    ::pushdeploy::line deploys <text>        one line of a multi-line read-back (e.g. .deploys)
    ::pushdeploy::done                       the script reached its end

``parse`` is pure and total: any other line is returned as ``Marker("output", "", line)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PREFIX = "::pushdeploy::"

# Exit statuses the scripts use for the failures the client tells apart.
EXIT_LOCK_HELD = 75
EXIT_LOCK_LOST = 76
EXIT_SWITCHED_BACK = 77
EXIT_NOT_SET_UP = 78


@dataclass(frozen=True)
class Marker:
    kind: str
    key: str
    text: str


def parse(line: str) -> Marker:
    if not line.startswith(PREFIX):
        return Marker("output", "", line)
    body = line[len(PREFIX) :]
    kind, _, rest = body.partition(" ")
    if kind in {"step", "warn"}:
        return Marker(kind, "", rest)
    if kind == "done":
        return Marker(kind, "", "")
    if kind in {"value", "fail", "line"}:
        key, _, text = rest.partition(" ")
        return Marker(kind, key, text)
    return Marker("output", "", line)


@dataclass
class Outcome:
    """What one script run said: its exit status, values, warnings, the failure, and its output."""

    status: int
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed_step: str | None = None
    failure: str | None = None
    done: bool = False
    output: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.failed_step is None

    def add(self, marker: Marker) -> None:
        if marker.kind == "step":
            self.steps.append(marker.text)
        elif marker.kind == "value":
            self.values[marker.key] = marker.text
        elif marker.kind == "line":
            self.lines.setdefault(marker.key, []).append(marker.text)
        elif marker.kind == "warn":
            self.warnings.append(marker.text)
        elif marker.kind == "fail":
            self.failed_step, self.failure = marker.key, marker.text
        elif marker.kind == "done":
            self.done = True
        else:
            self.output.append(marker.text)

    def tail(self, count: int = 15) -> list[str]:
        return self.output[-count:]
