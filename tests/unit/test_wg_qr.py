"""QR codes of client configs."""

from sentra import qr

CONF = "[Interface]\nPrivateKey = " + "A" * 43 + "=\nAddress = 10.8.0.2/32\n"


def test_svg_png_and_terminal_renderings():
    svg = qr.svg(CONF)
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert qr.png(CONF).startswith(b"\x89PNG\r\n\x1a\n")
    art = qr.terminal(CONF)
    assert len(art.splitlines()) > 20
    assert "\u2580" in art or "\u2584" in art
