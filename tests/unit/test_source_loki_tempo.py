"""The Loki and Tempo sources against recorded answers served over real loopback HTTP.

Neither server installs here, so ``FakeLokiServer`` / ``FakeTempoServer`` answer with the
recordings under tests/fixtures/loki and tests/fixtures/tempo (hand-written from the
documented formats, see their README), keyed by the query they are asked; everything from
the socket up is the real code. A contract test parses every recording with the sources'
own parsers.
"""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from sentra.rollout.sources import Arm, SourceError, Target, Window, build_source
from sentra.rollout.sources.config import LokiSourceConfig, TempoSourceConfig
from sentra.rollout.sources.httpapi import instant_series
from sentra.rollout.sources.loki import LokiSource
from sentra.rollout.sources.tempo import TempoSource, parse_search

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
T0 = 1_700_000_040.0
WINDOW = Window(T0, T0 + 60.5)
TARGET = Target("checkout", {Arm.STABLE: "v1", Arm.CANARY: "v2"}, labels={"env": "prod"})


class _FakeServer:
    """A loopback HTTP server answering recordings by (path, query parameter value)."""

    param = ""
    path = ""

    def __init__(self, folder: str, routes: dict[str, tuple[int, str]]):
        self.folder = FIXTURES / folder
        self.routes = routes  # query text -> (HTTP status, recording file)
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(
                    {"path": url.path, "params": params, "headers": dict(self.headers)}
                )
                status, name = fake.answer(url.path, params)
                body = (fake.folder / name).read_bytes() if name else b"no recording\n"
                ctype = "application/json" if name.endswith(".json") else "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def answer(self, path, params):
        if path != self.path:
            return 404, ""
        return self.routes.get(params.get(self.param, ""), (500, ""))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class FakeLokiServer(_FakeServer):
    param, path = "query", "/loki/api/v1/query"


class FakeTempoServer(_FakeServer):
    param, path = "q", "/api/search"


# LogQL as the sources will send it (after placeholder expansion)
SEL = '{service="checkout", version="v2", env="prod"}'
LOKI_ROUTES = {
    f'sum(rate({SEL} |= "error" [61s])) / sum(rate({SEL} [61s]))': (200, "vector_error_ratio.json"),
    f"sum by (level) (rate({SEL} [61s]))": (200, "vector_by_level.json"),
    f'sum(count_over_time({SEL} |= "panic" [61s]))': (200, "vector_empty.json"),
    'sum(rate({x="nan"} [61s])) / 0': (200, "vector_nan.json"),
    f'sum(count_over_time({SEL} |= "error" [61s]))': (200, "count_errors.json"),
    f"sum(count_over_time({SEL} [61s]))": (200, "count_lines.json"),
    SEL: (200, "streams.json"),
    "sum(rate({service=checkout}[1m]))": (400, "error_parse.txt"),
    "overloaded": (503, "error_parse.txt"),
}
Q = '{service="{{service}}", version="{{version}}", env="{{labels.env}}"}'


@pytest.fixture
def loki():
    server = FakeLokiServer("loki", LOKI_ROUTES)
    yield server
    server.close()


def ask(source_factory, method, *args, **kwargs):
    async def main():
        source = source_factory()
        try:
            return await getattr(source, method)(*args, **kwargs)
        finally:
            await source.close()

    return asyncio.run(main())


def loki_source(server, **extra):
    return lambda: build_source(
        "logs", LokiSourceConfig(type="loki", url=server.url, **extra), store=None
    )


def test_loki_scalar_is_the_vector_value_sent_at_the_window_end(loki, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    make = loki_source(loki, tenant_id="team-a", headers={"X-Trace": "1"},
                       bearer_token_file=str(token))  # fmt: skip
    query = f'sum(rate({Q} |= "error" [{{{{window}}}}])) / sum(rate({Q} [{{{{window}}}}]))'
    got = ask(make, "scalar", query, Arm.CANARY, TARGET, WINDOW)
    assert (got.value, got.samples) == (0.0425, 1)
    (req,) = loki.requests
    assert req["params"]["time"] == str(round(WINDOW.end * 1e9))
    assert req["headers"]["X-Scope-OrgID"] == "team-a"
    assert req["headers"]["Authorization"] == "Bearer s3cret"
    assert req["headers"]["X-Trace"] == "1"


def test_loki_several_series_no_series_and_nan(loki):
    make = loki_source(loki)
    with pytest.raises(SourceError, match="returns 3 series") as err:
        ask(make, "scalar", f"sum by (level) (rate({Q} [{{{{window}}}}]))", Arm.CANARY, TARGET,
            WINDOW)  # fmt: skip
    assert not err.value.retryable
    empty = ask(make, "scalar", f'sum(count_over_time({Q} |= "panic" [{{{{window}}}}]))',
                Arm.CANARY, TARGET, WINDOW)  # fmt: skip
    assert (empty.value, empty.samples) == (None, 0)
    nan = ask(make, "scalar", 'sum(rate({x="nan"} [{{window}}])) / 0', Arm.CANARY, TARGET, WINDOW)
    assert nan.value is None


def test_loki_counts_are_two_queries(loki):
    events = f'sum(count_over_time({Q} |= "error" [{{{{window}}}}]))'
    trials = f"sum(count_over_time({Q} [{{{{window}}}}]))"
    got = ask(loki_source(loki), "counts", events, trials, Arm.CANARY, TARGET, WINDOW)
    assert (got.events, got.trials) == (12.0, 400.0)
    assert len(loki.requests) == 2


def test_loki_log_query_asks_for_a_metric_query(loki):
    with pytest.raises(SourceError, match="count_over_time") as err:
        ask(loki_source(loki), "scalar", Q, Arm.CANARY, TARGET, WINDOW)
    assert not err.value.retryable


def test_loki_errors_say_whether_a_retry_helps(loki, tmp_path):
    with pytest.raises(SourceError, match="parse error at line 1") as err:
        ask(loki_source(loki), "scalar", "sum(rate({service=checkout}[1m]))", Arm.CANARY, TARGET,
            WINDOW)  # fmt: skip
    assert not err.value.retryable and "HTTP 400" in str(err.value)
    with pytest.raises(SourceError) as err:
        ask(loki_source(loki), "scalar", "overloaded", Arm.CANARY, TARGET, WINDOW)
    assert err.value.retryable
    missing = str(tmp_path / "nope")
    with pytest.raises(SourceError, match="bearer token file") as err:
        ask(loki_source(loki, bearer_token_file=missing), "scalar", "x", Arm.CANARY, TARGET,
            WINDOW)  # fmt: skip
    assert not err.value.retryable


def test_loki_has_no_distribution_and_no_exemplars(loki):
    make = loki_source(loki)
    built = make()
    assert isinstance(built, LokiSource) and built.kind == "loki"
    asyncio.run(built.close())
    with pytest.raises(SourceError, match="no distributions"):
        ask(make, "distribution", "x", Arm.CANARY, TARGET, WINDOW)
    assert ask(make, "exemplars", Arm.CANARY, TARGET, WINDOW) == []


# ---------------------------------------------------------------------------- Tempo

TQ = 'resource.service.name = "{{service}}" && resource.service.version = "{{version}}"'
T_ALL = '{ resource.service.name = "checkout" && resource.service.version = "v2" }'
T_ERR = T_ALL[:-2] + " && status = error }"
TEMPO_ROUTES = {
    T_ALL: (200, "search_all.json"),
    T_ERR: (200, "search_errors.json"),
    "{ .nothing = true }": (200, "search_empty.json"),
    "{ .foo = bar }": (400, "error_bad_traceql.txt"),
}


@pytest.fixture
def tempo():
    server = FakeTempoServer("tempo", TEMPO_ROUTES)
    yield server
    server.close()


def tempo_source(server, **extra):
    return lambda: build_source(
        "traces", TempoSourceConfig(type="tempo", url=server.url, **extra), store=None
    )


def test_tempo_counts_are_matching_traces_of_two_searches(tempo):
    got = ask(tempo_source(tempo), "counts", "{ " + TQ + " && status = error }", "{ " + TQ + " }",
              Arm.CANARY, TARGET, WINDOW)  # fmt: skip
    assert (got.events, got.trials, got.truncated) == (3.0, 8.0, False)
    params = tempo.requests[0]["params"]
    assert (params["start"], params["end"], params["limit"]) == ("1700000040", "1700000101", "5000")


def test_tempo_counts_that_reach_the_search_limit_are_marked_truncated(tempo):
    got = ask(tempo_source(tempo, search_limit=8), "counts", "{ " + TQ + " && status = error }",
              "{ " + TQ + " }", Arm.CANARY, TARGET, WINDOW)  # fmt: skip
    assert got.truncated


def test_tempo_scalars_count_traces_or_summarise_their_durations(tempo):
    make = tempo_source(tempo)
    count = ask(make, "scalar", "{ " + TQ + " }", Arm.CANARY, TARGET, WINDOW)
    assert (count.value, count.samples) == (8.0, 8)
    rate = ask(make, "scalar", "rate:{ " + TQ + " }", Arm.CANARY, TARGET, WINDOW)
    assert rate.value == pytest.approx(8 / 60.5)
    durations = [12, 412, 30, 55, 1203, 700, 95, 0]
    p50 = ask(make, "scalar", "p50: { " + TQ + " }", Arm.CANARY, TARGET, WINDOW)
    assert p50.value == pytest.approx(75.0)  # between 55 and 95
    top = ask(make, "scalar", "max:{ " + TQ + " }", Arm.CANARY, TARGET, WINDOW)
    assert top.value == max(durations)
    none = ask(make, "scalar", "p95:{ .nothing = true }", Arm.CANARY, TARGET, WINDOW)
    assert (none.value, none.samples) == (None, 0)


def test_tempo_distribution_is_the_traces_durations(tempo):
    got = ask(tempo_source(tempo), "distribution", "{ " + TQ + " }", Arm.CANARY, TARGET, WINDOW)
    assert sorted(got.values) == [0, 12, 30, 55, 95, 412, 700, 1203]


def test_tempo_exemplars_are_failed_traces_newest_first_then_the_slowest(tempo):
    got = ask(tempo_source(tempo), "exemplars", Arm.CANARY, TARGET, WINDOW, limit=5)
    assert [e.trace_id[:6] for e in got] == ["7a1d2d", "224438", "2f3e0c", "5b8eff", "5b8eff"]
    assert [e.status for e in got] == ["error"] * 3 + ["unset"] * 2
    assert [e.duration_ms for e in got] == [95, 1203, 412, 700, 55]
    assert got[0].span_id == "c9da5e6e5f51bb83" and got[0].name == "POST /cart/checkout"
    assert got[4].span_id  # from the older single "spanSet" form
    assert got[0].ts == 1_700_000_080.0


def test_tempo_bad_traceql_is_its_own_message_and_not_retryable(tempo):
    make = tempo_source(tempo)
    built = make()
    assert isinstance(built, TempoSource) and built.kind == "tempo"
    asyncio.run(built.close())
    with pytest.raises(SourceError, match="invalid TraceQL query: parse error") as err:
        ask(make, "scalar", "{ .foo = bar }", Arm.CANARY, TARGET, WINDOW)
    assert not err.value.retryable


# ------------------------------------------------------------------------ contract


@pytest.mark.parametrize("path", sorted((FIXTURES / "loki").glob("*.json")), ids=lambda p: p.name)
def test_every_loki_recording_parses_with_the_sources_code(path):
    body = json.loads(path.read_text())
    assert body["status"] == "success" and "result" in body["data"]
    if body["data"]["resultType"] == "streams":
        with pytest.raises(SourceError, match="log lines"):
            instant_series("Loki", "q", body)
        return
    for labels, value in instant_series("Loki", "q", body):
        assert isinstance(labels, dict) and (value is None or isinstance(value, float))


@pytest.mark.parametrize("path", sorted((FIXTURES / "tempo").glob("*.json")), ids=lambda p: p.name)
def test_every_tempo_recording_parses_with_the_sources_code(path):
    body = json.loads(path.read_text())
    assert set(body) == {"traces", "metrics"}
    hits = parse_search("Tempo", body)
    assert len(hits) == len(body["traces"])
    for hit, raw in zip(hits, body["traces"], strict=True):
        assert hit.trace_id == raw["traceID"] and hit.name == raw["rootTraceName"]
        assert hit.span_id and T0 <= hit.start < T0 + 60
