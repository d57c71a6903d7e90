"""What the API needs from the node, passed in by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentra.auth.tokens import TokenStore
from sentra.cache import StatusCache
from sentra.config import Settings
from sentra.ingest.pipeline import Ingestor
from sentra.state.layout import Layout
from sentra.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from sentra.bus.factory import AnyBus


@dataclass
class ApiContext:
    settings: Settings
    layout: Layout
    store: SqliteStore
    tokens: TokenStore
    cache: StatusCache
    bus: AnyBus
    ingestor: Ingestor
    previous_run_unclean: bool
    started_at: float = field(default_factory=time.time)
    clock: Callable[[], float] = time.time
    counters: dict[str, Any] = field(default_factory=dict)
    hub: Any = None
    rollouts: Any = None  # the RolloutController, when the node runs one
    alerts: Any = None  # the AlertService, when the node runs one
    agents: Any = None  # the AgentStore of remote agents (api/agents.py)
