"""Render reports and keep them under ``<data dir>/reports/``.

File names are made here, never taken from a request: ``rollout-<name>-<UTC time>.pdf`` or
``node-<UTC time>.pdf``, from a small alphabet. A name asked for (to download) must match
that alphabet and name a plain file directly inside the folder, so no path, link or dot
trick reaches anything else. Files are written atomically; the oldest are pruned past
``keep``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentra.report.model import Report
from sentra.state.atomic import write_bytes_atomic

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.pdf")
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
DEFAULT_KEEP = 200
# One report at a time: each takes a core for a fraction of a second, and a burst of
# requests must not take every core from the node (nor race for a file name).
_RENDERING = threading.Lock()


class BadReportName(ValueError):
    """A requested file name that cannot be a report of ours."""


@dataclass(frozen=True)
class SavedReport:
    name: str
    size: int
    created_at: float
    kind: str  # "rollout" or "node" (from the name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "created_at": self.created_at,
            "kind": self.kind,
            "url": f"/api/v1/reports/{self.name}",
        }


def file_name(report: Report) -> str:
    """``rollout-shop-canary-20251201T180000Z.pdf``: sortable, safe, tells what it is."""
    stamp = datetime.fromtimestamp(report.generated_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    if report.kind == "rollout":
        subject = _UNSAFE.sub("-", report.subject.lower()).strip("-._")[:80] or "rollout"
        return f"rollout-{subject}-{stamp}.pdf"
    return f"node-{stamp}.pdf"


class ReportService:
    """The reports folder: save rendered reports, list them, find one, prune old ones."""

    def __init__(self, folder: Path, *, keep: int = DEFAULT_KEEP) -> None:
        self.folder = folder
        self.keep = keep

    def render(self, report: Report) -> SavedReport:
        """Render ``report`` and save it (CPU work: call it in a worker thread)."""
        with _RENDERING:
            # matplotlib and reportlab cost ~90 MB of memory: loaded with the first report,
            # not at the node's start.
            from sentra.report.pdf import render_pdf

            data = render_pdf(report)
            self.folder.mkdir(parents=True, exist_ok=True)
            base = file_name(report)
            name, n = base, 1
            while (self.folder / name).exists():  # two reports in one second
                n += 1
                name = base.removesuffix(".pdf") + f"-{n}.pdf"
            path = self.folder / name
            write_bytes_atomic(path, data)
            self.prune()
            return _saved(path)

    def list(self) -> list[SavedReport]:
        """Saved reports, newest first."""
        if not self.folder.is_dir():
            return []
        found = [
            _saved(p)
            for p in self.folder.iterdir()
            if NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink()
        ]
        return sorted(found, key=lambda r: (r.created_at, r.name), reverse=True)

    def path(self, name: str) -> Path | None:
        """The file of a saved report, None when there is none of that name;
        BadReportName for a name no report of ours can have."""
        if not NAME.fullmatch(name) or ".." in name:
            raise BadReportName(name)
        path = self.folder / name
        if path.is_symlink() or not path.is_file() or path.parent != self.folder:
            return None
        return path

    def prune(self) -> int:
        """Delete the oldest reports beyond ``keep``; return how many went."""
        gone = 0
        for old in self.list()[self.keep :]:
            (self.folder / old.name).unlink(missing_ok=True)
            gone += 1
        return gone


def _saved(path: Path) -> SavedReport:
    st = path.stat()
    return SavedReport(
        name=path.name,
        size=st.st_size,
        created_at=st.st_mtime,
        kind="rollout" if path.name.startswith("rollout-") else "node",
    )
