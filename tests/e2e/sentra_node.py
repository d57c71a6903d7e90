"""Start a real Sentra node on a free loopback port, for the e2e tests and bench/web_budget.py.

The node is the installed ``sentra`` script next to the running interpreter, with a
fresh data dir. Readiness is polled on /api/health against a deadline; stopping
sends SIGTERM and waits, so the node records a clean shutdown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/web_budget.py imports this module by path
    sys.path.insert(0, str(ROOT))

from tests.nodeproc import SENTRA, free_port  # noqa: E402

WEBUI_INDEX = ROOT / "src" / "sentra" / "webui" / "index.html"
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def sentra_script() -> Path:
    """The `sentra` console script installed beside this interpreter."""
    return Path(SENTRA)


@dataclass
class Node:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    tokens: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def cli(self, *args: str) -> str:
        """Run a `sentra` subcommand against this node's data dir; return stdout."""
        out = subprocess.run(
            [str(sentra_script()), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"sentra {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def create_token(self, name: str = "e2e", role: str = "admin") -> str:
        token = self.cli("token", "create", "--name", name, "--role", role).strip()
        if not token or len(token.split()) != 1:
            raise RuntimeError(f"unexpected output from 'sentra token create': {token!r}")
        self.tokens.append(token)
        return token

    def revoke(self, token: str) -> None:
        # Tokens read sentra_<id>_<secret>; `revoke` takes the id.
        parts = token.split("_")
        token_id = parts[1] if len(parts) >= 3 else token
        self.cli("token", "revoke", token_id)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)


def wait_healthy(node: Node, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise RuntimeError(f"the node exited with {node.proc.returncode}:\n{node.log_tail()}")
        try:
            with urllib.request.urlopen(f"{node.url}/api/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(
        f"the node did not become healthy in {deadline_s}s ({last}):\n{node.log_tail()}"
    )


def start_node(
    data_dir: Path, sample_interval: float = 0.5, extra_env: dict[str, str] | None = None
) -> Node:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    env["SENTRA_SAMPLE_INTERVAL"] = str(sample_interval)
    env.pop("SENTRA_DATA_DIR", None)
    if extra_env:
        env.update(extra_env)
    log_path = data_dir.parent / f"node-{port}.log"
    log = log_path.open("wb")
    try:
        proc = subprocess.Popen(
            [str(sentra_script()), "up", "--data-dir", str(data_dir), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    finally:
        log.close()
    node = Node(data_dir=data_dir, port=port, proc=proc, log_path=log_path)
    try:
        wait_healthy(node)
    except BaseException:
        node.stop()
        raise
    return node
