"""Running a function on several threads at the same moment (races on purpose)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_once(fn: Callable[[], object], n: int = 4, timeout_s: float = 60.0) -> list[BaseException]:
    """Call ``fn`` on ``n`` threads released together; the exceptions they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return errors
