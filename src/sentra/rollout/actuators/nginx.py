"""nginx: weighted ``server`` lines in a file the user's upstream block includes.

``apply`` renders the server lines, and when they differ from the file on disk:

1. writes the file atomically (temp file in the same folder, fsync, rename);
2. runs ``test_argv`` (``nginx -t``); if nginx refuses the configuration the previous file is
   put back and the error is not retryable (the settings are wrong, not the moment);
3. reloads nginx (``reload_argv`` or SIGHUP to ``pid_file``); a failed reload is retryable,
   and the next ``apply`` reloads again even though the file already holds the weights.

nginx refuses ``weight=0``, so a variant at 0 % gets ``down`` instead. An nginx reload is
asynchronous: the master starts new workers with the new weights and old workers finish their
open connections, so the new split applies to new connections within milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

from sentra.rollout.actuators.base import ActuatorError, ApplyResult, Weights, require_baseline
from sentra.rollout.actuators.config import NginxConfig
from sentra.rollout.actuators.process import ProcessResult, ProgramNotFound, run_argv
from sentra.state.atomic import write_bytes_atomic

_SERVER_LINE = re.compile(r"^\s*server\s+(?P<address>\S+)(?P<params>[^;]*);")


def render(config: NginxConfig, weights: Weights, *, rollout: str) -> str:
    """The file's text: a header comment and one ``server`` line per configured variant."""
    want = weights.as_dict()
    lines = [
        f"# Written by Sentra for rollout {rollout}: {weights}.",
        "# Do not edit: the next apply overwrites this file.",
    ]
    extra = "".join(f" {p}" for p in config.server_params)
    for variant, address in _addresses(config).items():
        weight = want[variant]
        share = f"weight={weight}" if weight > 0 else "down"
        lines.append(f"server {address} {share}{extra};  # {variant}")
    return "\n".join(lines) + "\n"


def parse(config: NginxConfig, text: str) -> Weights | None:
    """Weights from the server lines of ``text`` (a server without ``weight=`` counts 1)."""
    by_address = {address: variant for variant, address in _addresses(config).items()}
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = _SERVER_LINE.match(line)
        if not match or match["address"] not in by_address:
            continue
        params = match["params"].split()
        weight = 1
        for param in params:
            if param.startswith("weight="):
                weight = int(param.removeprefix("weight="))
        if "down" in params:
            weight = 0
        found[by_address[match["address"]]] = weight
    if "stable" not in found or "canary" not in found:
        return None
    return Weights.from_ratio(found["stable"], found["canary"], found.get("baseline", 0))


def _addresses(config: NginxConfig) -> dict[str, str]:
    servers = config.servers
    out = {"stable": servers.stable, "canary": servers.canary}
    if servers.baseline is not None:
        out["baseline"] = servers.baseline
    return out


class NginxActuator:
    """Writes the upstream's server lines, tests the configuration, reloads nginx."""

    kind = "nginx"

    def __init__(self, config: NginxConfig, *, name: str) -> None:
        self.config = config
        self.name = name
        self.path = Path(config.upstream_file)
        self._reload_pending = False

    async def apply(self, weights: Weights) -> ApplyResult:
        require_baseline(weights, self.config.servers.baseline is not None, what="server")
        text = render(self.config, weights, rollout=self.name)
        previous = await asyncio.to_thread(_read_text, self.path)
        if previous == text and not self._reload_pending:
            return ApplyResult(False, f"{self.path} already routes {weights}")
        if previous != text:
            await asyncio.to_thread(_write, self.path, text)
            await self._test(previous)
            self._reload_pending = True
        await self._reload()
        self._reload_pending = False
        return ApplyResult(True, f"wrote {weights} to {self.path} and reloaded nginx")

    async def read(self) -> Weights | None:
        text = await asyncio.to_thread(_read_text, self.path)
        return None if text is None else parse(self.config, text)

    async def close(self) -> None:
        return None

    async def _test(self, previous: str | None) -> None:
        if not self.config.test_argv:
            return
        result = await self._run(self.config.test_argv, "test the nginx configuration")
        if result.ok:
            return
        # Put the last good file back, so that no later reload picks up what nginx refused.
        if previous is None:
            await asyncio.to_thread(self.path.unlink, missing_ok=True)
        else:
            await asyncio.to_thread(_write, self.path, previous)
        raise ActuatorError(
            f"nginx rejected the new upstream file {self.path} (restored the previous one): "
            f"{result.describe()}",
            retryable=result.timed_out,  # a slow test may pass later; a refusal will not
        )

    async def _reload(self) -> None:
        if self.config.pid_file is not None:
            await asyncio.to_thread(_hup, Path(self.config.pid_file))
            return
        result = await self._run(self.config.reload_argv, "reload nginx")
        if not result.ok:
            raise ActuatorError(f"nginx reload failed: {result.describe()}", retryable=True)

    async def _run(self, argv: list[str], doing: str) -> ProcessResult:
        try:
            return await run_argv(argv, timeout_s=self.config.timeout_s)
        except ProgramNotFound as exc:
            raise ActuatorError(f"cannot {doing}: {exc}", retryable=False) from None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ActuatorError(f"cannot read {path}: {exc.strerror}", retryable=True) from None


def _write(path: Path, text: str) -> None:
    try:
        write_bytes_atomic(path, text.encode())
    except PermissionError as exc:
        raise ActuatorError(
            f"not allowed to write {path}: {exc.strerror}", retryable=False
        ) from None
    except OSError as exc:
        raise ActuatorError(f"cannot write {path}: {exc.strerror}", retryable=True) from None


def _hup(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ActuatorError(
            f"cannot read nginx's pid from {pid_file}: {exc}; is nginx running?", retryable=True
        ) from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ActuatorError(
            f"no process {pid} (from {pid_file}); is nginx running?", retryable=True
        ) from None
    except PermissionError:
        raise ActuatorError(
            f"not allowed to signal nginx (pid {pid}); run Sentra as nginx's user or use "
            f"reload_argv",
            retryable=False,
        ) from None
