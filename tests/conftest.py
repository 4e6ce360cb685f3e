"""Shared fixtures: ``mode`` runs a handler test once per driver (WSGI, then native)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support import MODES, Client, make_client


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The driver under test: "wsgi" (webtest) or "native" (real socket)."""
    return str(request.param)


@contextmanager
def _client_factory(mode: str) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def factory(app: Any, **kwargs: Any) -> Client:
        client = make_client(app, mode, **kwargs)
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def client_for(mode: str) -> Iterator[Callable[..., Client]]:
    """``client_for(app, **driver_kwargs)`` → a :class:`tests.support.Client` in this mode."""
    with _client_factory(mode) as factory:
        yield factory


@pytest.fixture
def native_client_for() -> Iterator[Callable[..., Client]]:
    """Like ``client_for``, for tests of native-only features (coroutines, streaming)."""
    with _client_factory("native") as factory:
        yield factory
