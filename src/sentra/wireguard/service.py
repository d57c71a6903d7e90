"""Builds the WireGuard manager, its status cache and its poller from settings (called by
the composition root, ``node.py``), and owns their tasks.

``[wireguard] enabled``: ``auto`` (the default) manages interfaces always and polls when
the ``wg`` program is found; ``on`` polls regardless (a missing ``wg`` shows as a poll
error in the status); ``off`` builds nothing (the API answers 503).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sentra.bus.base import Bus
from sentra.config import Settings
from sentra.state.layout import Layout
from sentra.store.open import open_database
from sentra.store.sqlite.wireguard import WgStore
from sentra.wireguard.apply import Applier, DumpReader
from sentra.wireguard.cache import WgStatusCache
from sentra.wireguard.keys import SecretBox
from sentra.wireguard.manager import WgManager
from sentra.wireguard.poller import WgPoller

log = logging.getLogger(__name__)


class WireguardService:
    def __init__(
        self,
        settings: Settings,
        layout: Layout,
        bus: Bus,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        w = settings.wireguard
        self.store = WgStore(open_database(settings))
        self.box = SecretBox(layout.state / "wg.key")
        self.cache = WgStatusCache()
        applier = Applier(wg=w.wg, ip=w.ip, userspace=w.userspace, timeout_s=w.command_timeout_s)
        self.manager = WgManager(self.store, self.box, applier, self.cache, clock=clock)
        self.manager.seed_cache()
        self.polling = w.enabled == "on" or shutil.which(w.wg) is not None
        if not self.polling:
            log.info("'%s' not found: WireGuard status is not polled ([wireguard] enabled)", w.wg)
        self.poller = WgPoller(
            self.store,
            bus,
            DumpReader(wg=w.wg, ip=w.ip, timeout_s=w.command_timeout_s),
            interval=w.poll_interval_s,
            online_after_s=w.online_after_s,
            clock=clock,
            on_tick=self.manager.expire_due,
        )
        self._sub = bus.subscribe("wg.status.>", name="wg-status-cache", maxsize=200_000)

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """(name, coroutine) of every task the node runs for WireGuard."""
        out: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("wg-status-cache", self.cache.run(self._sub))
        ]
        if self.polling:
            out.append(("wg-poller", self.poller.run()))
        return out

    def close(self) -> None:
        self._sub.close()
        self.store.close()


def build_wireguard(
    settings: Settings, layout: Layout, bus: Bus, *, clock: Callable[[], float] = time.time
) -> WireguardService | None:
    if settings.wireguard.enabled == "off":
        return None
    return WireguardService(settings, layout, bus, clock=clock)
