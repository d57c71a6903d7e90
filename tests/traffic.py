"""Synthetic traffic for rollout tests: server spans of two versions, sent as OTLP/HTTP JSON.

A background thread reads the rollout's pull weights (as a gateway would) and sends, every
``every`` seconds, ``rate * every`` requests split by those weights, each one a server span
of ``service`` at the version its arm runs, with a latency and error chance per version.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Behaviour:
    error_rate: float = 0.005
    latency_ms: float = 40.0  # median
    sigma: float = 0.35


@dataclass
class Traffic:
    url: str
    token: str
    rollout: str
    service: str
    versions: dict[str, str]  # arm -> version
    behaviour: dict[str, Behaviour] = field(default_factory=dict)  # version -> behaviour
    rate: float = 200.0  # requests per second, all arms together
    every: float = 0.2
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _weights(self, client: httpx.Client) -> dict[str, int]:
        resp = client.get(f"/api/v1/rollouts/{self.rollout}/weights")
        if resp.status_code != 200:
            return {"stable": 100, "canary": 0, "baseline": 0}
        weights: dict[str, int] = resp.json()["weights"]
        return weights

    def _run(self) -> None:
        rng = random.Random(7)
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=5) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    weights = self._weights(client)
                    n = max(1, round(self.rate * self.every))
                    arms = [a for a in ("stable", "canary", "baseline") if weights.get(a, 0) > 0]
                    picks = rng.choices(arms, [weights[a] for a in arms], k=n)
                    body = otlp_json(self.service, self._spans(rng, picks))
                    resp = client.post("/v1/traces", json=body)
                    if resp.status_code == 200:
                        self.sent += n
                    else:
                        self.errors.append(f"{resp.status_code} {resp.text[:200]}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self._stop.wait(max(0.0, self.every - (time.monotonic() - started)))

    def _spans(self, rng: random.Random, arms: list[str]) -> dict[str, list[dict[str, object]]]:
        by_version: dict[str, list[dict[str, object]]] = {}
        now = time.time_ns()
        for arm in arms:
            version = self.versions[arm]
            b = self.behaviour.get(version, Behaviour())
            latency = rng.lognormvariate(0, b.sigma) * b.latency_ms
            error = rng.random() < b.error_rate
            by_version.setdefault(version, []).append(
                span(now - int(latency * 1e6), now, error=error)
            )
        return by_version


def span(
    start_ns: int, end_ns: int, *, error: bool = False, name: str = "GET /"
) -> dict[str, object]:
    return {
        "traceId": os.urandom(16).hex(),
        "spanId": os.urandom(8).hex(),
        "name": name,
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "status": {"code": 2, "message": "boom"} if error else {"code": 1},
    }


def otlp_json(
    service: str, spans_by_version: dict[str, list[dict[str, object]]]
) -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "service.version", "value": {"stringValue": version}},
                    ]
                },
                "scopeSpans": [{"scope": {"name": "traffic"}, "spans": spans}],
            }
            for version, spans in spans_by_version.items()
        ]
    }
