import logging
import os

from sentra.state.atomic import read_json, write_json_atomic
from sentra.state.layout import SUBDIRS, Layout
from sentra.state.runtime import Checkpoint


def test_layout_creates_every_group_private(tmp_path):
    layout = Layout(tmp_path / "data")
    layout.ensure()
    assert sorted(p.name for p in layout.root.iterdir()) == sorted(SUBDIRS)
    assert (layout.root.stat().st_mode & 0o777) == 0o700


def test_clear_cache_touches_nothing_else(tmp_path):
    layout = Layout(tmp_path)
    layout.ensure()
    (layout.cache / "sub").mkdir()
    (layout.cache / "sub" / "a.bin").write_bytes(b"x" * 10)
    (layout.cache / "b.bin").write_bytes(b"y" * 5)
    (layout.state / "keep.json").write_text("{}")
    files, freed = layout.clear_cache()
    assert (files, freed) == (2, 15)
    assert list(layout.cache.iterdir()) == []
    assert (layout.state / "keep.json").exists()


def test_atomic_write_leaves_no_temp_files_and_sets_mode(tmp_path):
    path = tmp_path / "state" / "x.json"
    write_json_atomic(path, {"a": 1}, mode=0o600)
    write_json_atomic(path, {"a": 2}, mode=0o600)
    assert read_json(path, {}) == {"a": 2}
    assert os.listdir(path.parent) == ["x.json"]
    assert (path.stat().st_mode & 0o777) == 0o600


def test_damaged_file_gives_default_and_a_warning(tmp_path, caplog):
    path = tmp_path / "runtime.json"
    path.write_bytes(b'{"last_clean_shutdown": tr')
    with caplog.at_level(logging.WARNING):
        assert read_json(path, {"d": 1}) == {"d": 1}
    assert "damaged" in caplog.text


def test_checkpoint_knows_an_unclean_previous_run(tmp_path):
    path = tmp_path / "runtime.json"
    first = Checkpoint(path)
    assert first.previous_run_unclean is False  # no previous run at all
    first.start(now=100.0, pid=1, version="t")
    first.write(now=110.0, readings={"metrics": {}})
    # process dies here: no clean write
    second = Checkpoint(path)
    assert second.previous_run_unclean is True
    second.start(now=200.0, pid=2, version="t")
    second.write(now=210.0, readings={}, clean=True)
    assert Checkpoint(path).previous_run_unclean is False


def test_corrupt_checkpoint_does_not_claim_an_unclean_run(tmp_path):
    path = tmp_path / "runtime.json"
    path.write_text("garbage")
    cp = Checkpoint(path)
    assert cp.previous_run_unclean is False
    cp.start(now=1.0, pid=1, version="t")  # and it is replaced by a good file
    assert read_json(path, {})["started_at"] == 1.0
