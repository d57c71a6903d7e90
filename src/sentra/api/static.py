"""The dashboard: the built web app shipped in the package, with SPA fallback."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from sentra.api.problems import Problem

router = APIRouter()
WEBUI = Path(__file__).resolve().parent.parent / "webui"
_RESERVED = ("api/", "v1/", "metrics", "docs", "openapi.json", "redoc")

NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>Sentra</title>
<style>body{font-family:system-ui,sans-serif;background:#0b0f0c;color:#c8f7c5;
max-width:40rem;margin:4rem auto;line-height:1.5}code{background:#1b231d;padding:.1rem .3rem}
</style></head><body><h1>Sentra is running, but its dashboard is not built</h1>
<p>The API works (try <code>/api/health</code>). To build the dashboard, run
<code>make web</code> in the source tree (it runs <code>npm ci &amp;&amp; npm run build</code>
in <code>web/</code>), or simply <code>make run</code>, then reload this page.</p>
<p>Installed from a wheel? Wheels built by <code>make dist</code> include the dashboard.</p>
</body></html>"""


def _file(path: Path) -> Response:
    media, _ = mimetypes.guess_type(path.name)
    cache = "no-cache" if path.name == "index.html" else "public, max-age=31536000, immutable"
    return FileResponse(path, media_type=media, headers={"Cache-Control": cache})


@router.get("/{path:path}", include_in_schema=False)
async def spa(request: Request, path: str) -> Response:
    if path.startswith(_RESERVED):
        raise Problem(404, f"there is nothing at /{path}")
    root = request.app.state.webui
    index = root / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503)
    if path:
        candidate = (root / path).resolve()
        if candidate.is_relative_to(root.resolve()) and candidate.is_file():
            return _file(candidate)
        if path.startswith("assets/"):
            raise Problem(404, f"there is no asset /{path}")
    return _file(index)
