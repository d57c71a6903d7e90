"""`sentra wg …`: WireGuard interfaces and peers, through a running node's API.

Every command talks to the node (``--url`` / ``--token``, see ``client.py``): changes are
applied to live interfaces and land in the audit log like any other API call.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from sentra.cli.client import DEFAULT_URL, ApiClient, CliError, TokenOpt, UrlOpt, die, exit_on_error
from sentra.cli.common import out

app = typer.Typer(
    help="WireGuard: interfaces, peers, client configs and QR codes.", no_args_is_help=True
)
interface_app = typer.Typer(
    help="Create, adopt, apply and remove interfaces.", no_args_is_help=True
)
peer_app = typer.Typer(
    help="Add, list, enable, disable and remove peers; configs and QR codes.", no_args_is_help=True
)
app.add_typer(interface_app, name="interface")
app.add_typer(peer_app, name="peer")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
PeerArg = Annotated[str, typer.Argument(help="The peer's id (see 'sentra wg peer list').")]
IfaceArg = Annotated[str, typer.Argument(help="The interface's name, e.g. wg0.")]
ListOpt = Annotated[list[str] | None, typer.Option(help="Repeat or comma-separate.")]


def _client(url: str, token: str | None) -> ApiClient:
    return ApiClient(url, token, timeout=60)


def _text(api: ApiClient, path: str) -> bytes:
    """A non-JSON answer (config file, QR code), with the same one-line errors."""
    try:
        r = api._http.get(path)
    except httpx.HTTPError:
        raise CliError(f"cannot reach {api.url}: is the node running? ('sentra up')") from None
    if r.status_code >= 400:
        detail = (
            r.json().get("detail", r.text)
            if r.headers.get("content-type", "").endswith("json")
            else r.text
        )
        raise CliError(f"{r.status_code}: {detail}")
    return r.content


def _when(ts: float | None) -> str:
    return "—" if not ts else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _print(data: Any) -> None:
    out.print_json(json.dumps(data))


# ----------------------------------------------------------------------------- interfaces


@interface_app.command("list")
def interface_list(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Every interface: addresses, port, endpoint, peers, up or down."""
    with _client(url, token) as api, exit_on_error():
        rows = api.get("/api/v1/wg/interfaces")["interfaces"]
    if as_json:
        _print(rows)
        return
    table = Table("name", "addresses", "port", "endpoint", "peers", "up", "public key")
    for i in rows:
        table.add_row(
            i["name"],
            ", ".join(i["addresses"]),
            str(i["listen_port"]),
            i["endpoint"] or "—",
            str(i["peers"]),
            "yes" if i["up"] else "no",
            i["public_key"],
        )
    out.print(table if rows else "no interfaces yet ('sentra wg interface create')")


@interface_app.command("show")
def interface_show(name: IfaceArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """One interface, as JSON."""
    with _client(url, token) as api, exit_on_error():
        _print(api.get(f"/api/v1/wg/interfaces/{name}"))


@interface_app.command("create")
def interface_create(
    name: IfaceArg,
    address: Annotated[
        list[str],
        typer.Option(help="Server address with prefix, e.g. 10.8.0.1/24 (repeat for IPv6)."),
    ],
    listen_port: Annotated[int, typer.Option(help="UDP port.")] = 51820,
    endpoint: Annotated[str, typer.Option(help="What clients dial: host:port.")] = "",
    dns: ListOpt = None,
    mtu: Annotated[int | None, typer.Option(help="MTU (default: automatic).")] = None,
    client_allowed_ips: ListOpt = None,
    apply: Annotated[bool, typer.Option(help="Bring it up at once.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Create an interface (its key pair is generated on the node)."""
    body: dict[str, Any] = {
        "name": name,
        "addresses": _split(address),
        "listen_port": listen_port,
        "endpoint": endpoint,
        "dns": _split(dns) or [],
        "mtu": mtu,
    }
    if client_allowed_ips:
        body["client_allowed_ips"] = _split(client_allowed_ips)
    with _client(url, token) as api, exit_on_error():
        made = api.post("/api/v1/wg/interfaces", json=body)
        out.print(f"created {made['name']} (public key {made['public_key']})")
        if apply:
            res = api.post(f"/api/v1/wg/interfaces/{name}/apply")
            out.print(f"{name}: {res['result']} in {res['duration_ms']} ms")


@interface_app.command("adopt")
def interface_adopt(
    name: IfaceArg,
    conf: Annotated[
        Path | None, typer.Option("--conf", help="The config (default /etc/wireguard/<name>.conf).")
    ] = None,
    endpoint: Annotated[str, typer.Option(help="What clients dial: host:port.")] = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Adopt an existing wg-quick config with its key and peers."""
    path = conf or Path("/etc/wireguard") / f"{name}.conf"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        die(f"cannot read {path}: {exc.strerror}")
    with _client(url, token) as api, exit_on_error():
        made = api.post(
            "/api/v1/wg/interfaces/adopt", json={"name": name, "config": text, "endpoint": endpoint}
        )
    out.print(f"adopted {made['name']} with {made['peers']} peers")


@interface_app.command("apply")
def interface_apply(name: IfaceArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Bring an interface up, or sync its config (wg syncconf: sessions stay up)."""
    with _client(url, token) as api, exit_on_error():
        res = api.post(f"/api/v1/wg/interfaces/{name}/apply")
    out.print(f"{name}: {res['result']} in {res['duration_ms']} ms")


@interface_app.command("delete")
def interface_delete(
    name: IfaceArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Take an interface down and delete it with all its peers."""
    if not yes:
        typer.confirm(f"delete {name} and all its peers?", abort=True)
    with _client(url, token) as api, exit_on_error():
        api.request("DELETE", f"/api/v1/wg/interfaces/{name}")
    out.print(f"deleted {name}")


# ----------------------------------------------------------------------------- peers


@peer_app.command("add")
def peer_add(
    interface: Annotated[str, typer.Option("--interface", "-i", help="The interface.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Who or what it is.")],
    public_key: Annotated[
        str | None, typer.Option(help="The client's own public key (then no config is made).")
    ] = None,
    allowed_ip: ListOpt = None,
    extra_route: ListOpt = None,
    preshared_key: Annotated[bool, typer.Option(help="Add a preshared key.")] = True,
    expires_at: Annotated[datetime | None, typer.Option(help="Expiry (local time).")] = None,
    save: Annotated[
        Path | None, typer.Option(help="Write the client config to this file (0600).")
    ] = None,
    qr: Annotated[bool, typer.Option("--qr", help="Show the config as a QR code.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Add a peer: next free address, server-side key pair unless --public-key."""
    body: dict[str, Any] = {
        "interface": interface,
        "name": name,
        "preshared_key": preshared_key,
        "allowed_ips": _split(allowed_ip) or [],
        "extra_routes": _split(extra_route) or [],
    }
    if public_key:
        body["public_key"] = public_key
    if expires_at:
        body["expires_at"] = expires_at.timestamp()
    with _client(url, token) as api, exit_on_error():
        res = api.post("/api/v1/wg/peers", json=body)
    peer, config = res["peer"], res["config"]
    out.print(f"added {peer['name']} ({peer['id']}): {', '.join(peer['addresses'])}")
    if config and save:
        save.write_text(config)
        save.chmod(0o600)
        out.print(f"config written to {save}")
    if config and qr:
        from sentra.qr import terminal

        sys.stdout.write(terminal(config))


@peer_app.command("list")
def peer_list(
    interface: Annotated[
        str | None, typer.Option("--interface", "-i", help="Only this one's.")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Peers with their status: online, endpoint, handshake, traffic totals."""
    with _client(url, token) as api, exit_on_error():
        rows = api.get("/api/v1/wg/peers", **({"interface": interface} if interface else {}))[
            "peers"
        ]
    if as_json:
        _print(rows)
        return
    table = Table(
        "id",
        "interface",
        "name",
        "addresses",
        "enabled",
        "online",
        "endpoint",
        "handshake",
        "rx",
        "tx",
    )
    for p in rows:
        s = p["status"]
        table.add_row(
            p["id"],
            p["interface"],
            p["name"],
            ", ".join(p["addresses"]),
            "yes" if p["enabled"] else "no",
            "yes" if s["online"] else "no",
            s["endpoint"] or "—",
            _when(s["latest_handshake"]),
            _bytes(s["rx_total"]),
            _bytes(s["tx_total"]),
        )
    out.print(table if rows else "no peers yet ('sentra wg peer add')")


@peer_app.command("show")
def peer_show(peer_id: PeerArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """One peer with its status and endpoint history, as JSON."""
    with _client(url, token) as api, exit_on_error():
        peer = api.get(f"/api/v1/wg/peers/{peer_id}")
        peer["endpoint_history"] = api.get(f"/api/v1/wg/peers/{peer_id}/endpoints")["endpoints"]
    _print(peer)


def _toggle(peer_id: str, action: str, url: str, token: str | None) -> None:
    with _client(url, token) as api, exit_on_error():
        peer = api.post(f"/api/v1/wg/peers/{peer_id}/{action}")
    out.print(f"{peer['name']} ({peer_id}) {action}d")


@peer_app.command("enable")
def peer_enable(peer_id: PeerArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Enable a peer (others are not disturbed)."""
    _toggle(peer_id, "enable", url, token)


@peer_app.command("disable")
def peer_disable(peer_id: PeerArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Disable a peer: it leaves the interface; its record and totals stay."""
    _toggle(peer_id, "disable", url, token)


@peer_app.command("remove")
def peer_remove(peer_id: PeerArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Delete a peer."""
    with _client(url, token) as api, exit_on_error():
        api.request("DELETE", f"/api/v1/wg/peers/{peer_id}")
    out.print(f"removed {peer_id}")


@peer_app.command("config")
def peer_config(
    peer_id: PeerArg,
    save: Annotated[
        Path | None, typer.Option(help="Write to this file (0600) instead of stdout.")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Print the peer's wg-quick config (it holds the private key)."""
    with _client(url, token) as api, exit_on_error():
        text = _text(api, f"/api/v1/wg/peers/{peer_id}/config").decode()
    if save:
        save.write_text(text)
        save.chmod(0o600)
        out.print(f"config written to {save}")
    else:
        sys.stdout.write(text)


@peer_app.command("qr")
def peer_qr(
    peer_id: PeerArg,
    svg: Annotated[Path | None, typer.Option(help="Write an SVG file instead.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write a PNG file instead.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Show the peer's config as a QR code in the terminal (or save SVG/PNG)."""
    from sentra.qr import terminal

    with _client(url, token) as api, exit_on_error():
        if svg or png:
            for path, kind in ((svg, "svg"), (png, "png")):
                if path:
                    path.write_bytes(_text(api, f"/api/v1/wg/peers/{peer_id}/qr.{kind}"))
                    out.print(f"written {path}")
            return
        text = _text(api, f"/api/v1/wg/peers/{peer_id}/config").decode()
    sys.stdout.write(terminal(text))


@app.command("status")
def status(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Every interface's peers as of the last poll, as JSON."""
    with _client(url, token) as api, exit_on_error():
        _print(api.get("/api/v1/wg/status"))
