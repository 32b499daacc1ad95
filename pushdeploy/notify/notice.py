"""One event as every notify target tells it: who, what, where, result, duration, a link.

announce.py builds one ``Notice`` per event and hands it to each target (webhook.py, slack.py,
mail.py, graphite.py, github.py).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pushdeploy.config import secrets
from pushdeploy.notify.http import one_line
from pushdeploy.remote.report import RESULTS, TAIL, DeployReport

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

TIMEOUT = 5.0  # seconds per attempt
GIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REPO_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)+")
_SCP_LIKE = re.compile(r"(?:[^@/:\s]+@)?(?P<host>[^/:\s]+):(?P<path>\S+)")
_RELEASE_SHA = re.compile(r"\d{8}T\d{6}Z-(?P<sha>[0-9a-f]{7})(?:\.\d+)?")


@dataclass(frozen=True)
class Notice:
    """One event as every target tells it. ``started`` is when the deploy began, ``at`` when it
    was announced (epoch seconds); ``delivery`` names the event (a retry sends the same one).
    ``mask`` hides the secrets (``secrets.masker``): ``report`` and ``ref`` come masked with it
    (announce.send), and each target applies it once more to every string it sends
    (``http.encode``, the mail's text), so a notice shows no more than ``--json`` shows."""

    env: Environment
    event: str
    report: DeployReport | None
    ref: str
    sha: str
    who: str
    started: float
    at: float
    delivery: str
    timeout: float = TIMEOUT
    ssl_context: ssl.SSLContext | None = None
    mask: secrets.Masker = field(default_factory=secrets.Masker)  # applied to all that is sent

    @property
    def git_sha(self) -> str:
        """The deployed commit's SHA; empty for an artifact (its SHA is a file's digest)."""
        return self.sha if not self.env.source.artifact and GIT_SHA.fullmatch(self.sha) else ""

    @property
    def hosts(self) -> list[str]:
        if self.report is not None and self.report.hosts:
            return [h.host for h in self.report.hosts]
        return [h.spec for h in self.env.hosts]

    @property
    def what(self) -> str:
        """``main (3f2a9c1)``: the ref and the short SHA, whichever are known."""
        if self.ref and self.sha:
            return f"{self.ref} ({self.sha[:7]})"
        release = self.report.release if self.report is not None else ""
        return self.ref or self.sha[:7] or release or "the configured ref"

    @property
    def where(self) -> str:
        return f"{self.env.name}: {', '.join(self.hosts)}"

    @property
    def summary(self) -> str:
        """One line, without the environment: ``deployed main (3f2a9c1) to 3 hosts``."""
        report, count = self.report, len(self.hosts)
        on = f"{count} host{'' if count == 1 else 's'}"
        if self.event == "started" or report is None:
            return f"deploying {self.what} to {on}"
        if self.event == "failed":
            first = report.failed_first()[:1]
            at = "".join(f" at {h.failed_step}" for h in first if h.failed_step)
            return f"{report.command} of {self.what} FAILED{at}" + "".join(
                f" on {h.host}" for h in first
            )
        if self.event == "reverted":
            return f"reverted {on} to {self.what}"
        if report.hosts and all(h.result == "unchanged" for h in report.hosts):
            return f"{self.what} was live already on {on}"
        return f"deployed {self.what} to {on}"

    @property
    def result(self) -> str:
        """``deployed (3 ok)``, ``failed at migrate on web1: ... (1 failed, 2 stopped)``."""
        report = self.report
        if self.event == "started" or report is None:
            return "started"
        counts = [f"{n} {r}" for r in RESULTS if (n := sum(h.result == r for h in report.hosts))]
        tally = f" ({', '.join(counts)})" if counts else ""
        if self.event != "failed":
            return f"{self.event}{tally}"
        first = report.failed_first()[:1]
        at = "".join(f" at {h.failed_step}" for h in first if h.failed_step)
        on = "".join(f" on {h.host}" for h in first if h.failure or h.failed_step)
        return one_line(f"failed{at}{on}: {self.reason}{tally}")

    @property
    def reason(self) -> str:
        """Why a failure failed: the first failed host's words, else the error ('' if none)."""
        if self.event != "failed" or self.report is None:
            return ""
        first = [h.failure for h in self.report.failed_first()[:1] if h.failure]
        return one_line(first[0] if first else self.report.error or self.report.outcome)

    def last_output(self, count: int = TAIL) -> list[str]:
        """A failure's last ``count`` output lines, each one line: the first failed host's, as
        the terminal shows them first on a failure; none for other events."""
        if self.event != "failed" or self.report is None:
            return []
        first = self.report.failed_first()[:1]
        return [one_line(line) for host in first for line in host.output[-count:]] if count else []

    @property
    def duration(self) -> str:
        return f"{self.report.seconds:.1f} s" if self.report and self.event != "started" else ""

    @property
    def link(self) -> str:
        """The compare page on GitHub or GitLab from what was live before, else the commit's
        page, else ''. The report has no previous SHA: the previous release ID's short one."""
        web = web_repo(self.env.source.repo) if self.git_sha else None
        if web is None:
            return ""
        host, path = web
        if host in {"github.com", github_host(self.env)}:
            base = f"https://{host}/{path}"
        elif "gitlab" in host:
            base = f"https://{host}/{path}/-"
        else:
            return ""
        previous = [h.previous for h in self.report.hosts if h.previous] if self.report else []
        since = _RELEASE_SHA.fullmatch(previous[0]) if previous else None
        if since and self.event != "reverted" and not self.git_sha.startswith(since["sha"]):
            return f"{base}/compare/{since['sha']}...{self.git_sha}"
        return f"{base}/commit/{self.git_sha}"

    @property
    def github_repo(self) -> str:
        return github_repo(self.env)

    def details(self) -> list[str]:
        """The plain text of a mail and a Graphite event: the facts, then a line per host."""
        report = self.report
        facts = [("who", self.who), ("what", f"{self.ref} {self.sha}".strip() or self.what)]
        facts += [("where", self.where), ("result", self.result), ("duration", self.duration)]
        facts += [("link", self.link)]
        if report is not None:
            facts += [("error", one_line(report.error)), ("hint", one_line(report.hint))]
            facts += [("log", report.log)]
        lines = [f"{self.env.name}: {self.summary}", ""]
        lines += [f"{name + ':':<10}{value}" for name, value in facts if value]
        for i, host in enumerate(report.hosts if report is not None else ()):
            at = f" at {host.failed_step}" if host.failed_step else ""
            failure = f": {one_line(host.failure)}" if host.failure else ""
            release = f", release {host.release}" if host.release else ""
            took = f" ({host.seconds:.1f} s{release})"
            lines += ["", "hosts:"] if i == 0 else []
            lines.append(f"  {host.host}: {host.result}{at}{failure}{took}")
        if output := self.last_output():
            first = self.report.failed_first()[0].host if self.report is not None else ""
            lines += ["", f"last output of {first}:", *(f"  | {line}" for line in output)]
        return lines


def web_repo(repo: str | None) -> tuple[str, str] | None:
    """``(host, OWNER/NAME)`` of a git URL (``git@host:o/n.git``, ``https://host/o/n``...)."""
    if not repo:
        return None
    if "://" in repo:
        parts = urlsplit(repo)
        host, path = parts.hostname or "", parts.path
    elif match := _SCP_LIKE.fullmatch(repo):
        host, path = match["host"], match["path"]
    else:
        return None
    path = path.strip("/").removesuffix(".git")
    return (host.lower(), path) if host and _REPO_PATH.fullmatch(path) else None


def github_host(env: Environment) -> str:
    """The web host of ``github-api``: github.com, or a GitHub Enterprise host."""
    api = (urlsplit(env.notify.github_api).hostname or "").lower()
    return "github.com" if api == "api.github.com" else api


def github_repo(env: Environment) -> str:
    """``github-repo``, else OWNER/NAME of ``repo`` when it is on the host of ``github-api``."""
    web = web_repo(env.source.repo)
    on_github = web and web[0] == github_host(env) and web[1].count("/") == 1
    return env.notify.github_repo or (web[1] if web and on_github else "")
