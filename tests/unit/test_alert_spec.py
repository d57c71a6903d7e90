"""Alert rules files: every kind, hysteresis bounds, positioned errors, the published schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentra.alerts.spec import ANOMALY_SERIES, json_schema, load_rules, redact_url
from sentra.rollout.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
apiVersion: sentra/v1
kind: Alerts
notifiers:
  ops: {type: webhook, url: "https://ops.example/hook?token=abc", secret_env: OPS_KEY}
  chat: {type: slack, url_file: /etc/sentra/slack-url}
  mail:
    type: email
    host: smtp.example
    port: 587
    tls: starttls
    username: sentra
    password_file: /etc/sentra/smtp-pass
    sender: sentra@example.com
    to: [oncall@example.com]
    retries: 5
    backoff: 500ms
rules:
  - name: cpu-hot
    kind: threshold
    series: host.cpu.percent
    labels: {host: web-1}
    op: ">"
    threshold: 90
    for: 1m
    clear_at: 75
    clear_for: 30s
    severity: critical
    notify: [chat, mail]
  - {name: latency-odd, kind: anomaly, series: http.latency_ms, labels: {service: api}}
  - {name: heartbeat, kind: absence, series: app.heartbeat, for: 2m, notify: [ops]}
  - {name: rollbacks, kind: rollout, rollout: "check*", notify: [chat]}
"""


def issues(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as info:
        load_rules(text)
    return [(i.line, i.column, i.path, i.message) for i in info.value.issues]


def test_every_kind_and_notifier_is_expressible():
    rules = load_rules(GOOD)
    cpu, odd, beat, rb = rules.rules
    assert (cpu.bound, cpu.for_, cpu.pending_for, cpu.clear_at, cpu.clear_for) == (
        90,
        60,
        60,
        75,
        30,
    )
    assert odd.watched_series == ANOMALY_SERIES
    assert odd.watched_labels == {"series": "http.latency_ms", "service": "api"}
    assert odd.bound == 3.0
    assert (beat.bound, beat.pending_for) == (120, 0)  # the age of the data is the value
    assert rb.decisions == ["rollback", "rolled_back", "fail", "aborted"]
    assert rules.notifiers["mail"].backoff == 0.5
    assert rules.notifiers["mail"].retries == 5


def test_the_api_view_shows_no_secret():
    shown = json.dumps(load_rules(GOOD).to_json(), ensure_ascii=False)
    assert "token=abc" not in shown and "/hook" not in shown
    assert "https://ops.example/…" in shown
    assert redact_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_an_empty_file_means_no_rules():
    assert load_rules("").rules == []
    assert load_rules("# nothing yet\n").notifiers == {}


def test_errors_carry_line_and_column():
    text = """\
rules:
  - name: cpu
    kind: threshold
    series: host.cpu
    threshold: 90
    clear_at: 95
    notify: [pager]
  - name: Bad Name
    kind: threshold
    series: x
    threshold: 1
    colour: red
"""
    found = issues(text)
    paths = {p: (line, msg) for line, _c, p, msg in found}
    assert paths["rules.0"][0] == 2
    assert "clear_at 95 must be at or below the threshold 90" in paths["rules.0"][1]
    assert paths["rules.1.name"][0] == 8 and "not a valid name" in paths["rules.1.name"][1]
    assert paths["rules.1.colour"][0] == 12 and "unknown field" in paths["rules.1.colour"][1]


def test_cross_checks_name_the_field():
    text = """\
notifiers:
  chat: {type: slack, url: "https://hooks.example/x"}
rules:
  - {name: a, kind: threshold, series: s, threshold: 1, notify: [chat, pager]}
  - {name: a, kind: absence, series: s, for: 10s}
"""
    found = issues(text)
    assert found[0][:3] == (4, 72, "rules.0.notify.1")
    assert "define it under notifiers: (known: chat)" in found[0][3]
    assert found[1][2] == "rules.1.name" and "unique" in found[1][3]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{name: a, kind: threshold, series: s}", "needs threshold:"),
        ("{name: a, kind: absence, series: s}", "needs for:"),
        ("{name: a, kind: anomaly}", "needs series:"),
        ("{name: a, kind: threshold, series: s, threshold: 1, for: soon}", "not a duration"),
        ("{name: a, kind: threshold, series: s, threshold: 1, op: '=='}", "'>'"),
        ("{name: a, kind: gauge, series: s}", "'threshold'"),
    ],
)
def test_bad_rules_are_refused(rule: str, message: str):
    found = issues(f"rules:\n  - {rule}\n")
    assert any(message in m for *_x, m in found), found


@pytest.mark.parametrize(
    ("notifier", "message"),
    [
        ("{type: pager}", "unknown type 'pager'"),
        ("{url: 'https://x'}", "needs a type"),
        ("{type: slack}", "set one of url, url_env, url_file"),
        ("{type: slack, url: 'ftp://x'}", "http:// or https://"),
        ("{type: webhook, url: 'https://x', secret_env: A, secret_file: b}", "only one"),
        ("{type: email, host: h, sender: me, to: [a@b]}", "not an e-mail address"),
        ("{type: email, host: h, sender: a@b, to: [a@b], password_env: P}", "needs a username"),
    ],
)
def test_bad_notifiers_are_refused(notifier: str, message: str):
    found = issues(f"notifiers:\n  n: {notifier}\n")
    assert any(message in m for *_x, m in found), found
    assert all(line == 2 for line, *_x in found)


def test_yaml_syntax_and_duplicate_keys():
    assert issues("rules: [\n")[0][0] == 2
    found = issues("rules: []\nrules: []\n")
    assert found[0][:2] == (2, 1) and "given twice" in found[0][3]


def test_published_json_schema_is_current():
    """docs/alerts.schema.json is generated: `python tools/gen_alerts_schema.py`."""
    published = json.loads((ROOT / "docs" / "alerts.schema.json").read_text())
    assert published == json_schema()
