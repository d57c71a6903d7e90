"""Remote agents: their heartbeats, and the list the dashboard's host picker reads.

``sentra agent`` pushes its samples through ``POST /api/v1/ingest`` (label ``host=<id>``)
and reports itself here every few seconds: id, hostname, version, collectors and how its
spool stands. The ingest token's role (operator) is enough to report; a viewer may list.
An agent is *online* while its last heartbeat is younger than three of its heartbeat
intervals.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from sentra import __version__
from sentra.api.auth import Principal, require
from sentra.api.context import ApiContext
from sentra.api.problems import Problem
from sentra.store.sqlite.agents import AgentStore

router = APIRouter(tags=["agents"])
ONLINE_INTERVALS = 3
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class CollectorState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(max_length=64)
    state: str = Field(max_length=16)
    message: str = Field("", max_length=500)
    series: int = Field(0, ge=0)


class SpoolState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    batches: int = Field(0, ge=0)
    samples: int = Field(0, ge=0)
    bytes: int = Field(0, ge=0)
    dropped_batches: int = Field(0, ge=0)
    dropped_samples: int = Field(0, ge=0)
    torn: int = Field(0, ge=0)


class Heartbeat(BaseModel):
    """What an agent says about itself (unknown fields from newer agents are ignored)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=AGENT_ID, description="The agent's id: its samples' host label.")
    hostname: str = Field("", max_length=256)
    version: str = Field("", max_length=64)
    interval_s: float = Field(5.0, gt=0, le=3600, description="Seconds between heartbeats.")
    sample_interval_s: float = Field(1.0, gt=0, le=3600)
    collectors: list[CollectorState] = Field(default_factory=list, max_length=64)
    spool: SpoolState = Field(default_factory=SpoolState)
    last_batch_ts: float | None = Field(None, ge=0, le=1e11)
    last_error: str = Field("", max_length=500)


def _store(request: Request) -> AgentStore:
    ctx: ApiContext = request.app.state.ctx
    if ctx.agents is None:
        raise Problem(503, "this node keeps no record of agents")
    store: AgentStore = ctx.agents
    return store


def _view(record: dict[str, Any], now: float) -> dict[str, Any]:
    interval = float(record.get("interval_s", 5.0))
    last_seen = float(record.get("last_seen", 0.0))
    return {**record, "online": now - last_seen <= ONLINE_INTERVALS * interval}


@router.post("/api/v1/agents/heartbeat")
async def heartbeat(
    request: Request,
    body: Heartbeat,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """An agent reports itself (sent by ``sentra agent`` every few seconds)."""
    store = _store(request)
    now: float = request.app.state.ctx.clock()
    client = request.client
    report = {
        **body.model_dump(),
        "address": client.host if client else "",
        "token": principal.name,
    }
    # The record is written through every 30 s: a database round trip, off the loop.
    record = await asyncio.to_thread(store.heartbeat, report, now)
    return {"agent": _view(record, now), "server_time": now}


@router.get("/api/v1/agents", dependencies=[Depends(require("viewer"))])
def agents(request: Request) -> dict[str, Any]:
    """Every agent heard from (id, hostname, version, first/last seen, last batch, spool
    depth and drops as reported, online), and this node itself (its samples carry no
    ``host`` label)."""
    store = _store(request)
    now: float = request.app.state.ctx.clock()
    return {
        "agents": [_view(r, now) for r in store.all()],
        "local": {"hostname": socket.gethostname(), "version": __version__},
        "online_after_intervals": ONLINE_INTERVALS,
    }


@router.delete("/api/v1/agents/{agent_id}", dependencies=[Depends(require("admin"))])
def forget_agent(
    request: Request, agent_id: Annotated[str, Path(max_length=128)]
) -> dict[str, Any]:
    """Forget a decommissioned agent (its stored samples stay; a new heartbeat brings it
    back)."""
    if not _store(request).delete(agent_id):
        raise Problem(404, f"no agent {agent_id!r} has reported to this node")
    return {"deleted": agent_id}
