"""`sentra demo …`: self-contained demonstrations on loopback."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from sentra.cli.client import die
from sentra.cli.common import out

app = typer.Typer(help="Self-contained demonstrations that run on loopback.", no_args_is_help=True)


@app.command()
def canary(
    bad: Annotated[
        bool,
        typer.Option(
            "--bad/--good", help="Roll out a bad v2 (5x errors, +50 % latency) or a good one."
        ),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(help="Port of the demo node (default: a free one).", show_default=False),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the node (and traffic) running until Ctrl-C.")
    ] = False,
    split: Annotated[
        str,
        typer.Option(
            help="Traffic split: haproxy (the haproxy actuator), pull (the load generator "
            "polls the weights API) or auto (haproxy when installed).",
        ),
    ] = "auto",
) -> None:
    """Run a whole guarded rollout on loopback in about a minute.

    Starts a node, two versions of a small HTTP service, a traffic split and ~100 requests/s,
    applies a rollout spec (10 → 25 → 50 → 100 %, gates and a sequential judge) and prints each
    decision. Ends with 'result: promoted' or 'result: rolled back' and cleans up everything.
    """
    from sentra.demo.canary import DemoOptions, run_demo

    if split not in ("auto", "pull", "haproxy"):
        die(f"--split must be auto, pull or haproxy, not {split!r}", 2)
    options = DemoOptions(bad=bad, port=port, keep=keep, split=split)  # type: ignore[arg-type]

    def say(text: str) -> None:
        out.print(text, highlight=False, soft_wrap=True, markup=False)

    try:
        result = asyncio.run(run_demo(options, say))
    except (RuntimeError, OSError) as exc:
        die(f"the demo could not run: {exc}")
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if result.phase == "interrupted":
        say("result: interrupted")
        raise typer.Exit(130)
    say(f"{result.decisions} decisions in {result.seconds:.1f} s ({result.split} split)")
    say(f"result: {result.text}")
    raise typer.Exit(0 if result.phase in ("promoted", "rolled_back") else 1)
