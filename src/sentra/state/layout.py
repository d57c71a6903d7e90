"""Where everything lives under the data dir."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SUBDIRS = ("config", "state", "db", "logs", "spool", "cache", "reports")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def db(self) -> Path:
        return self.root / "db"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def ensure(self) -> None:
        """Create the root and every subfolder; the root is private to its owner."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in SUBDIRS:
            (self.root / name).mkdir(exist_ok=True)
        os.chmod(self.root, 0o700)

    def usage(self) -> dict[str, int]:
        """Bytes used per subfolder (files that vanish while walking are skipped)."""
        return {name: dir_size(self.root / name) for name in SUBDIRS}

    def clear_cache(self) -> tuple[int, int]:
        """Delete everything under cache/ and nothing else; return (files, bytes) removed."""
        files = freed = 0
        if not self.cache.is_dir():
            return 0, 0
        for entry in list(self.cache.iterdir()):
            size = dir_size(entry) if entry.is_dir() else _file_size(entry)
            count = sum(1 for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else 1
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            files += count
            freed += size
        return files, freed


def _file_size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            total += _file_size(Path(dirpath) / name)
    return total
