"""A GitHub target: the notice as a commit status of the deployed commit."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pushdeploy.notify.http import (
    Failed,
    encode,
    one_line,
    post,
)

if TYPE_CHECKING:
    from pushdeploy.notify.notice import Notice

GITHUB_API_VERSION = "2022-11-28"


def github(notice: Notice, args: tuple[str, ...], timeout: float) -> None:
    """A commit status on the deployed SHA: pending (a start), success, or failure."""
    env, sha = notice.env, notice.git_sha
    if not sha:
        if notice.event == "started":
            return  # nothing to hang a pending status on yet: the outcome will say it
        why = (
            "an artifact's digest is not a commit" if env.source.artifact else "no commit SHA known"
        )
        raise Failed(f"no commit status: {why}")
    if not env.notify.github_token:
        raise Failed("no commit status: github-token is not set")
    repo = notice.github_repo
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise Failed("no commit status: set github-repo = OWNER/NAME (repo is not on GitHub)")
    report = notice.report
    payload = {
        "state": {"started": "pending", "failed": "failure"}.get(notice.event, "success"),
        "context": f"pushdeploy/{env.name}",
        "description": one_line(report.headline() if report else notice.summary, 140),
    }
    headers = {
        "Authorization": f"Bearer {env.notify.github_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": GITHUB_API_VERSION,
    }
    url = f"{env.notify.github_api.rstrip('/')}/repos/{repo}/statuses/{sha}"
    post(url, encode(payload, notice.mask), headers, timeout, notice.ssl_context)


# --- mail ----------------------------------------------------------------------------------------
