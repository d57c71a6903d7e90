"""A small HTTP client for the CLI commands that talk to a running node.

The node's URL comes from ``--url`` or ``SENTRA_URL`` (default ``http://127.0.0.1:5099``), the
token from ``--token`` or ``SENTRA_TOKEN``. Every failure becomes :class:`CliError` with one
line a person can act on: a problem+json answer gives its ``detail`` (and, for an invalid
spec, the list of ``errors``), a refused connection says to start the node. ``exit_on_error``
prints that line in red and exits with code 1, so commands stay free of error plumbing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import httpx
import typer

from sentra.cli.common import console

DEFAULT_URL = "http://127.0.0.1:5099"

UrlOpt = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="SENTRA_URL",
        help="The node's base URL.",
        show_envvar=True,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="SENTRA_TOKEN",
        help="API token (create one with 'sentra token create').",
        show_envvar=True,
        show_default=False,
    ),
]


class CliError(Exception):
    """A request that failed, in one line; ``errors`` holds a spec's positioned problems."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


def _problem(response: httpx.Response) -> CliError:
    detail = ""
    errors: list[dict[str, Any]] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or "")
        raw = body.get("errors")
        if isinstance(raw, list):
            errors = [e for e in raw if isinstance(e, dict)]
    if not detail:
        detail = response.text.strip()[:200] or response.reason_phrase
    hint = ""
    if response.status_code == 401:
        hint = " (pass --token or set SENTRA_TOKEN; create one with 'sentra token create')"
    elif response.status_code == 403:
        hint = " (this needs a token with a higher role)"
    return CliError(f"{response.status_code}: {detail}{hint}", errors=errors)


class ApiClient:
    """Synchronous JSON client for ``/api/v1``; one connection pool per command."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; the decoded JSON answer, or CliError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise CliError(
                f"cannot connect to {self.url}: is the node running? start it with 'sentra up'"
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"{self.url} did not answer in time (is the node overloaded?)") from None
        except httpx.HTTPError as exc:
            raise CliError(f"request to {self.url}{path} failed: {exc}") from None
        if response.status_code >= 400:
            raise _problem(response)
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{self.url}{path} did not answer JSON (is it a Sentra node?)") from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def download(self, path: str) -> bytes:
        """GET a file (a report's PDF); its bytes, or CliError."""
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            raise CliError(f"download of {self.url}{path} failed: {exc}") from None
        if response.status_code >= 400:
            raise _problem(response)
        return response.content

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)


def die(message: str, code: int = 1) -> NoReturn:
    """Print one red line and exit."""
    console.print(f"[red]sentra: {message}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def exit_on_error(
    on_errors: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Iterator[None]:
    """Turn CliError into a red line and exit code 1; ``on_errors`` prints spec problems."""
    try:
        yield
    except CliError as exc:
        if exc.errors and on_errors is not None:
            on_errors(exc.errors)
        die(exc.message)
