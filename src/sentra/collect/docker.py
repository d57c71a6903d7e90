"""Containers through the Docker Engine API on its unix socket (read-only: GET requests only).

Per tick: ``GET /containers/json`` (running containers), then for each one
``GET /containers/{id}/stats?stream=false&one-shot=true``. With ``one-shot`` the daemon answers
at once instead of waiting a second for a second CPU sample, so ``precpu_stats`` comes back
empty; the CPU ratio is then computed against the previous tick's reading, which the collector
keeps (the first tick after start, or after a container appears, has no CPU reading). Where a
daemon does fill ``precpu_stats`` it is used, as ``docker stats`` does.

Each request has a short timeout (``timeout_s``, 2 s) and the whole tick a deadline
(``budget_s``): a container whose stats are slow loses its own readings for the tick, not the
others'; a daemon that does not answer the list fails the tick fast.

Units and conventions:
- ``container.cpu.utilization``: fraction of the whole host's CPU time (0..1, all cores), from
  ``cpu_usage.total_usage`` and ``system_cpu_usage`` deltas. ``docker stats`` shows
  ``ratio x online_cpus x 100`` %.
- ``container.memory.usage``: ``usage`` minus ``inactive_file`` (cgroup v2) or
  ``total_inactive_file`` (cgroup v1), as ``docker stats`` computes it.
- Ratios keep 4 decimals, not 3: host-relative figures of small containers are small.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from sentra.collect.base import CollectorUnavailable, SampleBuilder, rate
from sentra.events import Labels, Sample

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/var/run/docker.sock"
_STATS_PARAMS = {"stream": "false", "one-shot": "true"}


class DockerApiError(RuntimeError):
    """The daemon is there but did not answer as it should (timeout, refused, bad status)."""


@dataclass(frozen=True, slots=True)
class _Reading:
    """The counters of one container at one tick, kept to compute the next tick's rates."""

    ts: float
    cpu_total: int | None
    cpu_system: int | None
    rx: int | None
    tx: int | None
    read: int | None
    write: int | None


class DockerCollector:
    """Samples every running container of the local Docker daemon."""

    name = "docker"

    def __init__(
        self,
        socket_path: str | Path = DEFAULT_SOCKET,
        *,
        timeout_s: float = 2.0,
        budget_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        text = str(socket_path)
        self.socket_path = Path(text.removeprefix("unix://"))
        self._timeout_s = timeout_s
        self._budget_s = budget_s
        self._clock = clock
        self._client: httpx.Client | None = None
        self._prev: dict[str, _Reading] = {}

    # ------------------------------------------------------------------ lifecycle

    def collect(self, now: float) -> list[Sample]:
        deadline = self._clock() + self._budget_s
        self._check_socket()
        containers = self._get("/containers/json")
        if not isinstance(containers, list):
            raise DockerApiError("GET /containers/json did not return a list")
        b = SampleBuilder(now)
        seen: set[str] = set()
        for c in containers:
            if not isinstance(c, dict):
                continue
            cid = str(c.get("Id", ""))
            if not cid or c.get("State", "running") != "running":
                continue
            seen.add(cid)
            labels = _labels(c)
            if self._clock() > deadline:
                b.failures[f"{labels['container']}.stats"] = (
                    f"skipped: the tick's {self._budget_s:g} s budget was spent"
                )
                continue
            stats = b.field(
                f"{labels['container']}.stats",
                partial(self._get, f"/containers/{cid}/stats", _STATS_PARAMS),
            )
            if isinstance(stats, dict):
                self._read_container(b, cid, labels, stats, now)
        for gone in self._prev.keys() - seen:
            del self._prev[gone]
        return b.samples

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ transport

    def _check_socket(self) -> None:
        if not self.socket_path.exists():
            raise self._not_found()
        if self._client is None:
            self._probe()

    def _probe(self) -> None:
        """Connect once ourselves before handing the socket to httpx.

        The errno says precisely what is wrong (missing, permission, nobody listening), and
        httpcore 1.0 does not close its socket when ``connect`` fails (a ResourceWarning per
        tick). Done while there is no client: at start and after a transport failure.
        """
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self._timeout_s)
            try:
                s.connect(str(self.socket_path))
            except TimeoutError as exc:
                raise DockerApiError(
                    f"Docker daemon did not accept a connection on {self.socket_path} "
                    f"within {self._timeout_s:g} s"
                ) from exc
            except OSError as exc:
                raise self._explain(exc) from exc

    def _not_found(self) -> CollectorUnavailable:
        path = self.socket_path
        return CollectorUnavailable(
            f"Docker socket {path} not found: mount it read-only "
            f"(docker run -v {path}:{path}:ro, or the same line under the service's "
            "volumes in compose) or set the socket path to where the daemon listens"
        )

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                transport=httpx.HTTPTransport(uds=str(self.socket_path)),
                base_url="http://docker",
                timeout=self._timeout_s,
                trust_env=False,
                headers={"User-Agent": "sentra"},
            )
        return self._client

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            response = self._http().get(path, params=params)
        except httpx.TimeoutException as exc:
            raise DockerApiError(
                f"Docker daemon did not answer GET {path} within {self._timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            self.close()  # the next tick probes the socket afresh
            raise self._explain(exc) from exc
        if response.status_code != 200:
            raise DockerApiError(f"GET {path}: HTTP {response.status_code}: {_message(response)}")
        return response.json()

    def _explain(self, exc: BaseException) -> Exception:
        path = self.socket_path
        for cause in _causes(exc):
            if isinstance(cause, PermissionError):
                return CollectorUnavailable(
                    f"permission denied on Docker socket {path}: run Sentra as a user in the "
                    f"docker group (usermod -aG docker <user>), or in a container add that "
                    f"group: --group-add {_gid(path)}"
                )
            if isinstance(cause, FileNotFoundError):
                return self._not_found()
            if isinstance(cause, ConnectionRefusedError) or (
                isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
            ):
                return DockerApiError(f"nothing listens on {path}: is the Docker daemon running?")
        return DockerApiError(f"Docker API on {path}: {exc}")

    # ------------------------------------------------------------------ readings

    def _read_container(
        self, b: SampleBuilder, cid: str, labels: Labels, s: dict[str, Any], now: float
    ) -> None:
        prev = self._prev.get(cid)
        cur = _Reading(
            ts=now,
            cpu_total=_int(s, "cpu_stats", "cpu_usage", "total_usage"),
            cpu_system=_int(s, "cpu_stats", "system_cpu_usage"),
            rx=_sum_networks(s, "rx_bytes"),
            tx=_sum_networks(s, "tx_bytes"),
            read=_sum_blkio(s, "read"),
            write=_sum_blkio(s, "write"),
        )

        pre_total = _int(s, "precpu_stats", "cpu_usage", "total_usage")
        pre_system = _int(s, "precpu_stats", "system_cpu_usage")
        if not pre_system and prev is not None:  # one-shot: no precpu, use our last tick
            pre_total, pre_system = prev.cpu_total, prev.cpu_system
        b.add(
            "container.cpu.utilization",
            _cpu_ratio(pre_total, pre_system, cur.cpu_total, cur.cpu_system),
            labels,
            digits=4,
        )

        usage = _memory_usage(s.get("memory_stats"))
        limit = _int(s, "memory_stats", "limit")
        b.add("container.memory.usage", usage, labels, digits=0)
        b.add("container.memory.limit", limit, labels, digits=0)
        if usage is not None and limit:
            b.add("container.memory.utilization", usage / limit, labels, digits=4)

        if prev is not None:
            dt = now - prev.ts
            for name, direction, before, after in (
                ("container.network.io.rate", "receive", prev.rx, cur.rx),
                ("container.network.io.rate", "transmit", prev.tx, cur.tx),
                ("container.blockio.rate", "read", prev.read, cur.read),
                ("container.blockio.rate", "write", prev.write, cur.write),
            ):
                b.add(name, rate(before, after, dt), {**labels, "direction": direction}, digits=0)
        self._prev[cid] = cur


# ---------------------------------------------------------------------- pure helpers


def _labels(c: dict[str, Any]) -> Labels:
    cid = str(c["Id"])
    names = c.get("Names") or []
    name = str(names[0]).lstrip("/") if names else cid[:12]
    return {"container": name, "id": cid[:12], "image": str(c.get("Image", ""))}


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _int(obj: Any, *keys: str) -> int | None:
    v = _dig(obj, *keys)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _cpu_ratio(
    pre_total: int | None, pre_system: int | None, total: int | None, system: int | None
) -> float | None:
    if pre_total is None or pre_system is None or total is None or system is None:
        return None
    cpu_delta = total - pre_total
    system_delta = system - pre_system
    if system_delta <= 0 or cpu_delta < 0:  # no time passed, or the container restarted
        return None
    return cpu_delta / system_delta


def _memory_usage(mem: Any) -> int | None:
    usage = _int(mem, "usage")
    if usage is None:
        return None
    # cgroup v1 reports total_inactive_file, cgroup v2 inactive_file (docker CLI's order).
    for key in ("total_inactive_file", "inactive_file"):
        inactive = _int(mem, "stats", key)
        if inactive is not None and inactive < usage:
            return usage - inactive
    return usage


def _sum_networks(s: dict[str, Any], key: str) -> int | None:
    networks = s.get("networks")
    if not isinstance(networks, dict) or not networks:
        return None  # network_mode host / none: no per-container counters
    values = [_int(n, key) for n in networks.values()]
    return sum(v for v in values if v is not None)


def _sum_blkio(s: dict[str, Any], op: str) -> int | None:
    entries = _dig(s, "blkio_stats", "io_service_bytes_recursive")
    if not isinstance(entries, list):
        return None
    # cgroup v2 writes "read"/"write", cgroup v1 "Read"/"Write" (plus Sync/Async/Total).
    return sum(
        int(e.get("value") or 0)
        for e in entries
        if isinstance(e, dict) and str(e.get("op", "")).lower() == op
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _gid(path: Path) -> str:
    try:
        return str(path.stat().st_gid)
    except OSError:
        return "$(stat -c %g /var/run/docker.sock)"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    msg = body.get("message") if isinstance(body, dict) else None
    return str(msg) if msg else response.text[:200]
