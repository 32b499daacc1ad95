"""deploy.conf, read and validated: line formats, inheritance, hosts, paths, errors with their line.

Most tests parse text with ``config.parse`` / ``effective`` / ``build_environment`` (what ``load``
does after reading the file) under the source name ``deploy.conf``, so messages read exactly as a
user sees them; the ``load`` tests at the end go through a real file in ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.config import hosts, keys, secrets
from pushdeploy.config.environment import Environment
from pushdeploy.config.hosts import Host
from pushdeploy.config.keys import KEYS
from pushdeploy.errors import ConfigError, ExitStatus

SOURCE = "deploy.conf"
DEFAULT_HINT = "fix deploy.conf (see deploy.conf.example for every key)"

# Lines 1-5; the line under test is line 6, inside [production].
PREAMBLE = "[defaults]\nhost = app1\nrepo = /srv/git/app.git\npath = /srv/app\n[production]\n"


def environment(text: str, name: str = "production") -> Environment:
    """What ``load`` returns for ``text`` read from a file called deploy.conf."""
    ini = config.parse(text, SOURCE)
    return config.build_environment(name, SOURCE, config.effective(ini, name))


def with_line(line: str) -> Environment:
    """[production] holding ``line`` (line 6), with host, repo and path from [defaults]."""
    return environment(PREAMBLE + line + "\n")


def config_error(text: str, name: str = "production") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        environment(text, name)
    return info.value


# --- line formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("repo git@github.com:a/b.git", "repo", "git@github.com:a/b.git"),
        ("repo = git@github.com:a/b.git", "repo", "git@github.com:a/b.git"),
        ("repo=git@github.com:a/b.git", "repo", "git@github.com:a/b.git"),
        ("post-deploy FOO=1 make", "post-deploy", "FOO=1 make"),
        ("post-deploy = FOO=1 make", "post-deploy", "FOO=1 make"),
        ("test ./bin/check --url=http://x:1/", "test", "./bin/check --url=http://x:1/"),
        ("test = ./bin/check --url=http://x:1/", "test", "./bin/check --url=http://x:1/"),
        ("user\tdeploy", "user", "deploy"),
        ("keep 3", "keep", 3),
        ("ref release/2024-01", "ref", "release/2024-01"),
        ("host deploy@app2:2222", "host", (Host("deploy@app2:2222", "app2", "deploy", 2222),)),
    ],
)
def test_tj_lines_and_ini_lines_read_the_same(line: str, key: str, expected: object) -> None:
    assert expected == keys.value_of(with_line(line), key)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("host h", "host = h"),
        ("repo git@github.com:a/b.git", "repo = git@github.com:a/b.git"),
        ("post-deploy FOO=1 make", "post-deploy = FOO=1 make"),
        ("host = h", "host = h"),
        ("host=h", "host=h"),
        ("host: h", "host: h"),
        ("    npm run build", "    npm run build"),
        ("# comment words", "# comment words"),
        ("; comment words", "; comment words"),
        ("[production]", "[production]"),
        ("", ""),
    ],
)
def test_normalize_rewrites_only_tj_lines(line: str, expected: str) -> None:
    assert expected + "\n" == config.normalize(line)


def test_normalize_keeps_every_line_number() -> None:
    text = "[p]\nhost h\n\n# note\nbuild =\n  make\n"
    assert len(text.splitlines()) == len(config.normalize(text).splitlines())


@pytest.mark.parametrize(
    "text",
    [
        "build =\n    npm ci --omit=dev\n    npm run build",
        "build = npm ci --omit=dev\n    npm run build",
        "build npm ci --omit=dev\n    npm run build",
    ],
)
def test_indented_lines_continue_a_multi_line_build(text: str) -> None:
    assert with_line(text).hooks.build == "npm ci --omit=dev\nnpm run build"


def test_comment_lines_are_ignored() -> None:
    env = environment("# top\n; also\n" + PREAMBLE + "# keep = 9\nkeep = 2\n")
    assert env.keep == 2


# --- sections, [defaults] and inherit -----------------------------------------------------------

CHAIN = """\
[defaults]
host = app1
repo = /srv/git/app.git
path = /srv/app
keep = 9
[base]
keep = 7
port = 2222
user = base
[mid]
inherit = base
keep = 8
user = mid
[production]
inherit = mid
user = production
"""


def test_precedence_is_section_then_inherit_chain_nearest_first_then_defaults() -> None:
    env = environment(CHAIN)
    assert (env.ssh.user, env.keep, env.ssh.port, env.path) == ("production", 8, 2222, "/srv/app")


def test_each_setting_remembers_its_section_and_line() -> None:
    settings = environment(CHAIN).settings
    expected = {
        "host": ("defaults", 2),
        "repo": ("defaults", 3),
        "path": ("defaults", 4),
        "keep": ("mid", 12),
        "port": ("base", 8),
        "user": ("production", 16),
        "inherit": ("production", 15),  # the section's own line only: `config inherit`
    }
    assert expected == {key: (s.section, s.line) for key, s in settings.items()}


def test_a_section_without_defaults_section_stands_alone() -> None:
    env = environment("[production]\nhost h\nrepo r\npath /p\n")
    assert ((Host("h", "h"),), "r", "/p", 5) == (env.hosts, env.source.repo, env.path, env.keep)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[production]\ninherit = production\n", "cycle production -> production"),
        (
            "[production]\ninherit = staging\n[staging]\ninherit = production\n",
            "cycle production -> staging -> production",
        ),
        (
            "[production]\ninherit = a\n[a]\ninherit = b\n[b]\ninherit = a\n",
            "cycle production -> a -> b -> a",
        ),
    ],
)
def test_an_inherit_cycle_is_an_error(text: str, expected: str) -> None:
    error = config_error(text)
    assert f"deploy.conf: [production] inherit: {expected}" == error.message


def test_a_missing_inherit_target_is_an_error_with_its_line_and_a_suggestion() -> None:
    error = config_error(PREAMBLE + "keep = 2\n[staging]\ninherit = productoin\n", "staging")
    expected = (
        "deploy.conf:8: [staging] inherit: no section [productoin]",
        "did you mean 'production'?",
    )
    assert expected == (error.message, error.hint)


def test_a_missing_inherit_target_without_a_near_match_lists_the_sections() -> None:
    error = config_error(PREAMBLE + "keep = 2\n[staging]\ninherit = zzz\n", "staging")
    assert error.hint == "sections: production, staging"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("prod", "sections: production, staging"),  # no prefix matching, as TJ's script had
        ("productoin", "did you mean 'production'?"),
        ("Production", "did you mean 'production'?"),  # case matters
        ("defaults", "sections: production, staging"),  # [defaults] is not an environment
    ],
)
def test_sections_match_exactly(name: str, hint: str) -> None:
    error = config_error(PREAMBLE + "keep = 2\n[staging]\nkeep = 3\n", name)
    assert (f"no section [{name}] in deploy.conf", hint) == (error.message, error.hint)


def test_a_file_without_sections_says_so() -> None:
    error = config_error("# nothing yet\n", "production")
    assert error.hint == "deploy.conf has no sections"


# --- unknown keys and syntax errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (PREAMBLE + "hots = app2\n", "deploy.conf:6: [production] hots: unknown key", "host"),
        (PREAMBLE + "hots app2\n", "deploy.conf:6: [production] hots: unknown key", "host"),
        ("[defaults]\nkep = 3\n", "deploy.conf:2: [defaults] kep: unknown key", "keep"),
        (PREAMBLE + "post_deploy = x\n", "deploy.conf:6: [production] post_deploy: unknown key",
         "post-deploy"),
        (PREAMBLE + "restartfile = x\n", "deploy.conf:6: [production] restartfile: unknown key",
         "restart-file"),
    ],
)  # fmt: skip
def test_an_unknown_key_is_an_error_with_a_did_you_mean(text: str, message: str, hint: str) -> None:
    error = config_error(text)
    assert (message, f"did you mean '{hint}'?") == (error.message, error.hint)


def test_an_unknown_key_far_from_every_key_points_at_the_example() -> None:
    error = config_error(PREAMBLE + "favourite = red\n")
    expected = (
        "deploy.conf:6: [production] favourite: unknown key",
        "see deploy.conf.example for the keys",
    )
    assert expected == (error.message, error.hint)


def test_an_unknown_key_in_another_section_stops_every_environment() -> None:
    error = config_error(PREAMBLE + "keep = 2\n[staging]\nhots = x\n", "production")
    assert error.message == "deploy.conf:8: [staging] hots: unknown key"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("host h\n[production]\n", "deploy.conf:1: no section header defined"),
        (PREAMBLE + "keep = 1\nkeep = 2\n", "deploy.conf:7: duplicate name 'keep'"),
        (PREAMBLE + "[production]\n", "deploy.conf:6: duplicate section 'production'"),
        ("[production]\n    stray\n", "deploy.conf:2: unexpected value continuation"),
    ],
)
def test_syntax_errors_name_their_line(text: str, message: str) -> None:
    assert message == config_error(text).message


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("host = deploy@app1:2222", "host", (Host("deploy@app1:2222", "app1", "deploy", 2222),)),
        ("host = [::1]:2222", "host", (Host("[::1]:2222", "::1", None, 2222),)),
        ("host = [2001:db8::1]", "host", (Host("[2001:db8::1]", "2001:db8::1"),)),
        ("host = web-alias", "host", (Host("web-alias", "web-alias"),)),
        ("host = local", "host", (Host("local", "local"),)),
        ("host = a b:2 c@d", "host", (Host("a", "a"), Host("b:2", "b", None, 2), Host("c@d", "d", "c"))),
        ("env = NODE_ENV=production GREETING=\"hello world\"", "env",
         (("NODE_ENV", "production"), ("GREETING", "hello world"))),
        ("env = A= B=x=y C=\"it's\"", "env", (("A", ""), ("B", "x=y"), ("C", "it's"))),
        ("env =\n  A=1\n  B='two words'", "env", (("A", "1"), ("B", "two words"))),
        ("path = ~/apps/site", "path", "~/apps/site"),
        ("path = /srv/app/", "path", "/srv/app"),
        ("path = /srv/my app", "path", "/srv/my app"),
        ("restart-file = tmp/restart.txt", "restart-file", "tmp/restart.txt"),
        ("restart-file = .restart", "restart-file", ".restart"),
        ("shared = node_modules/ logs/ .env", "shared", ("node_modules/", "logs/", ".env")),
        ("keep = 1", "keep", 1),
        ("forward-agent = yes", "forward-agent", True),
        ("forward-agent = Off", "forward-agent", False),
        ("host-key = accept-new", "host-key", "accept-new"),
        ("health-timeout = 10s", "health-timeout", 10),
        ("health-timeout = 0", "health-timeout", 0),
        ("listen = 127.0.0.1:3000 /run/app.sock", "listen", ("127.0.0.1:3000", "/run/app.sock")),
    ],
)  # fmt: skip
def test_good_values_convert(line: str, key: str, expected: object) -> None:
    assert expected == keys.value_of(with_line(line), key)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("port = eighty", "port: expected an integer, got 'eighty'"),
        ("port = 0", "port: expected a port from 1 to 65535, got '0'"),
        ("port = 65536", "port: expected a port from 1 to 65535, got '65536'"),
        ("keep = 0", "keep: expected a whole number of at least 1, got '0'"),
        ("keep = -2", "keep: expected a whole number of at least 1, got '-2'"),
        ("keep = many", "keep: expected an integer, got 'many'"),
        ("workers = 0", "workers: expected a whole number of at least 1, got '0'"),
        ("forward-agent = sure", "forward-agent: expected yes or no, got 'sure'"),
        ("host-key = maybe", "host-key: expected one of strict, accept-new, got 'maybe'"),
        ("health-timeout = -1", "health-timeout: expected seconds (0 or more), got '-1'"),
        ("host = local app2", "host: 'local' cannot be mixed with other hosts"),
        ("host = app2 app2", "host: a host is listed twice"),
        ("host = local local", "host: a host is listed twice"),
        ("host = app2:http", "host: expected [user@]host[:port], got 'app2:http'"),
        ("host = ::1", "host: expected [user@]host[:port], got '::1'"),
        ("host = @app2", "host: expected [user@]host[:port], got '@app2'"),
        ("host = app2:0", "host: expected a port from 1 to 65535, got '0'"),
        ("env = 1A=2", "env: item 1: '1A' is not a variable name"),
        ("env = OK=1 A-B=2", "env: item 2: 'A-B' is not a variable name"),
        ("env = A", "env: expected NAME=value items; item 1 has no '='"),
        ("env = A='x", "env: cannot split into NAME=value items: No closing quotation"),
        ("path = srv/app", "path: expected an absolute path or ~/path, got 'srv/app'"),
        ("path = ~", "path: expected an absolute path or ~/path, got '~'"),
        ("path = ~deploy/app", "path: expected an absolute path or ~/path, got '~deploy/app'"),
        ("path = /srv/../etc", "path: '..' is not allowed in the path"),
        ("path = ~/app/..", "path: '..' is not allowed in the path"),
        ("restart-file = /tmp/restart.txt",
         "restart-file: expected a path inside the release, got '/tmp/restart.txt'"),
        ("restart-file = ../restart.txt",
         "restart-file: expected a path inside the release, got '../restart.txt'"),
        ("restart-file = tmp/../../x",
         "restart-file: expected a path inside the release, got 'tmp/../../x'"),
        ("shared = logs/ ../secrets", "shared: expected a path inside the release, got '../secrets'"),
        ("shared = /etc/passwd", "shared: expected a path inside the release, got '/etc/passwd'"),
        ("repo =\n    a\n    b", "repo: expected one non-empty line"),
    ],
)  # fmt: skip
def test_a_bad_value_is_an_error_with_its_line(line: str, problem: str) -> None:
    error = config_error(PREAMBLE + line + "\n")
    expected = (f"deploy.conf:6: [production] {problem}", DEFAULT_HINT, ExitStatus.CONFIG)
    assert expected == (error.message, error.hint, error.status)


def test_config_errors_exit_with_status_3() -> None:
    assert config_error(PREAMBLE + "port = eighty\n").status == 3


def test_a_bad_value_from_defaults_points_at_its_line_in_defaults() -> None:
    error = config_error(PREAMBLE.replace("[defaults]\n", "[defaults]\nport = eighty\n"))
    assert error.message == "deploy.conf:2: [production] port: expected an integer, got 'eighty'"


@pytest.mark.parametrize("value", ["/", "~/"])
def test_a_bad_path_error_quotes_what_was_written(value: str) -> None:
    error = config_error(PREAMBLE + f"path = {value}\n")
    expected = (
        f"deploy.conf:6: [production] path: expected an absolute path or ~/path, got {value!r}"
    )
    assert expected == error.message


@pytest.mark.parametrize("key", ["host", "path"])
def test_a_missing_required_key_is_an_error(key: str) -> None:
    lines = {"host": "host = app1", "repo": "repo = /srv/git/app.git", "path": "path = /srv/app"}
    text = "[production]\n" + "\n".join(v for k, v in lines.items() if k != key) + "\n"
    error = config_error(text)
    expected = (
        f"deploy.conf: [production] {key}: required key is missing",
        f"add '{key} = ...' to [production] or [defaults] ({KEYS[key].doc})",
    )
    assert expected == (error.message, error.hint)


def test_a_section_needs_a_repo_or_an_artifact() -> None:
    error = config_error("[production]\nhost = app1\npath = /srv/app\n")
    expected = (
        "deploy.conf: [production] repo: required key is missing",
        "add 'repo = ...' (a git URL) or 'artifact = ...' (a build artifact) to [production]",
    )
    assert expected == (error.message, error.hint)


def test_an_artifact_needs_no_repo() -> None:
    text = "[production]\nhost = app1\npath = /srv/app\nartifact = dist/app.tar.gz\n"
    env = config.build_environment(
        "production",
        "deploy.conf",
        config.effective(config.parse(text, "deploy.conf"), "production"),
    )
    assert (env.source.repo, env.source.artifact) == (None, "dist/app.tar.gz")


def test_repo_token_is_read_from_the_variable_it_names_and_hidden() -> None:
    text = "[production]\nhost = app1\npath = /srv/app\nrepo = https://git.example/app.git\nrepo-token = $GIT_TOKEN\n"
    merged = config.effective(config.parse(text, "deploy.conf"), "production")
    env = config.build_environment(
        "production", "deploy.conf", merged, environ={"GIT_TOKEN": "s3cr3t-token"}
    )
    assert (env.source.repo_token, env.external[-1]) == (
        "s3cr3t-token",
        ("REPO_TOKEN", "s3cr3t-token"),
    )
    assert "s3cr3t-token" not in repr(env)


def test_repo_token_must_name_a_variable_not_hold_the_token() -> None:
    error = config_error(PREAMBLE + "repo-token = ghp_abcdef123456\n")
    assert "ghp_abcdef123456" not in error.message
    assert "repo-token: give $NAME" in error.message


def test_an_unset_repo_token_variable_is_an_error_naming_it() -> None:
    text = PREAMBLE + "repo = https://git.example/app.git\nrepo-token = ${NOT_SET_ANYWHERE}\n"
    merged = config.effective(config.parse(text, "deploy.conf"), "production")
    with pytest.raises(ConfigError) as caught:
        config.build_environment("production", "deploy.conf", merged, environ={})
    assert "NOT_SET_ANYWHERE" in caught.value.message
    assert caught.value.message.startswith("deploy.conf:7: [production] repo-token")


def test_repo_token_needs_an_https_repo() -> None:
    text = PREAMBLE + "repo-token = $GIT_TOKEN\n"
    merged = config.effective(config.parse(text, "deploy.conf"), "production")
    with pytest.raises(ConfigError) as caught:
        config.build_environment(
            "production", "deploy.conf", merged, environ={"GIT_TOKEN": "t0ken-value"}
        )
    assert caught.value.message == "deploy.conf: [production] repo-token needs an https:// repo"


def test_unset_keys_take_their_defaults() -> None:
    env = with_line("keep = 5")
    expected = (
        None,
        None,
        False,
        "strict",
        "tmp/restart.txt",
        "touch",
        30,
        (),
        (),
        2,
        "accept",
        30,
    )
    actual = (
        env.ssh.user,
        env.ssh.port,
        env.ssh.forward_agent,
        env.ssh.host_key,
        env.restart.file,
        env.restart.strategy,
        env.restart.health_timeout,
        env.shared,
        env.env,
        env.monitor.workers,
        env.monitor.ready,
        env.monitor.grace,
    )
    assert expected == actual


@pytest.mark.parametrize(
    ("lines", "message", "hint"),
    [
        (
            "restart = monitor",
            "deploy.conf: [production] restart: 'monitor' needs the 'app' key",
            "set 'app' to the command that runs your app, or use restart = touch",
        ),
        (
            "app = python3 app.py",
            "deploy.conf: [production] app: the monitor needs 'listen' (host:port or socket path)",
            DEFAULT_HINT,
        ),
    ],
)
def test_keys_that_need_each_other(lines: str, message: str, hint: str) -> None:
    error = config_error(PREAMBLE + lines + "\n")
    assert (message, hint) == (error.message, error.hint)


def test_monitor_restart_with_app_and_listen_is_accepted() -> None:
    env = with_line("restart = monitor\napp = python3 app.py\nlisten = 127.0.0.1:3000")
    assert (env.restart.strategy, env.monitor.app, env.monitor.listen) == (
        "monitor",
        "python3 app.py",
        ("127.0.0.1:3000",),
    )


# --- hosts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("deploy@app1:2222", Host("deploy@app1:2222", "app1", "deploy", 2222)),
        ("deploy@app1", Host("deploy@app1", "app1", "deploy", None)),
        ("app1:22", Host("app1:22", "app1", None, 22)),
        ("[::1]:2222", Host("[::1]:2222", "::1", None, 2222)),
        ("root@[fe80::1]", Host("root@[fe80::1]", "fe80::1", "root", None)),
        ("10.0.0.5", Host("10.0.0.5", "10.0.0.5")),
        ("web-alias", Host("web-alias", "web-alias")),
        ("local", Host("local", "local")),
    ],
)
def test_parse_host(spec: str, expected: Host) -> None:
    assert expected == hosts.parse_host(spec)


@pytest.mark.parametrize(
    ("spec", "local"), [("local", True), ("localhost", False), ("local:22", True)]
)
def test_only_the_name_local_means_this_machine(spec: str, local: bool) -> None:
    assert local == hosts.parse_host(spec).local


@pytest.mark.parametrize("spec", ["", "a b", "user@", "@host", "host:", "a/b", "::1", "host:port"])
def test_parse_host_refuses(spec: str) -> None:
    with pytest.raises(ValueError, match=r"^expected \[user@\]host\[:port\], got "):
        hosts.parse_host(spec)


def test_a_blank_host_value_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^expected one or more hosts$"):
        hosts.parse_hosts("  ")


# --- redact ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("env", "A=1 SECRET_KEY=abc", "A=1 SECRET_KEY=***"),
        ("env", "DB_PASSWORD='x y' GREETING='hello world'", "DB_PASSWORD=*** GREETING='hello world'"),
        ("env", "GITHUB_TOKEN=t API_AUTH=z AWS_CREDENTIALS=c", "GITHUB_TOKEN=*** API_AUTH=*** AWS_CREDENTIALS=***"),
        ("env", "api_key=k Passwd=p", "api_key=*** Passwd=***"),
        ("env", "NODE_ENV=production", "NODE_ENV=production"),
        ("repo", "https://deploy:s3cret@git.example.com/app.git", "https://deploy:***@git.example.com/app.git"),
        ("repo", "ssh://git:pw@host:22/app.git", "ssh://git:***@host:22/app.git"),
        ("repo", "git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("repo", "https://github.com/a/b.git", "https://github.com/a/b.git"),
        ("repo", "https://ghp_token@github.com/a/b.git", "https://***@github.com/a/b.git"),
        ("host", "deploy@app1", "deploy@app1"),
        ("env", "GITHUB_PAT=p PRIVATE_PEM=k PATH=/bin PYTHONPATH=.", "GITHUB_PAT=*** PRIVATE_PEM=*** PATH=/bin PYTHONPATH=."),
        ("env", "DATABASE_URL=postgres://u:pw@db/app", "DATABASE_URL='postgres://u:***@db/app'"),
        ("env", "DB_PASSWORD=$DB_PASSWORD URL=$URL", "DB_PASSWORD=*** URL='$URL'"),
        ("health", "https://u:pw@example.com/health", "https://u:***@example.com/health"),
        ("build", "curl https://u:pw@x/y\nmake", "curl https://u:***@x/y\nmake"),
    ],
)  # fmt: skip
def test_redact_hides_secrets(key: str, value: str, expected: str) -> None:
    assert expected == secrets.redact(key, value)


# --- load --------------------------------------------------------------------------------------

TJ_EXAMPLE = """\
[production]
key /path/to/some.pem
user deployer
host n.n.n.n
repo git@github.com:visionmedia/express.git
path /var/www/prod
ref origin/master
post-deploy /var/www/prod/update.sh
"""


def test_load_reads_tj_s_own_example(tmp_path: Path) -> None:
    path = tmp_path / "deploy.conf"
    path.write_text(TJ_EXAMPLE, encoding="utf-8")
    env = config.load(path, "production")
    expected = (
        str(path),
        "/path/to/some.pem",
        "deployer",
        (Host("n.n.n.n", "n.n.n.n"),),
        "git@github.com:visionmedia/express.git",
        "/var/www/prod",
        "origin/master",
        "/var/www/prod/update.sh",
    )
    actual = (
        env.config_file,
        env.ssh.key,
        env.ssh.user,
        env.hosts,
        env.source.repo,
        env.path,
        env.source.ref,
        env.hooks.post_deploy,
    )
    assert expected == actual


def test_load_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "deploy.conf"
    path.write_text(PREAMBLE + "hots = app2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(path, "production")
    assert f"{path}:6: [production] hots: unknown key" == info.value.message


def test_load_applies_overrides_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.conf"
    path.write_text(PREAMBLE + "ref = main\n", encoding="utf-8")
    env = config.load(path, "production", {"ref": "v2.0.0"})
    assert (env.source.ref, env.settings["ref"].section) == ("v2.0.0", "command line")


def test_a_bad_override_says_it_came_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "deploy.conf"
    path.write_text(PREAMBLE, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(path, "production", {"port": "x"})
    expected = f"{path} (command line): [production] port: expected an integer, got 'x'"
    assert expected == info.value.message


def test_a_missing_config_file_suggests_the_example(tmp_path: Path) -> None:
    path = tmp_path / "deploy.conf"
    with pytest.raises(ConfigError) as info:
        config.load(path, "production")
    expected = (
        f"no config file at {path}",
        "create one: 'pushdeploy init ENV --host HOST --path PATH', or pass -c FILE",
        3,
    )
    assert expected == (info.value.message, info.value.hint, info.value.status)


@pytest.mark.parametrize("kind", ["directory", "latin-1"])
def test_an_unreadable_config_file_is_a_config_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "deploy.conf"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"[production]\nhost = caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        config.load(path, "production")
    assert info.value.message.startswith(f"cannot read {path}: ")


# --- values from outside deploy.conf: $NAME and secrets-file ---------------------------------


def load_with(tmp_path: Path, lines: str, environ: dict[str, str] | None = None) -> Environment:
    path = tmp_path / "deploy.conf"
    path.write_text(PREAMBLE + lines, encoding="utf-8")
    return config.load(path, "production", environ=environ or {})


def test_env_values_expand_from_the_local_environment(tmp_path: Path) -> None:
    env = load_with(
        tmp_path,
        "env = URL=postgres://app:${PW}@db/app TOKEN=$TOKEN PRICE=5$$ KEPT='$$HOME'\n",
        {"PW": "p w", "TOKEN": "t0k"},
    )
    expected = (
        ("URL", "postgres://app:p w@db/app"),
        ("TOKEN", "t0k"),
        ("PRICE", "5$"),
        ("KEPT", "$HOME"),
    )
    assert expected == env.env
    assert env.external == (("URL", "p w"), ("TOKEN", "t0k"))


def test_an_unset_variable_is_a_config_error_naming_it_with_a_hint_about_dollars(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        load_with(tmp_path, "env = A=1 B=x$NOT_SET\n")
    expected = (
        f"{tmp_path / 'deploy.conf'}:6: [production] env: B: $NOT_SET is not set in your environment",
        "export it before running pushdeploy, or write $$ for a literal $",
    )
    assert expected == (info.value.message, info.value.hint)


def test_env_errors_never_echo_a_value(tmp_path: Path) -> None:
    for line in ["env = DB_PASSWORD = hunter22", "env = =hunter22", "env = A=hunter22${"]:
        with pytest.raises(ConfigError) as info:
            load_with(tmp_path, line + "\n")
        assert "hunter22" not in info.value.message + info.value.hint


def test_the_secrets_file_joins_env_and_wins_for_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "prod.env").write_text("export DB_PASSWORD='from file'\nAPI=2\n")
    (tmp_path / "secrets" / "prod.env").chmod(0o600)
    warnings: list[str] = []
    path = tmp_path / "deploy.conf"
    path.write_text(PREAMBLE + "env = DB_PASSWORD=dev MODE=x\nsecrets-file = secrets/prod.env\n")
    env = config.load(path, "production", environ={}, warn=warnings.append)
    assert env.env == (("DB_PASSWORD", "from file"), ("MODE", "x"), ("API", "2"))
    assert env.external == (("DB_PASSWORD", "from file"), ("API", "2"))
    assert warnings == []


def test_a_secrets_file_others_can_read_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "s.env").write_text("A=1\n")
    (tmp_path / "s.env").chmod(0o644)
    warnings: list[str] = []
    path = tmp_path / "deploy.conf"
    path.write_text(PREAMBLE + "secrets-file = s.env\n")
    config.load(path, "production", environ={}, warn=warnings.append)
    expected = f"{tmp_path / 's.env'} holds secrets but others can read it (mode 644); chmod 600 it"
    assert [expected] == warnings


def test_a_missing_secrets_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_with(tmp_path, "secrets-file = nope.env\n")
    expected = f"{tmp_path / 'deploy.conf'}:6: [production] secrets-file: no file at {tmp_path / 'nope.env'}"
    assert (expected, ExitStatus.CONFIG) == (info.value.message, info.value.status)


def test_a_bad_secrets_file_line_is_named_by_its_line_not_its_value(tmp_path: Path) -> None:
    (tmp_path / "s.env").write_text("A=1\nhunter22\n")
    with pytest.raises(ConfigError) as info:
        load_with(tmp_path, "secrets-file = s.env\n")
    expected = f"{tmp_path / 's.env'}:2: expected NAME=value or export NAME=value"
    assert expected == info.value.message


def test_the_environment_repr_shows_no_env_values(tmp_path: Path) -> None:
    env = load_with(tmp_path, "env = API_TOKEN=hunter22\n")
    assert "hunter22" not in repr(env)


def test_every_default_is_written_once_in_the_table_of_keys() -> None:
    """The fields keys feed (in Environment or its sections) carry no default of their own:
    build_environment takes each from KEYS, through the key's converter, so the table is the one
    place a default is written."""
    import dataclasses

    from pushdeploy.config.environment import SECTIONS

    fed = [
        (key, {f.name: f for f in dataclasses.fields(SECTIONS.get(spec.section, Environment))})
        for key, spec in KEYS.items()
        if key != "inherit"
    ]
    missing = [key for key, fields in fed if KEYS[key].attr not in fields]
    defaulted = [
        key
        for key, fields in fed
        if KEYS[key].attr in fields
        and (
            fields[KEYS[key].attr].default is not dataclasses.MISSING
            or fields[KEYS[key].attr].default_factory is not dataclasses.MISSING
        )
    ]
    assert (missing, defaulted) == ([], [])


@pytest.mark.parametrize("key", [k for k, spec in KEYS.items() if spec.default is not None])
def test_a_default_is_deploy_conf_text_its_converter_takes(key: str) -> None:
    KEYS[key].convert(KEYS[key].default or "")
