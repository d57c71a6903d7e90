"""HTTP plumbing shared by the Prometheus, Loki and Tempo sources.

One ``httpx.AsyncClient`` per source (connection reuse, the configured timeout and
headers), a bearer token read from a file off the event loop and re-read every minute
(Kubernetes rotates service-account tokens), and one mapping from what can go wrong on
the wire to a ``SourceError`` that says whether asking again can help:

* connection refused, timeouts, 429, 5xx, 503 from a proxy: retryable;
* 400/422 (a bad query), 401/403 (credentials), 404 (wrong URL), a body that is not the
  API's JSON: not retryable.

Also the parsing of the Prometheus query result format, which Loki's metric queries share.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from sentra.rollout.sources.base import Arm, Counts, Exemplar, Scalar, SourceError, Target, Window
from sentra.rollout.sources.templates import expand

TOKEN_REFRESH_S = 60.0
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_RETRYABLE_ERROR_TYPES = frozenset({"timeout", "canceled", "unavailable", "internal"})


class HttpApi:
    """GET JSON from one server, with errors that say whether a retry helps."""

    def __init__(
        self,
        *,
        what: str,
        url: str,
        timeout_s: float,
        headers: Mapping[str, str],
        bearer_token_file: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.what = what  # "Prometheus at http://…", used in messages
        self._token_file = Path(bearer_token_file) if bearer_token_file else None
        self._token = ""
        self._token_read = -math.inf
        self._client = httpx.AsyncClient(
            base_url=url,
            timeout=timeout_s,
            headers=dict(headers),
            transport=transport,
            follow_redirects=True,
        )

    async def _auth(self) -> dict[str, str]:
        if self._token_file is None:
            return {}
        now = time.monotonic()
        if now - self._token_read >= TOKEN_REFRESH_S:
            path = self._token_file
            try:
                text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            except OSError as exc:
                raise SourceError(
                    f"cannot read the bearer token file {path} for {self.what}: "
                    f"{exc.strerror or exc}",
                    retryable=False,
                ) from None
            self._token, self._token_read = text.strip(), now
        return {"Authorization": f"Bearer {self._token}"}

    async def get(self, path: str, params: Mapping[str, str | int | float]) -> Any:
        """The decoded JSON body of a successful GET; a SourceError otherwise."""
        headers = await self._auth()
        try:
            resp = await self._client.get(path, params=dict(params), headers=headers)
        except httpx.TimeoutException:
            raise SourceError(
                f"{self.what} did not answer within {self._client.timeout.read} s",
                retryable=True,
            ) from None
        except httpx.ConnectError as exc:
            raise SourceError(f"cannot connect to {self.what}: {exc}", retryable=True) from None
        except httpx.HTTPError as exc:
            raise SourceError(
                f"request to {self.what} failed: {type(exc).__name__}: {exc}", retryable=True
            ) from None
        if resp.status_code == 200:
            try:
                return resp.json()
            except ValueError:
                raise SourceError(
                    f"{self.what} answered {path} with something that is not JSON "
                    f"({_snippet(resp.text)!r}); is the URL right?",
                    retryable=False,
                ) from None
        raise self._http_error(path, resp)

    def _http_error(self, path: str, resp: httpx.Response) -> SourceError:
        status = resp.status_code
        text, error_type = _error_text(resp)
        if status in (401, 403):
            hint = "check bearer_token_file / headers"
            return SourceError(
                f"{self.what} refused the request ({status}: {text}); {hint}", retryable=False
            )
        if status == 404:
            return SourceError(
                f"{self.what} has no {path} (404): is the URL the server's base URL?",
                retryable=False,
            )
        if error_type:
            retryable = error_type in _RETRYABLE_ERROR_TYPES
        else:
            retryable = status in _RETRYABLE_STATUS or status >= 500
        return SourceError(f"{self.what}: {text} (HTTP {status})", retryable=retryable)

    async def close(self) -> None:
        await self._client.aclose()


def _snippet(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _error_text(resp: httpx.Response) -> tuple[str, str]:
    """(message, errorType) of an error answer: Prometheus' JSON, Loki's JSON or plain text."""
    try:
        body = resp.json()
    except ValueError:
        return _snippet(resp.text, 500) or resp.reason_phrase, ""
    if isinstance(body, dict):
        message = body.get("error") or body.get("message") or ""
        kind = body.get("errorType") or ""
        if message:
            return str(message), str(kind)
    return _snippet(resp.text, 500), ""


def api_error(what: str, body: Any) -> SourceError | None:
    """A SourceError for a 200 answer whose JSON says ``"status": "error"`` (or is not the
    API's envelope at all); None when the body is a success."""
    if not isinstance(body, dict) or "status" not in body:
        return SourceError(f"{what} answered with JSON that is not its API's", retryable=False)
    if body["status"] == "success":
        return None
    kind = str(body.get("errorType", ""))
    return SourceError(
        f"{what}: {body.get('error', 'unknown error')}" + (f" ({kind})" if kind else ""),
        retryable=kind in _RETRYABLE_ERROR_TYPES,
    )


# ------------------------------------------------------- Prometheus query result format


def sample_value(pair: Any) -> float | None:
    """The value of a ``[<unix time>, "<value>"]`` pair; None for NaN (no data)."""
    try:
        value = float(pair[1])
    except (TypeError, ValueError, IndexError):
        raise SourceError(f"unexpected sample {pair!r} in the answer", retryable=False) from None
    return None if math.isnan(value) else value


def instant_series(what: str, query: str, body: Any) -> list[tuple[dict[str, str], float | None]]:
    """(labels, value) of every series of an instant query's answer."""
    error = api_error(what, body)
    if error:
        raise error
    data = body.get("data") or {}
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return [({}, sample_value(result))]
    if kind == "vector" and isinstance(result, list):
        return [
            (dict(item.get("metric") or {}), sample_value(item.get("value"))) for item in result
        ]
    if kind == "matrix":
        raise SourceError(
            f"{query!r} returns a range vector; gates need one value per series: wrap it, "
            "e.g. rate(x[{{window}}]) or avg_over_time(x[{{window}}])",
            retryable=False,
        )
    if kind == "streams":
        raise SourceError(
            f"{query!r} returns log lines, not numbers; use a metric query such as "
            "sum(count_over_time({…}[{{window}}]))",
            retryable=False,
        )
    raise SourceError(f"{query!r}: unexpected result type {kind!r}", retryable=False)


def single_value(query: str, series: list[tuple[dict[str, str], float | None]]) -> float | None:
    """The one value of a one-series answer (None: no series, or NaN); several: an error."""
    if not series:
        return None
    if len(series) > 1:
        shown = "; ".join(_labels(lbl) for lbl, _ in series[:3])
        raise SourceError(
            f"{query!r} returns {len(series)} series ({shown}{'; …' if len(series) > 3 else ''})"
            "; a gate needs one: aggregate them, e.g. sum(…), max(…) or avg(…)",
            retryable=False,
        )
    return series[0][1]


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


Series = list[tuple[dict[str, str], float | None]]


class InstantQuerySource:
    """Scalars, counts and (no) exemplars for sources answering instant metric queries
    (Prometheus' PromQL, Loki's LogQL): subclasses implement ``query`` and set ``_api``."""

    name: str
    kind: str
    _api: HttpApi

    async def query(self, text: str, at: float) -> Series:
        raise NotImplementedError

    async def scalar(
        self,
        query: str,
        arm: Arm,
        target: Target,
        window: Window,
        *,
        samples_query: str | None = None,
    ) -> Scalar:
        text = expand(query, arm, target, window)
        if samples_query is None:
            series = await self.query(text, window.end)
            return Scalar(single_value(text, series), len(series), text)
        count_text = expand(samples_query, arm, target, window)
        series, counted = await asyncio.gather(
            self.query(text, window.end), self.query(count_text, window.end)
        )
        n = single_value(count_text, counted)
        return Scalar(single_value(text, series), int(n) if n else 0, text)

    async def counts(
        self, events: str, trials: str, arm: Arm, target: Target, window: Window
    ) -> Counts:
        ev_q = expand(events, arm, target, window)
        tr_q = expand(trials, arm, target, window)
        ev, tr = await asyncio.gather(self.query(ev_q, window.end), self.query(tr_q, window.end))
        return Counts(
            events=single_value(ev_q, ev) or 0.0,
            trials=single_value(tr_q, tr) or 0.0,
            query=f"{ev_q} / {tr_q}",
        )

    async def exemplars(
        self, arm: Arm, target: Target, window: Window, *, limit: int = 5
    ) -> list[Exemplar]:
        return []

    async def close(self) -> None:
        await self._api.close()
