"""The monitor zipapp: reproducible bytes, and it runs with nothing but python3."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from pushdeploy.monitor import bundle


def test_zipapp_is_byte_for_byte_reproducible() -> None:
    first, second = bundle.build_zipapp(), bundle.build_zipapp()
    assert first == second
    assert bundle.zipapp_digest() == hashlib.sha256(first).hexdigest()


def test_zipapp_has_a_shebang_and_the_monitor_package() -> None:
    data = bundle.build_zipapp()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names[:2] == ["__main__.py", "pushdeploy/__init__.py"]
    assert "pushdeploy/monitor/supervisor.py" in names
    assert all(n.startswith("pushdeploy/monitor/") for n in names[2:])
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_written_zipapp_runs_in_an_isolated_interpreter(tmp_path: Path) -> None:
    dest = tmp_path / "monitor.pyz"
    digest = bundle.write_zipapp(str(dest))
    assert digest == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert dest.stat().st_mode & 0o777 == 0o755
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(dest), "status", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def test_zipapp_reports_a_bad_config_with_status_2(tmp_path: Path) -> None:
    dest = tmp_path / "monitor.pyz"
    bundle.write_zipapp(str(dest))
    config = tmp_path / "monitor.json"
    config.write_text('{"app": "x", "listen": ["127.0.0.1:1"], "wokers": 2}')
    result = subprocess.run(
        [sys.executable, str(dest), "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown key 'wokers' (did you mean 'workers'?)" in result.stderr
