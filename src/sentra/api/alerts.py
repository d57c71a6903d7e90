"""Alerts: what is firing, what fired lately, the rules, and replacing the rules.

Reads need the viewer role; acknowledging an alert the operator role; replacing the rules
file (``PUT /api/v1/alerts/rules``, body: the YAML) the admin role. Invalid rules are
refused with 422 and every problem's line and column; nothing is changed then.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from sentra.alerts.service import AlertService
from sentra.alerts.spec import json_schema
from sentra.api.auth import Principal, require
from sentra.api.bodies import read_body
from sentra.api.problems import Problem
from sentra.rollout.spec import SpecError

router = APIRouter(tags=["alerts"])
MAX_RULES_BYTES = 256 * 1024
State = Literal["pending", "firing", "resolved", "inactive"]


def _service(request: Request) -> AlertService:
    svc: AlertService | None = getattr(request.app.state.ctx, "alerts", None)
    if svc is None:
        raise Problem(503, "the alert service is not running on this node")
    return svc


@router.get("/api/v1/alerts", dependencies=[Depends(require("viewer"))])
def list_alerts(
    request: Request,
    state: Annotated[State | None, Query(description="Only alerts in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> dict[str, Any]:
    """Pending and firing alerts and the recent ones (kept across restarts), newest first."""
    svc = _service(request)
    return {
        "alerts": svc.alerts(state, limit),
        "rules": len(svc.rules.rules),
        "error": svc.error,
    }


@router.get("/api/v1/alerts/rules", dependencies=[Depends(require("viewer"))])
def get_rules(request: Request) -> dict[str, Any]:
    """The rules in use, the notifiers with their delivery counts, and the file's problems
    when it could not be used. Notifier URLs are shown without path or query."""
    return _service(request).rules_json()


@router.get("/api/v1/alerts/schema", dependencies=[Depends(require("viewer"))])
def rules_schema() -> dict[str, Any]:
    """The JSON Schema of a rules file (also in docs/alerts.schema.json)."""
    return json_schema()


@router.put("/api/v1/alerts/rules")
async def put_rules(
    request: Request, info: Annotated[Principal, Depends(require("admin"))]
) -> dict[str, Any]:
    """Replace the rules file with the YAML body and use it at once."""
    svc = _service(request)
    body = await read_body(request, MAX_RULES_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "the rules must be UTF-8 text (YAML or JSON)") from None
    try:
        rules = svc.apply(text)
    except SpecError as exc:
        raise Problem(
            422,
            f"the alert rules are not valid ({len(exc.issues)} problem(s)): {exc}",
            errors=[i.to_json() for i in exc.issues],
        ) from None
    except OSError as exc:
        raise Problem(503, f"cannot save the rules file: {exc.strerror}") from None
    request.state.audit_detail = f"alert rules: {len(rules.rules)} rule(s) by {info.name}"
    return svc.rules_json()


@router.post("/api/v1/alerts/{id}/ack")
def ack_alert(
    request: Request,
    id: Annotated[str, Path(max_length=64, description="The alert's id.")],
    info: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """Acknowledge an alert: someone is on it (shown in the dashboard; notifies nobody)."""
    alert = _service(request).ack(id, f"{info.kind}:{info.name}")
    if alert is None:
        raise Problem(404, f"there is no alert {id!r} (list them with GET /api/v1/alerts)")
    return alert.to_json()
