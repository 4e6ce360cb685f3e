"""The small HTML page the WSGI adapter and container send when they must answer by themselves."""

from __future__ import annotations

from dualweb.escape import xhtml_escape

__all__ = ["error_page"]


def error_page(code: int, reason: str, detail: str | None = None) -> bytes:
    """``<html><title>500: Internal Server Error</title>...`` with an optional escaped detail."""
    extra = f"<pre>{xhtml_escape(detail)}</pre>" if detail else ""
    return (
        f"<html><title>{code}: {reason}</title><body>{code}: {reason}{extra}</body></html>"
    ).encode()
