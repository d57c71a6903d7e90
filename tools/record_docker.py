#!/usr/bin/env python3
"""Record Docker Engine API answers as fixtures for tests/integration/test_docker_collector.py.

Run where a Docker daemon runs, with a few containers up (GET requests only)::

    python tools/record_docker.py --out tests/fixtures/docker
    python tools/record_docker.py --socket /run/user/1000/docker.sock --interval 10 --max 2

It writes, in ``--out``:

- ``version.json``: ``GET /version``;
- ``containers.json``: ``GET /containers/json`` (running containers), cut to ``--max``;
- ``stats/<id12>.<n>.json``: ``GET /containers/{id}/stats?stream=false&one-shot=true`` for each
  of them, ``--readings`` times, ``--interval`` seconds apart (so rates can be computed);
- ``recording.json``: ``_source``, ``api_version``, ``interval_s`` and the stats files in order.

Command lines and label values can carry secrets: they are replaced by ``<redacted>`` unless
``--keep-secrets`` is given. Look the files over before committing them all the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx

REDACTED = "<redacted>"


def redact(container: dict[str, Any]) -> dict[str, Any]:
    out = dict(container)
    if "Command" in out:
        out["Command"] = REDACTED
    if isinstance(out.get("Labels"), dict):
        keep = ("com.docker.compose.project", "com.docker.compose.service")
        out["Labels"] = {k: (v if k in keep else REDACTED) for k, v in out["Labels"].items()}
    return out


def get(client: httpx.Client, path: str, **params: str) -> Any:
    response = client.get(path, params=params or None)
    response.raise_for_status()
    return response.json()


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def record(
    socket_path: str, out: Path, *, interval: float, readings: int, most: int, keep: bool
) -> dict[str, Any]:
    transport = httpx.HTTPTransport(uds=socket_path)
    with httpx.Client(transport=transport, base_url="http://docker", timeout=10.0) as client:
        version = get(client, "/version")
        containers = get(client, "/containers/json")[:most]
        if not containers:
            raise SystemExit("no running container to record: start one or two first")
        write(out / "version.json", version)
        write(out / "containers.json", containers if keep else [redact(c) for c in containers])
        files: dict[str, list[str]] = {c["Id"][:12]: [] for c in containers}
        for n in range(1, readings + 1):
            if n > 1:
                time.sleep(interval)
            for c in containers:
                stats = get(
                    client, f"/containers/{c['Id']}/stats", stream="false", **{"one-shot": "true"}
                )
                name = f"stats/{c['Id'][:12]}.{n}.json"
                write(out / name, stats)
                files[c["Id"][:12]].append(name)
    manifest = {
        "_source": (
            f"recorded by tools/record_docker.py on {socket.gethostname()} at "
            f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} from Docker "
            f"{version.get('Version')}, API {version.get('ApiVersion')}"
        ),
        "format": 1,
        "api_version": version.get("ApiVersion"),
        "interval_s": interval,
        "readings": readings,
        "stats": files,
    }
    write(out / "recording.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record Docker Engine API fixtures.")
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/docker"))
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--readings", type=int, default=2)
    parser.add_argument("--max", type=int, default=2, help="containers to record")
    parser.add_argument("--keep-secrets", action="store_true", help="do not redact")
    args = parser.parse_args(argv)
    manifest = record(
        args.socket.removeprefix("unix://"),
        args.out,
        interval=args.interval,
        readings=args.readings,
        most=args.max,
        keep=args.keep_secrets,
    )
    print(f"recorded {len(manifest['stats'])} containers into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
