"""Sign-in throttling: per-username and per-IP failure counts with exponential lock-out.

Pure: no clock, no I/O; every call takes ``now``. The API asks :meth:`Throttle.attempt`
before it checks a password (or code, or refresh token). An attempt is counted as a failure
*up front* — a burst of parallel requests cannot all slip through while the first password
hash is still being computed — and handed back by :meth:`Throttle.success` (the secret was
right) or :meth:`Throttle.refund` (the attempt was not a guess, e.g. a missing TOTP code).

After ``free`` failures in a row each further failure locks the key for
``base_s * 2 ** (failures - free)`` seconds, at most ``max_s``. While a key is locked nothing
is checked: a right password gets the same 429 as a wrong one. A key whose last failure is
older than ``forget_s`` starts again from zero. With the defaults (5 free, 1 s doubling to
15 min) a patient attacker gets 10 guesses in the first minute and then about 4 an hour;
see bench/brute_force.py.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Key = tuple[str, str]  # (scope, value): ("user", "alice"), ("ip", "192.0.2.7")


@dataclass(frozen=True)
class Limit:
    """The lock-out policy of one scope (``user`` or ``ip``)."""

    free: int
    base_s: float
    max_s: float
    forget_s: float

    def lock_for(self, failures: int) -> float:
        """Seconds a key stays locked after its ``failures``-th failure in a row."""
        if failures < self.free:
            return 0.0
        exponent = min(failures - self.free, 60)  # 2**60 s is past any max_s
        return float(min(self.max_s, self.base_s * 2.0**exponent))


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused: which key is locked and for how long."""

    scope: str
    retry_after_s: float
    until: float

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


class Throttle:
    """Failure counts per key; at most ``max_keys`` remembered (the least recent go first)."""

    def __init__(self, limits: Mapping[str, Limit], *, max_keys: int = 100_000) -> None:
        self.limits = dict(limits)
        self.max_keys = max_keys
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()

    def _entry(self, key: Key, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        limit = self.limits[key[0]]
        if entry.locked_until <= now and now - entry.last_failure > limit.forget_s:
            del self._entries[key]
            return None
        return entry

    def check(self, keys: Sequence[Key], now: float) -> Refusal | None:
        """The refusal of the longest-locked key among ``keys``, or None (no side effect)."""
        worst: Refusal | None = None
        for key in keys:
            entry = self._entry(key, now)
            if entry is not None and entry.locked_until > now:
                wait = entry.locked_until - now
                if worst is None or wait > worst.retry_after_s:
                    worst = Refusal(key[0], wait, entry.locked_until)
        return worst

    def attempt(self, keys: Sequence[Key], now: float) -> Refusal | None:
        """Refuse if any key is locked; else count the attempt as a failure of every key."""
        refused = self.check(keys, now)
        if refused is not None:
            return refused
        for key in keys:
            self._fail(key, now)
        return None

    def _fail(self, key: Key, now: float) -> None:
        entry = self._entry(key, now)
        if entry is None:
            entry = self._entries[key] = _Entry()
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        entry.failures += 1
        entry.last_failure = now
        lock = self.limits[key[0]].lock_for(entry.failures)
        if lock:
            entry.locked_until = max(entry.locked_until, now + lock)

    def refund(self, keys: Sequence[Key], now: float) -> None:
        """Hand one counted attempt back (it was not a guess); lifts a lock it caused."""
        for key in keys:
            entry = self._entry(key, now)
            if entry is None:
                continue
            entry.failures = max(0, entry.failures - 1)
            if entry.failures < self.limits[key[0]].free:
                entry.locked_until = 0.0

    def success(self, keys: Sequence[Key], now: float) -> None:
        """The secret was right: forget the ``user`` keys, refund the others.

        An IP is only refunded, never reset: one valid account must not wipe the record of
        guesses the same address made against other accounts.
        """
        for key in keys:
            if key[0] == "user":
                self._entries.pop(key, None)
            else:
                self.refund([key], now)

    def failures(self, key: Key, now: float) -> int:
        entry = self._entry(key, now)
        return entry.failures if entry else 0

    def __len__(self) -> int:
        return len(self._entries)
