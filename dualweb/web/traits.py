"""What the request lifecycle needs to know about a handler class, computed once per class.

:class:`HandlerTraits` answers every "is this hook overridden" question for
:class:`~dualweb.web.RequestHandler` in one place; the handler keeps one
instance per class (``RequestHandler._dualweb_traits``). :func:`feature_reasons`
turns them into the sentences the WSGI adapter uses to warn about routes
that need the native server.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HandlerTraits", "feature_reasons"]


class HandlerTraits:
    """What the lifecycle needs to know about a handler class, computed once per class.

    Every "is this hook overridden" question is answered here, in one place
    (``base`` is :class:`~dualweb.web.RequestHandler`): the hooks whose base
    implementation does nothing are not called unless a class in the MRO
    overrides them (the hot path of a plain handler).

    Attributes:
        initialize / prepare / on_finish / set_default_headers: overridden.
        default_etag: ``compute_etag``, ``set_etag_header`` and
            ``check_etag_header`` are all the defaults (the Etag is computed inline).
        default_get_status: ``get_status`` is not overridden.
        default_decode: ``decode_argument`` is not overridden.
        implemented: names of the verb methods the class implements.
        head_from_get: HEAD is served by ``get`` (``get`` implemented, ``head`` not).
        allow: the ``Allow`` header value of a 405.
        verbs: request method -> name of the method serving it, for the
            ``SUPPORTED_METHODS`` (HEAD -> ``get`` when ``head_from_get``).
        loop_bound: methods marked as ``@gen.coroutine`` (they must not be called under WSGI).
        coroutines: methods that are coroutine functions or marked coroutines.
        needs_loop: ``@stream_request_body`` or ``loop_bound`` methods: without
            an event loop (WSGI) there is something to refuse.
    """

    __slots__ = (
        "allow",
        "coroutines",
        "default_decode",
        "default_etag",
        "default_get_status",
        "head_from_get",
        "implemented",
        "initialize",
        "loop_bound",
        "needs_loop",
        "on_finish",
        "prepare",
        "set_default_headers",
        "verbs",
    )

    def __init__(self, cls: type[Any], base: type[Any]) -> None:
        def overrides(name: str) -> bool:
            return getattr(cls, name, None) is not getattr(base, name)

        self.initialize = overrides("initialize")
        self.prepare = overrides("prepare")
        self.on_finish = overrides("on_finish")
        self.set_default_headers = overrides("set_default_headers")
        self.default_etag = not (
            overrides("compute_etag")
            or overrides("set_etag_header")
            or overrides("check_etag_header")
        )
        self.default_get_status = not overrides("get_status")
        self.default_decode = not overrides("decode_argument")
        verbs = {m: m.lower() for m in cls.SUPPORTED_METHODS}
        # A verb the base class leaves unimplemented (it answers 405).
        unimplemented = base.get
        self.implemented = frozenset(
            name
            for name in verbs.values()
            if getattr(cls, name, None) not in (None, unimplemented)
        )
        self.head_from_get = (
            "HEAD" in verbs and "get" in self.implemented and "head" not in self.implemented
        )
        self.verbs = {
            m: "get" if name == "head" and self.head_from_get else name for m, name in verbs.items()
        }
        self.allow = ", ".join(
            m
            for m, name in verbs.items()
            if name in self.implemented or (name == "head" and self.head_from_get)
        )
        # Once per handler class; inspect (with ast and dis) need not load with dualweb.web.
        import inspect

        loop_bound = set()
        coroutines = set()
        for name in ["prepare", *verbs.values()]:
            method = getattr(cls, name, None)
            if method is None or method is unimplemented:
                continue
            inner = inspect.unwrap(method)
            marked = getattr(method, "__dualweb_coroutine__", False) or getattr(
                inner, "__dualweb_coroutine__", False
            )
            if marked:
                loop_bound.add(name)
            if marked or inspect.iscoroutinefunction(inner):
                coroutines.add(name)
        self.loop_bound = frozenset(loop_bound)
        self.coroutines = frozenset(coroutines)
        self.needs_loop = bool(cls._stream_request_body or loop_bound)


def feature_reasons(cls: type[Any], traits: HandlerTraits) -> list[str]:
    """Why handler class ``cls`` (with ``traits``) needs the native server; ``[]`` if it does not.

    One sentence per coroutine or ``@asynchronous`` method, per
    ``@stream_request_body`` and per native-only feature (WebSockets, auth mixins).
    """
    reasons = []
    for name in ["prepare"] + [m.lower() for m in cls.SUPPORTED_METHODS]:
        if not (traits.prepare if name == "prepare" else name in traits.implemented):
            continue
        if getattr(getattr(cls, name), "__dualweb_asynchronous__", False):
            reasons.append(f"{cls.__name__}.{name} uses @asynchronous")
        elif name in traits.coroutines:
            reasons.append(f"{cls.__name__}.{name} is a coroutine")
    if cls._stream_request_body:
        reasons.append(f"{cls.__name__} uses @stream_request_body")
    reasons.extend(_native_only_features(cls))
    return reasons


def _native_only_features(cls: type[Any]) -> list[str]:
    """The ``_native_only_feature`` sentences declared anywhere in ``cls``'s MRO.

    Mixins declare theirs too (the auth mixins), and Tornado's convention puts
    ``RequestHandler`` (whose value is ``None``) before them in the bases, so
    the whole MRO is searched; a class's own declaration replaces those of its
    bases. ``{handler}`` in a sentence stands for ``cls``'s name.
    """
    declaring: list[type[Any]] = []
    for klass in cls.__mro__:
        if vars(klass).get("_native_only_feature") and not any(
            issubclass(found, klass) for found in declaring
        ):
            declaring.append(klass)
    return [
        str(vars(klass)["_native_only_feature"]).replace("{handler}", cls.__name__)
        for klass in declaring
    ]
