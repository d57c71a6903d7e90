"""Alert rules and notifiers: policy as code, like rollout specs.

A rules file (``<data dir>/config/alerts.yaml``, or ``[alerts] rules_file``) is YAML::

    apiVersion: sentra/v1
    kind: Alerts
    notifiers:
      ops:   {type: webhook, url: "https://ops.example/hook", secret_env: OPS_HOOK_SECRET}
      chat:  {type: slack, url_file: /etc/sentra/slack-url}
      pager: {type: email, host: smtp.example, port: 587, tls: starttls,
              username: sentra, password_file: /etc/sentra/smtp-pass,
              sender: sentra@example.com, to: [oncall@example.com]}
    rules:
      - name: cpu-hot
        kind: threshold
        series: host.cpu.percent
        op: ">"
        threshold: 90
        for: 1m          # breaching this long before it fires (pending until then)
        clear_at: 75     # hysteresis: resolves only once at or below 75 ...
        clear_for: 30s   # ... for 30 s in a row
        severity: warning
        notify: [chat]

Kinds: ``threshold`` (a series against a bound), ``anomaly`` (the insight service's
``sentra.anomaly.score`` of a series against a bound, 3 by default), ``absence`` (no sample
of a series for ``for``) and ``rollout`` (a rollout decision of the given kinds).

Secrets (a webhook's signing key, a Slack URL, an SMTP password) are named by an
environment variable (``*_env``) or a file (``*_file``) and read only when a notification is
sent; the spec holds the reference, never the secret, and nothing here logs one.

``load_rules`` reports every problem with its line and column (``SpecError``, shared with
rollout specs). Pure: parsing and validating text; no files, no network, no clock.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from sentra.rollout.actuators.config import check_headers, check_http_url
from sentra.rollout.spec import (
    NAME,
    Seconds,
    SpecError,
    SpecIssue,
    _loc,
    _message,
    _Positions,
    parse_yaml,
)

Op = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]
ANOMALY_SERIES = "sentra.anomaly.score"
DEFAULT_ANOMALY_SCORE = 3.0
DEFAULT_ROLLOUT_DECISIONS = ("rollback", "rolled_back", "fail", "aborted")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits, '.', '-' and '_' "
            "(at most 63), starting and ending with a letter or digit"
        )
    return value


Name = Annotated[str, AfterValidator(_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _one_of(obj: BaseModel, *fields: str, required: bool) -> None:
    given = [f for f in fields if getattr(obj, f) is not None]
    if len(given) > 1:
        raise ValueError(f"set only one of {', '.join(fields)}")
    if required and not given:
        raise ValueError(f"set one of {', '.join(fields)}")


class _Delivery(_Model):
    timeout: Seconds = Field(10.0, gt=0, le=300, description="Timeout of one attempt.")
    retries: int = Field(3, ge=0, le=20, description="Attempts after the first one fails.")
    backoff: Seconds = Field(
        1.0, gt=0, le=3600, description="Wait before the first retry; doubles on each retry."
    )
    backoff_max: Seconds = Field(60.0, gt=0, le=86400, description="Longest wait between tries.")


class WebhookNotifier(_Delivery):
    """POST the alert as JSON, signed like the webhook actuator (``X-Sentra-Signature``)."""

    type: Literal["webhook"]
    url: str = Field(description="URL that receives the POST.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    secret_env: str | None = Field(None, description="Variable holding the HMAC-SHA256 key.")
    secret_file: str | None = Field(None, description="File holding the HMAC-SHA256 key.")
    signature_header: str = Field(
        "X-Sentra-Signature", description="Header that carries 'sha256=<hex HMAC of the body>'."
    )

    @model_validator(mode="after")
    def _check(self) -> WebhookNotifier:
        check_http_url(self.url)
        check_headers(self.headers)
        _one_of(self, "secret_env", "secret_file", required=False)
        return self

    def target(self) -> str:
        return redact_url(self.url)


class SlackNotifier(_Delivery):
    """POST ``{"text", "blocks"}`` to a Slack-compatible incoming webhook (Mattermost too)."""

    type: Literal["slack"]
    url: str | None = Field(None, description="Webhook URL (prefer url_env or url_file).")
    url_env: str | None = Field(None, description="Variable holding the webhook URL.")
    url_file: str | None = Field(None, description="File holding the webhook URL.")

    @model_validator(mode="after")
    def _check(self) -> SlackNotifier:
        _one_of(self, "url", "url_env", "url_file", required=True)
        if self.url is not None:
            check_http_url(self.url)
        return self

    def target(self) -> str:
        if self.url is not None:
            return redact_url(self.url)
        return f"env {self.url_env}" if self.url_env else f"file {self.url_file}"


class EmailNotifier(_Delivery):
    """Send a plain-text mail through an SMTP server."""

    type: Literal["email"]
    host: str = Field(min_length=1, description="SMTP server.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port (587 starttls, 465 ssl).")
    tls: Literal["none", "starttls", "ssl"] = Field("none", description="Transport security.")
    username: str | None = Field(None, description="SMTP user, when the server wants a login.")
    password_env: str | None = Field(None, description="Variable holding the SMTP password.")
    password_file: str | None = Field(None, description="File holding the SMTP password.")
    sender: str = Field(description="From: address.")
    to: list[str] = Field(min_length=1, description="Recipients.")

    @model_validator(mode="after")
    def _check(self) -> EmailNotifier:
        for address in (self.sender, *self.to):
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        _one_of(self, "password_env", "password_file", required=False)
        if self.username is None and (self.password_env or self.password_file):
            raise ValueError("a password needs a username")
        return self

    def target(self) -> str:
        return f"smtp://{self.host}:{self.port} to {', '.join(self.to)}"


NotifierSpec = Annotated[
    WebhookNotifier | SlackNotifier | EmailNotifier, Field(discriminator="type")
]


class RuleSpec(_Model):
    name: Name = Field(description="Unique name: lowercase letters, digits, '.', '-', '_'.")
    kind: Literal["threshold", "anomaly", "absence", "rollout"] = Field(
        description="threshold, anomaly (an anomaly score), absence (no data) or rollout."
    )
    series: str | None = Field(
        None,
        min_length=1,
        description="Series name (threshold, absence: the series; anomaly: the series whose "
        "score is watched).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Only series with these labels (exact match)."
    )
    op: Op = Field(">", description="Breach when value OP threshold.")
    threshold: float | None = Field(
        None, description="The bound (threshold: required; anomaly: default 3)."
    )
    for_: Seconds = Field(
        0.0,
        alias="for",
        description="Breaching this long before firing (absence: silent this long).",
    )
    clear_at: float | None = Field(
        None, description="Hysteresis: resolve only once the value is back past this bound."
    )
    clear_for: Seconds = Field(0.0, description="Clear this long in a row before resolving.")
    severity: Severity = "warning"
    summary: str = Field("", max_length=500, description="A line shown with the alert.")
    notify: list[str] = Field(default_factory=list, description="Notifier names.")
    rollout: str = Field("*", min_length=1, description="Rollout kind: rollout name (glob).")
    decisions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROLLOUT_DECISIONS),
        min_length=1,
        description="Rollout kind: decision kinds that fire.",
    )
    resolve_after: Seconds | None = Field(
        None,
        description="Rollout kind: resolve this long after firing (default: on the "
        "rollout's next other decision).",
    )

    @model_validator(mode="after")
    def _check(self) -> RuleSpec:
        if self.kind != "rollout" and self.series is None:
            raise ValueError(f"a {self.kind} rule needs series:")
        if self.kind == "threshold" and self.threshold is None:
            raise ValueError("a threshold rule needs threshold:")
        if self.kind == "absence" and self.for_ <= 0:
            raise ValueError("an absence rule needs for: (how long without data)")
        if self.clear_at is not None and self.threshold is not None:
            above = self.op in (">", ">=")
            if (above and self.clear_at > self.threshold) or (
                not above and self.clear_at < self.threshold
            ):
                side = "at or below" if above else "at or above"
                raise ValueError(
                    f"clear_at {self.clear_at:g} must be {side} the threshold "
                    f"{self.threshold:g}: it is where the value counts as healthy again"
                )
        return self

    # What the engine watches ---------------------------------------------------------

    @property
    def watched_series(self) -> str:
        """The series name samples are matched on (anomaly: the score series)."""
        if self.kind == "anomaly":
            return ANOMALY_SERIES
        return self.series or ""

    @property
    def watched_labels(self) -> dict[str, str]:
        if self.kind == "anomaly":
            return {"series": self.series or "", **self.labels}
        return dict(self.labels)

    @property
    def pending_for(self) -> float:
        """How long a breach stays pending (absence: ``for`` is already in the value)."""
        return 0.0 if self.kind in ("absence", "rollout") else self.for_

    @property
    def bound(self) -> float:
        if self.threshold is not None:
            return self.threshold
        if self.kind == "anomaly":
            return DEFAULT_ANOMALY_SCORE
        if self.kind == "absence":
            return self.for_
        return 0.5  # rollout: a matching decision is 1, any other 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


class AlertRules(_Model):
    api_version: Literal["sentra/v1"] = Field("sentra/v1", alias="apiVersion")
    kind: Literal["Alerts"] = "Alerts"
    notifiers: dict[str, NotifierSpec] = Field(
        default_factory=dict, description="Named notification targets."
    )
    rules: list[RuleSpec] = Field(default_factory=list, description="The alert rules.")

    def rule(self, name: str) -> RuleSpec | None:
        return next((r for r in self.rules if r.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """Rules and notifiers as the API shows them: URLs without path or query (they may
        carry tokens), secrets by reference only."""
        return {
            "rules": [r.to_json() for r in self.rules],
            "notifiers": [
                {"name": name, "type": n.type, "target": n.target()}
                for name, n in self.notifiers.items()
            ],
        }


def redact_url(url: str) -> str:
    """``https://hooks.example/…``: the origin only; paths and queries often hold tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}"


def cross_check(spec: AlertRules) -> list[tuple[tuple[int | str, ...], str]]:
    problems: list[tuple[tuple[int | str, ...], str]] = []
    seen: set[str] = set()
    for i, rule in enumerate(spec.rules):
        if rule.name in seen:
            problems.append(
                (("rules", i, "name"), f"rule names must be unique: {rule.name!r} is used twice")
            )
        seen.add(rule.name)
        for j, name in enumerate(rule.notify):
            if name not in spec.notifiers:
                known = ", ".join(sorted(spec.notifiers)) or "none defined"
                problems.append(
                    (
                        ("rules", i, "notify", j),
                        f"rule {rule.name!r} notifies {name!r}: define it under notifiers: "
                        f"(known: {known})",
                    )
                )
    for name in spec.notifiers:
        if not NAME.match(name):
            problems.append((("notifiers", name), f"{name!r} is not a valid notifier name"))
    return problems


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a rules file (docs/alerts.schema.json)."""
    schema = AlertRules.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Sentra alert rules"
    return schema


def _alert_message(err: Any) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown field (see docs/alerts.md for the fields a rules file may have)"
    if err.get("type") == "union_tag_not_found":
        return "this needs a type: field (webhook, slack or email)"
    return _message(err)


def validate(data: Any, positions: _Positions | None = None) -> AlertRules:
    """Validate parsed data; raise SpecError listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(1, 1, "", "a rules file is a mapping (rules:, notifiers:)")])

    def issue(loc: tuple[int | str, ...], message: str) -> SpecIssue:
        line, col = positions.find(loc) if positions else (0, 0)
        return SpecIssue(line, col, ".".join(str(p) for p in loc), message)

    try:
        spec = AlertRules.model_validate(data)
    except ValidationError as exc:
        raise SpecError([issue(_loc(e), _alert_message(e)) for e in exc.errors()]) from None
    problems = cross_check(spec)
    if problems:
        raise SpecError([issue(loc, message) for loc, message in problems])
    return spec


def load_rules(text: str) -> AlertRules:
    """Parse a rules file from YAML (or JSON) and validate it."""
    return validate(*parse_yaml(text))
