"""Rollouts: apply a spec, watch it, steer it, read its decisions and weights.

Reads need the viewer role, actions (apply, pause, resume, promote, abort, retry) the
operator role, deleting a finished rollout the admin role. Every action is recorded as a
decision with the name of the token that asked for it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from sentra.api.auth import Principal, require
from sentra.api.bodies import read_body
from sentra.api.problems import Problem
from sentra.rollout.controller import RolloutController, UnknownRollout
from sentra.rollout.machine import ACTIONS, CommandRefused
from sentra.rollout.spec import RolloutSpec, SpecError, json_schema, load_spec
from sentra.store.sqlite.rollouts import RolloutExists

router = APIRouter(tags=["rollouts"])
MAX_SPEC_BYTES = 256 * 1024
Name = Annotated[str, Path(max_length=63, description="The rollout's name.")]


def _controller(request: Request) -> RolloutController:
    ctl: RolloutController | None = getattr(request.app.state.ctx, "rollouts", None)
    if ctl is None:
        raise Problem(503, "the rollout controller is not running on this node")
    return ctl


def _actor(info: Principal) -> str:
    return f"{info.kind}:{info.name}"


def _missing(name: str) -> Problem:
    return Problem(404, f"there is no rollout named {name!r} (list them with GET /api/v1/rollouts)")


async def _spec_from_request(request: Request) -> tuple[RolloutSpec, str]:
    body = await read_body(request, MAX_SPEC_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "the spec must be UTF-8 text (YAML or JSON)") from None
    if not text.strip():
        raise Problem(400, "the body is empty: send the rollout spec as YAML or JSON")
    try:
        return load_spec(text), text
    except SpecError as exc:
        raise Problem(
            400,
            f"the rollout spec is not valid ({len(exc.issues)} problem(s)): {exc}",
            errors=[i.to_json() for i in exc.issues],
        ) from None


@router.get("/api/v1/rollouts", dependencies=[Depends(require("viewer"))])
def list_rollouts(request: Request) -> dict[str, Any]:
    """Every rollout, newest activity first, with its phase, step and weights."""
    return {"rollouts": _controller(request).all()}


@router.get("/api/v1/rollouts/schema", dependencies=[Depends(require("viewer"))])
def rollout_schema() -> dict[str, Any]:
    """The JSON Schema of a rollout spec (also in docs/rollout.schema.json)."""
    return json_schema()


@router.post("/api/v1/rollouts/validate", dependencies=[Depends(require("viewer"))])
async def validate_rollout(request: Request) -> dict[str, Any]:
    """Check a spec without applying it: 200 with the normalised spec, or 400 with every
    problem's line and column."""
    spec, _ = await _spec_from_request(request)
    return {"valid": True, "name": spec.name, "spec": spec.to_json()}


@router.post("/api/v1/rollouts", status_code=201)
async def create_rollout(
    request: Request, info: Annotated[Principal, Depends(require("operator"))]
) -> dict[str, Any]:
    """Apply a spec (YAML or JSON body): the rollout starts at its first step at once."""
    ctl = _controller(request)
    spec, text = await _spec_from_request(request)
    try:
        return await ctl.create(spec, text, actor=_actor(info))
    except RolloutExists as exc:
        raise Problem(409, str(exc)) from None


@router.get("/api/v1/rollouts/{name}", dependencies=[Depends(require("viewer"))])
def get_rollout(request: Request, name: Name) -> dict[str, Any]:
    """One rollout: phase, step, weights, gates, the judge's verdict, the allowed actions."""
    try:
        return _controller(request).detail(name)
    except UnknownRollout:
        raise _missing(name) from None


@router.get("/api/v1/rollouts/{name}/decisions", dependencies=[Depends(require("viewer"))])
def get_decisions(
    request: Request,
    name: Name,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Page: older than this id.")
    ] = None,
) -> dict[str, Any]:
    """The rollout's decisions, newest first, each with its reason and evidence."""
    try:
        return {"decisions": _controller(request).decisions(name, limit=limit, before_id=before_id)}
    except UnknownRollout:
        raise _missing(name) from None


@router.get("/api/v1/rollouts/{name}/weights", dependencies=[Depends(require("viewer"))])
def get_weights(request: Request, name: Name) -> dict[str, Any]:
    """The split to route now, for gateways and SDKs that split traffic themselves (the
    pull actuator)."""
    try:
        return _controller(request).weights(name)
    except UnknownRollout:
        raise _missing(name) from None


@router.get("/api/v1/rollouts/{name}/verdict", dependencies=[Depends(require("viewer"))])
def get_verdict(request: Request, name: Name) -> dict[str, Any]:
    """The current verdict (pass, fail, inconclusive) for Argo Rollouts' web metric
    provider: ``jsonPath: "{$.verdict}"``, ``successCondition: result == "pass"``."""
    try:
        return _controller(request).verdict(name)
    except UnknownRollout:
        raise _missing(name) from None


@router.post("/api/v1/rollouts/{name}/check", dependencies=[Depends(require("viewer"))])
async def flagger_check(request: Request, name: Name) -> JSONResponse:
    """For Flagger's webhooks: 200 while the canary is not failing, 412 (problem+json with
    the reason) once it is. Flagger's payload in the body is accepted and ignored."""
    await read_body(request, 64 * 1024)
    try:
        data = _controller(request).verdict(name)
    except UnknownRollout:
        raise _missing(name) from None
    if data["verdict"] == "fail":
        raise Problem(412, f"the canary of {name!r} fails: {data['reason']}", verdict=data)
    return JSONResponse(data)


@router.post("/api/v1/rollouts/{name}/{action}")
async def act_on_rollout(
    request: Request,
    name: Name,
    action: Annotated[str, Path(description="pause, resume, promote, abort or retry")],
    info: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:
    """A manual action. ``promote`` takes ``{"full": true}`` to skip the remaining steps."""
    if action not in ACTIONS:
        raise Problem(404, f"{action!r} is not an action: use one of {', '.join(ACTIONS)}")
    full = False
    body = await read_body(request, 4096)
    if body.strip():
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise Problem(400, 'the body must be JSON, e.g. {"full": true}') from None
        if not isinstance(data, dict) or not isinstance(data.get("full", False), bool):
            raise Problem(400, 'the body must be a JSON object like {"full": true}')
        full = bool(data.get("full", False))
    try:
        return await _controller(request).command(name, action, actor=_actor(info), full=full)
    except UnknownRollout:
        raise _missing(name) from None
    except CommandRefused as exc:
        raise Problem(409, str(exc)) from None


@router.delete("/api/v1/rollouts/{name}", dependencies=[Depends(require("admin"))], status_code=200)
async def delete_rollout(request: Request, name: Name) -> JSONResponse:
    """Delete a finished rollout and its decisions."""
    try:
        found = await _controller(request).delete(name)
    except CommandRefused as exc:
        raise Problem(409, str(exc)) from None
    if not found:
        raise _missing(name)
    return JSONResponse({"deleted": name})
