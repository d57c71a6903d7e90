"""WireGuard under /api/v1/wg/: interfaces, peers, client configs and QR codes, one-time
links, status (from the status cache only) and endpoint history.

Roles: reads need viewer; enabling or disabling a peer operator; creating, changing and
deleting interfaces and peers admin, and so do configs, QR codes and links (a client
config holds the peer's private key). ``GET /api/v1/wg/links/{code}`` needs no token: the
code is the credential, and it works once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentra import qr
from sentra.api.auth import require
from sentra.api.bodies import read_body
from sentra.api.problems import Problem
from sentra.wireguard.cache import WgStatusCache
from sentra.wireguard.manager import ApplyFailed, Conflict, Invalid, NotFound, WgManager

router = APIRouter(tags=["wireguard"])
MAX_BODY = 256 * 1024
IfaceName = Annotated[str, Path(max_length=15, description="The interface's name.")]
PeerId = Annotated[str, Path(max_length=64, description="The peer's id.")]
_NO_STORE = {"Cache-Control": "no-store"}


def _wg(request: Request) -> WgManager:
    mgr: WgManager | None = getattr(request.app.state, "wireguard", None)
    if mgr is None:
        raise Problem(503, "WireGuard management is off on this node ([wireguard] enabled)")
    return mgr


async def _json(request: Request) -> dict[str, Any]:
    body = await read_body(request, MAX_BODY)
    if not body.strip():
        return {}
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise Problem(400, f"the body must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise Problem(400, "the body must be a JSON object")
    return data


class _Errors:
    """Maps the manager's exceptions to problem documents."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, Invalid):
            raise Problem(400, str(exc)) from None
        if isinstance(exc, NotFound):
            raise Problem(404, str(exc)) from None
        if isinstance(exc, Conflict):
            raise Problem(409, str(exc)) from None
        if isinstance(exc, ApplyFailed):
            raise Problem(503, f"the interface could not be applied: {exc}") from None


errors = _Errors()

# ----------------------------------------------------------------------------- interfaces


@router.get("/api/v1/wg/interfaces", dependencies=[Depends(require("viewer"))])
def list_interfaces(request: Request) -> dict[str, Any]:
    """Every interface with its addresses, port, DNS, MTU, endpoint, public key, peer count
    and whether it is up (as of the last poll or apply)."""
    return {"interfaces": _wg(request).list_interfaces()}


@router.post("/api/v1/wg/interfaces", status_code=201, dependencies=[Depends(require("admin"))])
async def create_interface(request: Request) -> dict[str, Any]:
    """Create an interface (its key pair is generated); bring it up with ``…/apply``."""
    mgr = _wg(request)
    body = await _json(request)
    with errors:
        return mgr.create_interface(body)


@router.post(
    "/api/v1/wg/interfaces/adopt", status_code=201, dependencies=[Depends(require("admin"))]
)
async def adopt_interface(request: Request) -> dict[str, Any]:
    """Adopt an existing wg-quick config: ``{"name": "wg0", "config": "<wg0.conf text>"}``
    (optional ``endpoint``, ``netns``). Its peers are kept with their keys."""
    mgr = _wg(request)
    body = await _json(request)
    with errors:
        return mgr.adopt_interface(body)


@router.get("/api/v1/wg/interfaces/{name}", dependencies=[Depends(require("viewer"))])
def get_interface(request: Request, name: IfaceName) -> dict[str, Any]:
    """One interface."""
    with errors:
        return _wg(request).get_interface(name)


@router.patch("/api/v1/wg/interfaces/{name}", dependencies=[Depends(require("admin"))])
async def update_interface(request: Request, name: IfaceName) -> dict[str, Any]:
    """Change addresses, listen_port, dns, mtu, endpoint, client_allowed_ips,
    persistent_keepalive (applied at once when the interface is up)."""
    mgr = _wg(request)
    body = await _json(request)
    with errors:
        return await mgr.update_interface(name, body)


@router.delete("/api/v1/wg/interfaces/{name}", dependencies=[Depends(require("admin"))])
async def delete_interface(request: Request, name: IfaceName) -> dict[str, Any]:
    """Take the interface down and delete it with its peers, totals and links."""
    with errors:
        return await _wg(request).delete_interface(name)


@router.post("/api/v1/wg/interfaces/{name}/apply", dependencies=[Depends(require("admin"))])
async def apply_interface(request: Request, name: IfaceName) -> dict[str, Any]:
    """Bring the interface up, or apply its config with ``wg syncconf`` (existing sessions
    stay up). 503 with the command's message when ``ip``/``wg`` refuse."""
    with errors:
        return await _wg(request).apply(name)


# ----------------------------------------------------------------------------- peers


@router.get("/api/v1/wg/peers", dependencies=[Depends(require("viewer"))])
def list_peers(
    request: Request,
    interface: Annotated[str | None, Query(max_length=15, description="Only this one's.")] = None,
) -> dict[str, Any]:
    """Peers with their status from the cache (online, endpoint, handshake, totals, rates)."""
    with errors:
        return {"peers": _wg(request).list_peers(interface)}


@router.post("/api/v1/wg/peers", status_code=201, dependencies=[Depends(require("admin"))])
async def create_peer(request: Request) -> dict[str, Any]:
    """Create a peer: ``{interface, name, public_key?, allowed_ips?, extra_routes?,
    expires_at?, preshared_key?: bool}``. Its address is the next free one of each of the
    interface's ranges. ``config`` is the client's wg-quick file when the key pair was
    generated here (null when the client sent its public key)."""
    mgr = _wg(request)
    body = await _json(request)
    with errors:
        peer, config = await mgr.create_peer(body)
    return {"peer": peer, "config": config}


@router.get("/api/v1/wg/peers/{peer_id}", dependencies=[Depends(require("viewer"))])
def get_peer(request: Request, peer_id: PeerId) -> dict[str, Any]:
    """One peer, with its status."""
    with errors:
        return _wg(request).get_peer(peer_id)


@router.patch("/api/v1/wg/peers/{peer_id}", dependencies=[Depends(require("admin"))])
async def update_peer(request: Request, peer_id: PeerId) -> dict[str, Any]:
    """Change name, addresses, allowed_ips, extra_routes, expires_at, enabled, public_key or
    preshared_key (true: a new one, false: none)."""
    mgr = _wg(request)
    body = await _json(request)
    with errors:
        return await mgr.update_peer(peer_id, body)


@router.delete("/api/v1/wg/peers/{peer_id}", dependencies=[Depends(require("admin"))])
async def delete_peer(request: Request, peer_id: PeerId) -> dict[str, Any]:
    """Delete a peer (removed from its interface at once when that is up)."""
    with errors:
        return await _wg(request).delete_peer(peer_id)


@router.post("/api/v1/wg/peers/{peer_id}/enable", dependencies=[Depends(require("operator"))])
async def enable_peer(request: Request, peer_id: PeerId) -> dict[str, Any]:
    """Enable a peer (other peers' sessions are not disturbed)."""
    with errors:
        return await _wg(request).set_enabled(peer_id, True)


@router.post("/api/v1/wg/peers/{peer_id}/disable", dependencies=[Depends(require("operator"))])
async def disable_peer(request: Request, peer_id: PeerId) -> dict[str, Any]:
    """Disable a peer: it leaves the interface's config; its record and totals stay."""
    with errors:
        return await _wg(request).set_enabled(peer_id, False)


@router.get("/api/v1/wg/peers/{peer_id}/endpoints", dependencies=[Depends(require("viewer"))])
def peer_endpoints(
    request: Request, peer_id: PeerId, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The endpoints the peer was seen at, newest first (a leaked config shows up here)."""
    with errors:
        return {"endpoints": _wg(request).endpoints(peer_id, limit)}


def _config(request: Request, peer_id: str) -> tuple[str, str]:
    with errors:
        return _wg(request).client_config(peer_id)


@router.get("/api/v1/wg/peers/{peer_id}/config", dependencies=[Depends(require("admin"))])
def peer_config(request: Request, peer_id: PeerId) -> Response:
    """The peer's wg-quick file (text/plain; it holds the peer's private key)."""
    filename, text = _config(request, peer_id)
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


@router.get("/api/v1/wg/peers/{peer_id}/qr.svg", dependencies=[Depends(require("admin"))])
def peer_qr_svg(request: Request, peer_id: PeerId) -> Response:
    """The peer's config as a QR code (SVG), for the WireGuard mobile apps."""
    _, text = _config(request, peer_id)
    return Response(qr.svg(text), media_type="image/svg+xml", headers=_NO_STORE)


@router.get("/api/v1/wg/peers/{peer_id}/qr.png", dependencies=[Depends(require("admin"))])
def peer_qr_png(request: Request, peer_id: PeerId) -> Response:
    """The peer's config as a QR code (PNG)."""
    _, text = _config(request, peer_id)
    return Response(qr.png(text), media_type="image/png", headers=_NO_STORE)


@router.post("/api/v1/wg/peers/{peer_id}/link", dependencies=[Depends(require("admin"))])
async def peer_link(request: Request, peer_id: PeerId) -> dict[str, Any]:
    """A one-time download link of the peer's config: ``{"ttl_s": 3600}`` →
    ``{url, expires_at}``. The link works once, before it expires."""
    mgr = _wg(request)
    body = await _json(request)
    ttl = body.get("ttl_s", 3600)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise Problem(400, "ttl_s must be a number of seconds")
    with errors:
        code, expires_at = mgr.create_link(peer_id, float(ttl))
    public = request.app.state.ctx.settings.server.public_url.rstrip("/")
    base = public or str(request.base_url).rstrip("/")
    return {"url": f"{base}/api/v1/wg/links/{code}", "expires_at": expires_at}


@router.get("/api/v1/wg/links/{code}")
def redeem_link(
    request: Request, code: Annotated[str, Path(max_length=128, description="The link code.")]
) -> Response:
    """Download a config through a one-time link (no token). 410 once used or expired."""
    got = _wg(request).redeem_link(code)
    if got is None:
        raise Problem(410, "this link has been used or has expired; ask for a new one")
    filename, text = got
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


# ----------------------------------------------------------------------------- status


@router.get("/api/v1/wg/status", dependencies=[Depends(require("viewer"))])
async def wg_status(request: Request) -> Response:
    """Every interface's peers as of the last poll, from the status cache only (a slow
    ``wg`` never delays this answer)."""
    return Response(_wg(request).cache.status_bytes(), media_type="application/json")


class WgCollector(Collector):
    """Per-peer gauges for /metrics, read from the status cache at scrape time."""

    def __init__(self, cache: WgStatusCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        labels = ["interface", "peer", "public_key"]
        age = GaugeMetricFamily(
            "sentra_wg_peer_handshake_age_seconds",
            "Seconds since the peer's latest handshake (absent: never)",
            labels=labels,
        )
        online = GaugeMetricFamily(
            "sentra_wg_peer_online", "1 while the latest handshake is recent", labels=labels
        )
        rx = CounterMetricFamily(
            "sentra_wg_peer_rx_bytes",
            "Bytes received from the peer, across restarts",
            labels=labels,
        )
        tx = CounterMetricFamily(
            "sentra_wg_peer_tx_bytes", "Bytes sent to the peer, across restarts", labels=labels
        )
        for s in self.cache.peers():
            values = [s.source, s.peer_id, s.public_key]
            if s.latest_handshake is not None:
                age.add_metric(values, max(0.0, s.ts - s.latest_handshake))
            online.add_metric(values, 1.0 if s.online else 0.0)
            rx.add_metric(values, s.rx_total)
            tx.add_metric(values, s.tx_total)
        yield from (age, online, rx, tx)


def attach(app: FastAPI, manager: WgManager) -> None:
    """Serve ``manager`` under /api/v1/wg/ and add its per-peer gauges to /metrics."""
    app.state.wireguard = manager
    app.state.registry.register(WgCollector(manager.cache))
