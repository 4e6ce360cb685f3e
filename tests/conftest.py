"""Shared fixtures: ``mode`` runs a handler test once per driver (WSGI, then native)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import MODES, Client, make_client


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The driver under test: "wsgi" (webtest) or "native" (real socket)."""
    return str(request.param)


@pytest.fixture
def client_for(mode: str) -> Iterator[Callable[..., Client]]:
    """``client_for(app, **driver_kwargs)`` → a :class:`tests.support.Client` in this mode."""
    clients: list[Client] = []

    def factory(app: Any, **kwargs: Any) -> Client:
        client = make_client(app, mode, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
