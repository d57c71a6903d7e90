"""The wheel is what `pip install sentra` / `pipx install sentra` gets: build it, install it
into a fresh virtualenv, run that venv's `sentra up`, and get the API and the dashboard.

No download is needed: the wheel is built without build isolation when hatchling is
importable (the dev extra has it), and the fresh venv sees this venv's installed
dependencies through a ``.pth`` file that points at a copy of its site-packages made of
symlinks, with Sentra's own (editable) install left out. ``pip install --no-index`` then
has to resolve every dependency the wheel declares from what is installed. (A dependency
missing from pyproject.toml but installed here would still be importable, so the wheel's
metadata is also checked for the main runtime dependencies by name.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.nodeproc import free_port

ROOT = Path(__file__).resolve().parents[2]
WEBUI_INDEX = ROOT / "src" / "sentra" / "webui" / "index.html"
_OWN = re.compile(r"^(sentra|sentra-.*\.dist-info|.*sentra.*\.pth|__editable__.*sentra.*)$")


def _run(*args: str | Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not WEBUI_INDEX.is_file():
        pytest.fail(f"the dashboard is not built ({WEBUI_INDEX}): run 'make web' first")
    out = tmp_path_factory.mktemp("dist")
    # Without hatchling here, pip's build isolation fetches it from the index.
    flags = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", *flags, "-w", out, ROOT)
    (built,) = out.glob("sentra-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv with the wheel installed (pip resolves its dependencies offline)."""
    tmp = tmp_path_factory.mktemp("venv")
    env_dir = tmp / "venv"
    _run(sys.executable, "-m", "venv", env_dir)
    deps = tmp / "deps"
    deps.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        if not _OWN.match(entry.name) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    py = env_dir / "bin" / "python"
    site = Path(
        _run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    (site / "_sentra_test_deps.pth").write_text(f"{deps}\n")
    _run(py, "-m", "pip", "install", "--no-index", "--quiet", wheel)
    return env_dir


def test_the_wheel_ships_the_dashboard_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "sentra/webui/index.html" in names
    assert any(re.match(r"sentra/webui/assets/.+\.js$", n) for n in names)
    assert "sentra/cli/main.py" in names and "sentra/cli/doctor.py" in names
    assert not [n for n in names if n.startswith(("tests/", "web/", "deploy/"))]
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    for dep in ("fastapi", "uvicorn", "msgspec", "psutil", "nvidia-ml-py", "typer"):
        assert re.search(rf"^Requires-Dist: {dep}\b", text, re.M | re.I), dep
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "sentra = sentra.cli.main:app" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_installed_sentra_is_the_wheel_not_the_source_tree(venv):
    py = venv / "bin" / "python"
    where = _run(py, "-c", "import sentra; print(sentra.__file__)").stdout.strip()
    assert where.startswith(str(venv)), where
    version = _run(venv / "bin" / "sentra", "version").stdout
    assert version.startswith("sentra 0.1.0")


def test_doctor_from_the_wheel_finds_its_dashboard(venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    env["SENTRA_SERVER_PORT"] = str(free_port())
    done = subprocess.run(
        [str(venv / "bin" / "sentra"), "doctor", "--json", "-d", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    report = json.loads(done.stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["dashboard"]["status"] == "ok"
    assert str(venv) in checks["dashboard"]["detail"]
    assert checks["data dir"]["status"] == "ok" and checks["port"]["status"] == "ok"
    assert done.returncode == (1 if not report["ok"] else 0)


def test_sentra_up_from_the_wheel_serves_health_and_the_dashboard(venv, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    env.update({"SENTRA_COLLECT_GPU": "off", "SENTRA_SAMPLE_INTERVAL": "0.5"})
    proc = subprocess.Popen(
        [str(venv / "bin" / "sentra"), "up", "-d", str(tmp_path / "data"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{url}/api/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None, f"no answer; exit code {proc.poll()}"
        assert health.status_code == 200 and health.json()["status"] == "ok"
        page = httpx.get(f"{url}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == WEBUI_INDEX.read_text(encoding="utf-8")  # the built app, not a hint
        script = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
        assert script, page.text[:500]
        asset = httpx.get(url + script[1], timeout=10)
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        output = proc.stdout.read() if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    assert code == 0, output
    assert "is up" in output
