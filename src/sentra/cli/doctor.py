"""`sentra doctor`: check that this machine can run a node, and say what to fix.

Each check looks at one thing ``sentra up`` needs or can use (settings, data dir, dashboard,
the /sys and /proc trees, NVML, the Docker socket, the WireGuard tools, the database, the
port) and gives ``ok``, ``warn`` (works, but something is missing), ``fail`` (``sentra up``
would not work) or ``off`` (disabled in the settings). Nothing is changed: the data dir is
probed with a temporary file that is removed at once. A check that could hang (NVML, Docker,
``wg``, the database) runs with a deadline, so the doctor always answers. Exit code 1 when
any check fails.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from sentra import __version__
from sentra.cli.common import ConfigOpt, DataDirOpt, out
from sentra.config import Settings, SettingsError, default_data_dir, load_settings

SLOW_CHECK_S = 5.0
_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "off": "dim"}


@dataclass(frozen=True)
class Finding:
    """The outcome of one check; ``fix`` says what to do when it is not ``ok``."""

    check: str
    status: str  # ok | warn | fail | off
    detail: str
    fix: str = ""


def _with_deadline(fn: Callable[[], Finding], name: str, timeout: float) -> Finding:
    """Runs ``fn`` on a daemon thread; a call that hangs (a dead NFS mount, a stuck daemon)
    is reported instead of blocking the doctor."""
    box: list[Finding] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if box:
        return box[0]
    if errors:
        return Finding(name, "fail", f"the check itself failed: {errors[0]!r}")
    return Finding(name, "fail", f"no answer within {timeout:g} s", "look for a hung driver")


def check_settings(data_dir: Path | None, config: Path | None) -> tuple[Settings, Finding]:
    try:
        settings = load_settings(data_dir=data_dir, config_file=config)
    except SettingsError as exc:
        root = (data_dir or default_data_dir(os.environ)).expanduser().resolve()
        problems = "; ".join(exc.problems)
        return Settings(data_dir=root), Finding(
            "settings",
            "fail",
            problems,
            "correct the names above (sentra config lists every setting; "
            "docs/configuration.md); the other checks use the defaults",
        )
    return settings, Finding("settings", "ok", "sentra.toml and SENTRA_* variables are valid")


def check_data_dir(root: Path) -> Finding:
    """Writable, or creatable by this user; and on a file system with room."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Finding("data dir", "fail", f"{existing} is not a directory", "set SENTRA_DATA_DIR")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".sentra-doctor-"):
            pass
    except OSError as exc:
        return Finding(
            "data dir",
            "fail",
            f"cannot write in {existing}: {exc.strerror}",
            f"give this user write access (chown -R $(id -u) {root}) or point "
            "SENTRA_DATA_DIR / --data-dir at a writable place",
        )
    free_mb = shutil.disk_usage(existing).free / 1e6
    where = str(root) if existing == root else f"{root} (will be created in {existing})"
    if free_mb < 200:
        return Finding(
            "data dir", "warn", f"{where}: only {free_mb:.0f} MB free", "free some disk space"
        )
    return Finding("data dir", "ok", f"{where} is writable, {free_mb / 1000:.1f} GB free")


def check_dashboard() -> Finding:
    # The path sentra.api.static serves, without importing the whole API (seconds).
    import sentra

    webui = Path(sentra.__file__).resolve().parent / "webui"
    if (webui / "index.html").is_file():
        return Finding("dashboard", "ok", f"built ({webui})")
    return Finding(
        "dashboard",
        "warn",
        f"not built: {webui / 'index.html'} is missing (the API works without it)",
        "in the source tree run 'make web'; wheels built by 'make dist' include it",
    )


def check_host_trees(settings: Settings) -> Finding:
    sys_root, proc_root = settings.collect.host_sys, settings.collect.host_proc
    missing = [
        str(p)
        for p in (sys_root / "class", proc_root / "stat", proc_root / "meminfo")
        if not p.exists()
    ]
    if missing:
        return Finding(
            "host /sys, /proc",
            "fail",
            f"missing: {', '.join(missing)}",
            "in a container mount the host's trees read-only (-v /sys:/host/sys:ro "
            "-v /proc:/host/proc:ro) and set SENTRA_COLLECT_HOST_SYS / SENTRA_COLLECT_HOST_PROC",
        )
    return Finding("host /sys, /proc", "ok", f"{sys_root} and {proc_root} are readable")


def check_gpu(settings: Settings) -> Finding:
    if not settings.collect.gpu:
        return Finding("NVIDIA GPU (NVML)", "off", "SENTRA_COLLECT_GPU is off")
    from sentra.collect.base import CollectorUnavailable
    from sentra.collect.gpu import GpuCollector

    collector = GpuCollector(proc_root=settings.collect.host_proc)
    try:
        samples = collector.collect(time.time())
    except CollectorUnavailable as exc:
        return Finding(
            "NVIDIA GPU (NVML)",
            "warn",
            f"no GPU telemetry: {exc}",
            "fix as the message says, or set SENTRA_COLLECT_GPU=off on a machine without "
            "NVIDIA GPUs",
        )
    finally:
        collector.close()
    names = sorted({f"{s.labels.get('gpu', '?')}: {s.labels.get('name', '')}" for s in samples})
    return Finding("NVIDIA GPU (NVML)", "ok", f"{len(names)} GPU(s): {', '.join(names)}")


def check_docker(settings: Settings) -> Finding:
    from sentra.collect.base import CollectorUnavailable
    from sentra.collect.docker import DockerCollector

    path = settings.collect.docker_socket
    if not settings.collect.docker_stats:
        if path.exists():
            return Finding(
                "Docker socket",
                "off",
                f"{path} exists; container stats are off",
                "set SENTRA_COLLECT_DOCKER_STATS=true to collect them",
            )
        return Finding("Docker socket", "off", "SENTRA_COLLECT_DOCKER_STATS is off")
    collector = DockerCollector(path, timeout_s=2.0, budget_s=SLOW_CHECK_S - 1)
    try:
        samples = collector.collect(time.time())
    except CollectorUnavailable as exc:
        return Finding("Docker socket", "fail", str(exc), "see the message; or turn stats off")
    except RuntimeError as exc:  # DockerApiError: the daemon is there but misbehaves
        return Finding("Docker socket", "fail", str(exc), "check the Docker daemon")
    finally:
        collector.close()
    containers = {s.labels.get("container") for s in samples}
    return Finding("Docker socket", "ok", f"{path}: {len(containers)} running container(s)")


def check_wireguard() -> Finding:
    wg = shutil.which("wg")
    if wg is None:
        return Finding(
            "WireGuard tools",
            "warn",
            "'wg' not found on PATH (needed only for WireGuard management)",
            "apt-get install wireguard-tools",
        )
    try:
        done = subprocess.run(
            [wg, "--version"], capture_output=True, text=True, timeout=SLOW_CHECK_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("WireGuard tools", "warn", f"{wg} does not run: {exc}", "reinstall it")
    version = (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else ""
    quick = "" if shutil.which("wg-quick") else "; wg-quick not found"
    return Finding("WireGuard tools", "ok", f"{version or wg}{quick}")


def check_database(settings: Settings) -> Finding:
    """A SQLite file needs no more than the data dir check; a PostgreSQL server must answer,
    and its schema revision is shown (``sentra up`` migrates it to head). Never shows the
    DSN's password."""
    from sentra.store.migrations import current_revision, head_revision
    from sentra.store.open import DatabaseConfigError, db_target
    from sentra.store.sql import Dialect

    try:
        target = db_target(settings)
    except (DatabaseConfigError, ValueError) as exc:
        return Finding("database", "fail", str(exc), "set [history] postgres_dsn or _file")
    if target.dialect is Dialect.SQLITE:
        return Finding("database", "ok", f"SQLite file {target.path}")
    try:
        current = current_revision(target)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finding(
            "database",
            "fail",
            f"{target.describe()}: cannot connect: {first}",
            "check that PostgreSQL runs and [history] postgres_dsn (host, user, password)",
        )
    head = head_revision()
    if current == head:
        return Finding("database", "ok", f"{target.describe()}: schema at {head}")
    return Finding(
        "database",
        "warn",
        f"{target.describe()}: schema at {current or 'none'}; 'sentra up' migrates it to {head}",
        "nothing, unless an older Sentra still uses this database",
    )


def check_port(settings: Settings) -> Finding:
    host, port = settings.server.host, settings.server.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return Finding(
                    "port",
                    "fail",
                    f"{host}:{port} is in use (a node already running there, or another program)",
                    "stop it, or pick another port: SENTRA_SERVER_PORT or 'sentra up --port'",
                )
            if exc.errno == errno.EACCES:
                return Finding(
                    "port", "fail", f"{host}:{port} needs privileges", "use a port above 1023"
                )
            return Finding(
                "port",
                "fail",
                f"cannot bind {host}:{port}: {exc.strerror}",
                "set SENTRA_SERVER_HOST to an address of this machine",
            )
    return Finding("port", "ok", f"{host}:{port} is free")


def run_checks(data_dir: Path | None, config: Path | None) -> list[Finding]:
    settings, first = check_settings(data_dir, config)
    findings = [first, check_data_dir(settings.data_dir), check_dashboard()]
    findings.append(check_host_trees(settings))
    findings.append(_with_deadline(lambda: check_gpu(settings), "NVIDIA GPU (NVML)", 10.0))
    findings.append(_with_deadline(lambda: check_docker(settings), "Docker socket", SLOW_CHECK_S))
    findings.append(_with_deadline(check_wireguard, "WireGuard tools", SLOW_CHECK_S + 1))
    findings.append(_with_deadline(lambda: check_database(settings), "database", 15.0))
    findings.append(check_port(settings))
    return findings


def doctor(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check this machine for running a node (data dir, NVML, Docker, wg, port) and say
    what to fix. Exit code 1 when something would stop 'sentra up'."""
    findings = run_checks(data_dir, config)
    failed = any(f.status == "fail" for f in findings)
    if as_json:
        body: dict[str, Any] = {
            "version": __version__,
            "ok": not failed,
            "checks": [asdict(f) for f in findings],
        }
        out.print_json(json.dumps(body))
    else:
        _print(findings)
    if failed:
        raise typer.Exit(1)


def _print(findings: list[Finding]) -> None:
    python = sys.version.split()[0]
    out.print(f"sentra {__version__} (python {python})", highlight=False)
    table = Table("", "check", "detail", show_edge=False, box=None, pad_edge=False)
    for f in findings:
        table.add_row(Text(f.status, style=_STYLE[f.status]), Text(f.check), Text(f.detail))
    out.print(table)
    todo = [f for f in findings if f.status in ("warn", "fail") and f.fix]
    if todo:
        out.print("\nTo fix:", highlight=False)
        for n, f in enumerate(todo, 1):
            out.print(f"  {n}. {f.check}: {f.fix}", highlight=False, markup=False, soft_wrap=True)
    else:
        out.print("\nNothing to fix.", highlight=False)
