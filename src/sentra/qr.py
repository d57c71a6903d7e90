"""QR codes (segno): SVG and PNG for the API, text art for the terminal.

Used for WireGuard client configs and TOTP set-up.

A client config (and a TOTP secret) is a credential: callers hand these only to its owner.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import segno


def _make(text: str) -> segno.QRCode:
    import segno  # on first use: most nodes never draw a QR code

    # Level M: a wg-quick file (~300 bytes) stays scannable from a phone screen.
    return segno.make(text, error="m", micro=False)


def svg(text: str, *, scale: int = 4) -> bytes:
    buf = io.BytesIO()
    _make(text).save(buf, kind="svg", scale=scale, border=2, xmldecl=True)
    return buf.getvalue()


def png(text: str, *, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    _make(text).save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def terminal(text: str) -> str:
    """Half-block art a terminal shows as a scannable code (two modules per character)."""
    buf = io.StringIO()
    _make(text).terminal(out=buf, compact=True, border=2)
    return buf.getvalue()
