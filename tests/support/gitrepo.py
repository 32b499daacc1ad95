"""Real git repositories for tests: an "origin" the servers fetch from, with commits and tags."""

from __future__ import annotations

import subprocess
from pathlib import Path


class Origin:
    """A non-bare repository on branch ``main``; every ``commit`` writes files and commits them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@example.test")
        self.git("config", "user.name", "Dev")
        self.git("config", "receive.denyCurrentBranch", "ignore")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True, check=True, timeout=30
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.sha("HEAD")

    def sha(self, ref: str) -> str:
        return self.git("rev-parse", f"{ref}^{{commit}}")

    def tag(self, name: str, annotated: bool = False) -> None:
        if annotated:
            self.git("tag", "-a", "-m", name, name)
        else:
            self.git("tag", name)

    def branch(self, name: str) -> None:
        self.git("branch", name)
