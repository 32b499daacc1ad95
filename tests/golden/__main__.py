"""Regenerate the golden scripts: ``.venv/bin/python -m tests.golden`` from the checkout.

Writes every case's scripts (tests/golden/__init__.py says which), deletes files of no case,
and prints what changed; review the result with ``git diff tests/golden`` before committing.
"""

from __future__ import annotations

import sys

from tests import golden


def regenerate(wanted: dict[str, str]) -> list[str]:
    """Bring tests/golden in line with ``wanted`` (``golden.render()``); a line per file changed."""
    present = golden.on_disk()
    changes = []
    for name, text in wanted.items():
        path = golden.DIR / name
        if name in present and golden.read(path) == text:
            continue
        changes.append(f"{'updated' if name in present else 'created'} {name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    for name, path in present.items():
        if name not in wanted:
            path.unlink()
            changes.append(f"deleted {name}")
    for folder in sorted(golden.DIR.glob("*/**/"), reverse=True):  # deepest first
        if folder.is_dir() and folder.name != "__pycache__" and not any(folder.iterdir()):
            folder.rmdir()
    return changes


def main() -> int:
    wanted = golden.render()
    changes = regenerate(wanted)
    for line in changes:
        print(line)
    where = golden.DIR.relative_to(golden.CHECKOUT)
    print(f"{len(changes)} change(s); {len(wanted)} golden scripts in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
