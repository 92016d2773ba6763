"""Static checks of the systemd units shipped in edge/systemd (no systemd in the test environment)."""

import tomllib
from pathlib import Path

import pytest

EDGE = Path(__file__).resolve().parents[2] / "edge"


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (EDGE / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize(
    ("name", "command"), [("p1edge-reader.service", "read"), ("p1edge-uploader.service", "upload")]
)
def test_it_runs_units_unprivileged_restarting_always_writing_only_the_spool(name, command):
    unit = _unit(name)
    spool_dir = tomllib.loads((EDGE / "config.example.toml").read_text())["spool"]["dir"]
    assert unit["User"] == ["p1edge"]
    assert unit["Restart"] == ["always"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == [spool_dir]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["PrivateTmp"] == ["yes"]
    assert unit["ProtectHome"] == ["yes"]
    assert unit["ExecStart"][0].split()[1:] == [command, "--config", "/etc/p1edge/config.toml"]


def test_it_gives_the_reader_no_network_and_the_serial_group():
    unit = _unit("p1edge-reader.service")
    assert unit["PrivateNetwork"] == ["yes"]
    assert unit["SupplementaryGroups"] == ["dialout"]
    assert "network-online.target" not in " ".join(unit.get("After", []) + unit.get("Wants", []))


def test_it_starts_the_uploader_after_the_network():
    unit = _unit("p1edge-uploader.service")
    assert unit["Wants"] == ["network-online.target"]
    assert unit["After"] == ["network-online.target"]


@pytest.mark.parametrize("name", ["p1edge-reader.service", "p1edge-uploader.service"])
def test_it_gives_both_units_the_shared_tmpfs_runtime_directory_of_the_live_file(name):
    unit = _unit(name)
    # /run/p1edge: $RUNTIME_DIRECTORY, where live.file defaults to; kept while the other service restarts
    assert unit["RuntimeDirectory"] == ["p1edge"]
    assert unit["RuntimeDirectoryPreserve"] == ["yes"]
    assert unit["RuntimeDirectoryMode"] == ["0750"]
    example = tomllib.loads((EDGE / "config.example.toml").read_text())
    assert "file" not in example["live"]  # the default follows RUNTIME_DIRECTORY
    assert example["live"]["interval"] == 10
