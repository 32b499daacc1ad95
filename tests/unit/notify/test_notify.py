"""Notifications reach real local servers, say who/what/where/how it went, and never fail a deploy.

Every target is spoken to for real: an HTTP receiver on 127.0.0.1 (webhook, Slack, Graphite,
GitHub's API) and an aiosmtpd server with STARTTLS and a login (tests/support/listeners.py).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.notify import announce as notify
from pushdeploy.notify import notice
from pushdeploy.remote.report import DeployReport, HostReport
from tests.support.listeners import Answer, MailServer, Receiver, refusing_port, silent_port

SHA = "3f2a9c1" + "0123456789abcdef" * 2 + "0"  # 40 hex digits
PREVIOUS = "20261120T101010Z-1a2b3c4"
HOSTS = ("web1", "web2", "web3")
SECRETS = {"NOTIFY_SECRET": "s3cret-signing-key", "GITHUB_TOKEN": "ghp_tokenvalue123"}
SECRETS |= {"SMTP_PASSWORD": "mail-password-42", "SERVICE_WORD": "word-from-the-secrets-file"}
FAST = 0.5  # the per-attempt timeout of most tests: a hang costs ~1 s, not 10


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables; the servers here are on 127.0.0.1."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def environment(*lines: str, repo: str = "git@github.com:acme/app.git") -> Environment:
    """[production] on web1..web3 from ``repo``, with ``lines`` (notify = ... and the like)."""
    text = f"[production]\nhost = {' '.join(HOSTS)}\nrepo = {repo}\npath = /srv/app\n"
    text += "\n".join(lines) + "\n"
    ini = config.parse(text, "deploy.conf")
    merged = config.effective(ini, "production")
    return config.build_environment("production", "deploy.conf", merged, environ=SECRETS)


def targets(*targets: str) -> str:
    return "notify =\n" + "\n".join(f"    {t}" for t in targets)


def deployed() -> DeployReport:
    hosts = [
        HostReport(
            h,
            "ok",
            0,
            ref="main",
            sha=SHA,
            release="20261123T004512Z-3f2a9c1",
            previous=PREVIOUS,
            seconds=2.1,
        )
        for h in HOSTS
    ]
    return DeployReport.of("deploy", "production", hosts, seconds=2.4)


def failed() -> DeployReport:
    first = HostReport(
        "web1",
        "failed",
        6,
        ref="main",
        sha=SHA,
        failed_step="migrate",
        failure="relation users does not exist",
        seconds=0.4,
    )
    rest = [HostReport(h, "stopped", 6, ref="main", sha=SHA) for h in HOSTS[1:]]
    report = DeployReport.of("deploy", "production", [first, *rest], seconds=1.0)
    return report.ended(6, error="web1: migrate failed", hint="see the log")


def announce(
    env: Environment,
    event: str,
    report: DeployReport | None,
    ref: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[str]:
    """The warnings ``notify.announce`` said, attempts timing out after ``FAST`` seconds."""
    warnings: list[str] = []
    notify.announce(
        env, event, report, warn=warnings.append, ref=ref, timeout=FAST, ssl_context=ssl_context
    )
    return warnings


# --- what each target is told --------------------------------------------------------------------


def test_a_webhook_gets_the_report_as_json_signed_over_the_exact_body(receiver: Receiver) -> None:
    env = environment(targets(f"webhook {receiver.url('/hook')}"), "notify-secret = $NOTIFY_SECRET")
    report = deployed()
    assert announce(env, "deployed", report) == []
    (request,) = receiver.on("/hook")
    expected = "sha256=" + hmac.new(b"s3cret-signing-key", request.body, hashlib.sha256).hexdigest()
    assert expected == request.headers["x-pushdeploy-signature"]
    assert (request.method, request.headers["content-type"]) == ("POST", "application/json")
    assert request.headers["user-agent"].startswith("pushdeploy/")
    assert request.headers["x-pushdeploy-event"] == "deployed"
    assert uuid.UUID(request.headers["x-pushdeploy-delivery"]).version == 4
    body = json.loads(request.body)
    assert report.to_json() == {k: v for k, v in body.items() if k in report.to_json()}
    assert (body["event"], body["environment"]) == ("deployed", "production")
    assert body["link"] == f"https://github.com/acme/app/compare/1a2b3c4...{SHA}"


def test_an_unsigned_webhook_carries_no_signature_header(receiver: Receiver) -> None:
    env = environment(targets(f"webhook {receiver.url('/hook')}"))
    assert announce(env, "deployed", deployed()) == []
    assert "x-pushdeploy-signature" not in receiver.on("/hook")[0].headers


def test_slack_text_names_environment_ref_sha_result_and_compare_link(receiver: Receiver) -> None:
    env = environment(targets(f"slack {receiver.url('/services/T0/B0/XXXX')}"))
    assert announce(env, "deployed", deployed()) == []
    message = json.loads(receiver.on("/services/T0/B0/XXXX")[0].body)
    assert message["text"].startswith("production: deployed main (3f2a9c1) to 3 hosts (by ")
    assert message["text"].endswith(", 2.4 s)")
    blocks = json.dumps(message["blocks"])
    for said in ("*Where*\\nproduction: web1, web2, web3", "deployed (3 ok)", "2.4 s"):
        assert said in blocks
    assert f"<https://github.com/acme/app/compare/1a2b3c4...{SHA}|compare>" in blocks


def test_slack_says_where_a_deploy_failed_and_escapes_markup(receiver: Receiver) -> None:
    env = environment(targets(f"slack {receiver.url('/slack')}"))
    first, *rest = failed().hosts
    hosts = [replace(first, failure="a <b> & c"), *rest]
    report = DeployReport.of("deploy", "production", hosts).ended(6)
    assert announce(env, "failed", report) == []
    text = json.loads(receiver.on("/slack")[0].body)["text"]
    assert "production: deploy of main (3f2a9c1) FAILED at migrate on web1" in text
    assert text.endswith(" s): a &lt;b&gt; &amp; c")


def test_graphite_gets_an_event_of_its_events_api(receiver: Receiver) -> None:
    env = environment(targets(f"graphite {receiver.url('/events/')}"))
    before = int(time.time())
    assert announce(env, "deployed", deployed()) == []
    event = json.loads(receiver.on("/events/")[0].body)
    assert event["what"] == "pushdeploy production: deployed main (3f2a9c1) to 3 hosts"
    assert event["tags"] == ["pushdeploy", "production", "deployed"]
    assert before <= event["when"] <= time.time()
    assert "  web1: ok (2.1 s, release 20261123T004512Z-3f2a9c1)" in event["data"].splitlines()


@pytest.mark.parametrize(
    ("event", "report", "state"),
    [("deployed", deployed(), "success"), ("failed", failed(), "failure")],
)
def test_github_gets_a_commit_status_on_the_deployed_sha(
    receiver: Receiver, event: str, report: DeployReport, state: str
) -> None:
    env = environment(
        targets("github"),
        f"github-api = {receiver.url('/api/v3')}",
        "github-token = $GITHUB_TOKEN",
        "github-repo = acme/app",
    )
    assert announce(env, event, report) == []
    (request,) = receiver.requests
    assert f"/api/v3/repos/acme/app/statuses/{SHA}" == request.path
    assert request.headers["authorization"] == "Bearer ghp_tokenvalue123"
    status = json.loads(request.body)
    assert (state, "pushdeploy/production") == (status["state"], status["context"])
    assert report.headline()[:140] == status["description"]


def test_github_says_pending_on_a_start_when_the_sha_is_known(receiver: Receiver) -> None:
    env = environment(
        targets("github"),
        f"github-api = {receiver.url('')}",
        "github-token = $GITHUB_TOKEN",
        "github-repo = acme/app",
    )
    assert announce(env, "started", None, ref=SHA) == []
    assert announce(env, "started", None, ref="main") == []  # no SHA yet: nothing to say
    (request,) = receiver.requests
    assert json.loads(request.body)["state"] == "pending"


@pytest.mark.parametrize(
    ("lines", "warning"),
    [
        (
            ["artifact = app.tar.gz", "github-token = $GITHUB_TOKEN"],
            "an artifact's digest is not a commit",
        ),
        ([], "github-token is not set"),
    ],
)
def test_github_without_a_commit_or_a_token_is_one_warning(
    receiver: Receiver, lines: list[str], warning: str
) -> None:
    env = environment(*lines, targets("github"), f"github-api = {receiver.url('')}")
    assert announce(env, "deployed", deployed()) == [f"notify: github: no commit status: {warning}"]
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("git@github.com:acme/app.git", ("github.com", "acme/app")),
        ("https://github.com/acme/app", ("github.com", "acme/app")),
        ("https://x-token:tok@github.com/acme/app.git/", ("github.com", "acme/app")),
        ("ssh://git@gitlab.com:2222/group/sub/app.git", ("gitlab.com", "group/sub/app")),
        ("/srv/git/app.git", None),
        ("https://github.com/acme", None),
    ],
)
def test_the_web_home_of_a_repo_is_read_from_its_url(
    repo: str, expected: tuple[str, str] | None
) -> None:
    assert expected == notice.web_repo(repo)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], "acme/app"),
        (["github-repo = other/name"], "other/name"),
        (["github-api = https://git.example.com/api/v3"], ""),  # Enterprise: not github.com
        (
            [
                "repo = git@git.example.com:acme/app.git",
                "github-api = https://git.example.com/api/v3",
            ],
            "acme/app",
        ),
        (["repo = https://gitlab.com/acme/app.git"], ""),
    ],
)
def test_the_github_repo_is_github_repo_or_repo_on_the_api_host(
    lines: list[str], expected: str
) -> None:
    repo = next((line.split(" = ")[1] for line in lines if line.startswith("repo")), None)
    env = environment(
        *(line for line in lines if not line.startswith("repo")),
        repo=repo or "git@github.com:acme/app.git",
    )
    assert expected == notice.github_repo(env)


# --- retries, time-outs, failures ----------------------------------------------------------------


def test_a_server_error_is_retried_once(receiver: Receiver) -> None:
    receiver.answers["/hook"] = Answer([500, 200])
    assert (
        announce(environment(targets(f"webhook {receiver.url('/hook')}")), "deployed", deployed())
        == []
    )
    first, second = receiver.on("/hook")
    assert first.body == second.body
    assert first.headers["x-pushdeploy-delivery"] == second.headers["x-pushdeploy-delivery"]


def test_a_second_server_error_is_one_warning_and_a_client_error_is_not_retried(
    receiver: Receiver,
) -> None:
    receiver.answers |= {"/a": Answer([503]), "/b": Answer([404], body=b"no_service")}
    env = environment(targets(f"webhook {receiver.url('/a')}", f"slack {receiver.url('/b')}"))
    warnings = announce(env, "deployed", deployed())
    origin = f"http://127.0.0.1:{receiver.port}/..."
    expected = [f"notify: webhook: HTTP 503 from {origin}: ok"]
    expected += [f"notify: slack: HTTP 404 from {origin}: no_service"]
    assert expected == warnings
    assert (len(receiver.on("/a")), len(receiver.on("/b"))) == (2, 1)


def test_a_target_that_never_answers_is_a_warning_within_the_time_out(receiver: Receiver) -> None:
    receiver.answers["/hang"] = Answer(hang=True)
    env = environment(targets(f"webhook {receiver.url('/hang')}"))
    began = time.monotonic()
    warnings = announce(env, "deployed", deployed())
    assert time.monotonic() - began < 2 * FAST + 1
    assert [
        f"notify: webhook: no answer within 0.5 s from http://127.0.0.1:{receiver.port}/..."
    ] == warnings
    assert len(receiver.on("/hang")) == 2  # tried, then tried once more


def test_an_unreachable_target_is_a_warning() -> None:
    with refusing_port() as port:
        env = environment(targets(f"webhook http://127.0.0.1:{port}/hook"))
        warnings = announce(env, "deployed", deployed())
    assert [
        f"notify: webhook: cannot reach http://127.0.0.1:{port}/...: Connection refused"
    ] == warnings


def test_targets_are_told_in_parallel(receiver: Receiver) -> None:
    """Three targets that hang cost one time-out and its retry, not three; the fast one is told at once."""
    receiver.answers |= {f"/hang{i}": Answer(hang=True) for i in range(3)}
    hanging = [f"webhook {receiver.url(f'/hang{i}')}" for i in range(3)]
    env = environment(targets(*hanging, f"slack {receiver.url('/fast')}"))
    began = time.monotonic()
    warnings = announce(env, "deployed", deployed())
    took = time.monotonic() - began
    assert took < 2 * FAST + 1
    assert len(warnings) == 3
    assert receiver.on("/fast")[0].at - began < FAST


def test_an_unforeseen_error_in_a_target_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise KeyError("bug")

    monkeypatch.setitem(notify.TARGETS, "graphite", broken)
    env = environment(targets("graphite http://127.0.0.1:9/events/"))
    assert announce(env, "deployed", deployed()) == ["notify: graphite: unexpected KeyError: 'bug'"]


def test_secrets_never_reach_a_warning(receiver: Receiver) -> None:
    receiver.answers |= {"/services/T0/B0/slacksecret99": Answer([500]), "/h": Answer([500])}
    receiver.answers["/api/repos/acme/app/statuses/" + SHA] = Answer(
        [401], body=b"ghp_tokenvalue123"
    )
    env = environment(
        targets(
            f"slack {receiver.url('/services/T0/B0/slacksecret99')}",
            f"webhook http://hook:pass-in-url-77@127.0.0.1:{receiver.port}/h?key=querysecret",
            "github",
        ),
        f"github-api = {receiver.url('/api')}",
        "github-token = $GITHUB_TOKEN",
        "github-repo = acme/app",
        "notify-secret = $NOTIFY_SECRET",
    )
    warnings = "\n".join(announce(env, "failed", failed()))
    assert len(warnings.splitlines()) == 3
    assert "HTTP 401" in warnings
    for secret in ("slacksecret99", "pass-in-url-77", "querysecret", *SECRETS.values()):
        assert secret not in warnings


def test_an_unknown_event_is_a_warning_not_an_exception() -> None:
    assert (announce(environment(targets("github")), "done", deployed())) == [
        "notify: unknown event 'done'; expected one of started, deployed, reverted, failed"
    ]


# --- mail ----------------------------------------------------------------------------------------


def mail_env(server: MailServer, *lines: str, also: tuple[str, ...] = ()) -> Environment:
    return environment(
        targets("mail ops@example.com dev@example.com", *also),
        f"smtp = {server.address}",
        "mail-from = deploys@example.com",
        *lines,
    )


def test_mail_goes_through_starttls_and_a_login_to_every_address(tmp_path: Path) -> None:
    with MailServer(tmp_path, users={"deployer": SECRETS["SMTP_PASSWORD"]}) as server:
        env = mail_env(server, "smtp-user = deployer", "smtp-password = $SMTP_PASSWORD")
        assert announce(env, "failed", failed(), ssl_context=server.client_context) == []
    (login,) = server.logins
    assert (login.user, login.tls) == ("deployer", True)
    (mail,) = server.messages
    assert (mail.sender, mail.recipients, mail.tls) == (
        "deploys@example.com",
        ["ops@example.com", "dev@example.com"],
        True,
    )
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    subject = "[pushdeploy] production: deploy of main (3f2a9c1) FAILED at migrate on web1"
    assert subject == message["Subject"]
    body = message.get_content()
    assert "error:    web1: migrate failed" in body
    assert "  web1: failed at migrate: relation users does not exist (0.4 s)" in body


def test_mail_is_not_sent_where_starttls_is_not_offered(tmp_path: Path) -> None:
    with MailServer(tmp_path, users={"deployer": "x"}, starttls=False) as server:
        env = mail_env(server, "smtp-user = deployer", "smtp-password = $SMTP_PASSWORD")
        warnings = announce(env, "deployed", deployed(), ssl_context=server.client_context)
    assert (server.logins, server.messages) == ([], [])
    assert [f"notify: mail: {server.address} offers no STARTTLS: mail not sent"] == [
        w.partition(" (")[0] for w in warnings
    ]


def test_a_refused_login_is_a_warning_and_sends_nothing(tmp_path: Path) -> None:
    with MailServer(tmp_path, users={"deployer": "another password"}) as server:
        env = mail_env(server, "smtp-user = deployer", "smtp-password = $SMTP_PASSWORD")
        (warning,) = announce(env, "deployed", deployed(), ssl_context=server.client_context)
    assert warning.startswith(f"notify: mail: {server.address} refused the login of deployer: 535")
    assert server.messages == []
    assert SECRETS["SMTP_PASSWORD"] not in warning


def test_an_untrusted_certificate_stops_the_mail(tmp_path: Path) -> None:
    with MailServer(tmp_path) as server:
        (warning,) = announce(mail_env(server), "deployed", deployed())  # the system's CAs
    assert warning.startswith(f"notify: mail: STARTTLS with {server.address} failed:")
    assert server.messages == []


# --- starts ---------------------------------------------------------------------------------------


def test_a_start_is_told_only_by_the_targets_that_support_it(
    receiver: Receiver, tmp_path: Path
) -> None:
    with MailServer(tmp_path) as server:
        also = (f"webhook {receiver.url('/hook')}", f"slack {receiver.url('/slack')}")
        env = mail_env(server, also=(*also, f"graphite {receiver.url('/events/')}"))
        assert announce(env, "started", None, ref="main", ssl_context=server.client_context) == []
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/slack"]
    assert server.messages == []
    body = json.loads(receiver.on("/hook")[0].body)
    assert ("started", "main", [{"host": h} for h in HOSTS]) == (
        body["event"],
        body["ref"],
        body["hosts"],
    )
    assert "deploying main to 3 hosts" in json.loads(receiver.on("/slack")[0].body)["text"]


# --- secrets --------------------------------------------------------------------------------------

TOKEN = "tok&<en>-4242"  # an env value of a secret name, with characters Slack escapes
WORD = "word-from-the-secrets-file"  # a value from outside deploy.conf: hidden whatever its name


def leaky_failure() -> DeployReport:
    """A build that echoed both secrets, and a failure and an error that repeat them."""
    first = HostReport(
        "web1",
        "failed",
        6,
        ref="main",
        sha=SHA,
        failed_step="build",
        failure=f"'build' said {TOKEN}",
        output=("building", f"token={TOKEN}", f"word={WORD}"),
    )
    report = DeployReport.of("deploy", "production", [first], seconds=1.0)
    return report.ended(6, error=f"web1: build failed: {TOKEN}", hint=f"check {WORD}")


def test_every_target_hides_the_secrets_that_json_hides(receiver: Receiver, tmp_path: Path) -> None:
    """The same mask as --json (secrets.masker), applied before any escaping, cutting or signing."""
    with MailServer(tmp_path) as server:
        env = mail_env(
            server,
            f"env = API_TOKEN='{TOKEN}' SERVICE_WORD=$SERVICE_WORD",
            f"github-api = {receiver.url('/api')}",
            "github-token = $GITHUB_TOKEN",
            "github-repo = acme/app",
            "notify-secret = $NOTIFY_SECRET",
            also=(
                *(f"{k} {receiver.url('/' + k)}" for k in ("webhook", "slack", "graphite")),
                "github",
            ),
        )
        assert announce(env, "failed", leaky_failure(), ssl_context=server.client_context) == []
    (mail,) = server.messages
    text = email.message_from_bytes(mail.content, policy=email.policy.default).get_content()
    sent = {r.path.strip("/").partition("/")[0]: r.body.decode() for r in receiver.requests}
    sent |= {"mail": text, "mail bytes": mail.content.decode()}
    assert sorted(sent) == ["api", "graphite", "mail", "mail bytes", "slack", "webhook"]
    for said in sent.values():
        assert TOKEN not in said and WORD not in said
        assert "&lt;en&gt;" not in said  # not even escaped
    for kind in ("webhook", "slack", "graphite", "mail"):  # a status says the headline only
        assert "token=***" in sent[kind] and "word=***" in sent[kind], kind
    signature = hmac.new(b"s3cret-signing-key", receiver.on("/webhook")[0].body, hashlib.sha256)
    assert (
        "sha256=" + signature.hexdigest()
        == receiver.on("/webhook")[0].headers["x-pushdeploy-signature"]
    )


def test_a_failure_tells_its_last_output_lines(receiver: Receiver) -> None:
    env = environment(targets(f"slack {receiver.url('/slack')}", f"graphite {receiver.url('/g')}"))
    assert announce(env, "failed", leaky_failure()) == []
    blocks = json.loads(receiver.on("/slack")[0].body)["blocks"]
    assert blocks[2]["text"]["text"] == f"```building\ntoken={TOKEN}\nword={WORD}```".replace(
        "&", "&amp;"
    ).replace("<", "&lt;").replace(">", "&gt;")
    data = json.loads(receiver.on("/g")[0].body)["data"].splitlines()
    assert data[-4:] == [
        "last output of web1:",
        "  | building",
        f"  | token={TOKEN}",
        f"  | word={WORD}",
    ]


# --- a deploy's start and end ---------------------------------------------------------------------


def test_the_end_goes_out_at_once_and_a_hanging_start_never_delays_it(receiver: Receiver) -> None:
    """The start is not retried once the end is due; each target hears the start first; the
    end's deadline bounds both."""
    with silent_port() as port:
        env = environment(
            targets(f"webhook http://127.0.0.1:{port}/hook", f"webhook {receiver.url('/fast')}")
        )
        start = notify.send(env, "started", None, ref="main", timeout=FAST)
        began = time.monotonic()
        end = notify.send(env, "deployed", deployed(), timeout=FAST, after=start)
        warnings: list[str] = []
        end.wait(warnings.append)
        assert time.monotonic() - began < 2 * FAST + 1
    assert [json.loads(r.body)["event"] for r in receiver.on("/fast")] == ["started", "deployed"]
    silent = f"no answer within 0.5 s from http://127.0.0.1:{port}/..."
    assert warnings == [f"notify: webhook: start notice: {silent}", f"notify: webhook: {silent}"]
