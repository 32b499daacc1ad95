"""One key of deploy.conf: its name, converter, one line of documentation, default and place.

The table of every key is keys.py (and automation_keys.py for the keys it joins there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    """One key: its converter, its doc, and its default as deploy.conf text (the converter turns
    it into the value, so a default is written once); ``unset`` says what happens without one.

    Its value lives in ``Environment``'s section ``section`` (``""``: the top level) as the field
    ``attr``: ``field`` when the key names one, else the key's name with ``_`` for ``-``.
    """

    name: str
    convert: Callable[[str], Any]
    doc: str
    default: str | None = None
    required: bool = False
    field: str = ""
    unset: str = ""
    section: str = ""

    @property
    def attr(self) -> str:
        return self.field or self.name.replace("-", "_")


def in_section(section: str, *keys: Key) -> list[Key]:
    """``keys``, each naming ``section`` as the one its value lives in (a block of the table)."""
    return [dataclasses.replace(key, section=section) for key in keys]
