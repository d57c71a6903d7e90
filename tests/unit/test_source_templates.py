"""Placeholder expansion in gate queries, and the sources' settings."""

import pytest
from pydantic import TypeAdapter, ValidationError

from sentra.rollout.sources import Arm, SourceError, Target, Window
from sentra.rollout.sources.config import (
    BuiltinSourceConfig,
    PrometheusSourceConfig,
    SourceConfig,
    TempoSourceConfig,
)
from sentra.rollout.sources.templates import (
    TemplateError,
    duration,
    expand,
    placeholder_names,
    unknown_placeholders,
)

TARGET = Target(
    "shop", {Arm.STABLE: "v1", Arm.CANARY: "v2", Arm.BASELINE: "v1b"}, labels={"region": "eu"}
)
W = Window(1000.0, 1037.0)


def test_every_placeholder_is_filled_for_the_arm():
    text = (
        'x{service="{{service}}",version="{{ version }}",arm="{{arm}}",r="{{labels.region}}"}'
        '[{{window}}] "{{stable}}" "{{canary}}" "{{baseline}}"'
    )
    assert expand(text, Arm.CANARY, TARGET, W) == (
        'x{service="shop",version="v2",arm="canary",r="eu"}[37s] "v1" "v2" "v1b"'
    )
    assert 'version="v1"' in expand('{version="{{version}}"}', Arm.STABLE, TARGET, W)


def test_window_is_whole_seconds_rounded_up_and_at_least_one():
    assert [duration(s) for s in (37.0, 36.2, 0.0, 0.4, 60.0000002, 60.002)] == [
        "37s", "37s", "1s", "1s", "60s", "61s"
    ]  # fmt: skip
    now = 1_700_000_000.123
    assert duration(Window(now - 60, now).seconds) == "60s"


def test_unknown_placeholder_is_an_error_naming_it():
    with pytest.raises(TemplateError, match=r"unknown placeholder \{\{versoin\}\}") as err:
        expand('x{v="{{versoin}}"}', Arm.CANARY, TARGET, W)
    assert isinstance(err.value, SourceError) and not err.value.retryable
    with pytest.raises(TemplateError, match="no label 'zone'"):
        expand('x{z="{{labels.zone}}"}', Arm.CANARY, TARGET, W)
    with pytest.raises(SourceError, match="no version for the baseline arm"):
        expand('x{v="{{version}}"}', Arm.BASELINE, Target("shop", {Arm.CANARY: "v2"}), W)


def test_values_are_escaped_inside_string_literals():
    evil = Target("shop", {Arm.CANARY: 'v2"} or vector(1) or x{a="\\'})
    got = expand('sum(up{version="{{version}}"})', Arm.CANARY, evil, W)
    assert got == 'sum(up{version="v2\\"} or vector(1) or x{a=\\"\\\\"})'
    single = expand("up{version='{{version}}'}", Arm.CANARY, Target("s", {Arm.CANARY: "a'b"}), W)
    assert single == "up{version='a\\'b'}"
    assert expand('up{v="a\\"{{arm}}"}', Arm.CANARY, TARGET, W) == 'up{v="a\\"canary"}'


def test_a_value_outside_quotes_must_be_a_plain_word():
    assert expand("{{service}}_requests_total", Arm.CANARY, TARGET, W) == "shop_requests_total"
    odd = Target("shop", {Arm.CANARY: "v2) or vector(1"})
    with pytest.raises(TemplateError, match="outside quotes"):
        expand("up{version={{version}}}", Arm.CANARY, odd, W)
    with pytest.raises(TemplateError, match="raw"):
        expand("up{v=`{{version}}`}", Arm.CANARY, Target("s", {Arm.CANARY: "a`b"}), W)


def test_logql_go_templates_pass_through():
    text = '{app="x"} | line_format "{{.status}} {{ __line__ }}" | version="{{version}}"'
    assert expand(text, Arm.CANARY, TARGET, W) == (
        '{app="x"} | line_format "{{.status}} {{ __line__ }}" | version="v2"'
    )


def test_placeholders_can_be_checked_before_anything_runs():
    text = 'x{a="{{service}}",b="{{labels.zone}}",c="{{oops}}"}'
    assert placeholder_names(text) == ["service", "labels.zone", "oops"]
    assert unknown_placeholders(text) == ["oops"]
    assert unknown_placeholders(text, frozenset({"region"})) == ["labels.zone", "oops"]


def test_source_settings_are_a_discriminated_union_that_forbids_unknown_keys():
    adapter = TypeAdapter(SourceConfig)
    assert isinstance(adapter.validate_python({"type": "builtin"}), BuiltinSourceConfig)
    prom = adapter.validate_python({"type": "prometheus", "url": "http://prom:9090/"})
    assert isinstance(prom, PrometheusSourceConfig)
    assert (prom.url, prom.timeout_s, prom.headers, prom.bearer_token_file) == (
        "http://prom:9090", 10.0, {}, None
    )  # fmt: skip
    tempo = adapter.validate_python({"type": "tempo", "url": "https://tempo"})
    assert isinstance(tempo, TempoSourceConfig) and "{{version}}" in tempo.errors_query
    with pytest.raises(ValidationError, match="timeot_s"):
        adapter.validate_python({"type": "prometheus", "url": "http://p", "timeot_s": 3})
    with pytest.raises(ValidationError, match="http:// or https://"):
        adapter.validate_python({"type": "loki", "url": "loki:3100"})
    with pytest.raises(ValidationError, match="line break"):
        adapter.validate_python({"type": "loki", "url": "http://l", "headers": {"X": "a\nb"}})
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "influx", "url": "http://i"})


def test_every_setting_has_a_description():
    from sentra.rollout.sources import config

    for model in (config.BuiltinSourceConfig, config.PrometheusSourceConfig,
                  config.LokiSourceConfig, config.TempoSourceConfig):  # fmt: skip
        missing = [n for n, f in model.model_fields.items() if not f.description]
        assert not missing, f"{model.__name__}: {missing}"
