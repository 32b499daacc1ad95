"""Local logs: where they live, what a line looks like, what is kept, and the ``log`` command."""

from __future__ import annotations

import io
import itertools
import json
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pushdeploy import __version__, console
from pushdeploy.cli import logs
from pushdeploy.cli import main as cli
from pushdeploy.config.secrets import Masker
from pushdeploy.console import logbook
from pushdeploy.console.logbook import Logbook
from pushdeploy.errors import UsageError

START = datetime(2026, 11, 30, 7, 41, 2, 123456, tzinfo=UTC)
HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\rd\x08e\x00f\x7fg\x9bh\u202ei\u2066j\tk"


def ticking(step: timedelta = timedelta(seconds=1)) -> Callable[[], datetime]:
    """A clock that moves ``step`` on each reading, from START."""
    ticks = itertools.count()
    return lambda: START + next(ticks) * step


def environ(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}


def book(tmp_path: Path, *argv: str, **options: Any) -> Logbook:
    """A log of ``pushdeploy prod ARGV`` (default: ``deploy main``)."""
    argv = argv or ("deploy", "main")
    options = {"mask": str, "environ": environ(tmp_path), "clock": ticking(), **options}
    return Logbook.open("prod", argv[0], ["prod", *argv], **options)


def lines(log: Logbook) -> list[str]:
    assert log.path is not None
    return log.path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/pushdeploy/logs"),
        ({"HOME": "/h"}, "/h/.local/state/pushdeploy/logs"),
        ({"XDG_STATE_HOME": "", "HOME": "/h"}, "/h/.local/state/pushdeploy/logs"),
        ({"XDG_STATE_HOME": "rel/state", "HOME": "/h"}, "/h/.local/state/pushdeploy/logs"),
    ],
    ids=["xdg", "unset", "empty", "relative-ignored"],
)
def test_the_state_dir_follows_xdg_and_ignores_a_relative_path(
    env: dict[str, str], expected: str
) -> None:
    assert Path(expected) == logbook.state_dir(env)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("production", "production"),
        ("web.eu-1_b", "web.eu-1_b"),
        ("a b/c\\d", "a_b_c_d"),
        ("../etc", ".._etc"),
        (".", "_"),
        ("..", "__"),
        ("", "_"),
        ("prodüction", "prod_ction"),
        ("x" * 100, "x" * 64),
    ],
)
def test_names_in_paths_are_filename_safe(name: str, expected: str) -> None:
    assert expected == logbook.safe_name(name)


def test_a_log_is_named_by_its_utc_start_and_command_and_opens_with_a_header(
    tmp_path: Path,
) -> None:
    log = book(tmp_path)
    log.write("web1", "step", "fetch")
    log.write("", "result", "deployed main (3f2a9c1) to web1 in 2.4 s")
    log.close()
    assert tmp_path / "state/pushdeploy/logs/prod/20261130T074102.123456Z-deploy.log" == log.path
    assert [
        f"# pushdeploy {__version__} prod deploy main (env prod)",
        "2026-11-30T07:41:03.123Z web1 step fetch",
        "2026-11-30T07:41:04.123Z - result deployed main (3f2a9c1) to web1 in 2.4 s",
    ] == lines(log)


def test_logs_are_private_files_in_private_directories(tmp_path: Path) -> None:
    log = book(tmp_path)
    log.close()
    assert log.path is not None
    logs = tmp_path / "state/pushdeploy"
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [logs, logs / "logs", log.path.parent]}
    assert ({p: 0o700 for p in modes}, 0o600) == (modes, stat.S_IMODE(log.path.stat().st_mode))


def test_secret_values_are_masked_in_every_line_the_header_too(tmp_path: Path) -> None:
    log = book(tmp_path, mask=Masker(["hunter2-token"]))
    log.write("web1", "out", "curl -H 'Authorization: hunter2-token' ...")
    log.close()
    text = "\n".join(lines(log))
    assert ("hunter2" in text, text.count("***")) == (False, 1)
    log = book(tmp_path, "exec", "echo hunter2-token", mask=Masker(["hunter2-token"]))
    log.close()
    assert lines(log)[0].endswith("'echo ***' (env prod)")


def test_controls_are_escaped_as_the_console_escapes_them(tmp_path: Path) -> None:
    log = book(tmp_path)
    log.write("web1", "out", HOSTILE)
    log.close()
    assert f"2026-11-30T07:41:03.123Z web1 out {console.visible(HOSTILE)}" == lines(log)[1]


def test_each_line_of_a_text_gets_the_prefix_so_a_server_cannot_forge_a_line(
    tmp_path: Path,
) -> None:
    log = book(tmp_path)
    log.write("web1", "out", "one\n2026-11-30T07:41:03.123Z - result ok\n")
    log.close()
    assert lines(log)[1:] == [
        "2026-11-30T07:41:03.123Z web1 out one",
        "2026-11-30T07:41:03.123Z web1 out 2026-11-30T07:41:03.123Z - result ok",
    ]
    assert [s.result for s in logs.recent("prod", environ(tmp_path))] == ["unfinished"]


def opened(log: Logbook) -> Path:
    log.close()
    assert log.path is not None
    return log.path


def test_the_newest_hundred_logs_are_kept_and_nothing_else_is_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "state/pushdeploy/logs/prod"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    clock = ticking(timedelta(minutes=1))
    paths = [opened(book(tmp_path, clock=clock)) for _ in range(logbook.KEEP + 3)]
    assert {p.name for p in paths[3:]} | {"notes.txt"} == {p.name for p in folder.iterdir()}


def test_two_logs_opened_in_the_same_microsecond_get_two_files(tmp_path: Path) -> None:
    paths = [opened(book(tmp_path, clock=lambda: START)) for _ in range(3)]
    assert [p.name.split(".")[1][:7] for p in paths] == ["123456Z", "123457Z", "123458Z"]


def test_an_unwritable_state_dir_disables_the_log_and_says_why(tmp_path: Path) -> None:
    """A file where the directory should be: root cannot write there either."""
    (tmp_path / "state").write_text("not a directory")
    log = book(tmp_path)
    log.write("web1", "step", "fetch")
    log.close()
    assert (log.path, log.problem.startswith("no local log: cannot write in ")) == (None, True)


def test_a_failed_write_disables_the_log_once_and_never_raises(tmp_path: Path) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    log = Logbook(full, "", full.open("w"), str, ticking())
    log.write("web1", "out", "no space")
    problem = log.problem
    log.write("web1", "out", "still none")
    log.close()
    assert (problem.startswith("the local log /dev/full stopped"), log.problem) == (True, problem)


def test_a_disabled_log_does_nothing() -> None:
    log = Logbook.disabled("because")
    log.write("web1", "step", "fetch")
    log.close()
    assert (log.path, log.problem) == (None, "because")


def test_lines_written_from_many_threads_stay_whole(tmp_path: Path) -> None:
    log = book(tmp_path, clock=lambda: START)
    text = {f"web{n}": f"{n}" * 3000 for n in range(8)}

    def flood(host: str) -> None:
        for _ in range(100):
            log.write(host, "out", text[host])

    threads = [threading.Thread(target=flood, args=(host,)) for host in text]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    log.close()
    events = [line.split(" ") for line in lines(log)[1:]]
    assert (len(events), [e for e in events if text[e[1]] != e[3]]) == (800, [])


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ([("", "result", "deployed main")], "ok"),
        ([("", "error", "web1: build failed")], "failed"),
        ([("", "error", "interrupted")], "interrupted"),
        ([("", "interrupted", "web1 left at build")], "interrupted"),
        ([("web1", "step", "build")], "unfinished"),
        ([("", "error", "web1: build failed"), ("", "result", "retried")], "ok"),
        ([("web1", "out", "- result ok")], "unfinished"),
    ],
)
def test_recent_says_how_each_run_ended(
    tmp_path: Path, last: list[tuple[str, str, str]], expected: str
) -> None:
    log = book(tmp_path)
    for event in last:
        log.write(*event)
    log.close()
    summaries = logs.recent("prod", environ(tmp_path))
    assert [(log.path, START, "deploy", expected)] == [
        (s.path, s.time, s.command, s.result) for s in summaries
    ]


# --- the `log` command ----------------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path


def invocation(*words: str, json_output: bool = False, **opts: Any) -> SimpleNamespace:
    """What ``run_log`` reads of an ``Invocation``, with a real console on StringIO."""
    out = io.StringIO()
    return SimpleNamespace(
        console=console.Console(out, io.StringIO(), color=False),
        env=SimpleNamespace(name="prod"),
        args=SimpleNamespace(json=json_output),
        out=out,
        opts=SimpleNamespace(**({"n": int(words[0]) if words else None} | opts)),
    )


def runs(state: Path, *results: str) -> list[Path]:
    """One log per result (``""``: unfinished), a minute apart, oldest first."""
    clock = ticking(timedelta(minutes=1))
    paths = []
    for n, result in enumerate(results):
        log = book(state, "deploy" if n % 2 == 0 else "status", clock=clock)
        if result:
            log.write("", result, "text")
        log.close()
        assert log.path is not None
        paths.append(log.path)
    return paths


def test_log_lists_the_recent_runs_newest_last_numbered_like_revert(state: Path) -> None:
    paths = runs(state, "result", "error", "")
    inv = invocation()
    assert logs.run_log(inv) == 0  # type: ignore[arg-type]
    assert [
        "#  time                     command  result      path",
        f"3  2026-11-30 07:41:02 UTC  deploy   ok          {paths[0]}",
        f"2  2026-11-30 07:43:02 UTC  status   failed      {paths[1]}",
        f"1  2026-11-30 07:45:02 UTC  deploy   unfinished  {paths[2]}",
    ] == inv.out.getvalue().splitlines()


def test_log_lists_at_most_the_twenty_newest(state: Path) -> None:
    runs(state, *["result"] * 25)
    inv = invocation(json_output=True)
    logs.run_log(inv)  # type: ignore[arg-type]
    listed = json.loads(inv.out.getvalue())
    assert (len(listed), listed[0]["number"], listed[-1]["number"]) == (logs.LISTED, 20, 1)


def test_log_json_is_an_array_of_objects(state: Path) -> None:
    paths = runs(state, "result")
    inv = invocation(json_output=True)
    logs.run_log(inv)  # type: ignore[arg-type]
    expected = {"number": 1, "time": "2026-11-30T07:41:02.123456Z", "command": "deploy"}
    expected |= {"result": "ok", "path": str(paths[0])}
    assert [expected] == json.loads(inv.out.getvalue())


def test_log_n_prints_that_log_exactly(state: Path) -> None:
    paths = runs(state, "result", "error")
    for inv, path in [(invocation("2"), paths[0]), (invocation(n=1), paths[1])]:
        logs.run_log(inv)  # type: ignore[arg-type]
        assert path.read_text(encoding="utf-8") == inv.out.getvalue()


def test_no_logs_yet_is_said_with_where_they_will_be(state: Path) -> None:
    inv = invocation()
    logs.run_log(inv)  # type: ignore[arg-type]
    folder = state / "state/pushdeploy/logs/prod"
    assert f"no logs yet for prod (they are written to {folder})\n" == inv.out.getvalue()


@pytest.mark.parametrize(
    ("words", "message", "hint"),
    [
        (["4"], "log 4: there is no log 4 for prod", "there are 3 logs (1 is the latest)"),
        (["0"], "log: expected the number of a log (1 is the latest), got '0'", "lists"),
        (["-1"], "got '-1'", "lists"),
        (["two"], "got 'two'", "lists"),
        (["1", "2"], "log: unexpected argument '2'", "usage:"),
    ],
)
def test_a_bad_log_number_is_a_usage_error(
    state: Path, words: list[str], message: str, hint: str
) -> None:
    runs(state, "result", "result", "result")
    conf = state / "deploy.conf"
    conf.write_text("[prod]\nhost = web1\nrepo = /r\npath = /srv/app\n", encoding="utf-8")
    err = io.StringIO()
    status = cli.main(["-c", str(conf), "prod", "log", *words], io.StringIO(), err)
    assert (status, message in err.getvalue(), hint in err.getvalue()) == (2, True, True)


def test_asking_for_a_log_when_there_is_none_says_so(state: Path) -> None:
    with pytest.raises(UsageError) as raised:
        logs.run_log(invocation("1"))  # type: ignore[arg-type]
    folder = state / "state/pushdeploy/logs/prod"
    assert f"no logs yet: they are written to {folder}" == raised.value.hint
