"""The composition root: builds a node from settings and runs it until told to stop.

Start: data dir layout, log file, checkpoint (learns whether the previous run ended
uncleanly, then marks this one as running), store, tokens, bus, consumers, collectors,
HTTP server. Stop (SIGTERM/SIGINT): stop sampling, flush the writer, seal the head, write
the final checkpoint with ``last_clean_shutdown: true``, fold the WAL, close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import ssl
import stat
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import uvicorn

from sentra import __version__
from sentra.alerts.service import AlertService
from sentra.api import create_app
from sentra.api.account import Accounts
from sentra.api.context import ApiContext
from sentra.api.preferences import load_preferences
from sentra.bus.base import Subscription
from sentra.bus.factory import build_bus, connect_bus
from sentra.cache import StatusCache
from sentra.collect.base import Collector
from sentra.collect.host import configure_procfs, host_collectors
from sentra.collect.loop import SamplingLoop
from sentra.config import Settings
from sentra.events import Samples
from sentra.ingest.dedupe import Deduper
from sentra.ingest.pipeline import Ingestor, Job
from sentra.insight import InsightService
from sentra.live.hub import LiveHub
from sentra.rollout.controller import RolloutController
from sentra.rollout.lease import leases_for
from sentra.state.layout import Layout
from sentra.state.logfile import setup_logging
from sentra.state.runtime import Checkpoint
from sentra.store.open import open_stores
from sentra.store.sql import DatabaseUnavailable
from sentra.store.sqlite.audit import AuditWriter
from sentra.wireguard.service import build_wireguard

log = logging.getLogger("sentra.node")
# How long a stopping node waits for live endpoints to send their close frames.
LIVE_CLOSE_WAIT_S = 2.0


def _no_passphrase() -> str:
    raise ValueError("the key is encrypted with a passphrase")


def check_tls(settings: Settings, warn: Callable[[str], None]) -> None:
    """Refuse to start with TLS files that cannot serve (missing, unreadable, encrypted,
    key not matching the certificate): OSError naming the file, never its content. Warn
    when the key can be read by other users than the node's."""
    cert, key = settings.server.tls_cert, settings.server.tls_key
    if cert is None or key is None:
        return
    for what, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise OSError(f"TLS {what} {path}: no such file ([server] tls_{what[:4]})")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cert, key, password=_no_passphrase
        )
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc).split(":")[0]
        raise OSError(
            f"TLS certificate {cert} and key {key} cannot be used ({reason}): give a PEM "
            "certificate chain and its unencrypted private key"
        ) from None
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        warn(f"the TLS key {key} is readable by other users (mode {mode:o}); chmod 600 it")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def optional_collectors(settings: Settings) -> list[Collector]:
    """GPU and Docker collectors, when enabled and importable."""
    found: list[Collector] = []
    if settings.collect.gpu:
        try:
            from sentra.collect.gpu import GpuCollector
        except ImportError:  # pragma: no cover - the module ships with the package
            pass
        else:
            found.append(GpuCollector(proc_root=settings.collect.host_proc))
    if settings.collect.docker_stats:
        from sentra.collect.docker import DockerCollector

        budget = settings.collect.sample_interval * settings.collect.budget_fraction
        found.append(
            DockerCollector(
                socket_path=settings.collect.docker_socket,
                timeout_s=min(2.0, budget),
                budget_s=budget * 0.9,
            )
        )
    return found


class Node:
    def __init__(
        self,
        settings: Settings,
        *,
        collectors: list[Collector] | None = None,
        clock: Callable[[], float] = time.time,
        announce: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.announce = announce
        self.layout = Layout(settings.data_dir)
        self.layout.ensure()
        self._log_handler = setup_logging(
            self.layout.logs,
            level=settings.log.level,
            max_bytes=settings.log.max_bytes,
            backups=settings.log.backups,
        )
        check_tls(settings, self._warn)
        self.checkpoint = Checkpoint(self.layout.state / "runtime.json")
        self.previous_run_unclean = self.checkpoint.previous_run_unclean
        # Migrates the database once (both engines; in a child process, so that the node
        # never carries SQLAlchemy and Alembic) and opens the small stores on it.
        self.stores = open_stores(settings, migrate_in_child=True)
        self.store = self.stores.telemetry
        self.tokens = self.stores.tokens
        self.accounts = Accounts(
            settings.auth,
            self.stores.target,
            self.layout.state / "jwt.key",
            now=clock(),
            public_url=settings.dashboard_url,
        )
        self.bus = build_bus(settings.bus, client_name=f"sentra-{socket.gethostname()}")
        self.cache = StatusCache(
            previous_run_unclean=self.previous_run_unclean,
            restored=self.checkpoint.previous.last_readings,
        )
        if collectors is None:
            configure_procfs(settings.collect.host_proc)
            collectors = [
                *host_collectors(settings.collect.host_sys),
                *optional_collectors(settings),
            ]
        self.sampler = SamplingLoop(
            collectors,
            self.bus,
            interval=settings.collect.sample_interval,
            budget_fraction=settings.collect.budget_fraction,
            clock=clock,
        )
        ing = settings.ingest
        self.deduper = Deduper(window_s=ing.dedupe_window_s, max_ids=ing.dedupe_max_ids)
        self.deduper.load(self.store.dedupe_since(clock() - ing.dedupe_window_s))
        self.ingestor = Ingestor(
            self.store, self.bus, self.deduper, max_pending=ing.max_pending_events, clock=clock
        )
        self._collect_sub = self.bus.subscribe(
            "metrics.collect.>", name="store", maxsize=100_000, group="store"
        )
        self._cache_sub = self.bus.subscribe(">", name="status-cache", maxsize=10_000)
        self.hub = LiveHub(self.bus, settings.live, clock=clock)
        self.rollout_store = self.stores.rollouts
        self.controller = RolloutController(
            self.rollout_store,
            bus=self.bus,
            telemetry=self.store,
            ingestor=self.ingestor,
            clock=clock,
            leases=leases_for(self.stores.target),
        )
        self.controller.load()
        self.alerts = AlertService(
            settings.alerts,
            settings.alerts.rules_file or self.layout.config / "alerts.yaml",
            bus=self.bus,
            store=self.store,
            restored=self.checkpoint.previous.alerts_recent,
            clock=clock,
        )
        if self.alerts.error:
            self._warn(f"no alert rules are used: {self.alerts.error}")
        self.insight, self._insight_sub = self._build_insight()
        self.agents = self.stores.agents
        self.ctx = ApiContext(
            settings=settings,
            layout=self.layout,
            store=self.store,
            tokens=self.tokens,
            cache=self.cache,
            bus=self.bus,
            ingestor=self.ingestor,
            previous_run_unclean=self.previous_run_unclean,
            clock=clock,
            hub=self.hub,
            rollouts=self.controller,
            alerts=self.alerts,
            agents=self.agents,
        )
        self.audit_store = self.stores.audit
        self.audit = AuditWriter(
            self.audit_store, retention_days=settings.audit.retention_days, clock=clock
        )
        self.app = create_app(self.ctx, accounts=self.accounts, audit_writer=self.audit)
        self.wireguard = build_wireguard(settings, self.layout, self.bus, clock=clock)
        if self.wireguard is not None:
            from sentra.api.wireguard import attach

            attach(self.app, self.wireguard.manager)
        if self.insight is not None:
            from sentra.api.insight import attach as attach_insight

            attach_insight(self.app, self.insight)
        load_preferences(self.ctx)  # a damaged file is reported now, not on first use
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    def _build_insight(self) -> tuple[InsightService | None, Subscription | None]:
        """Baselines and anomaly scores of every series ([insight]); the scores are written
        through the ingest writer like any ingested series."""
        if not self.settings.insight.enabled:
            return None, None
        service = InsightService(
            self.settings.insight,
            path=self.layout.state / "baselines.msgpack",
            host=self.cache.hostname,
            submit=lambda samples: self.ingestor.submit(
                Job("insight", samples=samples), force=True
            ),
            clock=self.clock,
        )
        if service.restored.state == "damaged":
            self._warn(service.restored.message)
        return service, self.bus.subscribe("metrics.>", name="insight", maxsize=10_000)

    def _insight_tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        if self.insight is None or self._insight_sub is None:
            return []
        return [
            ("insight", self.insight.run(self._insight_sub)),
            ("insight-emitter", self.insight.emitter()),
            ("insight-persister", self.insight.persister()),
        ]

    def first_signin(self) -> str | None:
        """On the very first start (no users yet): the user ``admin``, without a password,
        and a one-time sign-in code for it (printed once; only its hash is kept)."""
        return self.accounts.first_admin(now=self.clock())

    def _warn(self, text: str) -> None:
        log.warning("%s", text)
        self.announce(f"Warning: {text}")

    def request_stop(self) -> None:
        self.stop_event.set()

    async def _periodic(
        self, every: float, fn: Callable[[], None], *, in_thread: bool = False
    ) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if in_thread:  # seals and retention can take tens of ms: off the loop
                    await asyncio.to_thread(fn)
                else:
                    fn()
            except DatabaseUnavailable as exc:  # an outage, not a bug: one line
                log.warning("periodic job %s: %s", getattr(fn, "__name__", fn), exc)
            except Exception:
                log.exception("periodic job %s failed", getattr(fn, "__name__", fn))

    def _write_checkpoint(self, clean: bool = False) -> None:
        self.checkpoint.write(
            now=self.clock(),
            readings=self.cache.summary(),
            clean=clean,
            alerts=self.alerts.snapshot(),
        )

    async def _checkpoints(self, every: float) -> None:
        """Write the checkpoint every ``every`` s: the readings are taken on the loop (the
        cache is the loop's), the fsync'd write happens on a worker thread."""
        while True:
            await asyncio.sleep(every)
            readings = self.cache.summary()
            alerts = self.alerts.snapshot()
            try:
                await asyncio.to_thread(
                    self.checkpoint.write, now=self.clock(), readings=readings, alerts=alerts
                )
            except OSError:
                log.exception("could not write the runtime checkpoint")

    def _maintain(self) -> None:
        self.store.maintain(self.clock())

    async def run(self, *, sock: socket.socket | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await connect_bus(self.bus)  # [bus] backend = "nats": streams and consumers first
        self.checkpoint.start(now=self.clock(), pid=os.getpid(), version=__version__)
        if self.previous_run_unclean:
            log.warning("the previous run did not end cleanly (no clean-shutdown mark)")
        signin_code = self.first_signin()
        s = self.settings
        config = uvicorn.Config(
            self.app,
            host=s.server.host,
            port=s.server.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            # Compressing every frame once per client doubled the node's CPU in
            # bench/live_latency.py; telemetry frames are small and loopback/LAN is fast.
            ws_per_message_deflate=False,
            ssl_certfile=str(s.server.tls_cert) if s.server.tls_cert else None,
            ssl_keyfile=str(s.server.tls_key) if s.server.tls_key else None,
        )
        server = _Server(config)
        spawn = loop.create_task
        self._tasks = [
            spawn(self.ingestor.run(), name="writer"),
            spawn(self.ingestor.forward_collectors(self._collect_sub), name="collect-forwarder"),
            spawn(self.cache.run(self._cache_sub), name="status-cache"),
            spawn(self.sampler.run(), name="sampler"),
            spawn(
                self._checkpoints(s.state.checkpoint_interval_s),
                name="checkpoint",
            ),
            spawn(self._periodic(5.0, self._maintain, in_thread=True), name="maintenance"),
            spawn(self.hub.run(), name="live-hub"),
            spawn(self.controller.run(), name="rollout-controller"),
            spawn(self.alerts.run(), name="alerts"),
            spawn(self.audit.run(), name="audit-writer"),
            *(spawn(c, name=n) for n, c in self._insight_tasks()),
            *(spawn(c, name=n) for n, c in (self.wireguard.tasks() if self.wireguard else [])),
        ]
        serve = spawn(server.serve(sockets=[sock] if sock else None), name="http")
        while not server.started and not serve.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.02)
        if serve.done():
            await self._shutdown()
            serve.result()
            raise RuntimeError(f"could not listen on {s.server.host}:{s.server.port}")
        # Everything built so far lives as long as the node: keep it out of the cyclic
        # collector's way, and let the young generation grow before it is scanned. Ingest
        # allocates thousands of short-lived objects per batch; with the default threshold
        # (700) the collector ran so often that msgspec decoding appeared to cost 4x its
        # own time (bench/ingest_throughput.py).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        log.info("sentra %s listening on %s", __version__, s.dashboard_url)
        self.announce(f"Sentra {__version__} is up: {s.dashboard_url}  (data: {s.data_dir})")
        if signin_code:
            hours = s.auth.signin_link_ttl_s / 3600
            self.announce(
                "First start: the admin user 'admin' was created, without a password.\n"
                f"Sign in once with this link (it works once, for {hours:g} h), then set a "
                f"password:\n  {s.dashboard_url}/#signin={signin_code}\n"
                "For scripts: sentra token create --name ci --role admin"
            )
        if self.previous_run_unclean:
            self.announce("Note: the previous run did not shut down cleanly.")
        stopper = spawn(self.stop_event.wait())
        await asyncio.wait([serve, stopper], return_when=asyncio.FIRST_COMPLETED)
        # End live streams first (uvicorn would wait on open SSE responses) and let their
        # endpoints send the close (1001 "going away") before uvicorn closes the sockets
        # itself (1012, which clients read as "restart now").
        self.hub.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LIVE_CLOSE_WAIT_S):
                await self.hub.released()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serve
        stopper.cancel()
        await self._shutdown()

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.controller.close()
        await self.alerts.close()
        self.hub.close()
        self.sampler.close()
        while (item := self._collect_sub.get_nowait()) is not None:  # ticks not yet handed on
            if isinstance(item[1], Samples):
                self.ingestor.submit(
                    Job(f"collect.{item[1].source}", samples=item[1].samples), force=True
                )
        if self.insight is not None:
            try:
                self.insight.save_sync()
            except OSError:
                log.exception("could not save the baselines")
        self.ingestor.flush()
        self.store.seal()
        self._write_checkpoint(clean=True)
        self.store.checkpoint()
        await self.bus.close()
        self.store.close()
        self.tokens.close()
        self.audit.flush_sync()
        self.audit_store.close()
        self.accounts.close()
        self.rollout_store.close()
        self.agents.flush()
        self.agents.close()
        if self.wireguard is not None:
            self.wireguard.close()
        log.info("sentra stopped cleanly")
        logging.getLogger().removeHandler(self._log_handler)
        self._log_handler.close()
