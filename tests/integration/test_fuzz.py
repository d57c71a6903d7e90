"""Fuzz every operation of a running node's /openapi.json with schemathesis.

Valid and invalid inputs (schemathesis' positive and negative modes) for every operation,
a bounded number of each (40) so the run fits in about 1.5 minutes on two shared cores. Checks:
no answer is a 5xx, every 4xx is application/problem+json with the same status inside and
no internals (traceback, file paths, exception names), and the node's log holds no
"unhandled error" afterwards. ``FUZZ_EXAMPLES`` raises the count for a longer run.

Nothing is skipped: the destructive admin operations (wipe history, purge, clear the
cache, delete rollouts, users and tokens, rotate keys) run too; the run's own admin token
survives them (the test checks it at the end), because the fuzzer cannot guess its id.
"""

from __future__ import annotations

import collections
import json
import os
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.nodeproc import NodeProcess, create_token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
STREAMS = {"/api/v1/stream"}  # Server-Sent Events: endless by design
LEAKS = ("Traceback", 'File "', "site-packages", "RecursionError", "KeyError", "TypeError")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    token = create_token(data, "admin", "fuzzer")
    proc = NodeProcess(data).start()
    yield proc, token
    assert proc.stop() == 0


def _problem_issue(resp) -> str | None:
    """What is wrong with an error answer, or None."""
    ctype = (resp.headers.get("content-type") or [""])[0]  # schemathesis: lists of values
    if not ctype.startswith("application/problem+json"):
        return f"content-type {ctype!r}"
    try:
        body = resp.json()
    except ValueError:
        return "body is not JSON"
    if body.get("status") != resp.status_code or not body.get("title") or "detail" not in body:
        return f"not a problem document: {resp.text[:200]}"
    leaked = [w for w in LEAKS if w in resp.text]
    return f"leaks {leaked}: {resp.text[:200]}" if leaked else None


class _Answer:
    """The parts of an answer the checks read, in schemathesis' shape (lists of values)."""

    def __init__(self, resp: httpx.Response, content: bytes) -> None:
        self.status_code = resp.status_code
        self.headers = {k: [v] for k, v in resp.headers.items()}
        self.text = content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def _open_stream(url: str, query, headers) -> _Answer:
    """A live stream never ends: its headers are the answer (the body only of an error)."""
    with httpx.stream("GET", url, params=query, headers=headers, timeout=15) as resp:
        return _Answer(resp, resp.read() if resp.status_code >= 400 else b"")


def _fuzz(operation, mode, proc, headers, statuses, failures) -> None:
    """Run ``EXAMPLES`` generated cases of one operation in one mode; record bad answers
    (not raised: hypothesis would shrink, and one finding should not hide the others)."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if operation.path in STREAMS:
            resp = _open_stream(proc.url + case.formatted_path, case.query, headers)
        else:
            resp = case.call(base_url=proc.url, headers=headers, timeout=15)
        statuses[resp.status_code] += 1
        where = f"{operation.label} {mode.value} path={case.path_parameters} query={case.query}"
        if resp.status_code >= 500:
            failures.append(f"{resp.status_code} on {where}: {resp.text[:300]}")
        elif resp.status_code >= 400 and (issue := _problem_issue(resp)):
            failures.append(f"{resp.status_code} on {where}: {issue}")

    try:
        run()
    except Unsatisfiable:  # no invalid input exists (an operation without parameters)
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.timeout(400)
def test_every_operation_survives_fuzzing_with_problem_errors(node):
    proc, token = node
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{proc.url}/openapi.json", timeout=10)
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, proc, headers, statuses, failures)
    cases = sum(statuses.values())
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz: {operations} operations, {cases} cases in {elapsed:.0f} s; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert operations >= 30 and cases >= operations * 2
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:30])
    # The node is still up, the run's token still works, and nothing failed inside.
    assert httpx.get(f"{proc.url}/api/v1/whoami", headers=headers).status_code == 200
    log = (proc.data_dir / "logs" / "sentra.log").read_text(encoding="utf-8")
    assert "unhandled error" not in log, log[-3000:]
