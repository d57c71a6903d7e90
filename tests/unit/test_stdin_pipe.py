"""Children that open /dev/stdin by name get their bytes under both event loops.

uvloop gives a child a socket for ``stdin=PIPE``, which ``fopen("/dev/stdin")`` refuses
(ENXIO); ``wg setconf IFACE /dev/stdin`` broke that way. Both runners now use a real pipe.
"""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from sentra.rollout.actuators.process import run_argv
from sentra.wireguard.apply import run

DATA = b"x" * 300_000 + b"\n"  # bigger than a pipe's buffer: the feeder must not block


@pytest.mark.parametrize("factory", [None, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_a_program_reading_dev_stdin_gets_everything(factory):
    async def main() -> tuple[bytes, str]:
        a = await run_argv(["cat", "/dev/stdin"], timeout_s=10, stdin=DATA)
        b = await run(["wc", "-c", "/dev/stdin"], stdin=DATA)
        return a.stdout, b.stdout

    with asyncio.Runner(loop_factory=factory) as runner:
        out, counted = runner.run(main())
    assert out == DATA
    assert counted.split()[0] == str(len(DATA))


def test_a_child_that_reads_nothing_does_not_hang_the_feeder():
    async def main() -> int:
        res = await run(["true"], stdin=DATA, check=False)
        return res.rc

    assert asyncio.run(main()) == 0
