"""`sentra demo canary` end to end: a real node, services, split and load, as a subprocess.

Each run gets its own TMPDIR, so the test can check that the demo removed its temp dir.
With HAProxy installed, ``auto`` must pick it; ``pull`` is tested either way.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from sentra.demo.canary import find_haproxy
from tests.nodeproc import SENTRA

SPLITS = ["auto", "pull"]


def run_demo(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    env["TMPDIR"] = str(tmp_path)
    return subprocess.run(
        [SENTRA, "demo", "canary", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def check_run(tmp_path, proc: subprocess.CompletedProcess[str], split: str) -> list[str]:
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = "haproxy" if split == "haproxy" or (split == "auto" and find_haproxy()) else "pull"
    assert f"({expected} split)" in lines[-2]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("sentra-demo-*")), "the demo left its temp dir behind"
    assert any("#token=sentra_" in line for line in lines)
    return lines


@pytest.mark.timeout(180)
@pytest.mark.parametrize("split", SPLITS)
def test_bad_canary_is_rolled_back(tmp_path, split):
    proc = run_demo(tmp_path, "--bad", "--split", split)
    lines = check_run(tmp_path, proc, split)
    assert lines[-1] == "result: rolled back"
    assert any(" rollback " in line for line in lines)
    assert any(" rolled_back " in line for line in lines)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("split", SPLITS)
def test_good_canary_is_promoted_step_by_step(tmp_path, split):
    proc = run_demo(tmp_path, "--good", "--split", split)
    lines = check_run(tmp_path, proc, split)
    assert lines[-1] == "result: promoted"
    steps = [line for line in lines if " step " in line]
    assert [s.split("canary")[1].split()[0] for s in steps] == ["25%", "50%"]
    assert any(" promoted " in line for line in lines)


def test_haproxy_split_without_haproxy_is_refused(tmp_path):
    if find_haproxy():
        pytest.skip("HAProxy is installed here")
    proc = run_demo(tmp_path, "--split", "haproxy")
    assert proc.returncode == 1
    assert "apt-get install haproxy" in proc.stderr
