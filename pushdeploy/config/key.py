"""One key of deploy.conf: its name, converter, one line of documentation and its default.

The table of every key is keys.py (and automation_keys.py for the keys it joins there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    """One key: its converter, its doc, and its default as deploy.conf text (the converter turns
    it into the value, so a default is written once); ``unset`` says what happens without one."""

    name: str
    convert: Callable[[str], Any]
    doc: str
    default: str | None = None
    required: bool = False
    field: str = ""
    unset: str = ""

    @property
    def attr(self) -> str:
        return self.field or self.name.replace("-", "_")
