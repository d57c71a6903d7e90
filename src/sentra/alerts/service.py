"""The alert service: rules file in, engine in the middle, events and notifications out.

It subscribes to samples (``metrics.>``: threshold, anomaly and absence rules) and rollout
decisions (``rollout.decision.>``: rollout rules), ticks every ``eval_interval_s`` (so
``for``, ``clear_for`` and absence elapse without new data), and for every alert that changes
state publishes an :class:`AlertEvent` on ``alerts.<rule>`` (the live stream's ``alerts``
kind) and hands firing/resolved alerts to the rule's notifiers, whose queues never hold it
up.

Recent alerts (firing and resolved) are kept in memory, written into the runtime checkpoint
by the node and restored from it at start: ``GET /api/v1/alerts`` shows them at once after a
restart, and an alert that was firing carries on without a second notification.

The rules come from a YAML file (``[alerts] rules_file``, default
``<data dir>/config/alerts.yaml``). A missing file means no rules; a bad one is reported
(log, ``GET /api/v1/alerts/rules``) and the node runs with no rules until it is fixed.
Absence rules learn when each matching series was last written from the store at start,
so a series that stopped before a restart is still noticed.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from sentra.alerts.engine import Alert, AlertEngine
from sentra.alerts.notifiers import NotifierQueue, sender_for
from sentra.alerts.spec import AlertRules, RuleSpec, load_rules
from sentra.bus.base import Bus, Subscription
from sentra.config import AlertSettings
from sentra.events import AlertEvent, RolloutEvent, Samples, series_key
from sentra.rollout.spec import SpecError
from sentra.state.atomic import write_bytes_atomic
from sentra.store.base import SeriesInfo

log = logging.getLogger(__name__)
_NOTIFY_STATES = frozenset({"firing", "resolved"})


class _SeriesIndex(Protocol):
    def series(self, name_contains: str = "", limit: int = 1000) -> list[SeriesInfo]: ...


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


class AlertService:
    def __init__(
        self,
        settings: AlertSettings,
        rules_path: Path,
        *,
        bus: Bus,
        store: _SeriesIndex | None = None,
        restored: Iterable[Mapping[str, Any]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.rules_path = rules_path
        self.bus = bus
        self.store = store
        self.clock = clock
        self.started_at = clock()
        self.error = ""  # why the rules file could not be used
        self.issues: list[dict[str, Any]] = []
        self.recent: collections.OrderedDict[str, Alert] = collections.OrderedDict()
        for data in restored:
            try:
                alert = Alert.from_json(data)
            except TypeError:
                continue  # a damaged entry: drop it, keep the others
            self.recent[alert.id] = alert
        self._trim()
        self.engine = AlertEngine(self._load_file())
        self.engine.restore(self.recent.values())
        self._index: dict[str, list[RuleSpec]] = {}
        self._seen: dict[str, dict[str, tuple[dict[str, str], float]]] = {}
        self._http = httpx.AsyncClient(follow_redirects=False)
        self.notifiers: dict[str, NotifierQueue] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._rebuild()
        self._samples: Subscription = bus.subscribe("metrics.>", name="alerts", maxsize=50_000)
        self._decisions: Subscription = bus.subscribe(
            "rollout.decision.>", name="alerts-rollouts", maxsize=1000
        )
        self.evaluations = 0

    # Rules -----------------------------------------------------------------------

    @property
    def rules(self) -> AlertRules:
        return self.engine.rules

    def _load_file(self) -> AlertRules:
        try:
            text = self.rules_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AlertRules()
        except (OSError, UnicodeDecodeError) as exc:
            self.error = f"cannot read {self.rules_path}: {exc}"
            log.error("alerts: %s; running with no alert rules", self.error)
            return AlertRules()
        try:
            rules = load_rules(text)
        except SpecError as exc:
            self.issues = [i.to_json() for i in exc.issues]
            self.error = f"{self.rules_path} is not valid ({len(exc.issues)} problem(s)): {exc}"
            log.error("alerts: %s; running with no alert rules", self.error)
            return AlertRules()
        log.info("alerts: %d rule(s) from %s", len(rules.rules), self.rules_path)
        return rules

    def apply(self, text: str) -> AlertRules:
        """Validate ``text`` (SpecError when invalid), save it as the rules file, use it."""
        rules = load_rules(text)
        self.rules_path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.rules_path, text.encode("utf-8"), mode=0o600)
        self.error, self.issues = "", []
        self._emit(self.engine.replace_rules(rules, self.clock()))
        self._rebuild()
        log.info("alerts: %d rule(s) applied to %s", len(rules.rules), self.rules_path)
        return rules

    def _rebuild(self) -> None:
        """Index rules by series, seed absence rules, start the notifiers now named."""
        now = self.clock()
        self._index = {}
        seen: dict[str, dict[str, tuple[dict[str, str], float]]] = {}
        for rule in self.rules.rules:
            if rule.kind == "rollout":
                continue
            self._index.setdefault(rule.watched_series, []).append(rule)
            if rule.kind == "absence":
                seen[rule.name] = self._seed_absence(rule, now)
        self._seen = seen
        for name in list(self.notifiers):
            if name not in self.rules.notifiers or self.rules.notifiers[name] != (
                self.notifiers[name].spec
            ):
                self._workers.pop(name).cancel()
                del self.notifiers[name]
        for name, spec in self.rules.notifiers.items():
            if name not in self.notifiers:
                self.notifiers[name] = NotifierQueue(
                    name,
                    spec,
                    sender_for(spec, self._http),
                    maxsize=self.settings.notify_queue_max,
                    on_status=self._delivery,
                    clock=self.clock,
                )
                self._start_worker(name)

    def _seed_absence(self, rule: RuleSpec, now: float) -> dict[str, tuple[dict[str, str], float]]:
        """Last write of every matching series from the store (at least: since now)."""
        previous = self._seen.get(rule.name, {})
        out: dict[str, tuple[dict[str, str], float]] = {}
        if self.store is not None:
            for info in self.store.series(rule.watched_series, limit=100_000):
                if info.name == rule.watched_series and _matches(info.labels, rule.watched_labels):
                    key = series_key(info.name, info.labels)
                    out[key] = (dict(info.labels), info.last_ts or now)
        out.update(previous)
        if not out:  # nothing written yet: absent since the rule exists
            key = series_key(rule.watched_series, rule.watched_labels)
            out[key] = (rule.watched_labels, now)
        return out

    def _start_worker(self, name: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not running yet: run() starts the workers
        self._workers[name] = loop.create_task(self.notifiers[name].run(), name=f"notify-{name}")

    # Inputs ----------------------------------------------------------------------

    def on_samples(self, batch: Samples) -> None:
        now = self.clock()
        index = self._index
        changed: list[Alert] = []
        for s in batch.samples:
            rules = index.get(s.name)
            if not rules:
                continue
            for rule in rules:
                if not _matches(s.labels, rule.watched_labels):
                    continue
                key = series_key(s.name, s.labels)
                if rule.kind == "absence":
                    seen = self._seen.setdefault(rule.name, {})
                    placeholder = series_key(rule.watched_series, rule.watched_labels)
                    if key != placeholder and placeholder in seen:  # data at last
                        del seen[placeholder]
                        changed += self.engine.observe(
                            rule, placeholder, rule.watched_labels, 0.0, now
                        )
                    seen[key] = (s.labels, now)
                    changed += self.engine.observe(rule, key, s.labels, 0.0, now)
                else:
                    changed += self.engine.observe(rule, key, s.labels, s.value, now)
        self._emit(changed)

    def on_decision(self, event: RolloutEvent) -> None:
        data = event.data
        rollout = str(data.get("rollout") or event.source)
        kind = str(data.get("kind", ""))
        if kind == "note":
            return
        now = self.clock()
        changed: list[Alert] = []
        for rule in self.rules.rules:
            if rule.kind == "rollout" and fnmatch.fnmatchcase(rollout, rule.rollout):
                value = 1.0 if kind in rule.decisions else 0.0
                labels = {"rollout": rollout, "decision": kind}
                changed += self.engine.observe(rule, rollout, labels, value, now)
        self._emit(changed)

    def tick(self) -> None:
        now = self.clock()
        self.evaluations += 1
        changed = self.engine.tick(now)
        for name, series in self._seen.items():
            rule = self.rules.rule(name)
            if rule is None:
                continue
            for key, (labels, seen) in series.items():
                changed += self.engine.observe(rule, key, labels, max(0.0, now - seen), now)
        self._emit(changed)

    # Outputs ---------------------------------------------------------------------

    def _emit(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        now = self.clock()
        for alert in alerts:
            if alert.state in _NOTIFY_STATES:
                self.recent[alert.id] = alert
                self.recent.move_to_end(alert.id)
                rule = self.rules.rule(alert.rule)
                for name in rule.notify if rule else ():
                    queue = self.notifiers.get(name)
                    if queue is not None:
                        queue.offer(alert.to_json())
            self._publish(alert, now)
        self._trim()

    def _publish(self, alert: Alert, now: float) -> None:
        try:
            self.bus.publish(
                f"alerts.{alert.rule}", AlertEvent(source=alert.rule, ts=now, data=alert.to_json())
            )
        except Exception:  # the bus never stops evaluation either
            log.exception("could not publish alert %s", alert.id)

    def _delivery(self, alert_id: str, notifier: str, status: str) -> None:
        alert = self.recent.get(alert_id)
        if alert is None:
            return
        alert.notifications[notifier] = f"{alert.state}: {status}"
        if status == "sent" or status.startswith("failed"):
            self._publish(alert, self.clock())

    def _trim(self) -> None:
        while len(self.recent) > self.settings.recent_max:
            self.recent.popitem(last=False)

    # Views -----------------------------------------------------------------------

    def alerts(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Active (pending, firing) and recent alerts, newest change first."""
        merged = {a.id: a for a in self.recent.values()}
        merged.update((a.id, a) for a in self.engine.active())
        out = [a for a in merged.values() if state is None or a.state == state]
        out.sort(key=lambda a: a.updated_at, reverse=True)
        return [a.to_json() for a in out[:limit]]

    def snapshot(self) -> list[dict[str, Any]]:
        """What the runtime checkpoint keeps: the recent alerts, oldest first."""
        return [a.to_json() for a in self.recent.values()]

    def find(self, alert_id: str) -> Alert | None:
        return self.recent.get(alert_id) or self.engine.find(alert_id)

    def ack(self, alert_id: str, actor: str) -> Alert | None:
        alert = self.find(alert_id)
        if alert is not None:
            alert.acked_by = actor
            self._publish(alert, self.clock())
        return alert

    def rules_json(self) -> dict[str, Any]:
        data = self.rules.to_json()
        queues = {n: q.to_json() for n, q in self.notifiers.items()}
        data["notifiers"] = [queues.get(n["name"], n) for n in data["notifiers"]]
        data.update(source=str(self.rules_path), error=self.error, errors=self.issues)
        return data

    # Running ---------------------------------------------------------------------

    async def run(self) -> None:
        for name in self.notifiers:
            if name not in self._workers:
                self._start_worker(name)
        await asyncio.gather(self._read_samples(), self._read_decisions(), self._ticks())

    async def _read_samples(self) -> None:
        async for _topic, event in self._samples:
            if isinstance(event, Samples):
                self._guarded(self.on_samples, event)

    async def _read_decisions(self) -> None:
        async for _topic, event in self._decisions:
            if isinstance(event, RolloutEvent):
                self._guarded(self.on_decision, event)

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.settings.eval_interval_s)
            self._guarded(lambda _: self.tick(), None)

    def _guarded(self, fn: Callable[[Any], None], arg: Any) -> None:
        try:
            fn(arg)
        except Exception:
            log.exception("alert evaluation failed")

    async def close(self) -> None:
        self._samples.close()
        self._decisions.close()
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
        await self._http.aclose()
