"""Run a real `sentra up` process on a free loopback port for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SENTRA = str(Path(sys.executable).with_name("sentra"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_token(data_dir: Path, role: str = "admin", name: str = "test") -> str:
    out = subprocess.run(
        [SENTRA, "token", "create", "--name", name, "--role", role, "--data-dir", str(data_dir)],
        env={k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


class NodeProcess:
    def __init__(
        self, data_dir: Path, *, env: dict[str, str] | None = None, interval: float = 0.2
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
        self.env.update({"SENTRA_SAMPLE_INTERVAL": str(interval), "SENTRA_COLLECT_GPU": "off"})
        self.env.update(env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self, timeout: float = 30) -> NodeProcess:
        self.proc = subprocess.Popen(
            [SENTRA, "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited early: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("node did not become healthy")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.output = self.proc.stdout.read() if self.proc.stdout else ""  # type: ignore[union-attr]
        self.proc.stdout.close()  # type: ignore[union-attr]
        return code

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


def wait_for(predicate, timeout: float = 20, every: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy; return its value or fail after the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")
