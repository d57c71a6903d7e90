from pathlib import Path

import pytest

from sentra.config import SettingsError, all_env_names, load_settings


def test_defaults_resolve_data_dir_from_xdg(tmp_path):
    s = load_settings(environ={"XDG_DATA_HOME": str(tmp_path)})
    assert s.data_dir == (tmp_path / "sentra").resolve()
    assert s.server.host == "127.0.0.1"
    assert s.server.port == 5099
    assert s.collect.sample_interval == 1.0
    assert s.db_path == s.data_dir / "db" / "sentra.db"


def test_layers_apply_in_order_toml_then_env_then_flags(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sentra.toml").write_text(
        "[server]\nport = 6000\nhost = '0.0.0.0'\n[collect]\nsample_interval = 5\n"
    )
    env = {"SENTRA_PORT": "7000", "SENTRA_DATA_DIR": str(tmp_path)}
    s = load_settings(environ=env, overrides={"collect": {"sample_interval": 2}})
    assert s.server.host == "0.0.0.0"  # from toml
    assert s.server.port == 7000  # env beats toml
    assert s.collect.sample_interval == 2  # flags beat everything


def test_seed_names_keep_working(tmp_path):
    env = {
        "SENTRA_DATA_DIR": str(tmp_path),
        "SENTRA_DB_PATH": str(tmp_path / "other.db"),
        "SENTRA_SAMPLE_INTERVAL": "0.5",
        "SENTRA_HOST_SYS": "/host/sys",
        "SENTRA_DOCKER_STATS": "on",
    }
    s = load_settings(environ=env)
    assert s.db_path == tmp_path / "other.db"
    assert s.collect.sample_interval == 0.5
    assert s.collect.host_sys == Path("/host/sys")
    assert s.collect.docker_stats is True


def test_unknown_toml_key_fails_with_a_hint(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text("[history]\nretension_days = 3\n[sever]\nport=1\n")
    with pytest.raises(SettingsError) as err:
        load_settings(data_dir=tmp_path, config_file=cfg, environ={})
    text = str(err.value)
    assert "did you mean 'retention_days'" in text
    assert "unknown section [sever]; did you mean 'server'" in text


def test_unknown_env_variable_fails_with_a_hint(tmp_path):
    with pytest.raises(SettingsError, match="did you mean 'SENTRA_SAMPLE_INTERVAL'"):
        load_settings(data_dir=tmp_path, environ={"SENTRA_SAMPLE_INTERVALL": "1"})


def test_mistyped_value_names_the_variable(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(data_dir=tmp_path, environ={"SENTRA_SAMPLE_INTERVAL": "fast"})
    assert "SENTRA_COLLECT_SAMPLE_INTERVAL" in str(err.value)
    assert "'fast'" in str(err.value)


def test_broken_toml_is_reported_not_ignored(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server\nport=")
    with pytest.raises(SettingsError, match="cannot be read as TOML"):
        load_settings(data_dir=tmp_path, config_file=cfg, environ={})


def test_every_group_field_has_an_env_name():
    names = all_env_names()
    assert names["SENTRA_HISTORY_RETENTION_DAYS"] == ("history", "retention_days")
    assert names["SENTRA_LOG_MAX_BYTES"] == ("log", "max_bytes")
    assert names["SENTRA_STATE_CHECKPOINT_INTERVAL_S"] == ("state", "checkpoint_interval_s")
