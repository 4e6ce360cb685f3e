"""Cross-origin protection (Tornado 6.6's ``cross_origin_protection``), in both drivers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dualweb.web import RequestHandler

from .web_support import app_with

# -- cross-origin protection (Tornado 6.6) -------------------------------------


class Form(RequestHandler):
    def post(self) -> None:
        self.write("accepted")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # a non-browser client
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://trusted.test"}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://evil.test"}, 403),
        ({"Origin": "http://app.test"}, 200),  # matches Host
        ({"Origin": "https://trusted.test"}, 200),
    ],
)
def test_cross_origin_protection(
    client_for: Any, headers: dict[str, str], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with(
        (r"/", Form), cross_origin_protection=True, trusted_origins=["https://trusted.test"]
    )
    with caplog.at_level(logging.WARNING):
        resp = client_for(app).post("/", body=b"", headers={"Host": "app.test", **headers})
    assert resp.status == status
    if status == 403:
        assert "not allowed" in caplog.text
    else:
        assert resp.body == b"accepted"


def test_cross_origin_protection_off_by_default(client_for: Any) -> None:
    resp = client_for(app_with((r"/", Form))).post(
        "/", body=b"", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}
    )
    assert resp.status == 200
