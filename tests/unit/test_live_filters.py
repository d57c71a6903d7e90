"""Live filters: parsing from query parameters and subscribe messages, and selection."""

import msgspec
import pytest

from sentra.events import CollectorStatus, LogRecord, Logs, Sample, Samples, Span, Spans
from sentra.live.filters import DEFAULT_KINDS, FilterError, from_message, from_query
from sentra.live.frames import Entry, Selector, encode_frame, topic_kind


def _samples(source="host.cpu", names=("system.cpu.utilization",), labels=None):
    labels = labels or [{"cpu": "total"}, {"cpu": "0"}]
    return Samples(source, 10.0, [Sample(n, lab, 10.0, 0.5) for n in names for lab in labels])


def _select(filt, topic, event):
    raw = Selector(filt).select(Entry(topic_kind(topic), topic, event))
    return None if raw is None else msgspec.json.decode(raw)


def test_no_parameters_means_metrics_and_status_from_every_source():
    f = from_query([])
    assert f.kinds == DEFAULT_KINDS == {"metrics", "status"}
    assert f.source == "all" and not f.names and not f.labels


def test_query_parameters_accept_commas_and_repeats_and_ignore_the_token():
    f = from_query(
        [
            ("kinds", "metrics,logs"),
            ("kinds", "spans"),
            ("name", "system.cpu.*,system.memory.*"),
            ("labels", "cpu=total"),
            ("service", "api"),
            ("version", "1.2"),
            ("source", "collect"),
            ("access_token", "secret"),
        ]
    )
    assert f.kinds == {"metrics", "logs", "spans"}
    assert f.names == ("system.cpu.*", "system.memory.*")
    assert [str(m) for m in f.labels] == ["cpu=total"]
    assert (f.services, f.versions, f.source) == (("api",), ("1.2",), "collect")


def test_same_filter_written_differently_is_one_filter():
    a = from_query([("name", "b,a"), ("labels", "x=1,y=~a|b")])
    b = from_query([("name", "a"), ("name", "b"), ("labels", "y=~a|b"), ("labels", "x=1")])
    assert a == b and hash(a) == hash(b)


def test_a_regex_with_a_comma_stays_one_matcher():
    f = from_query([("labels", "device=~sd[a-z]{1,2},cpu=total")])
    assert [str(m) for m in f.labels] == ["cpu=total", "device=~sd[a-z]{1,2}"]


@pytest.mark.parametrize(
    "params,needle",
    [
        ([("kinds", "metrics,bogus")], "unknown kind 'bogus'"),
        ([("source", "elsewhere")], "source must be one of"),
        ([("labels", "novalue")], "key=value"),
        ([("labels", "a=~(")], "bad regular expression"),
        ([("names", "x")], "unknown parameter 'names'"),
        ([("source", "collect"), ("source", "ingest")], "give source once"),
    ],
)
def test_bad_filters_say_what_is_wrong(params, needle):
    with pytest.raises(FilterError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        from_query(params)


def test_subscribe_message_replaces_the_filter_and_checks_types():
    f = from_message({"type": "subscribe", "kinds": ["logs"], "service": "api"})
    assert f.kinds == {"logs"} and f.services == ("api",)
    with pytest.raises(FilterError, match="'kinds' must be a string or a list"):
        from_message({"type": "subscribe", "kinds": 3})
    with pytest.raises(FilterError, match="unknown key 'nme'"):
        from_message({"type": "subscribe", "nme": "x"})


def test_name_glob_and_label_matchers_cut_samples():
    event = _samples(names=("system.cpu.utilization", "system.memory.usage"))
    f = from_query([("name", "system.cpu.*"), ("labels", "cpu!=0")])
    item = _select(f, "metrics.collect.host.cpu", event)
    assert item["kind"] == "metrics" and item["source"] == "host.cpu"
    assert [(s["name"], s["labels"]) for s in item["samples"]] == [
        ("system.cpu.utilization", {"cpu": "total"})
    ]
    assert _select(from_query([("name", "gpu.*")]), "metrics.collect.host.cpu", event) is None


def test_regex_label_matchers_match_whole_values():
    event = _samples(labels=[{"cpu": "10"}, {"cpu": "1"}, {"cpu": "total"}])
    item = _select(from_query([("labels", "cpu=~1")]), "metrics.collect.host.cpu", event)
    assert [s["labels"]["cpu"] for s in item["samples"]] == ["1"]
    item = _select(from_query([("labels", "cpu!~[0-9]+")]), "metrics.collect.host.cpu", event)
    assert [s["labels"]["cpu"] for s in item["samples"]] == ["total"]


def test_source_option_tells_collector_ticks_from_ingested_metrics():
    event = _samples(source="ingest")
    collect = from_query([("source", "collect")])
    ingest = from_query([("source", "ingest")])
    assert _select(collect, "metrics.ingest", event) is None
    assert _select(ingest, "metrics.ingest", event)["source"] == "ingest"
    assert _select(collect, "metrics.collect.host.cpu", _samples()) is not None


def test_kinds_select_status_logs_and_spans_and_service_filters_records():
    status = CollectorStatus("host.cpu", 10.0, "ok", series=3)
    logs = Logs("ingest", 10.0, [LogRecord(10.0, "a", service="api"), LogRecord(10.0, "b")])
    spans = Spans("otlp", 10.0, [Span("t", "s", "GET", 1.0, 2.0, service="web", version="2")])
    every = from_query([("kinds", "status,logs,spans")])
    assert _select(every, "status.collector", status)["state"] == "ok"
    assert len(_select(every, "logs.ingest", logs)["records"]) == 2
    api = from_query([("kinds", "logs,spans"), ("service", "api")])
    assert [r["body"] for r in _select(api, "logs.ingest", logs)["records"]] == ["a"]
    assert _select(api, "spans.otlp", spans) is None
    v2 = from_query([("kinds", "spans"), ("version", "2")])
    assert _select(v2, "spans.otlp", spans)["spans"][0]["service"] == "web"
    assert _select(from_query([]), "logs.ingest", logs) is None  # not a default kind


def test_a_frame_splices_the_drop_count_without_reencoding():
    frame = encode_frame(7, 12.5, [b'{"a":1}', b'{"b":2}'])
    for n in (0, 42):
        body = msgspec.json.decode(frame.with_dropped(n))
        assert body == {
            "type": "frame",
            "seq": 7,
            "ts": 12.5,
            "dropped": n,
            "items": [{"a": 1}, {"b": 2}],
        }
