"""setup, unlock, config, monitor, reload and systemd through ``cli.main``, against pushdeploy.testing.fake.

Each case types a command line and checks stdout, the error line, the exit status and what the
fake servers were given (``ran``: the kinds of script, ``scripts``: their text). exec, console,
doctor, status and the listings are in test_handlers_exec.py; deploy and revert in
test_handlers_deploy.py and test_handlers_fleet.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pushdeploy.testing.fakehost import FakeHost
from tests.support import fakefleet
from tests.support.fakefleet import OLD, fleet, ran, run

APP = "app = python3 app.py\nlisten = 127.0.0.1:3000\nenv = SECRET=s3cr3t\n"


def host(name: str, **state: object) -> FakeHost:
    """A server live on OLD, its only deploy."""
    return fakefleet.host(name, deployed=(OLD,), **state)


def test_setup_runs_on_every_host_and_says_so(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "app", "setup")
    assert (result.status, result.stdout.split(" in ")[0]) == (0, "set up 2 hosts")
    assert ran(fake) == {"web1": ["setup"], "web2": ["setup"]}


def test_setup_failing_on_one_host_is_exit_6_naming_it(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2", fail_at={"setup": "directories"}))
    result = run(base, "app", "setup")
    assert (result.status, result.error_lines) == (
        6,
        ["pushdeploy: error: web2: directories failed: 'directories' exited with status 1"],
    )
    assert "hint: fix the cause and run the command again" in result.stderr
    assert result.stdout.startswith("setup failed in ")


def test_unlock_says_whose_lock_it_removed_and_where_there_was_none(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1", lock="ann@laptop (pid 7)"), host("web2"))
    result = run(base, "app", "unlock")
    assert (result.status, result.stdout) == (
        0,
        "web1: removed the lock held by ann@laptop (pid 7)\nweb2: no lock\n",
    )
    assert fake.hosts["web1"].lock == ""


def test_unlock_that_cannot_remove_the_lock_fails_naming_the_host(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", fail_at={"unlock": "unlock"}))
    result = run(base, "app", "unlock")
    assert (result.status, result.error_lines) == (
        6,
        ["pushdeploy: error: web1: unlock failed: 'unlock' exited with status 1"],
    )


def test_config_lists_the_values_and_config_key_prints_one_contacting_no_host(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), extra=APP)
    listing = run(base, "app", "config")
    shown = listing.stdout.splitlines()
    assert (listing.status, shown[0]) == (0, "host = web1")
    assert {"repo = /r", "env = SECRET=***", "# user = (ssh config or local user)"} <= set(shown)
    assert (run(base, "app", "config", "listen").stdout, ran(fake)) == (
        "127.0.0.1:3000\n",
        {"web1": []},
    )
    unknown = run(base, "app", "config", "colour")
    assert (unknown.status, unknown.error_lines) == (
        2,
        ["pushdeploy: error: config: unknown key 'colour'"],
    )


SECRETS = {"NOTIFY_SECRET": "n0t1fy", "SMTP_PASSWORD": "smtp-pw", "GH_TOKEN": "ghp_x1"}
SECRETS |= {"HOOK_SECRET": "h00k"}
SECRET_KEYS = (
    "notify =\n    slack https://hooks.slack.com/services/T0/B0/XXXX\n    mail ops@example.com\n"
    "notify-secret = $NOTIFY_SECRET\nsmtp-user = ops\nsmtp-password = $SMTP_PASSWORD\n"
    "github-token = $GH_TOKEN\nwebhook-secret = $HOOK_SECRET\n"
)


def test_config_hides_every_secret_key_and_the_paths_of_notify_urls(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a key names by $NAME is a secret wherever config shows it, and a Slack URL's path
    is its secret: the listing and each key alike, with notify's targets one a line."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    fleet(base, monkeypatch, host("web1"), extra=SECRET_KEYS)
    listing = run(base, "app", "config")
    hidden = [f"{key} = ***" for key in ("notify-secret", "github-token", "webhook-secret")]
    assert (listing.status, [v for v in SECRETS.values() if v in listing.stdout]) == (0, [])
    assert {*hidden, "smtp-password = ***"} <= set(listing.stdout.splitlines())
    assert "notify = slack https://hooks.slack.com/...\n    mail ops@example.com\n" in (
        listing.stdout
    )
    one = [run(base, "app", "config", key).stdout for key in ("notify", "smtp-password")]
    assert one == ["slack https://hooks.slack.com/...\nmail ops@example.com\n", "***\n"]


# -- the monitor ----------------------------------------------------------------------------------

# The call that runs the monitor's own CLI (remote/service.sh), before its command and arguments.
MONITOR_CLI = "monitor_cli /srv/app/.pushdeploy/monitor.pyz /srv/app/.pushdeploy/monitor.json"


def test_monitor_status_passes_each_hosts_output_through_prefixed(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = {"command": ["running, gen 3"]}
    fake = fleet(
        base, monkeypatch, host("web1", replies=said), host("web2", replies=said), extra=APP
    )
    result = run(base, "app", "monitor", "status", "--json")
    assert (result.status, result.stdout) == (0, "web1: running, gen 3\nweb2: running, gen 3\n")
    assert ran(fake) == {"web1": ["command"], "web2": ["command"]}
    assert f"\n{MONITOR_CLI} status --json\n" in fake.hosts["web1"].scripts[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["app", "monitor", "logs", "-n", "5"], "logs --lines 5"),
        (["--json", "app", "monitor", "status"], "status --json"),
        (["app", "monitor", "stop"], "stop"),
        (["app", "reload"], "reload"),
    ],
)
def test_each_monitor_action_reaches_the_monitors_own_command_line(
    base: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str
) -> None:
    fake = fleet(base, monkeypatch, host("web1", replies={"command": ["said"]}), extra=APP)
    result = run(base, *argv)
    assert (result.status, result.stdout) == (0, "said\n")
    assert f"\n{MONITOR_CLI} {expected}\n" in fake.hosts["web1"].scripts[0]


def test_a_monitor_that_is_not_running_is_exit_3_with_how_to_start_it(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2", exits={"command": 3}), extra=APP)
    result = run(base, "app", "monitor", "status")
    assert (result.status, result.error_lines) == (
        3,
        ["pushdeploy: error: web2: the monitor is not running"],
    )
    assert "monitor start' (or deploy)" in result.stderr


def test_a_failing_monitor_command_passes_its_status_on(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(
        base, monkeypatch, host("web1", exits={"command": 1}, stderr={"command": ["no"]}), extra=APP
    )
    result = run(base, "app", "monitor", "stop")
    assert (result.status, result.error_lines) == (
        1,
        ["pushdeploy: error: web1: monitor stop failed (status 1)"],
    )


def test_a_monitor_command_failing_without_a_word_says_it_printed_nothing(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", exits={"command": 1}), extra=APP)
    result = run(base, "app", "monitor", "stop")
    assert "hint: it printed nothing; its exit status is passed on as pushdeploy's" in result.stderr


@pytest.mark.parametrize(
    ("argv", "extra", "error"),
    [
        (
            ["monitor", "bogus"],
            APP,
            "monitor: expected one of status|start|stop|reload|logs, e.g. ",
        ),
        (["monitor", "start", "-n", "5"], APP, "monitor start: -n/--lines is for 'monitor logs'"),
        (["monitor", "status"], "", "[app] has no 'app' key, so there is no monitor"),
        (["reload"], "", "[app] has no 'app' key, so there is no monitor"),
    ],
)
def test_monitor_mistakes_are_usage_errors_before_any_connection(
    base: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], extra: str, error: str
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), extra=extra)
    result = run(base, "app", *argv)
    assert (result.status, ran(fake)) == (2, {"web1": []})
    assert result.error_lines[0].startswith(f"pushdeploy: error: {error}")


# -- systemd --------------------------------------------------------------------------------------


def test_systemd_prints_the_monitors_unit(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fleet(base, monkeypatch, host("web1"), extra=APP)
    result = run(base, "app", "systemd")
    assert result.stdout.splitlines()[:2] == ["# pushdeploy-app.service", "[Unit]"]
    assert (result.status, ran(fake)) == (0, {"web1": []})


def ssh_config(text: str) -> None:
    """Write ~/.ssh/config in the test's HOME (tests/conftest.py's hermetic_env)."""
    folder = Path.home() / ".ssh"
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "config").write_text(text)


def test_systemd_runs_the_unit_as_the_user_ssh_config_logs_in_as(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flow init recommends leaves ``user`` to ~/.ssh/config: the unit must not run as root."""
    ssh_config("Host web1\n    User deploy\n")
    fleet(base, monkeypatch, host("web1"), extra=APP)
    for argv in (["systemd"], ["systemd", "--socket"]):
        result = run(base, "app", *argv)
        assert (result.status, result.stdout.count("\nUser=deploy\n")) == (0, 1), argv


def test_systemd_install_writes_each_host_the_unit_of_its_own_login_user(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy.conf's ``user@`` wins over ~/.ssh/config, as when a deploy logs in."""
    ssh_config("Host *\n    User deploy\n")
    fake = fleet(base, monkeypatch, host("web1"), host("ops@web2"), extra=APP)
    printed = run(base, "app", "systemd").stdout
    assert [line for line in printed.splitlines() if line.startswith(("# for", "User="))] == [
        "# for web1 (deploys log in as deploy)",
        "User=deploy",
        "# for ops@web2 (deploys log in as ops)",
        "User=ops",
    ]
    assert run(base, "app", "systemd", "--install").status == 0
    written = {name: h.scripts[0] for name, h in fake.hosts.items()}
    assert ("User=deploy" in written["web1"], "User=ops" in written["web1"]) == (True, False)
    assert ("User=ops" in written["ops@web2"], "User=deploy" in written["ops@web2"]) == (
        True,
        False,
    )


def test_systemd_socket_prints_both_units_and_the_env_file_with_secrets_hidden(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), extra=APP)
    result = run(base, "app", "systemd", "--socket")
    headers = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("# /") or line.startswith("# p")
    ]
    assert headers == [
        "# pushdeploy-app.socket",
        "# pushdeploy-app.service",
        "# /srv/app/.pushdeploy/pushdeploy-app.env (mode 0600, written by --install; secrets hidden)",
    ]
    assert ('SECRET="***"' in result.stdout, "s3cr3t" in result.stdout) == (True, False)


def test_systemd_install_dry_run_prints_the_script_and_runs_it_nowhere(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"), extra=APP)
    result = run(base, "--dry-run", "app", "systemd", "--install")
    assert (result.status, result.stdout.count("\n# pushdeploy script\n")) == (0, 2)
    said_installed = "and reloaded systemd\n" in result.stdout
    assert (said_installed, ran(fake)) == (False, {"web1": [], "web2": []})


def test_systemd_install_runs_on_every_host(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"), extra=APP)
    result = run(base, "app", "systemd", "--install", "--socket")
    assert (result.status, result.stdout) == (
        0,
        "installed pushdeploy-app.socket, pushdeploy-app.service and reloaded systemd\n",
    )
    assert ran(fake) == {"web1": ["script"], "web2": ["script"]}
    assert "s3cr3t" in fake.hosts["web1"].scripts[0]  # the env file is written with the value


def test_systemd_refuses_what_systemd_cannot_take_or_has_nothing_to_run(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"))
    assert run(base, "app", "systemd").error_lines == [
        "pushdeploy: error: [app] has no 'app' key: there is nothing to run as a service"
    ]
    (base / "deploy.conf").write_text(f"[my app]\nhost = web1\nrepo = /r\npath = /p\n{APP}")
    result = run(base, "my app", "systemd")
    assert (result.status, result.error_lines) == (
        3,
        ["pushdeploy: error: [my app] systemd: not a valid systemd unit name: 'pushdeploy-my app'"],
    )
