"""service.sh run for real: private files, the systemd units through sudo, the monitor's CLI."""

from __future__ import annotations

import shlex
import stat
import subprocess
from pathlib import Path

from pushdeploy.config import deployconf
from pushdeploy.config.environment import Environment
from pushdeploy.remote import protocol, service

# What a script gives service.sh: `fail` (prelude.sh's, reduced to its words and status 1).
PRELUDE = 'set -u -o pipefail\nfail() { echo "fail $*"; exit 1; }\nstep() { echo "step $1"; }\n'


def run(bin_dir: Path, body: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """service.sh and ``body`` in bash, ``bin_dir`` first on PATH (for stubs)."""
    return subprocess.run(
        ["bash", "-c", PRELUDE + service.LIBRARY + body],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=False,
    )


def stub(bin_dir: Path, name: str, text: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!/bin/sh\n{text}", encoding="utf-8")
    (bin_dir / name).chmod(0o755)


def environment(tmp_path: Path) -> Environment:
    """An app under the monitor, its root in ``tmp_path`` (nothing installed there)."""
    conf = tmp_path / "deploy.conf"
    conf.write_text(
        f"[app]\nhost = web1\nrepo = /r\npath = {tmp_path / 'app'}\n"
        "app = python3 app.py\nlisten = 127.0.0.1:3000\n",
        encoding="utf-8",
    )
    return deployconf.load(conf, "app")


def test_units_go_through_sudo_n_unless_root_and_systemd_reloads_last(tmp_path: Path) -> None:
    calls, bin_dir = tmp_path / "calls", tmp_path / "bin"
    stub(bin_dir, "id", "echo 1000\n")
    stub(bin_dir, "sudo", f'echo "$*" >>{calls}; cat >/dev/null\n')
    steps = service.install_unit_steps({"app.socket": "[Socket]\n", "app.service": "[Unit]\n"})
    done = run(bin_dir, "\n".join(steps))
    assert (done.returncode, done.stdout, calls.read_text().splitlines()) == (
        0,
        "step systemd\n",
        [
            "-n tee /etc/systemd/system/app.socket",
            "-n chmod 644 /etc/systemd/system/app.socket",
            "-n tee /etc/systemd/system/app.service",
            "-n chmod 644 /etc/systemd/system/app.service",
            "-n systemctl daemon-reload",
        ],
    )


def test_a_unit_that_cannot_be_written_fails_the_step_naming_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    stub(bin_dir, "id", "echo 1000\n")
    stub(bin_dir, "sudo", "cat >/dev/null; exit 1\n")
    done = run(bin_dir, "\n".join(service.install_unit_steps({"app.service": "[Unit]\n"})))
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        1,
        "fail systemd cannot write app.service (sudo?)",
    )


def test_write_private_replaces_the_file_with_mode_0600_and_says_what_it_could_not_write(
    tmp_path: Path,
) -> None:
    target = tmp_path / "state" / "settings.json"
    target.parent.mkdir()
    target.write_text("old")
    done = run(tmp_path, f"write_private {shlex.quote(str(target))} 'new text' settings.json step")
    missing = tmp_path / "nowhere" / "x"
    failed = run(tmp_path, f"write_private {shlex.quote(str(missing))} text x.json monitor")
    assert (done.returncode, target.read_text(), stat.S_IMODE(target.stat().st_mode)) == (
        0,
        "new text",
        0o600,
    )
    assert (failed.returncode, failed.stdout) == (1, "fail monitor cannot write x.json\n")


def test_the_monitor_is_installed_only_when_its_digest_changed(tmp_path: Path) -> None:
    zipapp = tmp_path / "monitor.pyz"
    call = f"monitor_install {shlex.quote(str(zipapp))} "
    first = run(tmp_path, call + "0" * 64, stdin="aGVsbG8K\n")  # base64 of "hello\n"
    digest = subprocess.run(
        ["sha256sum", str(zipapp)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    again = run(tmp_path, call + digest, stdin="Ynll\n")  # "bye": not read, not written
    assert (first.returncode, again.returncode, zipapp.read_text()) == (0, 0, "hello\n")
    assert stat.S_IMODE(zipapp.stat().st_mode) == 0o755


def test_the_monitor_command_without_a_monitor_says_to_run_setup(tmp_path: Path) -> None:
    script = service.monitor_script(environment(tmp_path), "status", ["--json"])  # no prelude
    done = subprocess.run(
        ["bash", "-s"], input=script, capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stderr) == (
        protocol.MONITOR_NOT_RUNNING,
        "pushdeploy: the monitor is not installed here; run setup (with app and listen set)\n",
    )
