"""Shared fixtures.

* ``mode`` runs a handler test once per driver: under WSGI, then natively on
  asyncio's own loop and on uvloop (test ids ``[wsgi]``, ``[native-asyncio]``,
  ``[native-uvloop]``); its value is just "wsgi" or "native".
* ``client_for`` / ``native_client_for`` give clients for an app in that mode.
* ``kind`` runs a test once per event loop kind ("asyncio", "uvloop").
* ``cert`` is the self-signed TLS certificate (certfile, keyfile) the tests share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.harness import LOOP_KINDS, make_cert
from tests.support import MODES, Client, make_client

_DRIVERS = [("wsgi", "")] + [("native", kind) for kind in LOOP_KINDS if "native" in MODES]


@pytest.fixture(params=_DRIVERS, ids=["-".join(filter(None, d)) for d in _DRIVERS])
def _driver(request: pytest.FixtureRequest) -> tuple[str, str]:
    mode, kind = request.param
    return str(mode), str(kind)


@pytest.fixture
def mode(_driver: tuple[str, str]) -> str:
    """The driver under test: "wsgi" (webtest) or "native" (real socket)."""
    return _driver[0]


@pytest.fixture
def loop_kind(_driver: tuple[str, str]) -> str:
    """The event loop the native driver runs on ("asyncio" or "uvloop"); "" under WSGI."""
    return _driver[1]


@pytest.fixture(params=LOOP_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The event loop kind under test: "asyncio" (asyncio's own loop) or "uvloop"."""
    return str(request.param)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1: (certfile, keyfile)."""
    return make_cert(tmp_path_factory.mktemp("tls"))


@contextmanager
def _client_factory(mode: str, loop_kind: str) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def factory(app: Any, **kwargs: Any) -> Client:
        client = make_client(app, mode, loop_kind, **kwargs)
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        failures: list[BaseException] = []
        for client in reversed(clients):  # the youngest first, as the harness checks leaks
            try:
                client.close()
            except Exception as exc:  # close the others, then report the first failure
                failures.append(exc)
        if failures:
            raise failures[0]


@pytest.fixture
def client_for(mode: str, loop_kind: str) -> Iterator[Callable[..., Client]]:
    """``client_for(app, **driver_kwargs)`` → a :class:`tests.support.Client` in this mode."""
    with _client_factory(mode, loop_kind) as factory:
        yield factory


@pytest.fixture
def native_client_for(kind: str) -> Iterator[Callable[..., Client]]:
    """Like ``client_for``, for tests of native-only features (coroutines, streaming);
    runs once per event loop kind."""
    with _client_factory("native", kind) as factory:
        yield factory
