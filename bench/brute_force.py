"""Brute force against the sign-in endpoint: how many guesses are actually checked?

Two measurements with the default [auth] limits (5 free failures per user name, then a
lock-out of 1 s doubling to 15 min; 20 per address):

* ``http``: 1,000 wrong passwords in a row through the real ``POST /api/v1/auth/login`` of a
  real node, once as fast as one client can send them and once spread evenly over a minute
  (so the count *is* the guesses checked per minute). Counts the answers that were a real
  check (401) and the refused ones (429), and whether the right password then gets in.
* ``patient``: an attacker who waits exactly ``Retry-After`` every time, over one minute,
  one hour and one day. Simulated on the node's own throttle (auth/throttle.py) on fake
  time, since nobody waits a day for a benchmark; the burst run checks that the HTTP path
  enforces the same policy.

Prints one JSON object, then one summary line.  ``python bench/brute_force.py [--attempts N]``
"""

from __future__ import annotations

import argparse
import subprocess
import time

import httpx

from _common import VENV_BIN, emit, log, sentra_node
from sentra.auth.throttle import Limit, Throttle
from sentra.config import AuthSettings

PASSWORD = "violet tractor in the rain"


def patient(settings: AuthSettings, horizon_s: float) -> int:
    """Guesses checked within ``horizon_s`` by one who always waits out the lock-out."""
    forget = settings.lockout_forget_s
    throttle = Throttle(
        {
            "user": Limit(
                settings.lockout_user_failures,
                settings.lockout_base_s,
                settings.lockout_max_s,
                forget,
            ),
            "ip": Limit(
                settings.lockout_ip_failures,
                settings.lockout_base_s,
                settings.lockout_max_s,
                forget,
            ),
        }
    )
    keys = [("user", "victim"), ("ip", "198.51.100.9")]
    now, checked = 0.0, 0
    while now < horizon_s:
        refused = throttle.attempt(keys, now)
        if refused is None:
            checked += 1
        else:
            now = refused.until
    return checked


def _hammer(client: httpx.Client, user: str, attempts: int, over_s: float) -> dict[str, float]:
    """``attempts`` wrong passwords for ``user``, spread evenly over ``over_s`` seconds."""
    checked = throttled = 0
    retry_after: list[int] = []
    t0 = time.perf_counter()
    for i in range(attempts):
        if over_s:
            time.sleep(max(0.0, t0 + i * over_s / attempts - time.perf_counter()))
        r = client.post("/api/v1/auth/login", json={"username": user, "password": f"g{i:07d}"})
        if r.status_code == 401:
            checked += 1
        elif r.status_code == 429:
            throttled += 1
            retry_after.append(int(r.headers["retry-after"]))
        else:
            raise RuntimeError(f"unexpected answer {r.status_code}: {r.text}")
    elapsed = time.perf_counter() - t0
    right = client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    return {
        "attempts": attempts,
        "checked": checked,
        "throttled_429": throttled,
        "elapsed_s": round(elapsed, 3),
        "max_retry_after_s": max(retry_after, default=0),
        "right_password_while_locked": right.status_code,
    }


def burst(attempts: int, over_s: float) -> dict[str, dict[str, float]]:
    with sentra_node(role="admin") as node:
        for user in ("paced", "burst"):
            subprocess.run(
                [
                    str(VENV_BIN / "sentra"),
                    "user",
                    "add",
                    user,
                    "--role",
                    "viewer",
                    "--password-stdin",
                    "--data-dir",
                    str(node.data_dir),
                ],
                input=PASSWORD + "\n",
                capture_output=True,
                text=True,
                check=True,
            )
        with httpx.Client(base_url=node.url, timeout=10) as client:
            log(f"{attempts} wrong passwords as fast as possible")
            fast = _hammer(client, "burst", attempts, 0.0)
            # Both runs share the client's address key; the first leaves it well below 20.
            log(f"{attempts} wrong passwords spread over {over_s:g} s")
            paced = _hammer(client, "paced", attempts, over_s)
    return {"as_fast_as_possible": fast, "spread_over_a_minute": paced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--over-s", type=float, default=60.0, help="spread of the paced run")
    args = parser.parse_args()
    settings = AuthSettings()
    runs = burst(args.attempts, args.over_s)
    b, paced = runs["as_fast_as_possible"], runs["spread_over_a_minute"]
    p = {
        "first_minute": patient(settings, 60),
        "first_hour": patient(settings, 3600),
        "first_day": patient(settings, 86400),
    }
    p["steady_per_hour"] = round(3600 / settings.lockout_max_s, 1)
    result = {
        "benchmark": "brute_force",
        "limits": {
            "user_free_failures": settings.lockout_user_failures,
            "ip_free_failures": settings.lockout_ip_failures,
            "lockout_base_s": settings.lockout_base_s,
            "lockout_max_s": settings.lockout_max_s,
        },
        "http": runs,
        "patient_attacker_checked": p,
    }
    emit(
        result,
        f"brute force: {b['checked']} of {b['attempts']} wrong passwords checked in "
        f"{b['elapsed_s']} s ({b['throttled_429']} got 429); spread over {paced['elapsed_s']} s, "
        f"{paced['checked']} checked; a patient attacker gets "
        f"{p['first_minute']} guesses in the first minute, {p['first_hour']} in the first "
        f"hour, {p['first_day']} a day",
    )


if __name__ == "__main__":
    main()
