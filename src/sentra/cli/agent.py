"""`sentra agent`: sample this host and push to a Sentra server, spooling while it is away."""

from __future__ import annotations

import asyncio
import logging
import signal
import stat
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sentra.cli.client import die
from sentra.cli.common import ConfigOpt, DataDirOpt, console, settings_or_exit

MiB = 1024 * 1024


def read_token_file(path: Path) -> str:
    """The token in ``path``, which must be private to its owner (mode 0600 or stricter)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        die(f"--token-file {path}: {exc.strerror}")
    if mode & 0o077:
        die(f"--token-file {path} is readable by other users (mode {mode:o}); chmod 600 it")
    if not text:
        die(f"--token-file {path} is empty")
    return text


def agent(
    server: Annotated[
        str,
        typer.Option(
            "--server",
            help="The server's base URL, e.g. https://sentra.example:5099.",
            show_default=False,
        ),
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SENTRA_TOKEN",
            show_envvar=True,
            help="An operator token of the server ('sentra token create --role operator').",
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="Read the token from this file (mode 0600): keeps it out of 'ps'.",
            show_default=False,
        ),
    ] = None,
    agent_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="This agent's name: the 'host' label of its samples (default: the hostname).",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.05,
            max=3600,
            help="Seconds between samples and between batches (default: the "
            "collect.sample_interval setting, 1 s).",
            show_default=False,
        ),
    ] = None,
    spool_max_bytes: Annotated[
        int,
        typer.Option(
            "--spool-max-bytes",
            min=64 * 1024,
            help="Disk the spool may use while the server is away; past it the oldest "
            "batches are dropped (and counted).",
        ),
    ] = 256 * MiB,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            exists=True,
            dir_okay=False,
            help="PEM CA bundle to check the server's certificate (a private CA).",
            show_default=False,
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Do not check the server's TLS certificate (tests only)."),
    ] = False,
    stats_file: Annotated[
        Path | None,
        typer.Option(
            "--stats-file",
            help="Keep running totals (produced, sent, duplicates, dropped) in this JSON file.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run the collectors (host, GPU, Docker, WireGuard) here and push them to a server.

    Every batch is written to <data dir>/spool/ (fsync'd) before it is sent and deleted
    only once the server has taken it, so nothing is lost while the server is down or
    restarting: the spool is replayed in order when it is back (the server drops the
    duplicates of a batch whose answer was lost). Each sample gets the label host=<id>.
    Stops cleanly on Ctrl-C or SIGTERM.
    """
    if token_file is not None:
        token = read_token_file(token_file)
    if not token:
        die("give the server's token: --token, --token-file or SENTRA_TOKEN")
    if not server.startswith(("http://", "https://")):
        die(f"--server {server!r} must start with http:// or https://")
    overrides: dict[str, dict[str, Any]] = {}
    if interval is not None:
        overrides["collect"] = {"sample_interval": interval}
    settings = settings_or_exit(data_dir, config, overrides)

    from sentra.agent.push import Pusher, tls_verify
    from sentra.agent.runner import Agent, AgentConfig, default_agent_id
    from sentra.agent.wgstatus import WgStatusCollector
    from sentra.collect.host import configure_procfs, host_collectors
    from sentra.node import optional_collectors
    from sentra.state.layout import Layout
    from sentra.state.logfile import setup_logging

    layout = Layout(settings.data_dir)
    layout.ensure()
    setup_logging(
        layout.logs,
        level=settings.log.level,
        max_bytes=settings.log.max_bytes,
        backups=settings.log.backups,
    )
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    logging.getLogger().addHandler(to_stderr)
    name = agent_id or default_agent_id()
    every = settings.collect.sample_interval
    configure_procfs(settings.collect.host_proc)
    collectors = [
        *host_collectors(settings.collect.host_sys),
        *optional_collectors(settings),
        WgStatusCollector(settings.wireguard.wg),
    ]
    cfg = AgentConfig(
        agent_id=name,
        interval=every,
        spool_dir=layout.spool,
        spool_max_bytes=spool_max_bytes,
        stats_file=stats_file,
        heartbeat_s=max(every, 5.0),
    )
    pusher = Pusher(server, token, verify=tls_verify(ca_file, insecure))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = Agent(cfg, collectors, pusher)
        console.print(
            f"sentra agent {name!r}: sampling every {every:g} s, pushing to {server} "
            f"(spool: {layout.spool}, at most {spool_max_bytes} bytes)",
            highlight=False,
            soft_wrap=True,
        )
        await runner.run(stop)

    try:
        asyncio.run(main())
    except (OSError, ValueError) as exc:
        die(f"agent cannot run: {exc}")
