"""`sentra doctor`: each check says ok or what to fix, against real files, sockets and ports."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from typer.testing import CliRunner

from sentra.cli.doctor import check_data_dir, check_docker, check_gpu, check_port, run_checks
from sentra.cli.main import app
from sentra.config import load_settings


def _settings(tmp_path, **env):
    return load_settings(data_dir=tmp_path, environ={k: str(v) for k, v in env.items()})


def test_a_port_in_use_fails_and_names_the_setting_to_change(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        found = check_port(_settings(tmp_path, SENTRA_SERVER_PORT=port))
    assert found.status == "fail" and "in use" in found.detail
    assert "SENTRA_SERVER_PORT" in found.fix
    assert check_port(_settings(tmp_path, SENTRA_SERVER_PORT=port)).status == "ok"


def test_a_data_dir_nobody_can_write_fails_with_how_to_fix():
    # /proc refuses new files even to root: a stand-in for a read-only mount.
    found = check_data_dir(Path("/proc/sentra"))
    assert found.status == "fail" and "cannot write in /proc" in found.detail
    assert "SENTRA_DATA_DIR" in found.fix


def test_a_data_dir_that_does_not_exist_yet_is_fine_when_its_parent_is_writable(tmp_path):
    found = check_data_dir(tmp_path / "new" / "sentra")
    assert found.status == "ok" and "will be created" in found.detail
    assert not (tmp_path / "new").exists()  # the doctor changes nothing
    assert not list(tmp_path.iterdir())


def test_a_data_dir_under_a_file_fails(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_data_dir(tmp_path / "file" / "sentra").status == "fail"


def test_no_nvml_here_is_a_warning_with_the_reason(tmp_path):
    found = check_gpu(_settings(tmp_path))
    # There is no NVIDIA driver on these machines; on one with a GPU the check says ok.
    assert found.status in ("ok", "warn")
    if found.status == "warn":
        assert "NVML" in found.detail or "NVIDIA" in found.detail
        assert "SENTRA_COLLECT_GPU=off" in found.fix
    assert check_gpu(_settings(tmp_path, SENTRA_COLLECT_GPU="off")).status == "off"


def test_a_missing_docker_socket_fails_only_when_stats_are_on(tmp_path):
    missing = tmp_path / "docker.sock"
    off = check_docker(_settings(tmp_path, SENTRA_COLLECT_DOCKER_SOCKET=missing))
    assert off.status == "off"
    on = check_docker(
        _settings(
            tmp_path, SENTRA_COLLECT_DOCKER_SOCKET=missing, SENTRA_COLLECT_DOCKER_STATS="true"
        )
    )
    assert on.status == "fail" and "not found" in on.detail and "mount it" in on.detail


def test_a_socket_nobody_answers_on_is_reported_not_hung(tmp_path):
    path = tmp_path / "d.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))  # bound, never listening: connection refused
        found = check_docker(
            _settings(tmp_path, SENTRA_COLLECT_DOCKER_SOCKET=path, SENTRA_COLLECT_DOCKER_STATS=1)
        )
    assert found.status == "fail" and str(path) in found.detail


def test_bad_settings_are_a_failure_and_the_other_checks_still_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTRA_SAMPLE_INTERVALL", "1")
    findings = run_checks(tmp_path, None)
    first = findings[0]
    assert first.check == "settings" and first.status == "fail"
    assert "SENTRA_SAMPLE_INTERVAL" in first.detail  # the suggestion
    assert {f.check for f in findings} >= {"data dir", "port", "WireGuard tools", "dashboard"}


def test_doctor_command_prints_json_and_exits_1_on_a_failure(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("SENTRA_")]:
        monkeypatch.delenv(name)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("SENTRA_SERVER_PORT", str(busy.getsockname()[1]))
        result = CliRunner().invoke(app, ["doctor", "--json", "-d", str(tmp_path)])
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert {c["check"]: c["status"] for c in body["checks"]}["port"] == "fail"


def test_doctor_text_lists_what_to_fix(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("SENTRA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SENTRA_COLLECT_DOCKER_STATS", "true")
    monkeypatch.setenv("SENTRA_COLLECT_DOCKER_SOCKET", str(tmp_path / "none.sock"))
    monkeypatch.setenv("SENTRA_SERVER_PORT", "0")
    result = CliRunner().invoke(app, ["doctor", "-d", str(tmp_path)])
    assert result.exit_code == 1
    assert "To fix:" in result.stdout and "Docker socket:" in result.stdout


def test_database_check_names_the_engine_and_never_the_password(tmp_path):
    from sentra.cli.doctor import check_database

    assert check_database(_settings(tmp_path)).status == "ok"
    missing = check_database(_settings(tmp_path, SENTRA_HISTORY_BACKEND="postgres"))
    assert missing.status == "fail" and "postgres_dsn" in missing.detail
    down = check_database(
        _settings(
            tmp_path,
            SENTRA_HISTORY_BACKEND="postgres",
            SENTRA_HISTORY_POSTGRES_DSN="host=127.0.0.1 port=1 user=u password=hunter2 "
            "dbname=d connect_timeout=2",
        )
    )
    assert down.status == "fail" and "cannot connect" in down.detail
    assert "hunter2" not in down.detail + down.fix
    assert "postgresql://u@127.0.0.1:1/d" in down.detail


def test_database_check_reads_a_private_dsn_file(tmp_path):
    from sentra.cli.doctor import check_database
    from tests.dbtarget import require_postgres

    require_postgres()
    dsn = tmp_path / "dsn"
    dsn.write_text("host=127.0.0.1 port=5432 user=postgres dbname=test\n")
    env = {"SENTRA_HISTORY_BACKEND": "postgres", "SENTRA_HISTORY_POSTGRES_DSN_FILE": dsn}
    dsn.chmod(0o644)
    assert "chmod 600" in check_database(_settings(tmp_path, **env)).detail
    dsn.chmod(0o600)
    found = check_database(_settings(tmp_path, **env))
    assert found.status in ("ok", "warn"), found
    assert "postgresql://postgres@127.0.0.1:5432/test" in found.detail
